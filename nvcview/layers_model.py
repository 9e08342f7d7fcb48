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

import copy
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from nvcview import segment
from nvcview.errors import InputError
from nvcview.io.image import Image, SeriesMeta, index_to_lps, lps_to_index, make_volume
from nvcview.measure.records import GRADES, MeasureSettings, VesselMeasurement
from nvcview.review.model import CONFIDENCES, ReaderCall, Review, SeriesRef, now_iso
from nvcview.segment import GrowResult
from nvcview.structures import VESSEL_TYPES, Structure

log = logging.getLogger(__name__)

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
        lps0 = index_to_lps(affine, src0)
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
    world = lps_to_world(index_to_lps(affine, corners))
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
        lps = index_to_lps(affine, idx)
        d = grid.world_to_index(lps_to_world(lps))
        vals = ndimage.map_coordinates(display, d.T, order=0, mode="constant", cval=0)
        out[i] = vals.reshape(n1, n2)
    return out


def update_from_display(
    source: np.ndarray,
    display: np.ndarray,
    grid: DisplayGrid,
    affine: np.ndarray,
    edited: np.ndarray,
) -> int:
    """Carry the edited voxels of a display array back to the source, in place.

    Only source voxels whose nearest display voxel was edited are touched, so a
    brush stroke on a resampled (oblique) label layer does not pass the rest of
    the label map through a lossy nearest-neighbour round trip.

    Parameters
    ----------
    source : ndarray
        Source-grid array, updated in place.
    display : ndarray
        The edited display-grid array.
    grid : DisplayGrid
        Grid of ``display``.
    affine : (4, 4) ndarray
        Source index -> LPS mm.
    edited : ndarray of bool
        Display-grid mask of the voxels the edit changed.

    Returns
    -------
    int
        Number of source voxels whose value changed.
    """
    edited = np.asarray(edited, bool)
    if not edited.any():
        return 0
    if not grid.oblique:
        new = from_display(display, grid, affine, source.shape)
        changed = int((new != source).sum())
        source[...] = new
        return changed
    nz = np.argwhere(edited)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    affine = np.asarray(affine, float)
    corners = np.array(
        [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])],
        float,
    )
    world = corners * np.asarray(grid.scale) + np.asarray(grid.translate)
    src = lps_to_index(affine, world_to_lps(world))
    s_lo = np.maximum(np.floor(src.min(axis=0)).astype(int) - 1, 0)
    s_hi = np.minimum(np.ceil(src.max(axis=0)).astype(int) + 2, np.asarray(source.shape[:3]))
    if np.any(s_hi <= s_lo):
        return 0
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(s_lo, s_hi, strict=True)], indexing="ij")
    idx = np.stack(grids, axis=-1).reshape(-1, 3)
    lps = index_to_lps(affine, idx)
    d = np.round(grid.world_to_index(lps_to_world(lps))).astype(int)
    inside = np.all((d >= 0) & (d < np.asarray(display.shape[:3])), axis=1)
    idx, d = idx[inside], d[inside]
    hit = edited[d[:, 0], d[:, 1], d[:, 2]]
    idx, d = idx[hit], d[hit]
    vals = display[d[:, 0], d[:, 1], d[:, 2]]
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


def display_to_lps_affine(scale: tuple[float, ...], translate: tuple[float, ...]) -> np.ndarray:
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
    a = np.zeros((4, 4))
    a[3, 3] = 1.0
    for w, comp in enumerate(_LPS_OF_WORLD):
        a[comp, w] = float(scale[w])
        a[comp, 3] = float(translate[w])
    return a


# ---------------------------------------------------------------------------
# Live measurement: one cached CaseMeasurer per session
# ---------------------------------------------------------------------------


