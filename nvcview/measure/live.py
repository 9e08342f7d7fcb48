"""Live measurement: one cached :class:`~nvcview.measure.CaseMeasurer` kept across edits.

:class:`LiveMeasurer` is handed the whole current state of a case after every
edit and re-measures only what the edit can reach (the box of changed voxels,
:func:`changed_box`). Results equal :func:`nvcview.measure.measure_case` on the
same inputs. Positions are patient LPS mm.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.measure.case import CaseMeasurer
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.structures import Structure
from nvcview.types import Box, Landmarks

__all__ = ["LiveMeasurer", "changed_box"]


def changed_box(old: np.ndarray, new: np.ndarray) -> Box | None:
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
        self._measurer: CaseMeasurer | None = None
        self._key: tuple | None = None
        self._landmarks: tuple | None = None
        self._centreline: tuple | None = None
        self.last_action: str | None = None
        self.last_region: Box | None = None

    def reset(self) -> None:
        """Drop the cache: the next :meth:`measure` rebuilds it."""
        with self._lock:
            self._measurer = None
            self._key = None

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
            points = {str(k): [float(x) for x in np.ravel(v)] for k, v in landmarks.items()}
            try:
                m = self._measurer
                if m is None or key != self._key:
                    self._measurer = None
                    m = CaseMeasurer(
                        labels, copy.deepcopy(list(structures)), points, centreline, settings
                    )
                    self._key = key
                    self.last_action, self.last_region = "built", None
                else:
                    region = changed_box(m.grid.array, arr)
                    self.last_region = region
                    if region is None:
                        self.last_action = "reused"
                    else:
                        m.update(labels, region=(region[0], region[1], region[2]))
                        self.last_action = "updated"
                    if lm_key != self._landmarks:
                        m.set_landmarks(points)
                    if cl_key != self._centreline:
                        m.set_centreline(centreline)
                self._measurer = m
                self._landmarks, self._centreline = lm_key, cl_key
                return m.measure(reader_grades)
            except Exception:
                self._measurer = None  # never keep a half-updated cache: rebuild next time
                raise
