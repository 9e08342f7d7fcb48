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
- an oblique volume is shown on an axis-aligned grid (isotropic, the smallest
  voxel size) for display only; measurements stay on the original data
  (:func:`from_display` maps label edits back by nearest neighbour).

napari 0.9 cannot slice a rotated affine in 2D (it shows the nearest *data* plane
without its out-of-plane tilt, about 5 mm off at 100 mm from the centre for a
3 degree tilt), hence the display grid. Nothing is resampled up front:

- an image is shown through :class:`ResampledVolume` (:func:`display_view`), an
  array-like that resamples only what the viewer reads (one plane per slice shown);
- a label map (which the viewer paints into, so it must be a real array) starts
  as zeros and only the box of its labelled voxels is sampled (:func:`to_display`);
  an edit is re-sampled over its box only (:func:`refresh_display`), and a brush
  stroke is carried back over its box only (:func:`update_from_display` with ``box``).

Display grids are computed once per series geometry (:func:`display_grid` is
cached on the affine and shape). Sampling goes through
:func:`nvcview.display.sampling.sample_grid` (one affine per box, no point arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from nvcview.display.sampling import sample_grid
from nvcview.io.image import Image, index_to_lps, lps_to_index
from nvcview.measure.labelmap import nonzero_box
from nvcview.types import Box

__all__ = [
    "WORLD_AXES",
    "DisplayGrid",
    "ResampledVolume",
    "contrast_limits",
    "display_box_to_source",
    "display_grid",
    "display_to_lps_affine",
    "display_view",
    "from_display",
    "image_to_display",
    "label_display_dtype",
    "lps_to_world",
    "refresh_display",
    "sample_display_box",
    "to_display",
    "update_from_display",
    "world_to_lps",
]

#: world axis names of the viewer, in napari axis order
WORLD_AXES = ("S", "P", "L")
#: LPS component (0=x=L, 1=y=P, 2=z=S) shown on each world axis
_LPS_OF_WORLD = (2, 1, 0)


def lps_to_world(xyz: npt.ArrayLike) -> np.ndarray:
    """Map (..., 3) LPS mm to viewer world (..., 3) ``(S, P, L)`` mm."""
    return np.asarray(xyz, dtype=np.float64)[..., ::-1].copy()


def world_to_lps(world: npt.ArrayLike) -> np.ndarray:
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

    @property
    def lps_affine(self) -> np.ndarray:
        """4x4 mapping display index to LPS mm."""
        return display_to_lps_affine(self.scale, self.translate)

    def world_to_index(self, world: npt.ArrayLike) -> np.ndarray:
        """Fractional display indices of (..., 3) world ``(S, P, L)`` mm points."""
        w = np.asarray(world, dtype=np.float64)
        return (w - np.asarray(self.translate)) / np.asarray(self.scale)


def _triple(values: npt.ArrayLike, kind: type) -> tuple:
    v = [kind(x) for x in np.ravel(values)]
    return (v[0], v[1], v[2])


def _axis_aligned(
    affine: np.ndarray, tol: float
) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]] | None:
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
    return (axes[0], axes[1], axes[2]), (flips[0], flips[1], flips[2])


