"""Display geometry for viewers: volumes on an axis-aligned (S, P, L) world grid.

Headless (no Qt, no napari). The napari plugin calls these functions and only
hands their plain arrays, scales and translations to napari.

The viewer's world axes are ``(S, P, L)``: world axis 0 is the patient's z
(superior), axis 1 is y (posterior), axis 2 is x (left), all in mm. napari shows
the last two world axes of a 3D scene, rows downwards and columns to the right,
so an axial slice shows anterior at the top and the patient's **left on the
screen's right** (radiological convention). For coronal and sagittal views the
viewer flips its vertical axis so that superior is up.

Each volume is shown on its own display grid, a pure scale + translation of the
world, so napari never has to slice a rotated affine:

- a volume whose axes are along L, P, S (in any order and sign) is transposed and
  flipped exactly (no interpolation, the inverse is exact, label edits map back
  voxel for voxel);
- an oblique volume is resampled onto an axis-aligned grid (isotropic, the
  smallest voxel size) for display only; measurements stay on the original data
  (:func:`from_display` maps label edits back by nearest neighbour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nvcview.io.image import Image

#: world axis names of the viewer, in napari axis order
WORLD_AXES = ("S", "P", "L")
#: LPS component (0=x=L, 1=y=P, 2=z=S) shown on each world axis
_LPS_OF_WORLD = (2, 1, 0)


def lps_to_world(xyz: np.ndarray) -> np.ndarray:
    """Map (..., 3) LPS mm to viewer world (..., 3) ``(S, P, L)`` mm."""
    return np.asarray(xyz, dtype=np.float64)[..., ::-1].copy()


def world_to_lps(world: np.ndarray) -> np.ndarray:
    """Map viewer world (..., 3) ``(S, P, L)`` mm to (..., 3) LPS mm."""
    return np.asarray(world, dtype=np.float64)[..., ::-1].copy()


@dataclass(frozen=True)
class DisplayGrid:
    """An axis-aligned display grid for one volume.

    Attributes
    ----------
    shape : tuple of int
        Display array shape along world axes ``(S, P, L)``.
    scale : tuple of float
        Display voxel size in mm along ``(S, P, L)`` (all positive).
    translate : tuple of float
        World position ``(S, P, L)`` mm of display index ``(0, 0, 0)``.
    source_axes : tuple of int or None
        For an exact (non-oblique) grid, the source array axis shown on each
        world axis; ``None`` when the volume was resampled.
    flips : tuple of bool or None
        For an exact grid, whether each display axis runs against its source axis.
    oblique : bool
        True when the source volume is tilted and was resampled for display.
    """

    shape: tuple[int, int, int]
    scale: tuple[float, float, float]
    translate: tuple[float, float, float]
    source_axes: tuple[int, int, int] | None = None
    flips: tuple[bool, bool, bool] | None = None
    oblique: bool = False

    @property
    def affine(self) -> np.ndarray:
        """4x4 mapping display index to world ``(S, P, L)`` mm (diagonal)."""
        a = np.diag([*self.scale, 1.0])
        a[:3, 3] = self.translate
        return a

    def world_to_index(self, world: np.ndarray) -> np.ndarray:
        """Fractional display indices of (..., 3) world ``(S, P, L)`` mm points."""
        world = np.asarray(world, dtype=np.float64)
        return (world - np.asarray(self.translate)) / np.asarray(self.scale)


def _axis_aligned(
    affine: np.ndarray, tol: float
) -> tuple[tuple[int, ...], tuple[bool, ...]] | None:
    """Source axis and sign for each world axis when the affine is axis-aligned."""
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    unit = lin / np.linalg.norm(lin, axis=0)
    axes: list[int] = []
    flips: list[bool] = []
    for comp in _LPS_OF_WORLD:
        row = unit[comp]
        a = int(np.argmax(np.abs(row)))
        if abs(abs(row[a]) - 1.0) > tol:
            return None
        axes.append(a)
        flips.append(bool(row[a] < 0))
    if sorted(axes) != [0, 1, 2]:
        return None
    return tuple(axes), tuple(flips)


def display_grid(affine: np.ndarray, shape: tuple[int, ...], *, tol: float = 1e-6) -> DisplayGrid:
    """Choose the display grid of a volume.

    Parameters
    ----------
    affine : (4, 4) ndarray
        Source array index -> LPS mm.
    shape : tuple of int
        Source array shape (three spatial axes).
    tol : float
        Largest deviation of a direction cosine's magnitude from 1 still treated
        as axis-aligned. 1e-6 is a tilt of about 0.08 degree (0.14 mm over
        100 mm): header rounding noise, not an oblique plan.

    Returns
    -------
    DisplayGrid
    """
    affine = np.asarray(affine, dtype=np.float64)
    shape3 = tuple(int(s) for s in shape[:3])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    aligned = _axis_aligned(affine, tol)
    if aligned is not None:
        axes, flips = aligned
        start = np.array(
            [(shape3[a] - 1) if f else 0 for a, f in zip(axes, flips, strict=True)], float
        )
        # source index of display index 0: put each component on its source axis
        src0 = np.zeros(3)
        for w, a in enumerate(axes):
            src0[a] = start[w]
        lps0 = affine[:3, :3] @ src0 + affine[:3, 3]
        return DisplayGrid(
            shape=tuple(shape3[a] for a in axes),
            scale=tuple(float(spacing[a]) for a in axes),
            translate=tuple(float(v) for v in lps_to_world(lps0)),
            source_axes=axes,
            flips=flips,
            oblique=False,
        )
    # oblique: bounding box of the voxel centres, isotropic at the finest spacing
    step = float(spacing.min())
    corners = np.array(
        [
            [i, j, k]
            for i in (0, shape3[0] - 1)
            for j in (0, shape3[1] - 1)
            for k in (0, shape3[2] - 1)
        ],
        float,
    )
    world = lps_to_world(corners @ affine[:3, :3].T + affine[:3, 3])
    lo, hi = world.min(axis=0), world.max(axis=0)
    n = np.floor((hi - lo) / step + 1e-6).astype(int) + 1
    return DisplayGrid(
        shape=tuple(int(v) for v in n),
        scale=(step, step, step),
        translate=tuple(float(v) for v in lo),
        oblique=True,
    )


def _sample(
    array: np.ndarray,
    src_affine: np.ndarray,
    grid: DisplayGrid,
    order: int,
    cval: float,
) -> np.ndarray:
    """Resample ``array`` (source grid) onto ``grid`` slab by slab (bounded memory)."""
    inv = np.linalg.inv(src_affine)
    out = np.empty(
        grid.shape, dtype=array.dtype if order == 0 else np.result_type(array, np.float32)
    )
    _, n1, n2 = grid.shape
    jj, kk = np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij")
    for i in range(grid.shape[0]):
        idx = np.stack([np.full_like(jj, i), jj, kk], axis=-1).reshape(-1, 3).astype(float)
        world = idx * np.asarray(grid.scale) + np.asarray(grid.translate)
        src = world_to_lps(world) @ inv[:3, :3].T + inv[:3, 3]
        vals = ndimage.map_coordinates(array, src.T, order=order, mode="constant", cval=cval)
        out[i] = vals.reshape(n1, n2)
    return out


def to_display(
    array: np.ndarray, affine: np.ndarray, *, order: int = 1, grid: DisplayGrid | None = None
) -> tuple[np.ndarray, DisplayGrid]:
    """Reorder (or, if oblique, resample) a volume onto its display grid.

    Parameters
    ----------
    array : ndarray
        Source array (three spatial axes).
    affine : (4, 4) ndarray
        Source index -> LPS mm.
    order : int
        Interpolation order when resampling an oblique volume (0 for labels).
    grid : DisplayGrid, optional
        Grid to use (default :func:`display_grid` of the source).

    Returns
    -------
    display : ndarray
        Array on the display grid, axes ``(S, P, L)``. For an axis-aligned source
        this is a view (transpose + flips) of ``array``, no copy.
    grid : DisplayGrid
    """
    array = np.asarray(array)
    grid = grid or display_grid(affine, array.shape)
    if not grid.oblique:
        assert grid.source_axes is not None and grid.flips is not None
        disp = np.transpose(array, grid.source_axes)
        sl = tuple(slice(None, None, -1) if f else slice(None) for f in grid.flips)
        return disp[sl], grid
    return _sample(array, np.asarray(affine, float), grid, order, 0.0), grid


def from_display(
    display: np.ndarray,
    grid: DisplayGrid,
    affine: np.ndarray,
    shape: tuple[int, ...],
) -> np.ndarray:
    """Map a display-grid array (e.g. an edited label layer) back to the source grid.

    Exact for axis-aligned grids; nearest neighbour for oblique ones.

    Parameters
    ----------
    display : ndarray
        Array on ``grid`` (axes ``(S, P, L)``).
    grid : DisplayGrid
        The grid ``display`` lives on.
    affine : (4, 4) ndarray
        Source index -> LPS mm.
    shape : tuple of int
        Source array shape.

    Returns
    -------
    ndarray
        Array on the source grid, same dtype as ``display``.
    """
    display = np.asarray(display)
    if not grid.oblique:
        assert grid.source_axes is not None and grid.flips is not None
        sl = tuple(slice(None, None, -1) if f else slice(None) for f in grid.flips)
        unflipped = display[sl]
        return np.ascontiguousarray(np.transpose(unflipped, np.argsort(grid.source_axes)))
    affine = np.asarray(affine, float)
    out = np.empty(tuple(int(s) for s in shape[:3]), dtype=display.dtype)
    n1, n2 = out.shape[1], out.shape[2]
    jj, kk = np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij")
    for i in range(out.shape[0]):
        idx = np.stack([np.full_like(jj, i), jj, kk], axis=-1).reshape(-1, 3).astype(float)
        lps = idx @ affine[:3, :3].T + affine[:3, 3]
        d = grid.world_to_index(lps_to_world(lps))
        vals = ndimage.map_coordinates(display, d.T, order=0, mode="constant", cval=0)
        out[i] = vals.reshape(n1, n2)
    return out


def image_to_display(image: Image, *, labels: bool = False) -> tuple[np.ndarray, DisplayGrid]:
    """Display array and grid of an :class:`~nvcview.io.image.Image`.

    Parameters
    ----------
    image : Image
        Volume with an index -> LPS affine.
    labels : bool
        Nearest-neighbour resampling (label maps) when the volume is oblique.
    """
    return to_display(image.array, image.affine, order=0 if labels else 1)


def contrast_limits(
    array: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.5
) -> tuple[float, float]:
    """Robust display window (percentiles of the non-zero voxels)."""
    a = np.asarray(array)
    sample = a[:: max(1, a.shape[0] // 32)].ravel()
    nz = sample[sample != 0]
    if nz.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(nz, [low_pct, high_pct])
    if hi <= lo:
        hi = lo + 1.0
    return (float(lo), float(hi))