def changed_box(old: np.ndarray, new: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box (index space) of the voxels that differ between two label maps.

    Parameters
    ----------
    old, new : ndarray
        Label maps of the same shape.

    Returns
    -------
    tuple of slice or None
        One slice per axis holding every changed voxel, None when nothing changed.

    Notes
    -----
    One vectorised comparison and a scan of its (few) changed positions: about
    2 ms on a 512 x 512 x 48 map, far less than re-scanning every label.
    """
    if old.shape != new.shape:
        raise InputError(f"label map shape changed from {old.shape} to {new.shape}")
    flat = np.flatnonzero(np.ravel(old) != np.ravel(new))
    if len(flat) == 0:
        return None
    ijk = np.array(np.unravel_index(flat, old.shape)).T
    lo, hi = ijk.min(axis=0), ijk.max(axis=0)
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi, strict=True))


def _landmarks_key(landmarks: Mapping[str, Sequence[float]]) -> tuple:
    return tuple(
        sorted((str(k), tuple(float(x) for x in np.ravel(v))) for k, v in landmarks.items())
    )


def _centreline_key(centreline: np.ndarray | None) -> tuple | None:
    if centreline is None:
        return None
    c = np.asarray(centreline, np.float64)
    return (c.shape, c.tobytes())


class LiveMeasurer:
    """One :class:`~nvcview.measure.CaseMeasurer` kept across the edits of a session.

    Each :meth:`measure` is handed the whole current state (label map,
    structures, landmarks, centreline, settings). The label map is compared with
    the one measured last time (:func:`changed_box`) and only that box is passed
    to :meth:`CaseMeasurer.update <nvcview.measure.CaseMeasurer.update>`, so the
    cached label boxes and gaps of structures the edit cannot reach are kept.
    Landmark and centreline changes go to ``set_landmarks`` / ``set_centreline``;
    a change of the structure table, the settings or the grid (shape, affine)
    rebuilds the measurer. Results equal :func:`nvcview.measure.measure_case` on
    the same inputs.

    Thread safety: every call holds one lock, and the measurer keeps its own
    copy of the label map (or takes ownership of a frozen snapshot's private
    copy), so a worker thread measuring a snapshot never sees the GUI thread's
    edits and two measurements never mutate the cache at the same time.

    Attributes
    ----------
    last_action : str or None
        What the last :meth:`measure` did to the cache: "built", "updated" (an
        edited region was fed to it) or "reused" (label map unchanged).
    last_region : tuple of slice or None
        The edited region (index box) fed to the measurer by the last call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._measurer = None
        self._key: tuple | None = None
        self._landmarks: tuple | None = None
        self._centreline: tuple | None = None
        self.last_action: str | None = None
        self.last_region: tuple[slice, ...] | None = None

    def reset(self) -> None:
        """Drop the cache: the next :meth:`measure` rebuilds it."""
        with self._lock:
            self._measurer = None
            self._key = None

    def measure(
        self,
        labels: Image,
        structures: Sequence[Structure],
        landmarks: Mapping[str, Sequence[float]],
        centreline: np.ndarray | None = None,
        settings: MeasureSettings | None = None,
        reader_grades: Mapping[int, str] | None = None,
        *,
        owned: bool = False,
    ) -> list[VesselMeasurement]:
        """Measure every vessel, reusing what the last call cached.

        Parameters
        ----------
        labels : Image
            Label map on the reference grid (affine index -> LPS mm).
        structures : sequence of Structure
            Structure table.
        landmarks : mapping
            Name -> (3,) LPS mm.
        centreline : ndarray, optional
            (N, 3) LPS mm traced centreline; derived from the nerve label if None.
        settings : MeasureSettings, optional
            Engine settings.
        reader_grades : mapping, optional
            Vessel label -> reader grade.
        owned : bool
            True when nobody else will write to ``labels.array`` (a frozen
            snapshot's copy): the measurer keeps it instead of copying it.

        Returns
        -------
        list of VesselMeasurement
            As :func:`nvcview.measure.measure_case` returns them.
        """
        from nvcview.measure import CaseMeasurer

        settings = copy.deepcopy(settings) if settings is not None else MeasureSettings()
        with self._lock:
            if not owned:
                arr = np.array(labels.array, copy=True)
                labels = Image(
                    volume=make_volume(arr, labels.affine, labels.volume.frame_of_reference_uid),
                    meta=labels.meta,
                    patient=labels.patient,
                )
            arr = np.asarray(labels.array)
            key = (
                arr.shape,
                np.asarray(labels.affine, np.float64).tobytes(),
                tuple(repr(s) for s in structures),  # every field of each
                repr(settings),
            )
            lm_key, cl_key = _landmarks_key(landmarks), _centreline_key(centreline)
            try:
                m = self._measurer
                if m is None or key != self._key:
                    self._measurer = None
                    m = CaseMeasurer(
                        labels, copy.deepcopy(list(structures)), landmarks, centreline, settings
                    )
                    self._key = key
                    self.last_action, self.last_region = "built", None
                else:
                    region = changed_box(m.grid.array, arr)
                    self.last_region = region
                    if region is None:
                        self.last_action = "reused"
                    else:
                        m.update(labels, region=region)
                        self.last_action = "updated"
                    if lm_key != self._landmarks:
                        m.set_landmarks(landmarks)
                    if cl_key != self._centreline:
                        m.set_centreline(centreline)
                self._measurer = m
                self._landmarks, self._centreline = lm_key, cl_key
                return m.measure(reader_grades)
            except Exception:
                self._measurer = None  # never keep a half-updated cache: rebuild next time
                raise


# ---------------------------------------------------------------------------
# The case being reviewed, as plain arrays (what the viewer widget edits)
# ---------------------------------------------------------------------------


@dataclass
class CaseSession:
    """One reader's work on one case, held as arrays for interactive editing.

    The label map lies on the reference series (the T2 when there is one, else
    the TOF); every position is LPS mm. :meth:`to_review` turns the session into
    a :class:`~nvcview.review.model.Review` (and :meth:`labels_image` into the
    label map to save beside it); :meth:`from_review` goes back.

    Attributes
    ----------
    t2, tof : Image or None
        The loaded series.
    labels : ndarray or None
        Integer label map on the reference grid (0 = background).
    review : Review
        Everything else of the review (reader, side, structures, landmarks,
        nerve path, calls, impression, status).
    live : LiveMeasurer
        The session's cached measurement engine (shared with its frozen copies).
    frozen : bool
        True for a :meth:`frozen_copy`: its label map is private to it.
    """

    t2: Image | None = None
    tof: Image | None = None
    labels: np.ndarray | None = None
    review: Review = field(default_factory=Review)
    live: LiveMeasurer = field(default_factory=LiveMeasurer, repr=False, compare=False)
    frozen: bool = field(default=False, repr=False, compare=False)

    # ---- geometry -------------------------------------------------------
    @property
    def reference(self) -> Image:
        """The series the label map is aligned to (T2, else TOF)."""
        ref = self.t2 if self.t2 is not None else self.tof
        if ref is None:
            raise InputError("no series loaded: open a T2 (CISS/FIESTA) or TOF series first")
        return ref

    def ensure_labels(self) -> np.ndarray:
        """The label map, created empty (uint16) on the reference grid if missing."""
        if self.labels is None:
            self.labels = np.zeros(self.reference.array.shape[:3], dtype=np.uint16)
        return self.labels

    def labels_image(self) -> Image:
        """The label map as an :class:`Image` on the reference grid."""
        ref = self.reference
        meta = SeriesMeta(
            series_description="nvcview labels",
            role="labels",
            frame_of_reference_uid=ref.meta.frame_of_reference_uid,
            shape=tuple(self.ensure_labels().shape),
            spacing_mm=ref.spacing_mm,
        )
        vol = make_volume(self.ensure_labels(), ref.affine, ref.volume.frame_of_reference_uid)
        return Image(volume=vol, meta=meta)

    # ---- structures -----------------------------------------------------
    @property
    def structures(self) -> list[Structure]:
        """The structure table (label -> name, kind, vessel type)."""
        return self.review.structures

    def structure(self, label: int) -> Structure:
        """The structure with this label value."""
        for s in self.review.structures:
            if s.label == int(label):
                return s
        raise InputError(f"no structure with label {label}")

    def next_label(self) -> int:
        """Smallest label value not used by a structure or the label map."""
        used = {s.label for s in self.review.structures}
        if self.labels is not None and self.labels.any():
            used |= {int(v) for v in np.unique(self.labels) if v}
        n = 1
        while n in used:
            n += 1
        return n

    def add_structure(
        self,
        mask: np.ndarray,
        name: str,
        kind: str,
        *,
        vessel_type: str | None = None,
        nerve: str | None = None,
        label: int | None = None,
        overwrite: bool = False,
    ) -> Structure:
        """Put a mask (reference grid) into the label map as a new structure.

        Voxels already labelled keep their label unless ``overwrite``.
        Giving the ``label`` of an existing structure adds the mask to it.
        """
        labels = self.ensure_labels()
        mask = np.asarray(mask, bool)
        if mask.shape != labels.shape:
            raise InputError(f"mask shape {mask.shape} is not the label map's {labels.shape}")
        if label is not None and any(s.label == int(label) for s in self.structures):
            st = self.structure(label)
        else:
            st = Structure(
                label=label or self.next_label(),
                name=name,
                kind=kind,
                vessel_type=vessel_type,
                nerve=nerve,
            )
            self.review.structures.append(st)
        where = mask if overwrite else (mask & (labels == 0))
        labels[where] = st.label
        return st

    def remove_structure(self, label: int) -> None:
        """Delete a structure, its voxels and its reader call."""
        st = self.structure(label)
        if self.labels is not None:
            self.labels[self.labels == st.label] = 0
        self.review.structures = [s for s in self.structures if s.label != st.label]
        self.review.calls = [c for c in self.review.calls if c.vessel_label != st.label]

    def set_vessel_type(self, label: int, vessel_type: str) -> Structure:
        """Assign a vessel type (AICA, PICA, VA, basilar, vein, other, unknown)."""
        if vessel_type not in VESSEL_TYPES:
            raise InputError(f"vessel type must be one of {VESSEL_TYPES}, got {vessel_type!r}")
        st = self.structure(label)
        if st.kind != "vessel":
            raise InputError(f"structure {st.name!r} is a {st.kind}, not a vessel")
        old = st.vessel_type
        st.vessel_type = vessel_type
        if st.name in ("", "vessel", f"{old}", f"{old} {st.label}", f"vessel {st.label}"):
            st.name = f"{vessel_type} {st.label}"
        return st

    # ---- semi-automatic tools ------------------------------------------
    def vessel_mask(self, seed_lps: np.ndarray, **kwargs) -> tuple[np.ndarray, GrowResult]:
        """Grow a vessel from a seed in the TOF (else the T2), without adding it.

        Reads the series only, so it may run in a worker thread. Keyword
        arguments go to :func:`nvcview.segment.grow_vessel` (``radius_mm``,
        ``threshold``, ``fraction``).

        Returns
        -------
        mask : ndarray of bool
            The vessel on the reference grid (carried through both affines).
        result : GrowResult
            The grow on its own (TOF) grid.
        """
        src = self.tof if self.tof is not None else self.reference
        res = segment.grow_vessel(src.array, src.affine, seed_lps, **kwargs)
        return self._to_reference(res.mask, src), res

    def add_vessel(self, mask: np.ndarray, vessel_type: str = "unknown") -> Structure:
        """Add a vessel mask (reference grid) as a new structure of this type."""
        return self.add_structure(
            mask, f"{vessel_type} {self.next_label()}", "vessel", vessel_type=vessel_type
        )

    def grow_vessel(
        self, seed_lps: np.ndarray, vessel_type: str = "unknown", **kwargs
    ) -> tuple[Structure, GrowResult]:
        """Grow a vessel from a seed (:meth:`vessel_mask`) and add it (:meth:`add_vessel`)."""
        mask, res = self.vessel_mask(seed_lps, **kwargs)
        return self.add_vessel(mask, vessel_type), res

    def nerve_mask(
        self, seed_lps: np.ndarray, nerve: str = "VII", *, path_radius_mm: float = 1.5, **kwargs
    ) -> tuple[np.ndarray, GrowResult]:
        """Grow a nerve (dark in the T2 cistern) from a seed, without adding it.

        When CN VII's centreline is traced (and ``nerve == "VII"``), the grow stays
        within ``path_radius_mm`` of it, which keeps it off the pons along the
        attached segment. Other keyword arguments go to
        :func:`nvcview.segment.grow_nerve`. Reads only: may run in a worker thread.
        """
        if self.t2 is None:
            raise InputError("nerve growing needs the T2 (CISS/FIESTA) series")
        path = self.centreline_lps()
        if nerve == "VII" and path is not None and "within" not in kwargs:
            kwargs["within"] = segment.tube_mask(
                self.t2.array.shape, self.t2.affine, path, path_radius_mm
            )
        res = segment.grow_nerve(self.t2.array, self.t2.affine, seed_lps, **kwargs)
        return self._to_reference(res.mask, self.t2), res

    def add_nerve(self, mask: np.ndarray, nerve: str = "VII") -> Structure:
        """Add a mask (reference grid) to CN VII or VIII (created if missing)."""
        return self._add_nerve(mask, nerve)

    def grow_nerve(
        self, seed_lps: np.ndarray, nerve: str = "VII", **kwargs
    ) -> tuple[Structure, GrowResult]:
        """Grow a nerve from a seed (:meth:`nerve_mask`) and add or extend it."""
        mask, res = self.nerve_mask(seed_lps, nerve, **kwargs)
        return self._add_nerve(mask, nerve), res

    def nerve_from_path(self, radius_mm: float = 1.0, nerve: str = "VII") -> Structure:
        """Make (or extend) the facial nerve as a tube around the traced centreline."""
        pts = np.asarray(self.review.nerve_path_lps, float).reshape(-1, 3)
        if len(pts) < 2:
            raise InputError("trace at least two centreline points along the nerve first")
        ref = self.reference
        mask = segment.tube_mask(ref.array.shape, ref.affine, pts, radius_mm)
        return self._add_nerve(mask, nerve)

    def _add_nerve(self, mask: np.ndarray, nerve: str) -> Structure:
        existing = next(
            (s for s in self.structures if s.kind == "nerve" and s.nerve == nerve), None
        )
        name = "facial nerve" if nerve == "VII" else "vestibulocochlear nerve"
        return self.add_structure(
            mask, name, "nerve", nerve=nerve, label=existing.label if existing else None
        )

    def _to_reference(self, mask: np.ndarray, src: Image) -> np.ndarray:
        ref = self.reference
        if src is ref or (
            src.array.shape == ref.array.shape and np.allclose(src.affine, ref.affine, atol=1e-6)
        ):
            return mask
        return segment.resample_mask(mask, src.affine, ref.array.shape, ref.affine)

    def add_t2(self, t2: Image) -> None:
        """Make ``t2`` the reference series, carrying a label map made on the TOF onto it.

        Every structure's mask is resampled from the old reference grid onto the T2
        grid (:func:`nvcview.segment.resample_mask`); landmarks, the centreline and
        the rest of the review are in LPS mm and stay as they are.
        """
        self.live.reset()
        self.set_series(t2, self.tof)

    def set_series(self, t2: Image | None, tof: Image | None) -> bool:
        """Make ``t2`` / ``tof`` the case's series, keeping the review.

        When the reference series (T2, else TOF) changes, the label map is carried
        onto the new reference grid structure by structure (nearest neighbour through
        world space, :func:`nvcview.segment.resample_mask`); landmarks, the nerve
        path, structures and calls are in LPS mm or label values and stay as they are.

        Returns
        -------
        bool
            True when the label map was resampled onto another grid.

        Raises
        ------
        InputError
            No series left while the label map holds annotations (nothing to carry
            them onto); the session is left unchanged.
        """
        old_ref = self.t2 if self.t2 is not None else self.tof
        new_ref = t2 if t2 is not None else tof
        old = self.labels
        if new_ref is None and old is not None and old.any():
            raise InputError(
                "the case has labelled structures: choose a T2 or TOF series to keep them on"
            )
        self.t2, self.tof = t2, tof
        if new_ref is old_ref:
            return False
        self.live.reset()
        # the saved grid is the new reference's from now on (the store records it)
        self.review.reference_affine = self.review.reference_shape = None
        if old is None or old_ref is None or new_ref is None:
            self.labels = None
            return False
        if old.shape == new_ref.array.shape[:3] and np.allclose(
            old_ref.affine, new_ref.affine, atol=1e-6
        ):
            return False  # the same grid: the label map fits as it is
        carried = np.zeros(new_ref.array.shape[:3], dtype=np.uint16)
        for value in np.unique(old):
            if value == 0:
                continue
            mask = self._to_reference(old == value, old_ref)
            carried[mask & (carried == 0)] = value
        self.labels = carried
        return True

    # ---- landmarks and calls -------------------------------------------
    def set_landmark(self, name: str, lps: np.ndarray | None) -> None:
        """Place (or with ``None`` delete) a named landmark, LPS mm."""
        if lps is None:
            self.review.landmarks.pop(name, None)
        else:
            self.review.landmarks[name] = [float(v) for v in np.asarray(lps, float).reshape(3)]

    def set_call(
        self,
        vessel_label: int,
        grade: str | None = None,
        confidence: str | None = None,
        comment: str | None = None,
    ) -> ReaderCall:
        """Record the reader's grade / confidence / comment on one vessel.

        ``None`` leaves a field as it is; an empty grade or confidence clears it.
        """
        if grade and grade not in GRADES:
            raise InputError(f"grade must be one of {GRADES}, got {grade!r}")
        if confidence and confidence not in CONFIDENCES:
            raise InputError(f"confidence must be one of {CONFIDENCES}, got {confidence!r}")
        call = self.review.call_for(int(vessel_label))
        if call is None:
            call = ReaderCall(vessel_label=int(vessel_label))
            self.review.calls.append(call)
        if grade is not None:
            call.grade = grade or None
        if confidence is not None:
            call.confidence = confidence or None
        if comment is not None:
            call.comment = comment
        return call

    # ---- review <-> session --------------------------------------------
    def to_review(self) -> Review:
        """The review document (series references filled from the loaded series)."""
        r = self.review
        refs = []
        for role, img in (("T2", self.t2), ("TOF", self.tof)):
            if img is None:
                continue
            m = img.meta
            refs.append(
                SeriesRef(
                    series_uid=m.series_uid,
                    role=role,
                    path=m.source_path,
                    description=m.series_description,
                    sequence_name=m.sequence_name,
                    voxel_size_mm=[float(v) for v in img.spacing_mm],
                )
            )
        if refs:
            r.series = refs
            r.reference_series_uid = self.reference.meta.series_uid
            r.study_uid = r.study_uid or self.reference.meta.study_uid
        r.fusion_used = self.t2 is not None and self.tof is not None
        r.modified = now_iso()
        return r

    def centre_lps(self) -> np.ndarray:
        """LPS mm of the centre of the reference volume."""
        ref = self.reference
        centre = (np.asarray(ref.array.shape[:3], float) - 1) / 2
        return index_to_lps(ref.affine, centre)

    def landmarks_lps(self) -> dict[str, np.ndarray]:
        """Landmarks as (3,) LPS mm arrays."""
        return {k: np.asarray(v, float) for k, v in self.review.landmarks.items()}

    def centreline_lps(self) -> np.ndarray | None:
        """The traced nerve centreline (N, 3) LPS mm, or None."""
        pts = np.asarray(self.review.nerve_path_lps, float).reshape(-1, 3)
        return pts if len(pts) >= 2 else None

    def reader_grades(self) -> dict[int, str]:
        """{vessel label: reader grade} of the calls that have a grade."""
        return {c.vessel_label: c.grade for c in self.review.calls if c.grade}

    @classmethod
    def from_review(
        cls,
        review: Review,
        labels: Image | None = None,
        t2: Image | None = None,
        tof: Image | None = None,
    ) -> CaseSession:
        """Rebuild a session from a saved review and its label map."""
        arr = None
        if labels is not None:
            ref = t2 if t2 is not None else tof
            if ref is not None and (
                labels.array.shape != ref.array.shape
                or not np.allclose(labels.affine, ref.affine, atol=1e-3)
            ):
                raise InputError(
                    "the review's label map does not lie on the loaded reference series "
                    f"(shape {labels.array.shape} vs {ref.array.shape}); open the series "
                    "the review was made on"
                )
            arr = np.asarray(labels.array).astype(np.uint16)
        return cls(t2=t2, tof=tof, labels=arr, review=review)

    def frozen_copy(self) -> CaseSession:
        """An independent copy (label map and review copied, series shared read-only).

        Lets a worker thread measure a consistent state while the reader edits on.
        The copy shares :attr:`live` (the cached measurer, which locks itself) and,
        being ``frozen``, hands it its label map instead of a second copy.
        """
        return CaseSession(
            t2=self.t2,
            tof=self.tof,
            labels=None if self.labels is None else self.labels.copy(),
            review=copy.deepcopy(self.review),
            live=self.live,
            frozen=True,
        )

    # ---- measurement ---------------------------------------------------
    def can_measure(self) -> bool:
        """True when a facial nerve and at least one vessel are labelled."""
        kinds = {(s.kind, s.nerve) for s in self.structures}
        return ("nerve", "VII") in kinds and any(s.kind == "vessel" for s in self.structures)

    def measure(self) -> list:
        """Run the measurement engine on the current state (cached, see :attr:`live`).

        Only what changed since the session's previous measurement is re-measured
        (:class:`LiveMeasurer`); the result equals :meth:`measure_full`.

        Returns
        -------
        list of VesselMeasurement
            One per vessel (empty when there is no facial nerve or no vessel).
        """
        if not self.can_measure():
            return []
        return self.live.measure(
            self.labels_image(),
            self.structures,
            self.landmarks_lps(),
            centreline=self.centreline_lps(),
            settings=self.review.settings,
            reader_grades=self.reader_grades(),
            owned=self.frozen,
        )

    def measure_full(self) -> list:
        """One-shot :func:`nvcview.measure.measure_case` on the current state (no cache).

        Returns
        -------
        list of VesselMeasurement
            One per vessel (empty when there is no facial nerve or no vessel).
        """
        if not self.can_measure():
            return []
        from nvcview.measure import measure_case

        return measure_case(
            self.labels_image(),
            self.structures,
            self.landmarks_lps(),
            centreline=self.centreline_lps(),
            settings=self.review.settings,
            reader_grades=self.reader_grades(),
        )


# ---------------------------------------------------------------------------
# Opening a study (files -> session), headless
# ---------------------------------------------------------------------------


def guess_role(image: Image) -> str:
    """Display role of a volume: "T2", "TOF", "labels" or "other" (headers, then names)."""
    role = image.meta.role or "other"
    if role in ("T2", "TOF", "labels"):
        return role
    text = f"{image.meta.series_description} {image.meta.source_path}".lower()
    if "tof" in text or "angio" in text:
        return "TOF"
    if any(k in text for k in ("ciss", "fiesta", "space", "drive", "t2")):
        return "T2"
    return role


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True for a file with the DICOM preamble (``DICM`` at byte 128) or a .dcm/.ima name."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or p.suffix.lower() in (".dcm", ".ima")


def is_image_path(path: str | os.PathLike, limit: int = 2000) -> bool:
    """Whether nvcview can open ``path``: a review folder, DICOM or NIfTI file, or a
    folder with one of those among its first ``limit`` entries."""
    from nvcview.io.nifti import is_nifti_path

    p = Path(path)
    if p.is_dir():
        if (p / "review.json").exists():
            return True
        for n, q in enumerate(p.rglob("*")):
            if n >= limit:
                return False
            if q.is_file() and (is_nifti_path(q) or is_dicom_file(q)):
                return True
        return False
    return p.name == "review.json" or is_nifti_path(p) or is_dicom_file(p)


def save_label_map(array: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a label map (smallest unsigned type that holds it) to NIfTI, atomically."""
    from nvcview.io.nifti import write_nifti

    arr = np.asarray(array)
    top = int(arr.max()) if arr.size else 0
    if arr.size and int(arr.min()) < 0:
        raise InputError(f"{path}: label map holds negative labels")
    arr = arr.astype(np.uint8 if top < 256 else np.uint16)
    return write_nifti(make_volume(arr, affine), path)


def load_images(path: str | os.PathLike) -> list[tuple[str, Image]]:
    """Load every volume under ``path`` with a display role guessed from its headers.

    Parameters
    ----------
    path : path-like
        A NIfTI file, a DICOM file, or a folder (searched recursively). A folder
        with DICOM images gives its DICOM volumes; one without gives its NIfTI files.

    Returns
    -------
    list of (role, Image)
        Role is "T2", "TOF", "labels" or "other".
    """
    from nvcview.io import list_series, load
    from nvcview.io.nifti import is_nifti_path, read_nifti

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_file() and is_nifti_path(p):
        img = read_nifti(p)
        return [(guess_role(img), img)]
    out = []
    try:
        metas = list_series(p)
    except InputError:
        # no DICOM: a folder of NIfTI files (sorted by name) is a study too
        niftis = sorted(q for q in p.rglob("*") if q.is_file() and is_nifti_path(q))
        if not (p.is_dir() and niftis):
            raise
        return [(guess_role(img), img) for img in map(read_nifti, niftis)]
    skipped = []
    for meta in metas:
        if not meta.loadable:  # 2D images, localizers, stacks refused for their geometry
            skipped.append(f"{meta.series_description or meta.series_uid}: {meta.warnings}")
            log.warning("skipping a volume that cannot be loaded: %s", meta.warnings)
            continue
        uid = meta.volume_id or meta.series_uid or None
        src = meta.source_path or str(p)
        img = load(src if Path(src).exists() else p, series_uid=uid)
        out.append((guess_role(img), img))
    if not out:
        raise InputError(f"{p}: no loadable 3D volume; " + "; ".join(skipped))
    return out


def _resolve(ref_path: str, folder: Path) -> Path | None:
    if not ref_path:
        return None
    p = Path(ref_path)
    for cand in (p, folder / p, folder.parent / p):
        if cand.exists():
            return cand
    return None


def open_review_folder(folder: str | os.PathLike) -> CaseSession:
    """Open a saved review with the series it refers to and its label map.

    Series are found by their stored paths (absolute, or relative to the review
    folder or its parent) and chosen by SeriesInstanceUID.
    """
    from nvcview.io import load
    from nvcview.review.store import load_labels, load_review

    folder = Path(folder)
    if folder.name == "review.json":
        folder = folder.parent
    review = load_review(folder)
    images: dict[str, Image] = {}
    for ref in review.series:
        p = _resolve(ref.path, folder)
        if p is None or ref.role not in ("T2", "TOF"):
            continue
        try:
            images[ref.role] = load(p, series_uid=ref.series_uid or None)
        except InputError:
            images[ref.role] = load(p)
    if not images:
        raise InputError(
            f"{folder}: none of the review's series could be found "
            f"({[r.path for r in review.series]}); open the series first"
        )
    labels = None
    if (folder / review.labelmap_path).exists():
        labels = load_labels(review, folder)
    return CaseSession.from_review(review, labels, t2=images.get("T2"), tof=images.get("TOF"))


def contact_midpoint(measurement) -> np.ndarray:
    """LPS mm halfway between a measurement's nerve and vessel closest points."""
    return (
        np.asarray(measurement.nerve_point_lps, float)
        + np.asarray(measurement.vessel_point_lps, float)
    ) / 2


def open_study(path: str | os.PathLike) -> CaseSession:
    """Open a review folder, a study folder (T2 + TOF) or a single series as a session.

    Parameters
    ----------
    path : path-like
        A folder holding ``review.json``; or any folder / file with images (the
        first T2 and the first TOF found are used).
    """
    p = Path(path)
    if (p.is_dir() and (p / "review.json").exists()) or p.name == "review.json":
        return open_review_folder(p)
    session = CaseSession()
    for role, img in load_images(p):
        if role == "T2" and session.t2 is None:
            session.t2 = img
        elif role == "TOF" and session.tof is None:
            session.tof = img
        elif role not in ("labels",) and session.t2 is None and session.tof is None:
            session.t2 = img  # an unknown single series: shown as the grey base
    if session.t2 is None and session.tof is None:
        raise InputError(f"{p}: no T2 or TOF volume found")
    return session