def display_grid(
    affine: npt.ArrayLike, shape: tuple[int, ...], *, tol: float = 1e-6
) -> DisplayGrid:
    """Choose the display grid of a volume (cached: once per series geometry).

    Parameters
    ----------
    affine : (4, 4) array-like
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
    a = np.ascontiguousarray(np.asarray(affine, dtype=np.float64))
    shape3 = tuple(int(s) for s in shape[:3])
    return _display_grid(a.tobytes(), shape3, float(tol))


@lru_cache(maxsize=64)
def _display_grid(affine_bytes: bytes, shape3: tuple[int, ...], tol: float) -> DisplayGrid:
    affine = np.frombuffer(affine_bytes, dtype=np.float64).reshape(4, 4)
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
        lps0 = index_to_lps(affine, src0)
        return DisplayGrid(
            shape=(shape3[axes[0]], shape3[axes[1]], shape3[axes[2]]),
            scale=_triple([spacing[a] for a in axes], float),
            translate=_triple(lps_to_world(lps0), float),
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
    world = lps_to_world(index_to_lps(affine, corners))
    lo, hi = world.min(axis=0), world.max(axis=0)
    n = np.floor((hi - lo) / step + 1e-6).astype(int) + 1
    return DisplayGrid(
        shape=_triple(n, int),
        scale=(step, step, step),
        translate=_triple(lo, float),
        oblique=True,
    )


def _strided_affine(grid: DisplayGrid, starts: npt.ArrayLike, steps: npt.ArrayLike) -> np.ndarray:
    """Index -> LPS affine of the display voxels ``starts + steps * n`` (per axis)."""
    sub = np.diag([*np.asarray(steps, float), 1.0])
    sub[:3, 3] = np.asarray(starts, float)
    return grid.lps_affine @ sub


def _sample_box(
    array: np.ndarray, src_affine: np.ndarray, grid: DisplayGrid, box: Box, order: int
) -> np.ndarray:
    """Resample the display voxels inside ``box`` (display index space) from the source."""
    shape = tuple(s.stop - s.start for s in box)
    a = _strided_affine(grid, [s.start for s in box], (1, 1, 1))
    return sample_grid(array, src_affine, a, shape, order=order)


class ResampledVolume:
    """An oblique volume on its display grid, resampled only where it is read.

    An array-like (``shape``, ``dtype``, ``ndim``, basic indexing, ``__array__``)
    that napari can show as an image layer: each 2D slice the viewer draws reads
    one display plane, resampled then from the source (trilinear for images), so
    opening a case costs no whole-volume resampling and no display copy in memory.
    Integer and slice keys (any step) are resampled exactly; other keys read the
    whole volume first. The last four planes read are kept (napari reads the slice
    shown again on every refresh), so the source must not change while it is shown
    (the T2 and TOF are read-only in a session).

    Parameters
    ----------
    array : ndarray
        Source volume (three spatial axes), kept by reference.
    affine : (4, 4) array-like
        Source index -> LPS mm.
    grid : DisplayGrid
        The (oblique) display grid, axes ``(S, P, L)``.
    order : int
        Interpolation order (1 images, 0 label maps).

    Attributes
    ----------
    voxels_read : int
        Display voxels resampled so far (what the viewer has read).
    """

    def __init__(
        self, array: np.ndarray, affine: npt.ArrayLike, grid: DisplayGrid, order: int = 1
    ) -> None:
        self.source = np.asarray(array)
        self.affine = np.asarray(affine, dtype=np.float64)
        self.grid = grid
        self.order = int(order)
        self.shape: tuple[int, int, int] = tuple(grid.shape)  # type: ignore[assignment]
        self.ndim = 3
        self.dtype = (
            self.source.dtype if self.order == 0 else np.result_type(self.source.dtype, np.float32)
        )
        self.voxels_read = 0
        # the last planes read (napari asks again for the slice shown on every refresh)
        self._cache: dict[tuple, np.ndarray] = {}

    @property
    def size(self) -> int:
        """Number of display voxels."""
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: object) -> np.ndarray:
        keys = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in keys):
            i = next(n for n, k in enumerate(keys) if k is Ellipsis)
            fill = (slice(None),) * (3 - (len(keys) - 1))
            keys = keys[:i] + fill + keys[i + 1 :]
        if len(keys) > 3:
            raise IndexError(f"too many indices for a 3D volume: {key!r}")
        keys = keys + (slice(None),) * (3 - len(keys))
        starts: list[int] = []
        steps: list[int] = []
        counts: list[int] = []
        kept: list[bool] = []
        for k, n in zip(keys, self.shape, strict=True):
            if isinstance(k, (int, np.integer)):
                i = int(k) + (n if int(k) < 0 else 0)
                if not 0 <= i < n:
                    raise IndexError(f"index {int(k)} is out of bounds for size {n}")
                r = range(i, i + 1)
            elif isinstance(k, slice):
                r = range(*k.indices(n))
            else:  # fancy indexing: not what a viewer does; read everything
                return np.asarray(self)[key]  # type: ignore[call-overload]
            starts.append(r.start)
            steps.append(r.step)
            counts.append(len(r))
            kept.append(isinstance(k, slice))
        out_shape = tuple(c for c, k in zip(counts, kept, strict=True) if k)
        if 0 in counts:
            return np.empty(out_shape, dtype=self.dtype)
        memo = (tuple(starts), tuple(steps), tuple(counts))
        hit = self._cache.get(memo)
        if hit is None:
            a = _strided_affine(self.grid, starts, steps)
            hit = sample_grid(self.source, self.affine, a, tuple(counts), order=self.order)
            self.voxels_read += int(np.prod(counts))
            if hit.size <= 4 * 1024 * 1024:  # planes, not volumes
                if len(self._cache) >= 4:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[memo] = hit
        return hit.reshape(out_shape).copy()

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        out = self[:, :, :]
        return out if dtype is None else out.astype(dtype)


def display_view(
    array: npt.ArrayLike,
    affine: npt.ArrayLike,
    *,
    order: int = 1,
    grid: DisplayGrid | None = None,
) -> tuple[np.ndarray | ResampledVolume, DisplayGrid]:
    """A volume as the viewer shows it, without resampling it up front.

    Parameters
    ----------
    array : array-like
        Source array (three spatial axes).
    affine : (4, 4) array-like
        Source index -> LPS mm.
    order : int
        Interpolation order for an oblique volume (1 images, 0 label maps).
    grid : DisplayGrid, optional
        Grid to use (default :func:`display_grid` of the source).

    Returns
    -------
    display : ndarray or ResampledVolume
        Axis-aligned source: a view (transpose + flips) of ``array``. Oblique: a
        :class:`ResampledVolume` that resamples what is read, axes ``(S, P, L)``.
    grid : DisplayGrid
    """
    arr = np.asarray(array)
    aff = np.asarray(affine, dtype=np.float64)
    grid = grid or display_grid(aff, arr.shape)
    if not grid.oblique:
        return to_display(arr, aff, order=order, grid=grid)
    return ResampledVolume(arr, aff, grid, order=order), grid


def label_display_dtype(max_label: int) -> np.dtype:
    """Dtype of an oblique label map's display copy: the narrowest holding ``max_label``.

    uint8 while every label value is below 256 (half the memory of the uint16 map,
    and napari maps 256 texture values per colormap change instead of 65536),
    else uint16.
    """
    return np.dtype(np.uint8) if int(max_label) <= np.iinfo(np.uint8).max else np.dtype(np.uint16)


def to_display(
    array: npt.ArrayLike,
    affine: npt.ArrayLike,
    *,
    order: int = 1,
    grid: DisplayGrid | None = None,
    dtype: npt.DTypeLike | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, DisplayGrid]:
    """Reorder (or, if oblique, resample) a volume onto its display grid.

    Parameters
    ----------
    array : array-like
        Source array (three spatial axes).
    affine : (4, 4) array-like
        Source index -> LPS mm.
    order : int
        Interpolation order when resampling an oblique volume (0 for labels).
    grid : DisplayGrid, optional
        Grid to use (default :func:`display_grid` of the source).
    dtype : dtype, optional
        Oblique label map (``order == 0``): dtype of the display array (default the
        source's; see :func:`label_display_dtype`). Every label value must fit.
    out : ndarray, optional
        Oblique label map: an existing display array (``grid.shape``) to redraw in
        place (its labelled box zeroed, then the source's labelled box sampled) instead of a new one.

    Returns
    -------
    display : ndarray
        Array on the display grid, axes ``(S, P, L)``. For an axis-aligned source
        this is a view (transpose + flips) of ``array``, no copy. For an oblique
        source with ``order == 0`` (a label map) only the box of its non-zero voxels
        is sampled; the rest is zero (new zero pages cost no memory until written).
    grid : DisplayGrid
    """
    arr = np.asarray(array)
    aff = np.asarray(affine, dtype=np.float64)
    grid = grid or display_grid(aff, arr.shape)
    if not grid.oblique:
        assert grid.source_axes is not None and grid.flips is not None
        disp = np.transpose(arr, grid.source_axes)
        sl = tuple(slice(None, None, -1) if f else slice(None) for f in grid.flips)
        return disp[sl], grid
    if order == 0:
        if out is None:
            out = np.zeros(grid.shape, dtype=arr.dtype if dtype is None else np.dtype(dtype))
        else:
            old = nonzero_box(out)  # zero what is drawn (writing every page would cost RSS)
            if old is not None:
                out[old] = 0
        box = nonzero_box(arr)
        if box is not None:
            refresh_display(out, arr, aff, grid, box, order=0)
        return out, grid
    whole = tuple(slice(0, n) for n in grid.shape)
    return _sample_box(arr, aff, grid, whole, order), grid


def sample_display_box(
    source: npt.ArrayLike,
    affine: npt.ArrayLike,
    grid: DisplayGrid,
    box: Box,
    *,
    order: int = 0,
) -> np.ndarray:
    """Values of the display voxels inside ``box`` (display index space), from the source.

    What :func:`to_display` puts there, for that box only.

    Parameters
    ----------
    source : array-like
        Source array.
    affine : (4, 4) array-like
        Source index -> LPS mm.
    grid : DisplayGrid
        The display grid.
    box : tuple of slice
        Display box (``(S, P, L)`` axes).
    order : int
        Interpolation order (0 for label maps).
    """
    src = np.asarray(source)
    aff = np.asarray(affine, dtype=np.float64)
    if not grid.oblique:
        return np.asarray(to_display(src, aff, order=order, grid=grid)[0][box])
    return _sample_box(src, aff, grid, box, order)


def refresh_display(
    display: np.ndarray,
    source: npt.ArrayLike,
    affine: npt.ArrayLike,
    grid: DisplayGrid,
    source_box: Box,
    *,
    order: int = 0,
) -> Box | None:
    """Re-sample, in place, the part of a display array that an edit of ``source`` reaches.

    For an oblique grid only the display voxels inside the (one-voxel padded)
    bounding box of the edited source box are sampled again; an axis-aligned
    display is a view of the source and needs nothing.

    Parameters
    ----------
    display : ndarray
        The display array (on ``grid``), updated in place.
    source : array-like
        The edited source array.
    affine : (4, 4) array-like
        Source index -> LPS mm.
    grid : DisplayGrid
        Grid of ``display``.
    source_box : tuple of slice
        Source index box holding every edited voxel.
    order : int
        Interpolation order (0 for label maps).

    Returns
    -------
    tuple of slice or None
        The display box re-sampled (None when nothing needed it).
    """
    if not grid.oblique:
        return None
    src = np.asarray(source)
    aff = np.asarray(affine, dtype=np.float64)
    lo = np.array([s.start for s in source_box], float) - 1
    hi = np.array([s.stop for s in source_box], float)  # stop - 1 + 1 padding
    corners = np.array(
        [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])]
    )
    d = grid.world_to_index(lps_to_world(index_to_lps(aff, corners)))
    d_lo = np.maximum(np.floor(d.min(axis=0)).astype(int) - 1, 0)
    d_hi = np.minimum(np.ceil(d.max(axis=0)).astype(int) + 2, np.asarray(grid.shape))
    if np.any(d_hi <= d_lo):
        return None
    box = tuple(slice(int(a), int(b)) for a, b in zip(d_lo, d_hi, strict=True))
    display[box] = _sample_box(src, aff, grid, box, order)
    return box


def from_display(
    display: npt.ArrayLike,
    grid: DisplayGrid,
    affine: npt.ArrayLike,
    shape: tuple[int, ...],
) -> np.ndarray:
    """Map a display-grid array (e.g. an edited label layer) back to the source grid.

    Exact for axis-aligned grids; nearest neighbour for oblique ones.

    Parameters
    ----------
    display : array-like
        Array on ``grid`` (axes ``(S, P, L)``).
    grid : DisplayGrid
        The grid ``display`` lives on.
    affine : (4, 4) array-like
        Source index -> LPS mm.
    shape : tuple of int
        Source array shape.

    Returns
    -------
    ndarray
        Array on the source grid, same dtype as ``display``.
    """
    disp = np.asarray(display)
    if not grid.oblique:
        assert grid.source_axes is not None and grid.flips is not None
        sl = tuple(slice(None, None, -1) if f else slice(None) for f in grid.flips)
        unflipped = disp[sl]
        return np.ascontiguousarray(np.transpose(unflipped, np.argsort(grid.source_axes)))
    aff = np.asarray(affine, dtype=np.float64)
    return sample_grid(disp, grid.lps_affine, aff, tuple(int(s) for s in shape[:3]), order=0)


def display_box_to_source(
    grid: DisplayGrid, affine: npt.ArrayLike, display_box: Box, shape: tuple[int, ...]
) -> Box | None:
    """Source index box holding every source voxel whose nearest display voxel is in a box.

    Parameters
    ----------
    grid : DisplayGrid
        The display grid.
    affine : (4, 4) array-like
        Source index -> LPS mm.
    display_box : tuple of slice
        Box in display index space (``(S, P, L)`` axes).
    shape : tuple of int
        Source array shape.

    Returns
    -------
    tuple of slice or None
        The source box (padded by one voxel, clipped to the array), None when the
        display box lies outside the source.
    """
    aff = np.asarray(affine, dtype=np.float64)
    lo = np.array([s.start for s in display_box], float)
    hi = np.array([s.stop for s in display_box], float)
    corners = np.array(
        [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])],
        float,
    )
    world = corners * np.asarray(grid.scale) + np.asarray(grid.translate)
    src = lps_to_index(aff, world_to_lps(world))
    s_lo = np.maximum(np.floor(src.min(axis=0)).astype(int) - 1, 0)
    s_hi = np.minimum(np.ceil(src.max(axis=0)).astype(int) + 2, np.asarray(shape[:3]))
    if np.any(s_hi <= s_lo):
        return None
    return (slice(int(s_lo[0]), int(s_hi[0])), slice(int(s_lo[1]), int(s_hi[1])),
            slice(int(s_lo[2]), int(s_hi[2])))  # fmt: skip


def update_from_display(
    source: np.ndarray,
    display: npt.ArrayLike,
    grid: DisplayGrid,
    affine: npt.ArrayLike,
    edited: npt.ArrayLike,
    *,
    box: Box | None = None,
) -> int:
    """Carry the edited voxels of a display array back to the source, in place.

    Only source voxels whose nearest display voxel was edited are touched, so a
    brush stroke on a resampled (oblique) label layer does not pass the rest of
    the label map through a lossy nearest-neighbour round trip.

    Parameters
    ----------
    source : ndarray
        Source-grid array, updated in place.
    display : array-like
        The edited display-grid array.
    grid : DisplayGrid
        Grid of ``display``.
    affine : (4, 4) array-like
        Source index -> LPS mm.
    edited : array-like of bool
        Display-grid mask of the voxels the edit changed; with ``box``, the mask of
        that box only (shape of the box).
    box : tuple of slice, optional
        Display box holding every edited voxel (oblique grids: only the source
        voxels this box reaches are visited).

    Returns
    -------
    int
        Number of source voxels whose value changed.
    """
    disp = np.asarray(display)
    mask = np.asarray(edited, bool)
    aff = np.asarray(affine, dtype=np.float64)
    if not mask.any():
        return 0
    if not grid.oblique:
        if box is not None:
            full = np.zeros(disp.shape[:3], bool)
            full[box] = mask
            mask = full
        new = from_display(disp, grid, aff, source.shape)
        changed = int((new != source).sum())
        source[...] = new
        return changed
    offset = np.zeros(3, int) if box is None else np.array([s.start for s in box], int)
    nz = np.argwhere(mask)
    lo, hi = nz.min(axis=0) + offset, nz.max(axis=0) + 1 + offset
    sbox = display_box_to_source(
        grid, aff, tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True)), source.shape
    )
    if sbox is None:
        return 0
    grids = np.meshgrid(*[np.arange(s.start, s.stop) for s in sbox], indexing="ij")
    idx = np.stack(grids, axis=-1).reshape(-1, 3)
    lps = index_to_lps(aff, idx)
    d = np.round(grid.world_to_index(lps_to_world(lps))).astype(int) - offset
    inside = np.all((d >= 0) & (d < np.asarray(mask.shape[:3])), axis=1)
    idx, d = idx[inside], d[inside]
    hit = mask[d[:, 0], d[:, 1], d[:, 2]]
    idx, d = idx[hit], d[hit]
    d = d + offset
    vals = disp[d[:, 0], d[:, 1], d[:, 2]]
    old = source[idx[:, 0], idx[:, 1], idx[:, 2]]
    source[idx[:, 0], idx[:, 1], idx[:, 2]] = vals
    return int((old != vals).sum())


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
    array: npt.ArrayLike, low_pct: float = 1.0, high_pct: float = 99.5
) -> tuple[float, float]:
    """Robust display window (percentiles of the non-zero voxels, image units).

    Estimated on about 32 slices, every other row and column of a 512 x 512 matrix
    (about 2 M voxels: the window of a real-size series in ~0.1 s, not 1 s).
    """
    a = np.asarray(array)
    step = max(1, min(a.shape[1:3]) // 256) if a.ndim >= 3 else 1
    sample = np.ravel(a[:: max(1, a.shape[0] // 32), ::step, ::step])
    nz = sample[sample != 0]
    if nz.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(nz, [low_pct, high_pct])
    if hi <= lo:
        hi = lo + 1.0
    return (float(lo), float(hi))


def display_to_lps_affine(
    scale: tuple[float, ...] | npt.ArrayLike, translate: tuple[float, ...] | npt.ArrayLike
) -> np.ndarray:
    """Index -> LPS affine of a display-grid array (e.g. a viewer layer's data).

    Parameters
    ----------
    scale, translate : tuple of float
        Display voxel size and origin along world ``(S, P, L)``, mm.

    Returns
    -------
    (4, 4) ndarray
        Maps the display array index ``(s, p, l)`` to LPS mm.
    """
    sc, tr = np.ravel(np.asarray(scale, float)), np.ravel(np.asarray(translate, float))
    a = np.zeros((4, 4))
    a[3, 3] = 1.0
    for w, comp in enumerate(_LPS_OF_WORLD):
        a[comp, w] = float(sc[w])
        a[comp, 3] = float(tr[w])
    return a
