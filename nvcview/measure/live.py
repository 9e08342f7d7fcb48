"""Live measurement: one cached :class:`~nvcview.measure.CaseMeasurer` kept across edits.

:class:`LiveMeasurer` is handed the whole current state of a case after every
edit and re-measures only what the edit can reach (the box of changed voxels,
:func:`changed_box`). Results equal :func:`nvcview.measure.measure_case` on the
same inputs. Positions are patient LPS mm.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import numpy as np

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.measure.case import CaseMeasurer
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.structures import Structure
from nvcview.types import Box, Landmarks

__all__ = ["LiveMeasurer", "changed_box"]


#: first-axis slabs compared per step by :func:`changed_box` (bounds its scratch memory)
_SLABS_PER_STEP = 16


def _changed_slabs(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Which first-axis slabs of two C-contiguous arrays of one dtype differ (bytewise).

    Compared eight bytes at a time when a slab's bytes allow, a few slabs per step
    into one reused scratch buffer: one read of each array, no volume-sized
    temporary (a full ``old != new`` writes a mask as large as the map).
    """
    n = old.shape[0]
    a = old.view(np.uint8).reshape(n, -1)
    b = new.view(np.uint8).reshape(n, -1)
    if a.shape[1] % 8 == 0:
        a, b = a.view(np.uint64), b.view(np.uint64)
    out = np.zeros(n, dtype=bool)
    k = _SLABS_PER_STEP
    scratch = np.empty((min(k, n), a.shape[1]), dtype=bool)
    for i in range(0, n, k):
        j = min(n, i + k)
        buf = scratch[: j - i]
        np.not_equal(a[i:j], b[i:j], out=buf)
        out[i:j] = buf.any(axis=1)
    return out


def _box_of_diff(old: np.ndarray, new: np.ndarray) -> Box | None:
    """Box of the differing voxels of two (small or strided) arrays of one shape."""
    diff = old != new
    box = []
    for ax in range(diff.ndim):
        other = tuple(a for a in range(diff.ndim) if a != ax)
        hit = np.flatnonzero(diff.any(axis=other))
        if len(hit) == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return cast(Box, tuple(box))


def changed_box(old: np.ndarray, new: np.ndarray, within: Box | None = None) -> Box | None:
    """Bounding box (index space) of the voxels that differ between two label maps.

    Parameters
    ----------
    old, new : ndarray
        Label maps of the same shape.
    within : tuple of slice, optional
        Compare only inside this index box (the caller knows nothing changed
        outside it); the box returned is still in whole-map indices.

    Returns
    -------
    tuple of slice or None
        One slice per axis holding every changed voxel, None when nothing changed.

    Notes
    -----
    When both maps share a dtype and a memory order (C or Fortran) the slabs
    along the slowest axis are compared bytewise, a few at a time, and only the
    slabs that differ are scanned along the other axes: one read of each map,
    about 20 ms for two 512 x 512 x 160 uint16 maps on the reference machine
    (a plain ``old != new`` then ``flatnonzero`` took 60-90 ms).
    """
    if old.shape != new.shape:
        raise InputError(f"label map shape changed from {old.shape} to {new.shape}")
    if within is not None:
        win = cast(
            Box,
            tuple(
                slice(max(0, s.start or 0), min(n, n if s.stop is None else s.stop))
                for s, n in zip(within, old.shape, strict=True)
            ),
        )
        if any(s.stop <= s.start for s in win):
            return None
        sub = _box_of_diff(old[win], new[win])
        if sub is None:
            return None
        return cast(
            Box,
            tuple(
                slice(w.start + s.start, w.start + s.stop) for w, s in zip(win, sub, strict=True)
            ),
        )
    if old.size == 0:
        return None
    if old.dtype == new.dtype and old.flags.c_contiguous and new.flags.c_contiguous:
        a, b, rev = old, new, False
    elif old.dtype == new.dtype and old.flags.f_contiguous and new.flags.f_contiguous:
        a, b, rev = old.T, new.T, True  # C-ordered views of the same memory
    else:  # mixed order or dtype: the plain comparison
        return _box_of_diff(old, new)
    rows = np.flatnonzero(_changed_slabs(a, b))
    if len(rows) == 0:
        return None
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    sub = _box_of_diff(a[r0:r1], b[r0:r1])
    assert sub is not None  # those slabs differ
    box = [slice(r0, r1), *sub[1:]]
    return cast(Box, tuple(box[::-1]) if rev else tuple(box))


def _landmarks_key(landmarks: Landmarks) -> tuple:
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
    copy of the label map (made when the measurer is built, or a frozen
    snapshot's private copy adopted and copied before the first write into it;
    afterwards only the changed box is copied into it), so a worker thread measuring a snapshot never sees the GUI thread's
    edits and two measurements never mutate the cache at the same time.

    Cost per call after an edit: one comparison of the map with the private
    copy (:func:`changed_box`, a bytewise slab scan; only the box the caller
    vouches for when it gives ``changed_within`` or ``changed_since``, as
    :meth:`CaseSession.measure <nvcview.case.CaseSession.measure>` does from its
    edit boxes), the changed box copied, then
    :meth:`CaseMeasurer.update` on that box. No whole-map copy and no
    whole-map label check (``as_label_grid``) per edit.

    Attributes
    ----------
    last_action : str or None
        What the last :meth:`measure` did to the cache: "built", "updated" (an
        edited region was fed to it) or "reused" (label map unchanged).
    last_region : tuple of slice or None
        The edited region (index box) fed to the measurer by the last call.
    last_within : tuple of slice or None
        The box the last call compared (``changed_within`` or ``changed_since``'s
        answer); None: the whole map was compared (or the measurer was built).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._measurer: CaseMeasurer | None = None
        self._key: tuple | None = None
        self._landmarks: tuple | None = None
        self._centreline: tuple | None = None
        #: the measurer's array is a snapshot's (``owned``): copied before the first
        #: write, so the snapshot's label map is never changed behind its back
        self._adopted = False
        #: the caller's tag of the label map state the private copy holds (see ``state``)
        self._state: object = None
        self.last_action: str | None = None
        self.last_region: Box | None = None
        self.last_within: Box | None = None

    def reset(self) -> None:
        """Drop the cache: the next :meth:`measure` rebuilds it."""
        with self._lock:
            self._measurer = None
            self._key = None
            self._state = None

    def measure(
        self,
        labels: Image,
        structures: Sequence[Structure],
        landmarks: Landmarks,
        centreline: np.ndarray | None = None,
        settings: MeasureSettings | None = None,
        reader_grades: Mapping[int, str] | None = None,
        *,
        owned: bool = False,
        changed_within: Box | None = None,
        state: object = None,
        changed_since: Callable[[object], Box | None] | None = None,
        image: Image | None = None,
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
            snapshot's copy): a (re)built measurer adopts it instead of copying it.
        changed_within : tuple of slice, optional
            The caller's promise that every voxel changed since the previous call
            lies in this index box (e.g. the union of the edits it recorded): only
            that box is compared. Without it the whole map is compared.
        image : Image, optional
            The series the labels lie on, read by surface method "image-edge"
            (:func:`nvcview.case.measurement.edge_image`); a different image object
            rebuilds the measurer.

        Returns
        -------
        list of VesselMeasurement
            As :func:`nvcview.measure.measure_case` returns them.
        """
        settings = copy.deepcopy(settings) if settings is not None else MeasureSettings()
        with self._lock:
            arr = np.asarray(labels.array)
            key = (
                arr.shape,
                arr.dtype.str,
                np.asarray(labels.affine, np.float64).tobytes(),
                tuple(repr(s) for s in structures),  # every field of each
                repr(settings),
                None if image is None else (id(image), np.shape(image.array)),
            )
            lm_key, cl_key = _landmarks_key(landmarks), _centreline_key(centreline)
            points = {str(k): [float(x) for x in np.ravel(v)] for k, v in landmarks.items()}
            try:
                m = self._measurer
                if m is None or key != self._key:
                    self._measurer = None
                    if not owned:  # the measurer's own copy, kept in step box by box
                        labels = Image(
                            volume=make_volume(
                                np.array(arr, copy=True, order="K"),
                                labels.affine,
                                labels.volume.frame_of_reference_uid,
                            ),
                            meta=labels.meta,
                            patient=labels.patient,
                        )
                    m = CaseMeasurer(
                        labels,
                        copy.deepcopy(list(structures)),
                        points,
                        centreline,
                        settings,
                        image=image,
                    )
                    self._key = key
                    self._adopted = owned and m.grid.array is arr
                    self.last_action, self.last_region = "built", None
                    self.last_within = None
                else:
                    if self._adopted:  # never write into a snapshot's array: own it
                        m.grid.array = np.array(m.grid.array, copy=True, order="K")
                        self._adopted = False
                    mine = m.grid.array
                    within = changed_within
                    if within is None and changed_since is not None and self._state is not None:
                        within = changed_since(self._state)
                    self.last_within = within
                    region = changed_box(mine, arr, within=within)
                    self.last_region = region
                    if region is None:
                        self.last_action = "reused"
                    else:  # bring the private copy up to date inside the box only
                        mine[region] = arr[region]
                        m.update(region=(region[0], region[1], region[2]))
                        self.last_action = "updated"
                    if lm_key != self._landmarks:
                        m.set_landmarks(points)
                    if cl_key != self._centreline:
                        m.set_centreline(centreline)
                self._measurer = m
                self._landmarks, self._centreline = lm_key, cl_key
                self._state = state  # the private copy now holds this state's voxels
                return m.measure(reader_grades)
            except Exception:
                self._measurer = None  # never keep a half-updated cache: rebuild next time
                self._state = None
                raise
