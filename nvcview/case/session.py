"""The case session: one reader's work on one case, its edits, saving and sign-off.

Qt-free. A front end (the napari widget, a script) edits the case only through
:class:`CaseSession` methods and listens to :attr:`CaseSession.events`
(:class:`~nvcview.case.events.CaseEvents`). The rules of a review live here:

- every edit of a signed (final) review is refused (:class:`ReviewSignedError`);
  :meth:`CaseSession.reopen` makes it a draft again, logged in the review's audit;
- :meth:`CaseSession.save` always stores the measurements of the state it saves
  (re-measured when anything changed since the last measurement);
- :meth:`CaseSession.sign_off` saves the signed review (logged as "finalise").

Every position is patient LPS mm; the label map lies on the reference series
(the T2 when there is one, else the TOF).
"""

from __future__ import annotations

import copy
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nvcview import segment
from nvcview.case.events import CaseEvents
from nvcview.case.measurement import (
    can_measure,
    edge_image,
    reader_grades,
    review_centreline,
    review_landmarks,
)
from nvcview.errors import InputError, NvcviewError
from nvcview.io.grids import same_grid
from nvcview.io.image import Image, SeriesMeta, index_to_lps, make_volume
from nvcview.measure.labelmap import nonzero_box, union_box
from nvcview.measure.live import LiveMeasurer, changed_box
from nvcview.measure.records import GRADES, VesselMeasurement
from nvcview.register.check import MISALIGNMENT_WARN_MM, AlignmentCheck, alignment_message
from nvcview.register.model import Registration
from nvcview.review.model import (
    APPROACH_ANATOMY,
    APPROACH_STATUSES,
    CONFIDENCES,
    OTHER_CAUSE_STATUSES,
    OTHER_CAUSES,
    OVERALL_IMPRESSIONS,
    SIDES,
    ReaderCall,
    ReaderFinding,
    Review,
    SeriesRef,
    now_iso,
)
from nvcview.segment import GrowResult, VesselGrowResult
from nvcview.segment.history import EditHistory, LabelDelta
from nvcview.structures import KINDS, NERVES, VESSEL_TYPES, Structure, assign_colors
from nvcview.types import Box, PointLPS, PointsLPS

__all__ = [
    "CASE_FIELDS",
    "EDIT_BOXES_KEPT",
    "FINDING_GROUPS",
    "NERVE_LANDMARKS",
    "CaseEdit",
    "CaseSession",
    "EditBoxes",
    "OrphanLabelError",
    "ReviewSignedError",
]

# the estimated T2 / TOF misalignment (mm, in the CPA region) above which the reader is
# told to register the series before fusing: the rule lives in nvcview.register.check

log = logging.getLogger(__name__)

#: review fields a front end edits as text: name -> allowed values (None: free text)
CASE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "side": SIDES,
    "reader": None,
    "case_id": None,
    "impression": None,
    "va_dominance": ("left", "right", "codominant"),
    "overall_impression": tuple(OVERALL_IMPRESSIONS),
}
#: reader findings a front end sets with CaseSession.set_finding: group -> (keys, statuses)
FINDING_GROUPS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "other_causes": (OTHER_CAUSES, OTHER_CAUSE_STATUSES),
    "approach_anatomy": (APPROACH_ANATOMY, APPROACH_STATUSES),
}


#: landmarks a nerve is segmented between (first, middle..., last), LPS mm; the traced
#: centreline clicks go between them (CN VIII: its root on the brainstem, then the porus)
NERVE_LANDMARKS: dict[str, tuple[str, ...]] = {
    "VII": ("RExP", "RDP", "IAC"),
    "VIII": ("VIII root", "IAC"),
}
#: veins (flow voids on the T2) stop this far along the vessel from the seed, mm (as in
#: ``nvcview segment``)
VEIN_LENGTH_MM = 12.0

#: how many label-map edits a session remembers the box of for the live measurer
#: (a measurement further behind compares the whole map)
EDIT_BOXES_KEPT = 256


class EditBoxes:
    """The index boxes of a session's label-map changes, numbered by generation.

    The one bookkeeping of *where* the label map changed, kept by the session (and
    shared with its frozen copies, which remember the generation they were taken
    at). Generation ``g`` is the map after the ``g``-th recorded change;
    :meth:`between` answers the box holding every voxel changed between two
    generations, for :meth:`LiveMeasurer.measure
    <nvcview.measure.live.LiveMeasurer.measure>` (``changed_since``), so a
    brush stroke compares its box, not the whole map. A change whose box is not
    known (a label map replaced, a signed map put back) is logged as None: every
    span across it compares the whole map.
    """

    def __init__(self) -> None:
        self.gen = 0
        self._log: deque[tuple[int, Box | None]] = deque(maxlen=EDIT_BOXES_KEPT)

    def add(self, box: Box | None) -> None:
        """Log one change of the label map (``box``: where; None: anywhere)."""
        if box is not None and any(s.stop <= s.start for s in box):
            return  # nothing changed
        self.gen += 1
        self._log.append((self.gen, box))

    def between(self, a: int, b: int, shape: tuple[int, ...]) -> Box | None:
        """Box of every voxel changed between generations ``a`` and ``b`` (either order).

        Returns None ("anywhere": compare the whole map) when a change of unknown box
        lies between them, when they are older than the log remembers, or when they
        are equal (nothing recorded: only a whole-map comparison finds a write the
        session was not told of).
        """
        lo, hi = min(a, b), max(a, b)
        if lo == hi or lo < 0 or hi > self.gen:
            return None
        if not self._log or self._log[0][0] > lo + 1:
            return None  # forgotten
        boxes: list[Box] = []
        for g, box in self._log:
            if lo < g <= hi:
                if box is None:
                    return None
                boxes.append(box)
        return union_box(boxes, shape)


class ReviewSignedError(NvcviewError):
    """The review is signed off (final): reopen it before editing."""


class OrphanLabelError(InputError):
    """Voxels were painted with a label value that has no structure row.

    Attributes
    ----------
    values : tuple of int
        The label values without a structure (the stroke was taken back).
    """

    def __init__(self, message: str, values: tuple[int, ...]) -> None:
        super().__init__(message)
        self.values = values


@dataclass
class CaseEdit(LabelDelta):
    """One undoable edit of a case: the label-map delta and the structure table around it.

    Attributes
    ----------
    structures_before, structures_after : list of Structure or None
        The structure table before and after (None: the edit left it alone).
    calls_before : list of ReaderCall or None
        The reader calls before (a deleted structure takes its call with it).
    landmarks_before, landmarks_after : dict or None
        The landmarks (name -> LPS mm) before and after a landmark add / move /
        delete (None: the edit left them alone; the label delta is then empty).
    """

    structures_before: list[Structure] | None = None
    structures_after: list[Structure] | None = None
    calls_before: list[ReaderCall] | None = None
    calls_after: list[ReaderCall] | None = None
    #: landmarks (name -> LPS mm) before / after a landmark edit (None: not one)
    landmarks_before: dict[str, list[float]] | None = None
    landmarks_after: dict[str, list[float]] | None = None
    #: one drag of a point is one step: moves with the same key join this edit
    merge_key: object = field(default=None, compare=False, repr=False)


def _points(values: npt.ArrayLike) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(3)]


@dataclass
class CaseSession:
    """One reader's work on one case, held as arrays for interactive editing.

    :meth:`to_review` turns the session into a :class:`~nvcview.review.model.Review`
    (and :meth:`labels_image` into the label map to save beside it);
    :func:`nvcview.case.open_review_folder` goes back.

    Attributes
    ----------
    t2, tof : Image or None
        The loaded series.
    labels : ndarray or None
        Integer label map on the reference grid (0 = background).
    review : Review
        Everything else of the review (reader, side, structures, landmarks,
        nerve path, calls, impression, status).
    folder : Path or None
        The review folder it was opened from or last saved to (None: not saved yet).
    live : LiveMeasurer
        The session's cached measurement engine (shared with its frozen copies).
    frozen : bool
        True for a :meth:`frozen_copy`: its label map is private to it.
    events : CaseEvents
        Change events (see :class:`~nvcview.case.events.CaseEvents`).
    dirty : bool
        Edits not saved yet.
    measurements : list of VesselMeasurement
        The latest measurements (:meth:`measure`); fresh when :attr:`measured_fresh`.
    """

    t2: Image | None = None
    tof: Image | None = None
    labels: np.ndarray | None = None
    review: Review = field(default_factory=Review)
    folder: Path | None = None
    live: LiveMeasurer = field(default_factory=LiveMeasurer, repr=False, compare=False)
    frozen: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.events = CaseEvents(self)
        self.dirty = False
        self.version = 0
        self.measurements: list[VesselMeasurement] = []
        self._measured_version: int | None = None
        self._signed_labels: np.ndarray | None = None
        # series_on_reference's cache: id(series) -> (key of the registration, image)
        self._on_ref: dict[int, tuple[Any, Image]] = {}
        # the alignment check of the T2 / TOF pair: (key of the pair, result)
        self._alignment: tuple[Any, AlignmentCheck] | None = None
        if self.folder is not None:
            self.folder = Path(self.folder)
        if self.signed and self.labels is not None:
            self._signed_labels = self.labels.copy()
        #: undo / redo of every edit of the label map and the structure table
        self.history = EditHistory()
        #: the label map as the history last recorded it (a brush writes in place, so
        #: the voxels before a stroke are read here); not kept by frozen copies
        self._shadow: np.ndarray | None = None
        if self.labels is not None and not self.frozen:
            self._shadow = _sparse_copy(self.labels)
        #: where the label map changed, edit by edit (for the live measurer); a frozen
        #: copy shares its session's and keeps the generation it was taken at
        self._boxes = EditBoxes()
        self._boxes_gen = 0
        self._boxes_labels = self.labels  # the array the log speaks of
        #: (log, map, generation, box): a box holding every labelled voxel of that map at
        #: that generation, grown by the logged edit boxes (frozen_copy, no map scan)
        self._labelled: tuple[EditBoxes, np.ndarray, int, Box | None] | None = None

    # ---- state ------------------------------------------------------------
    @property
    def signed(self) -> bool:
        """True when the review is final (signed off)."""
        return self.review.status == "final"

    @property
    def editable(self) -> bool:
        """False for a signed review (every edit is refused until :meth:`reopen`)."""
        return not self.signed

    @property
    def measured_fresh(self) -> bool:
        """True when :attr:`measurements` are those of the current state."""
        return self._measured_version == self.version

    def _check_editable(self, what: str = "edit") -> None:
        if self.signed:
            raise ReviewSignedError(
                f"the review is signed off (final): reopen it before you {what}"
            )

    def _changed(self, what: str, **details: Any) -> None:
        """Bookkeeping after an edit: new version, unsaved, events."""
        self.version += 1
        self.dirty = True
        self.review.modified = now_iso()
        getattr(self.events, what).emit(**details)
        self.events.changed.emit(what=what)

    # ---- geometry -------------------------------------------------------
    @property
    def reference(self) -> Image:
        """The series the label map is aligned to (T2, else TOF)."""
        ref = self.t2 if self.t2 is not None else self.tof
        if ref is None:
            raise InputError("no series loaded: open a T2 (CISS/FIESTA) or TOF series first")
        return ref

    @property
    def has_series(self) -> bool:
        """True when a T2 or TOF series is loaded."""
        return self.t2 is not None or self.tof is not None

    def ensure_labels(self) -> np.ndarray:
        """The label map, created empty (uint16) on the reference grid if missing."""
        if self.labels is None:
            self.labels = np.zeros(self.reference.array.shape[:3], dtype=np.uint16)
            self._labels_changed(None)
        if not self.frozen and (self._shadow is None or self._shadow.shape != self.labels.shape):
            self._reset_history()
        return self.labels

    # ---- edit history ---------------------------------------------------
    def _reset_history(self) -> None:
        """Forget the undo history (the label map was replaced, e.g. moved to another grid)."""
        self.history = EditHistory()
        self._shadow = None if self.labels is None or self.frozen else _sparse_copy(self.labels)
        self._labels_changed(None)

    def _labels_changed(self, box: Box | None) -> None:
        """Log where the label map changed (None: anywhere) for the live measurer."""
        if self.frozen:  # a snapshot edited: its own lineage (its next measure compares all)
            self._boxes = EditBoxes()
        if self.labels is not self._boxes_labels:  # the map was replaced (assigned)
            self._boxes.add(None)
        self._boxes.add(box)
        self._boxes_gen = self._boxes.gen
        self._boxes_labels = self.labels

    def _changed_since(self, state: object) -> Box | None:
        """The box of every voxel changed since the live measurer's ``state`` (None: anywhere).

        ``state`` is the tag :meth:`measure` gave the measurer: (this session's
        :class:`EditBoxes`, generation). Another lineage's tag compares the whole map.
        """
        if not (isinstance(state, tuple) and len(state) == 2 and state[0] is self._boxes):
            return None
        if self.labels is None or self.labels is not self._boxes_labels:
            return None  # the map was replaced (assigned): compare all of it
        return self._boxes.between(int(state[1]), self._boxes_gen, self.labels.shape)

    @property
    def can_undo(self) -> bool:
        """True when there is an edit to undo."""
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        """True when there is an undone edit to redo."""
        return self.history.can_redo

    @property
    def undo_text(self) -> str:
        """What :meth:`undo` would undo ("" when nothing)."""
        return self.history._done[-1].description if self.history._done else ""

    @property
    def redo_text(self) -> str:
        """What :meth:`redo` would redo ("" when nothing)."""
        return self.history._undone[-1].description if self.history._undone else ""

    def _record(
        self,
        description: str,
        *,
        structures_before: list[Structure] | None = None,
        calls_before: list[ReaderCall] | None = None,
        within: Box | None = None,
    ) -> CaseEdit | None:
        """Record what changed since the last record as one undoable edit.

        The label-map delta is the box where the map differs from the shadow copy
        (so an in-place brush stroke is caught too); the structure table (and the
        reader calls) before the edit are given by the caller. ``within`` (index
        box) says every voxel changed since the last record lies inside it: only
        that box is compared (an edit costs its box, not a whole-map comparison).
        """
        labels = self.ensure_labels()
        shadow = self._shadow
        if shadow is None:  # a frozen copy keeps no history
            if self.frozen:
                self._labels_changed(None)
            return None
        box = changed_box(shadow, labels, within)
        if box is not None:
            self._labels_changed(box)
        table_changed = structures_before is not None and structures_before != self.structures
        if box is None and not table_changed:
            return None
        if box is None:
            box = (slice(0, 0),) * labels.ndim
        edit = CaseEdit(
            box=box,
            before=shadow[box].copy(),
            after=labels[box].copy(),
            description=description,
            structures_before=structures_before if table_changed else None,
            structures_after=copy.deepcopy(self.structures) if table_changed else None,
            calls_before=calls_before if table_changed else None,
            calls_after=copy.deepcopy(self.review.calls) if table_changed else None,
        )
        shadow[box] = labels[box]
        self.history.record(edit)
        return edit

    def _record_landmarks(
        self, description: str, before: dict[str, list[float]], merge: object = None
    ) -> None:
        """Record a landmark edit (landmarks before -> now) as one undoable step; with
        ``merge``, a move continuing the last edit of that key (one drag) joins it."""
        if self.frozen or before == self.review.landmarks:
            return
        last = self.history._done[-1] if self.history._done else None
        if (
            merge is not None
            and isinstance(last, CaseEdit)
            and last.merge_key is merge
            and last.landmarks_after == before
            and not self.history._undone
        ):
            last.landmarks_after = copy.deepcopy(self.review.landmarks)
            return
        if self.labels is not None:
            self._record("edit")  # an unrecorded stroke stays its own step
        ndim = 3 if self.labels is None else self.labels.ndim
        empty = np.zeros((0,) * ndim, np.uint16)
        self.history.record(
            CaseEdit(
                box=(slice(0, 0),) * ndim,
                before=empty,
                after=empty.copy(),
                description=description,
                landmarks_before=before,
                landmarks_after=copy.deepcopy(self.review.landmarks),
                merge_key=merge,
            )
        )

    def _step(self, undo: bool) -> str | None:
        what = "undo" if undo else "redo"
        self._check_editable(what)
        if self.labels is not None or self.has_series:
            # an edit made behind the session's back (not recorded) is recorded first
            self._record("edit")
        stack = self.history._done if undo else self.history._undone
        nxt = stack[-1] if stack else None
        if isinstance(nxt, CaseEdit) and nxt.landmarks_before is not None:
            return self._step_landmarks(undo)
        labels = self.ensure_labels()
        edit = self.history.undo(labels) if undo else self.history.redo(labels)
        if edit is None:
            return None
        if self._shadow is not None:
            self._shadow[edit.box] = labels[edit.box]
        self._labels_changed(edit.box)
        if isinstance(edit, CaseEdit) and edit.structures_before is not None:
            table = edit.structures_before if undo else edit.structures_after
            calls = edit.calls_before if undo else edit.calls_after
            self.review.structures = copy.deepcopy(table or [])
            self.review.calls = copy.deepcopy(calls or [])
            self.events.structures.emit(label=None)
        empty = any(sl.stop <= sl.start for sl in edit.box)
        self._changed("labels", box=None if empty else edit.box)
        return edit.description

    def _step_landmarks(self, undo: bool) -> str | None:
        """Undo / redo a landmark edit: the landmarks go back, the measurements follow."""
        src, dst = (self.history._done, self.history._undone)
        if not undo:
            src, dst = dst, src
        edit = src.pop()
        assert isinstance(edit, CaseEdit)
        table = edit.landmarks_before if undo else edit.landmarks_after
        self.review.landmarks = copy.deepcopy(table or {})
        dst.append(edit)
        self._changed("landmarks", name=None)
        return edit.description

    def undo(self) -> str | None:
        """Undo the last edit (grow, stroke, erase, delete, nerve, add structure ...).

        Returns
        -------
        str or None
            What was undone (None: nothing to undo).
        """
        return self._step(True)

    def redo(self) -> str | None:
        """Redo the last undone edit; returns what was redone (None: nothing)."""
        return self._step(False)

    def orphan_labels(self) -> list[int]:
        """Label values present in the label map with no structure row (should be none)."""
        if self.labels is None or not self.labels.any():
            return []
        known = {s.label for s in self.structures}
        return [int(v) for v in np.unique(self.labels) if v and int(v) not in known]

    def labels_image(self) -> Image:
        """The label map as an :class:`Image` on the reference grid."""
        ref = self.reference
        labels = self.ensure_labels()
        meta = SeriesMeta(
            series_description="nvcview labels",
            role="labels",
            frame_of_reference_uid=ref.meta.frame_of_reference_uid,
            shape=tuple(labels.shape),
            spacing_mm=ref.spacing_mm,
        )
        vol = make_volume(labels, ref.affine, ref.volume.frame_of_reference_uid)
        return Image(volume=vol, meta=meta)

    def centre_lps(self) -> np.ndarray:
        """LPS mm of the centre of the reference volume."""
        ref = self.reference
        centre = (np.asarray(ref.array.shape[:3], float) - 1) / 2
        return index_to_lps(ref.affine, centre)

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
        n = 1
        # one comparison per candidate (usually one) instead of np.unique of the whole
        # map (0.9 s on a 512 x 512 x 160 map)
        while n in used or (self.labels is not None and np.any(self.labels == n)):
            n += 1
        return n

    def add_structure(
        self,
        mask: npt.ArrayLike | None,
        name: str,
        kind: str,
        *,
        vessel_type: str | None = None,
        nerve: str | None = None,
        label: int | None = None,
        overwrite: bool = False,
        description: str | None = None,
    ) -> Structure:
        """Put a mask (reference grid) into the label map as a new structure (undoable).

        Voxels already labelled keep their label unless ``overwrite``. Giving the
        ``label`` of an existing structure adds the mask to it; a new ``label`` value
        (e.g. one painted before it had a row) names the new structure. ``mask=None``
        adds the row only (to paint it with the brush).

        Parameters
        ----------
        mask : array of bool or None
            Voxels on the reference grid, or None for an empty structure.
        name, kind : str
            Display name; one of :data:`nvcview.structures.KINDS`.
        vessel_type, nerve : str, optional
            Vessel type (kind "vessel") / "VII" or "VIII" (kind "nerve").
        label : int, optional
            Label value (default: :meth:`next_label`).
        overwrite : bool
            Let the mask take voxels of other structures.
        description : str, optional
            How the undo menu names the edit.
        """
        self._check_editable("add a structure")
        labels = self.ensure_labels()
        if kind not in KINDS:
            raise InputError(f"structure kind must be one of {KINDS}, got {kind!r}")
        if kind == "vessel" and vessel_type is not None and vessel_type not in VESSEL_TYPES:
            raise InputError(f"vessel type must be one of {VESSEL_TYPES}, got {vessel_type!r}")
        if kind == "nerve" and nerve is not None and nerve not in NERVES:
            raise InputError(f"nerve must be one of {NERVES}, got {nerve!r}")
        m = None if mask is None else np.asarray(mask, bool)
        if m is not None and m.shape != labels.shape:
            raise InputError(f"mask shape {m.shape} is not the label map's {labels.shape}")
        if label is not None and not 0 < int(label) <= np.iinfo(labels.dtype).max:
            raise InputError(f"label value must be 1..{np.iinfo(labels.dtype).max}, got {label}")
        self._record("edit")  # anything unrecorded stays its own step
        before = copy.deepcopy(self.structures)
        calls = copy.deepcopy(self.review.calls)
        new = not (label is not None and any(s.label == int(label) for s in self.structures))
        if not new:
            st = self.structure(int(label))  # type: ignore[arg-type]
        else:
            value = int(label) if label else self.next_label()
            st = Structure(
                label=value,
                name=name.strip() or f"{kind} {value}",
                kind=kind,
                vessel_type=vessel_type,
                nerve=nerve,
            )
            self.review.structures.append(st)
            # its own colour, unlike the others' (which keep theirs)
            assign_colors(self.review.structures, only=[st])
            self.events.structures.emit(label=st.label)
        box: Box | None = None if m is None else nonzero_box(m)  # work inside the mask's box only
        if m is not None and box is not None:
            sub = labels[box]
            where = m[box] if overwrite else (m[box] & ((sub == 0) | (sub == st.label)))
            sub[where] = st.label
            inner = nonzero_box(where)
            box = None if inner is None else _offset_box(inner, box)
        # the record above left the shadow equal to the map: only the box can differ
        self._record(
            description or (f"add {st.name}" if new else f"extend {st.name}"),
            structures_before=before,
            calls_before=calls,
            within=box if box is not None else _EMPTY_BOX,
        )
        self._changed("labels", box=box)
        return st

    def remove_structure(self, label: int) -> None:
        """Delete a structure, its voxels and its reader call."""
        self._check_editable("delete a structure")
        st = self.structure(label)
        self._record("edit")
        before = copy.deepcopy(self.structures)
        calls = copy.deepcopy(self.review.calls)
        box = None
        if self.labels is not None:
            where = self.labels == st.label
            box = nonzero_box(where)
            self.labels[where] = 0
        self.review.structures = [s for s in self.structures if s.label != st.label]
        self.review.calls = [c for c in self.review.calls if c.vessel_label != st.label]
        self._record(
            f"delete {st.name}",
            structures_before=before,
            calls_before=calls,
            within=box if box is not None else _EMPTY_BOX,
        )
        self.events.structures.emit(label=st.label)
        self._changed("labels", box=box)

    def set_vessel_type(self, label: int, vessel_type: str) -> Structure:
        """Assign a vessel type (one of :data:`nvcview.structures.VESSEL_TYPES`)."""
        self._check_editable("change a vessel type")
        if vessel_type not in VESSEL_TYPES:
            raise InputError(f"vessel type must be one of {VESSEL_TYPES}, got {vessel_type!r}")
        st = self.structure(label)
        if st.kind != "vessel":
            raise InputError(f"structure {st.name!r} is a {st.kind}, not a vessel")
        self._record("edit")
        before = copy.deepcopy(self.structures)
        old = st.vessel_type
        st.vessel_type = vessel_type
        if old != vessel_type:  # the colour follows the new type (when it is free)
            st.display_color = None
            assign_colors(self.review.structures, only=[st])
        if st.name in ("", "vessel", f"{old}", f"{old} {st.label}", f"vessel {st.label}"):
            st.name = f"{vessel_type} {st.label}"
        self._record(
            f"type of {st.name}", structures_before=before, calls_before=list(self.review.calls)
        )
        self._changed("structures", label=st.label)
        return st

    def labels_edited(self, box: Box | None = None, description: str | None = None) -> None:
        """The label map was edited in place (a brush stroke): record it (undoable).

        Parameters
        ----------
        box : tuple of slice, optional
            Index box of the edited voxels (None: anywhere).
        description : str, optional
            How the undo menu names it (default: "brush stroke" / "erase").

        Raises
        ------
        ReviewSignedError
            The review is signed: the label map is put back as it was signed.
        OrphanLabelError
            The stroke painted a label value that has no structure row: it is taken
            back (no orphan labels); add the structure first (:meth:`add_structure`).
        """
        if self.signed:
            if self._signed_labels is not None and self.labels is not None:
                self.labels[...] = self._signed_labels
                self._labels_changed(None)
            self.events.labels.emit(box=None)
            self._check_editable("paint")
        labels = self.ensure_labels()
        shadow = self._shadow
        if shadow is not None:
            known = {s.label for s in self.structures}
            # the caller's box holds the stroke: compare there only (not the whole map)
            diff = changed_box(shadow, labels, box)
            if diff is not None:
                new_vals = labels[diff][labels[diff] != shadow[diff]]
                orphans = tuple(int(v) for v in np.unique(new_vals) if v and int(v) not in known)
                if orphans:
                    labels[diff] = shadow[diff]  # take the stroke back
                    self._labels_changed(diff)  # a snapshot may have seen the stroke
                    self.events.labels.emit(box=diff)
                    names = ", ".join(str(v) for v in orphans)
                    raise OrphanLabelError(
                        f"label {names} has no structure: add it as a structure (type, "
                        "name) first, then paint with it; the stroke was taken back",
                        orphans,
                    )
                erased = not new_vals.any()
                self._record(description or ("erase" if erased else "brush stroke"), within=diff)
                box = diff if box is None else box
        else:  # a frozen copy: no shadow to compare with
            self._labels_changed(None)
        self._changed("labels", box=box)

    # ---- semi-automatic tools ------------------------------------------
    def allowed_area(
        self, label: int | None = None, *, overwrite: bool = False
    ) -> np.ndarray | None:
        """The editable area of a tool on the reference grid (the one rule).

        By default voxels already labelled belong to their structure: only
        background (and the voxels of ``label`` itself, the structure being grown
        or replaced) may change. ``overwrite=True`` lifts it (None: everywhere).
        """
        if overwrite:
            return None
        labels = self.ensure_labels()
        allowed = labels == 0
        if label is not None:
            allowed |= labels == int(label)
        return allowed

    def vessel_mask(
        self,
        seed_lps: PointLPS,
        vessel_type: str = "unknown",
        *,
        overwrite: bool = False,
        max_length_mm: float | None = None,
        cut_planes: Sequence[tuple[PointLPS, PointLPS]] = (),
        fraction: float | None = None,
        radius_mm: float | None = None,
        label: int | None = None,
        threshold: float | None = None,
    ) -> tuple[np.ndarray, VesselGrowResult]:
        """Grow a vessel from a seed, without adding it (a preview; worker-safe).

        :func:`nvcview.segment.vessel.grow_vessels` with local thresholds: arteries
        (and any bright vessel) on the TOF, carried onto the reference grid through
        the stored TOF registration; veins as flow voids on the T2, kept off the
        brainstem estimate when the nerve landmarks are placed, stopped
        :data:`VEIN_LENGTH_MM` along the vessel unless ``max_length_mm`` says otherwise.

        Parameters
        ----------
        seed_lps : (3,) LPS mm
            Where the reader clicked (reference frame).
        vessel_type : str
            One of :data:`nvcview.structures.VESSEL_TYPES`.
        overwrite : bool
            Let the grow take voxels of other structures (default: the allowed area
            is the background, :meth:`allowed_area`).
        max_length_mm : float, optional
            Stop along the vessel this far from the seed, mm.
        cut_planes : sequence of (point, normal)
            Scissors planes (reference LPS mm) the grow may not cross.
        fraction : float, optional
            Local threshold position between background (0) and the vessel's own
            peak (1); default :data:`nvcview.segment.vessel.DEFAULT_FRACTION`.
        radius_mm : float, optional
            Half-size of the region worked in around the seed, mm (default 15).
        label : int, optional
            The structure this grow extends (its voxels are editable).
        threshold : float, optional
            Ignored (the grow's thresholds are local); kept for old callers.

        Returns
        -------
        mask : ndarray of bool
            The vessel on the reference grid.
        result : VesselGrowResult
            The grow (its field, seed voxel and length along the vessel).
        """
        from nvcview.segment.vessel import grow_vessels

        if vessel_type not in VESSEL_TYPES:
            raise InputError(f"vessel type must be one of {VESSEL_TYPES}, got {vessel_type!r}")
        ref = self.reference
        seed = np.asarray(seed_lps, float).reshape(3)
        allowed = self.allowed_area(label, overwrite=overwrite)
        kw: dict[str, Any] = {}
        if fraction is not None:
            kw["fraction"] = float(fraction)
        if radius_mm is not None:
            kw["margin_mm"] = float(radius_mm)
        if vessel_type == "vein" and self.t2 is not None:
            src, bright, m2f = self.t2, False, None
            if max_length_mm is None:
                max_length_mm = VEIN_LENGTH_MM
            pts = [
                self.review.landmarks[k]
                for k in NERVE_LANDMARKS["VII"]
                if k in self.review.landmarks
            ]
            if len(pts) >= 2:
                from scipy import ndimage

                from nvcview.segment.nerve import brainstem_estimate

                stem = brainstem_estimate(
                    src.array, src.affine, np.array([*pts, seed]),
                    nerve_points_lps=np.array(pts), margin_mm=max(8.0, max_length_mm + 3.0),
                )  # fmt: skip
                off = ~ndimage.binary_dilation(stem)
                allowed = off if allowed is None else allowed & off
        elif self.tof is not None:
            src, bright, m2f = self.tof, True, self.tof_to_reference_lps()
        else:  # a T2 alone: arteries are flow voids too
            src, bright, m2f = ref, False, None
        res = grow_vessels(
            src.array, src.affine, {1: seed}, ref.array.shape[:3], ref.affine,
            moving_to_fixed_lps=m2f, allowed=allowed, max_length_mm=max_length_mm,
            cut_planes=list(cut_planes), bright=bright, **kw,
        )  # fmt: skip
        mask = res.masks[1]
        if allowed is not None:
            mask = mask & allowed
        if not mask.any():
            raise InputError(
                "the grow found no free vessel voxels at the seed (already labelled? "
                "allow overwriting, or click another seed)"
            )
        return mask, res

    def add_vessel(
        self,
        mask: npt.ArrayLike,
        vessel_type: str = "unknown",
        *,
        overwrite: bool = False,
        label: int | None = None,
        name: str | None = None,
    ) -> Structure:
        """Add a vessel mask (reference grid) as a new structure of this type (undoable).

        Voxels of other structures stay theirs unless ``overwrite``; ``label`` of an
        existing vessel extends it.
        """
        if vessel_type not in VESSEL_TYPES:
            raise InputError(f"vessel type must be one of {VESSEL_TYPES}, got {vessel_type!r}")
        value = int(label) if label is not None else self.next_label()  # once: a map scan
        return self.add_structure(
            mask,
            name or f"{vessel_type} {value}",
            "vessel",
            vessel_type=vessel_type,
            label=value,
            overwrite=overwrite,
            description=f"grow {vessel_type}",
        )

    def grow_vessel(
        self, seed_lps: PointLPS, vessel_type: str = "unknown", **kwargs: Any
    ) -> tuple[Structure, VesselGrowResult]:
        """Grow a vessel from a seed (:meth:`vessel_mask`) and add it (:meth:`add_vessel`).

        Keyword arguments go to :meth:`vessel_mask` (``overwrite``, ``max_length_mm``,
        ``cut_planes``, ``fraction``, ``radius_mm``).
        """
        self._check_editable("grow a vessel")
        mask, res = self.vessel_mask(seed_lps, vessel_type, **kwargs)
        st = self.add_vessel(mask, vessel_type, overwrite=bool(kwargs.get("overwrite")))
        return st, res

    def cut_structure(
        self,
        label: int,
        a_lps: PointLPS,
        b_lps: PointLPS,
        view_normal: PointLPS,
        keep_lps: PointLPS,
    ) -> int:
        """Scissors: cut a structure along a plane and keep the island under a click.

        The plane holds the line ``a -> b`` drawn on a slice and the slice's normal
        ``view_normal`` (LPS direction). The structure's voxels the plane passes
        through are cut; of what is left, the part connected to the voxel nearest
        ``keep_lps`` stays (with the cut voxels on its side that touch it), the rest
        goes back to background. One undoable edit.

        Returns
        -------
        int
            Number of voxels removed.
        """
        from scipy import ndimage

        from nvcview.segment.vessel import keep_island

        self._check_editable("cut a structure")
        st = self.structure(label)
        labels = self.ensure_labels()
        a, b = np.asarray(a_lps, float).reshape(3), np.asarray(b_lps, float).reshape(3)
        n = np.cross(b - a, np.asarray(view_normal, float).reshape(3))
        if np.linalg.norm(n) < 1e-6:
            raise InputError("draw the cut as two different points on the slice")
        n /= np.linalg.norm(n)
        mask = labels == st.label
        if not mask.any():
            raise InputError(f"{st.name} has no voxels to cut")
        aff = self.reference.affine
        box = nonzero_box(mask)
        assert box is not None
        grid = np.stack(
            np.meshgrid(*[np.arange(sl.start, sl.stop) for sl in box], indexing="ij"), -1
        )
        d = (index_to_lps(aff, grid.reshape(-1, 3)) - a) @ n
        d = d.reshape(grid.shape[:3])
        # a voxel is cut when the plane passes through it (its extent along n)
        half = 0.5 * float(np.abs(aff[:3, :3].T @ n).sum())
        sub = mask[box]
        cut = sub & (np.abs(d) <= half)
        rest = np.zeros_like(mask)
        rest[box] = sub & ~cut
        if not rest.any():
            raise InputError(f"the cut leaves nothing of {st.name}")
        keep = keep_island(rest, aff, keep_lps)
        side = np.sign((np.asarray(keep_lps, float).reshape(3) - a) @ n) or 1.0
        touch = ndimage.binary_dilation(keep[box], structure=np.ones((3, 3, 3), bool))
        keep[box] |= cut & (np.sign(d) * side >= 0) & touch
        removed = mask & ~keep
        labels[removed] = 0
        self._record(f"cut {st.name}")
        self._changed("labels", box=nonzero_box(removed))
        return int(removed.sum())

    def label_near(self, lps: PointLPS, within_mm: float = 2.0) -> int | None:
        """The structure label at (or nearest, within ``within_mm``) a point, LPS mm."""
        if self.labels is None or not self.labels.any():
            return None
        from nvcview.io.image import lps_to_index

        aff = self.reference.affine
        ijk = lps_to_index(aff, np.asarray(lps, float).reshape(1, 3))[0]
        spacing = np.linalg.norm(aff[:3, :3], axis=0)
        reach = np.ceil(within_mm / spacing).astype(int)
        lo = np.maximum(np.floor(ijk).astype(int) - reach, 0)
        hi = np.minimum(np.ceil(ijk).astype(int) + reach + 1, self.labels.shape)
        if np.any(hi <= lo):
            return None
        sub = self.labels[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
        nz = np.argwhere(sub)
        if not len(nz):
            return None
        d = np.linalg.norm((nz + lo - ijk) * spacing, axis=1)
        j = int(np.argmin(d))
        return int(sub[tuple(nz[j])]) if d[j] <= within_mm else None

    def nerve_points(self, nerve: str = "VII") -> np.ndarray:
        """The points a nerve is segmented through, LPS mm, in order along it.

        CN VII: RExP, the traced centreline clicks between the RExP and the RDP,
        the RDP, the clicks beyond it, the IAC. CN VIII: its "VIII root" landmark,
        then the IAC. Clicks go where their projection on the course falls.
        """
        names = NERVE_LANDMARKS.get(nerve)
        if names is None:
            raise InputError(f"nerve must be one of {tuple(NERVE_LANDMARKS)}, got {nerve!r}")
        lm = self.review.landmarks
        missing = [k for k in names if k not in lm]
        if missing:
            raise InputError(
                f"place the landmark{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"to segment CN {nerve}"
            )
        fixed = [np.asarray(lm[k], float) for k in names]
        pts = [(0.0, fixed[0]), (1.0, fixed[-1])]
        start, end = fixed[0], fixed[-1]
        axis = end - start
        length2 = float(axis @ axis) or 1.0
        for p in fixed[1:-1]:
            pts.append((float((p - start) @ axis) / length2, p))
        if nerve == "VII":
            for c in np.asarray(self.review.nerve_path_lps, float).reshape(-1, 3):
                t = float((c - start) @ axis) / length2
                near = min(np.linalg.norm(c - f) for f in fixed)
                if 0.0 < t < 1.0 and near > 0.75:
                    pts.append((t, c))
        pts.sort(key=lambda tp: tp[0])
        return np.array([p for _, p in pts])

    def segment_nerve_mask(self, nerve: str = "VII", *, overwrite: bool = False) -> np.ndarray:
        """Segment CN VII / VIII from its landmarks (and clicks), without adding it.

        :func:`nvcview.segment.nerve.segment_nerve` on the T2, through
        :meth:`nerve_points`, kept out of the brainstem (the brainstem structure
        when the review has one, else the image's estimate); other structures'
        voxels are off limits unless ``overwrite``. Reads only: worker-safe.

        Returns
        -------
        ndarray of bool
            The nerve on the reference grid.
        """
        from nvcview.segment.nerve import segment_nerve

        if self.t2 is None:
            raise InputError("nerve segmentation needs the T2 (CISS/FIESTA) series")
        pts = self.nerve_points(nerve)
        existing = next(
            (s for s in self.structures if s.kind == "nerve" and s.nerve == nerve), None
        )
        labels = self.ensure_labels()
        allowed = None
        stem = None
        if self.t2 is self.reference or same_grid(self.t2, self.reference):
            allowed = self.allowed_area(existing.label if existing else None, overwrite=overwrite)
            stems = [s.label for s in self.structures if s.kind == "brainstem"]
            if stems:
                stem = np.isin(labels, stems)
        res = segment_nerve(self.t2.array, self.t2.affine, pts, allowed=allowed, brainstem=stem)
        return self._to_reference(res.mask, self.t2)

    def segment_nerve(self, nerve: str = "VII", *, overwrite: bool = False) -> Structure:
        """Segment CN VII / VIII from the landmarks (:meth:`segment_nerve_mask`) and store it.

        The mask replaces the nerve's earlier voxels (one undoable edit).
        """
        self._check_editable("segment the nerve")
        mask = self.segment_nerve_mask(nerve, overwrite=overwrite)
        return self.set_nerve_mask(mask, nerve, overwrite=overwrite)

    def set_nerve_mask(
        self, mask: npt.ArrayLike, nerve: str = "VII", *, overwrite: bool = False
    ) -> Structure:
        """Make ``mask`` (reference grid) the nerve's voxels, replacing the old ones (undoable)."""
        self._check_editable("segment the nerve")
        labels = self.ensure_labels()
        m = np.asarray(mask, bool)
        if m.shape != labels.shape:
            raise InputError(f"mask shape {m.shape} is not the label map's {labels.shape}")
        existing = next(
            (s for s in self.structures if s.kind == "nerve" and s.nerve == nerve), None
        )
        self._record("edit")
        before = copy.deepcopy(self.structures)
        calls = copy.deepcopy(self.review.calls)
        if existing is not None:
            st = existing
        else:
            name = "facial nerve" if nerve == "VII" else "vestibulocochlear nerve"
            st = Structure(label=self.next_label(), name=name, kind="nerve", nerve=nerve)
            self.review.structures.append(st)
            assign_colors(self.review.structures, only=[st])
            self.events.structures.emit(label=st.label)
        old = labels == st.label
        labels[old & ~m] = 0
        where = m if overwrite else m & ((labels == 0) | (labels == st.label))
        labels[where] = st.label
        self._record(f"segment CN {nerve}", structures_before=before, calls_before=calls)
        self._changed("labels", box=nonzero_box(old | where))
        return st

    def nerve_mask(
        self,
        seed_lps: PointLPS,
        nerve: str = "VII",
        *,
        path_radius_mm: float = 1.5,
        **kwargs: Any,
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
        res = segment.grow_nerve(self.t2.array, self.t2.affine, np.asarray(seed_lps), **kwargs)
        return self._to_reference(res.mask, self.t2), res

    def add_nerve(self, mask: npt.ArrayLike, nerve: str = "VII") -> Structure:
        """Add a mask (reference grid) to CN VII or VIII (created if missing)."""
        return self._add_nerve(mask, nerve)

    def grow_nerve(
        self, seed_lps: PointLPS, nerve: str = "VII", **kwargs: Any
    ) -> tuple[Structure, GrowResult]:
        """Grow a nerve from a seed (:meth:`nerve_mask`) and add or extend it."""
        self._check_editable("grow a nerve")
        mask, res = self.nerve_mask(seed_lps, nerve, **kwargs)
        return self._add_nerve(mask, nerve), res

    def nerve_from_path(self, radius_mm: float = 1.0, nerve: str = "VII") -> Structure:
        """Make (or extend) the facial nerve as a tube (radius mm) around the centreline."""
        self._check_editable("make the nerve")
        pts = np.asarray(self.review.nerve_path_lps, float).reshape(-1, 3)
        if len(pts) < 2:
            raise InputError("trace at least two centreline points along the nerve first")
        ref = self.reference
        mask = segment.tube_mask(ref.array.shape, ref.affine, pts, radius_mm)
        return self._add_nerve(mask, nerve)

    def _add_nerve(self, mask: npt.ArrayLike, nerve: str) -> Structure:
        existing = next(
            (s for s in self.structures if s.kind == "nerve" and s.nerve == nerve), None
        )
        name = "facial nerve" if nerve == "VII" else "vestibulocochlear nerve"
        return self.add_structure(
            mask, name, "nerve", nerve=nerve, label=existing.label if existing else None
        )

    def _to_reference(
        self, mask: np.ndarray, src: Image, moving_to_fixed: np.ndarray | None = None
    ) -> np.ndarray:
        ref = self.reference
        if moving_to_fixed is not None:
            # the mask placed where its anatomy lies in the reference frame (the source
            # affine composed with the registration), then carried onto the grid; only
            # the mask's bounding box is visited (cheap at 512 x 512 x 160)
            affine = np.asarray(moving_to_fixed, float) @ src.affine
            return segment.resample_mask(mask, affine, ref.array.shape, ref.affine)
        if src is ref or same_grid(src, ref):
            return mask
        return segment.resample_mask(mask, src.affine, ref.array.shape, ref.affine)

    # ---- series ---------------------------------------------------------
    def add_t2(self, t2: Image) -> None:
        """Make ``t2`` the reference series, carrying a label map made on the TOF onto it.

        Every structure's mask is carried from the old reference grid onto the T2
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
        ReviewSignedError
            The label map would move to another grid on a signed review.
        """
        old_ref = self.t2 if self.t2 is not None else self.tof
        new_ref = t2 if t2 is not None else tof
        old = self.labels
        if new_ref is None and old is not None and old.any():
            raise InputError(
                "the case has labelled structures: choose a T2 or TOF series to keep them on"
            )
        moves = (
            new_ref is not old_ref
            and old is not None
            and old_ref is not None
            and new_ref is not None
            and not same_grid(old_ref, new_ref)
        )
        if moves:
            self._check_editable("move the label map onto another series")
        self.t2, self.tof = t2, tof
        if new_ref is old_ref:
            self.events.series.emit(resampled=False)
            return False
        self.live.reset()
        # the saved grid is the new reference's from now on (the store records it)
        self.review.reference_affine = self.review.reference_shape = None
        if old is None or old_ref is None or new_ref is None:
            self.labels = None
            self._reset_history()
            self._changed("series", resampled=False)
            return False
        if not moves:
            self._changed("series", resampled=False)
            return False  # the same grid: the label map fits as it is
        carried = np.zeros(new_ref.array.shape[:3], dtype=np.uint16)
        for value in np.unique(old):
            if value == 0:
                continue
            mask = segment.resample_mask(
                old == value, old_ref.affine, new_ref.array.shape, new_ref.affine
            )
            carried[mask & (carried == 0)] = value
        self.labels = carried
        self._reset_history()  # the old deltas are boxes of the old grid
        self._changed("series", resampled=True)
        return True

    # ---- landmarks, path, calls, fields ---------------------------------
    def set_landmark(self, name: str, lps: PointLPS | None) -> None:
        """Place (or with ``None`` delete) a named landmark, LPS mm."""
        self._check_editable("move a landmark")
        before = copy.deepcopy(self.review.landmarks)
        if lps is None:
            self.review.landmarks.pop(name, None)
            what = f"delete {name}"
        else:
            what = f"move {name}" if name in before else f"place {name}"
            self.review.landmarks[name] = _points(lps)
        if before == self.review.landmarks:
            return
        self._record_landmarks(what, before)
        self._changed("landmarks", name=name)

    def set_landmarks(self, landmarks: Mapping[str, PointLPS], *, merge: object = None) -> None:
        """Replace every landmark (name -> LPS mm), e.g. after points were dragged.

        One undoable step; successive calls with the same ``merge`` key (the moves of
        one drag, which a points layer reports on every mouse move) are one step.
        """
        self._check_editable("move a landmark")
        before = copy.deepcopy(self.review.landmarks)
        new = {str(k): _points(v) for k, v in landmarks.items()}
        if new == before:
            return
        moved = sorted(k for k in set(new) | set(before) if new.get(k) != before.get(k))
        self.review.landmarks = new
        self._record_landmarks(f"move {', '.join(moved)}", before, merge)
        self._changed("landmarks", name=None)

    def add_path_point(self, lps: PointLPS) -> None:
        """Append a centreline point (trace from the RExP towards the IAC), LPS mm."""
        self._check_editable("trace the nerve")
        self.review.nerve_path_lps.append(_points(lps))
        self._changed("path")

    def set_path(self, points: npt.ArrayLike) -> None:
        """Replace the traced centreline ((N, 3) LPS mm, RExP -> IAC; empty clears it)."""
        self._check_editable("trace the nerve")
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self.review.nerve_path_lps = [[float(v) for v in p] for p in pts]
        self._changed("path")

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
        self._check_editable("record a call")
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
        self._changed("calls", vessel_label=int(vessel_label))
        return call

    def set_fields(self, **values: str | None) -> bool:
        """Set case fields (:data:`CASE_FIELDS`: side, reader, case_id, impression,
        va_dominance, overall_impression); empty text clears an optional one.

        Returns
        -------
        bool
            True when anything changed (unchanged values are no edit).
        """
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in CASE_FIELDS:
                raise InputError(f"unknown case field {name!r}; one of {tuple(CASE_FIELDS)}")
            allowed = CASE_FIELDS[name]
            text = (value or "").strip() if name != "impression" else (value or "")
            new: str | None = text
            if allowed is not None:
                if text and text not in allowed:
                    raise InputError(f"{name} must be one of {allowed}, got {text!r}")
                new = text or None
            if getattr(self.review, name) != new:
                changes[name] = new
        if not changes:
            return False
        self._check_editable("change the case fields")
        for name, new in changes.items():
            setattr(self.review, name, new)
        self._changed("fields", names=tuple(changes))
        return True

    def set_finding(
        self, group: str, key: str, status: str | None, comment: str | None = None
    ) -> bool:
        """Set one reader finding (other cause or approach anatomy; see FINDING_GROUPS).

        Parameters
        ----------
        group : str
            "other_causes" or "approach_anatomy".
        key : str
            A key of the group's table (e.g. "cpa_mass", "jugular_bulb").
        status : str or None
            One of the group's statuses; None or "" = not assessed.
        comment : str, optional
            Free text; None keeps the current comment.

        Returns
        -------
        bool
            True when anything changed (emits the "fields" event).
        """
        if group not in FINDING_GROUPS:
            raise InputError(f"unknown finding group {group!r}; one of {tuple(FINDING_GROUPS)}")
        keys, statuses = FINDING_GROUPS[group]
        if key not in keys:
            raise InputError(f"unknown {group} finding {key!r}; one of {tuple(keys)}")
        if status and status not in statuses:
            raise InputError(f"{group} {key} status must be one of {statuses}, got {status!r}")
        findings: dict[str, ReaderFinding] = getattr(self.review, group)
        old = findings.get(key, ReaderFinding())
        new = ReaderFinding(status or None, old.comment if comment is None else comment)
        if new == old:
            return False
        self._check_editable("change the reader findings")
        if new == ReaderFinding():
            findings.pop(key, None)
        else:
            findings[key] = new
        self._changed("fields", names=(group,), key=key)
        return True

    # ---- registration ---------------------------------------------------
    def set_registration(
        self,
        registration: Registration | None,
        moving_series_uid: str | None = None,
        *,
        tof_on_reference: Image | None = None,
    ) -> None:
        """Store (or, with None, remove) the registration of a moving series.

        The review keeps at most one registration per moving series
        (:attr:`Review.registrations`, looked up by
        :meth:`~nvcview.review.model.Review.registration_for`); a new one replaces the
        old. Marks the case unsaved and emits ``registration``.

        Parameters
        ----------
        registration : Registration or None
            The accepted registration (``moving_to_fixed_lps`` maps LPS mm of the
            moving series' anatomy to LPS mm in the reference series), or None to
            remove the one stored for ``moving_series_uid``.
        moving_series_uid : str, optional
            The moving series (default: the registration's, else the TOF's).
        tof_on_reference : Image, optional
            The TOF already resampled onto the T2 grid through ``registration``
            (kept as :meth:`tof_on_reference`'s result instead of resampling again).
        """
        self._check_editable("change the registration")
        if moving_series_uid is None:
            if registration is not None:
                moving_series_uid = registration.moving_series_uid
            elif self.tof is not None:
                moving_series_uid = self.tof.meta.series_uid
            else:
                moving_series_uid = ""
        kept = [r for r in self.review.registrations if r.moving_series_uid != moving_series_uid]
        if registration is None and len(kept) == len(self.review.registrations):
            return  # nothing stored: nothing changes
        if registration is not None:
            kept.append(registration)
            log.info(  # no UIDs in the log (they identify the study)
                "registration stored: %s, %s, by %s at %s",
                registration.method,
                registration.metric or "no metric",
                registration.who or "unknown",
                registration.when,
            )
        else:
            log.info("registration removed")
        self.review.registrations = kept
        m = self.tof_to_reference_lps()
        if tof_on_reference is not None and m is not None and self.tof is not None:
            self.keep_on_reference(self.tof, tof_on_reference, m)
        self._changed(
            "registration", moving_series_uid=moving_series_uid, registration=registration
        )

    def series_registration(self, image: Image | None) -> Registration | None:
        """The registration the review stores for a moving series (onto the T2), if any.

        ``image`` is a non-reference series of the case's study (the TOF, a contrast
        T1). A registration stored onto another T2 series is not returned: it is not
        this fusion's transform.
        """
        if image is None or self.t2 is None or not image.meta.series_uid:
            return None
        if image is self.t2:
            return None
        reg = self.review.registration_for(image.meta.series_uid)
        if reg is not None and reg.fixed_series_uid not in ("", None, self.t2.meta.series_uid):
            return None  # stored onto another T2 series: not this fusion's transform
        return reg

    @property
    def tof_registration(self) -> Registration | None:
        """The registration the review stores for the TOF (onto the T2), if any."""
        return self.series_registration(self.tof)

    def series_to_reference_lps(self, image: Image | None) -> np.ndarray | None:
        """Moving-series LPS mm -> reference (T2) LPS mm from its stored registration.

        None without one (or when it is the identity): the series is then overlaid by
        its DICOM geometry.
        """
        reg = self.series_registration(image)
        if reg is None or np.allclose(reg.moving_to_fixed_lps, np.eye(4)):
            return None
        return np.asarray(reg.moving_to_fixed_lps, dtype=np.float64)

    def tof_to_reference_lps(self) -> np.ndarray | None:
        """TOF LPS mm -> reference (T2) LPS mm from the stored registration (None: none).

        The one transform every TOF use of the session goes through: the seed of a
        vessel grow (mapped into the TOF), the grown mask (carried back onto the
        reference grid), the TOF shown (:meth:`tof_on_reference`).
        """
        return self.series_to_reference_lps(self.tof)

    def _on_reference_key(self, image: Image) -> tuple[Any, ...] | None:
        m = self.series_to_reference_lps(image)
        if m is None or self.t2 is None:
            return None
        return (id(image), id(self.t2), m.tobytes())

    def cached_on_reference(self, image: Image | None) -> Image | None:
        """The series already resampled onto the T2 grid through its registration, if held.

        Never resamples (see :meth:`series_on_reference`); a front end that resamples
        in a worker hands the result back with :meth:`keep_on_reference`.
        """
        key = None if image is None else self._on_reference_key(image)
        held = self._on_ref.get(id(image)) if key is not None else None
        return held[1] if held is not None and held[0] == key else None

    def keep_on_reference(self, image: Image, on_reference: Image, matrix: npt.ArrayLike) -> bool:
        """Keep ``on_reference`` (``image`` resampled onto the T2 grid through ``matrix``).

        Kept only while ``matrix`` is still the stored registration of ``image``
        (a stale resample of a replaced or removed registration is dropped).
        """
        key = self._on_reference_key(image)
        m = np.asarray(matrix, dtype=np.float64)
        if key is None or key[2] != m.tobytes() or self.t2 is None:
            return False
        if on_reference.array.shape[:3] != self.t2.array.shape[:3]:
            return False
        self._on_ref[id(image)] = (key, on_reference)
        return True

    def series_on_reference(
        self,
        image: Image | None,
        *,
        progress: Callable[[float, str], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Image | None:
        """A moving series resampled onto the reference (T2) grid through its registration.

        None without a registration (or without T2): the series is then shown as
        acquired, by its own DICOM geometry. Cached per registration (a 512 x 512 x
        170 TOF takes about a second to resample). ``progress`` / ``cancel`` as in
        :func:`nvcview.register.resample_to` (a cancelled resample raises
        :class:`~nvcview.register.RegistrationCancelledError`, nothing is kept).
        """
        if image is None or self.t2 is None:
            return None
        held = self.cached_on_reference(image)
        if held is not None:
            return held
        m = self.series_to_reference_lps(image)
        if m is None:
            return None
        from nvcview.register import resample_to

        out = resample_to(image, self.t2, m, order=1, progress=progress, cancel=cancel)
        self.keep_on_reference(image, out, m)
        return out

    def tof_on_reference(self) -> Image | None:
        """The TOF resampled onto the reference (T2) grid through the stored registration.

        None without a registration (or without T2 / TOF): the TOF is then shown as
        acquired, by its own DICOM geometry (:meth:`series_on_reference`).
        """
        return self.series_on_reference(self.tof)

    def misalignment_warning(self, misalignment_mm: float) -> str | None:
        """The reader's warning for an estimated T2 / TOF misalignment (mm), or None.

        Above :data:`~nvcview.register.check.MISALIGNMENT_WARN_MM` the series should
        be registered before they are fused (the wording is
        :func:`nvcview.register.check.alignment_message`).
        """
        if not misalignment_mm > MISALIGNMENT_WARN_MM:
            return None
        return alignment_message(misalignment_mm)

    # ---- the alignment check of the study --------------------------------
    def alignment_key(self) -> tuple[Any, ...] | None:
        """Identity of the T2 / TOF pair an alignment check belongs to (None: no pair)."""
        if self.t2 is None or self.tof is None:
            return None
        return (id(self.t2), id(self.tof), self.t2.meta.series_uid, self.tof.meta.series_uid)

    @property
    def alignment_due(self) -> bool:
        """True when the T2 / TOF alignment check should run for this case.

        A T2 and a TOF are loaded, no registration of the TOF is stored, and no
        check result of this very pair is held (a study with one series runs nothing).
        """
        return (
            self.alignment_key() is not None
            and self.tof_registration is None
            and self.alignment is None
        )

    @property
    def alignment(self) -> AlignmentCheck | None:
        """The alignment check of the current T2 / TOF pair (None: not checked yet).

        A result of another pair (the series were changed since) is not returned.
        """
        held = self._alignment
        if held is None or held[0] != self.alignment_key():
            return None
        return held[1]

    def set_alignment(self, check: AlignmentCheck) -> bool:
        """Keep the alignment check of the current pair and emit ``alignment``.

        Not an edit of the review (the case stays saved; allowed on a signed review).
        A check of series the case no longer shows is ignored.

        Returns
        -------
        bool
            True when kept (the series are the case's T2 and TOF).
        """
        key = self.alignment_key()
        if key is None or (check.fixed_series_uid, check.moving_series_uid) != key[2:]:
            return False
        self._alignment = (key, check)
        log.info("alignment check: %.2f mm in the CPA region", check.misalignment_mm)
        self.events.alignment.emit(check=check)
        return True

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
        return r

    def landmarks_lps(self) -> dict[str, np.ndarray]:
        """Landmarks as (3,) LPS mm arrays."""
        return {k: np.asarray(v, float) for k, v in self.review.landmarks.items()}

    def centreline_lps(self) -> PointsLPS | None:
        """The traced nerve centreline (N, 3) LPS mm, or None."""
        return review_centreline(self.review)

    def reader_grades(self) -> dict[int, str]:
        """{vessel label: reader grade} of the calls that have a grade."""
        return reader_grades(self.review)

    @classmethod
    def from_review(
        cls,
        review: Review,
        labels: Image | None = None,
        t2: Image | None = None,
        tof: Image | None = None,
        *,
        folder: str | os.PathLike | None = None,
    ) -> CaseSession:
        """Rebuild a session from a saved review and its label map.

        The label map must lie on the reference series by the one grid rule
        (:func:`nvcview.io.grids.same_grid`), the rule the review store uses.
        """
        arr = None
        if labels is not None:
            ref = t2 if t2 is not None else tof
            if ref is not None and not same_grid(labels, ref):
                from nvcview.io.grids import grid_mismatch

                why = grid_mismatch(labels.affine, labels.array.shape, ref.affine, ref.array.shape)
                raise InputError(
                    "the review's label map does not lie on the loaded reference series "
                    f"({why}); open the series the review was made on"
                )
            arr = np.asarray(labels.array).astype(np.uint16)
        assign_colors(review.structures)  # one colour per structure (stable: stored)
        return cls(
            t2=t2,
            tof=tof,
            labels=arr,
            review=review,
            folder=Path(folder) if folder is not None else None,
        )

    def frozen_copy(self) -> CaseSession:
        """An independent copy (label map and review copied, series shared read-only).

        Lets a worker thread measure a consistent state while the reader edits on.
        The copy shares :attr:`live` (the cached measurer, which locks itself) and,
        being ``frozen``, hands it its label map instead of a second copy. It has
        its own (unconnected) events.
        """
        snap = CaseSession(
            t2=self.t2,
            tof=self.tof,
            labels=None if self.labels is None else _sparse_copy(self.labels, self._labelled_box()),
            review=copy.deepcopy(self.review),
            folder=self.folder,
            live=self.live,
            frozen=True,
        )
        snap.version = self.version
        snap._boxes, snap._boxes_gen = self._boxes, self._boxes_gen
        snap._boxes_labels = snap.labels
        return snap

    def _labelled_box(self) -> Box | None:
        """A box holding every labelled voxel of :attr:`labels` (None: the map is empty).

        The whole map is scanned once; later calls grow that box by the boxes of the
        edits logged since (:class:`EditBoxes`), so a brush stroke's snapshot does not
        scan the map again (~45 ms at 512 x 512 x 160). It is scanned again whenever
        the log cannot say what changed: nothing recorded since (a write the session
        was not told of is found so), a change of unknown box, a replaced map.
        """
        arr = self.labels
        if arr is None:
            return None
        known = self._labelled
        box: Box | None
        if known is not None and known[0] is self._boxes and known[1] is arr:
            since = self._boxes.between(known[2], self._boxes_gen, arr.shape)
            if since is not None:
                box = since if known[3] is None else union_box([known[3], since], arr.shape)
                self._labelled = (self._boxes, arr, self._boxes_gen, box)
                return box
        box = nonzero_box(arr)
        self._labelled = (self._boxes, arr, self._boxes_gen, box)
        return box

    # ---- measurement ---------------------------------------------------
    def can_measure(self) -> bool:
        """True when a facial nerve and at least one vessel are labelled."""
        return can_measure(self.structures)

    def measure(self) -> list[VesselMeasurement]:
        """Run the measurement engine on the current state (cached, see :attr:`live`).

        Only what changed since the session's previous measurement is re-measured
        (:class:`~nvcview.measure.live.LiveMeasurer`); the result equals
        :meth:`measure_full`. Sets :attr:`measurements` and emits ``measured``.

        The label map is compared with the measured one inside the union of the
        boxes of the label edits recorded since (:class:`EditBoxes`: every edit
        method, undo / redo, and :meth:`labels_edited` for a brush writing in
        place), not as a whole. It is compared whole when the box is not known:
        nothing recorded since (a write made behind the session's back is caught
        so), a map replaced or moved to another grid, a measurer last used by
        another session, or a span older than :data:`EDIT_BOXES_KEPT` edits. A
        write into :attr:`labels` must be told with :meth:`labels_edited` (its box;
        without one the session compares the whole map once and logs the box it
        finds); an untold one outside a told box is found by
        the next whole-map comparison (an undo / redo or structure edit records it
        first, :meth:`fresh_measurements` and :meth:`save` always compare all).

        Returns
        -------
        list of VesselMeasurement
            One per vessel (empty when there is no facial nerve or no vessel).
        """
        return self._measure(whole_map=False)

    def _measure(self, *, whole_map: bool) -> list[VesselMeasurement]:
        version = self.version
        out: list[VesselMeasurement] = []
        if self.can_measure() and self.has_series:
            image = self.labels_image()
            out = self.live.measure(
                image,
                self.structures,
                review_landmarks(self.review),
                centreline=self.centreline_lps(),
                settings=self.review.settings,
                reader_grades=self.reader_grades(),
                owned=self.frozen,
                state=(self._boxes, self._boxes_gen),
                changed_since=None if whole_map else self._changed_since,
                image=edge_image(self.review.settings, self.reference),
            )
        self.accept_measurements(out, version)
        return out

    def accept_measurements(self, measurements: Sequence[VesselMeasurement], version: int) -> bool:
        """Take measurements made (e.g. in a worker, on a :meth:`frozen_copy`) of ``version``.

        Returns
        -------
        bool
            False (and nothing kept) when the case changed since that version.
        """
        if version != self.version:
            return False
        self.measurements = list(measurements)
        self._measured_version = version
        self.events.measured.emit(measurements=self.measurements)
        return True

    def fresh_measurements(self) -> list[VesselMeasurement]:
        """The measurements of the current state, whatever changed it.

        Always asks the cached engine and has it compare the *whole* label map
        (landmarks and centreline too) with those it measured last, so even an edit
        made behind the session's back (written into :attr:`labels` without
        :meth:`labels_edited`) is measured; an unchanged case costs one array
        comparison. :meth:`save` measures through it.
        """
        return self._measure(whole_map=True)

    def measure_full(self) -> list[VesselMeasurement]:
        """One-shot :func:`nvcview.measure.measure_case` on the current state (no cache)."""
        if not self.can_measure():
            return []
        from nvcview.measure import measure_case

        return measure_case(
            self.labels_image(),
            self.structures,
            review_landmarks(self.review),
            centreline=self.centreline_lps(),
            settings=self.review.settings,
            reader_grades=self.reader_grades(),
            image=edge_image(self.review.settings, self.reference),
        )

    # ---- saving, sign-off, reopening -------------------------------------
    def save(self, folder: str | os.PathLike | None = None, *, actor: str | None = None) -> Path:
        """Save the review with the measurements of exactly the state saved.

        Parameters
        ----------
        folder : path-like, optional
            Review folder (default: :attr:`folder`); becomes :attr:`folder`.
        actor : str, optional
            Who saves (audit trail); defaults to the reader.

        Returns
        -------
        Path
            The ``review.json`` written.

        Raises
        ------
        InputError
            No folder given and none known.
        ReviewFinalError, ReviewLockedError, ReviewSaveError, GeometryError
            From :func:`nvcview.review.store.save_review` (nothing is marked saved).
        """
        from nvcview.review.store import ReviewSaveError, save_review

        target = Path(folder) if folder is not None else self.folder
        if target is None:
            raise InputError("choose a review folder to save into (one folder per reader)")
        if not self.has_series:
            raise InputError("nothing to save: no series loaded")
        review = self.to_review()
        review.measurements = list(self.fresh_measurements())
        try:
            path = save_review(review, target, self.labels_image(), actor=actor)
        except OSError as exc:  # the folder cannot be made (a file in the way, permissions)
            raise ReviewSaveError(
                f"{target}: cannot save the review there ({exc.strerror or exc})",
                errno=exc.errno,
            ) from exc
        self.folder = target
        self.dirty = False
        self.events.saved.emit(path=path)
        return path

    def sign_off(
        self, folder: str | os.PathLike | None = None, *, actor: str | None = None
    ) -> Path:
        """Mark the review final and save it (logged as "finalise" in the audit).

        On failure the review stays a draft (nothing on disk says final).
        """
        if self.signed:
            raise ReviewSignedError("the review is already signed off")
        self.review.status = "final"
        try:
            path = self.save(folder, actor=actor)
        except BaseException:
            self.review.status = "draft"
            raise
        self._signed_labels = None if self.labels is None else self.labels.copy()
        self.events.status.emit(status="final")
        return path

    def reopen(self, *, actor: str, reason: str = "") -> None:
        """Make a signed review a draft again (logged as "reopen" in the audit trail).

        Parameters
        ----------
        actor : str
            Who reopens it (required: reopening a signed review is accountable).
        reason : str
            Why; stored in the audit trail.
        """
        from nvcview.review.store import load_review, reopen_review

        if not self.signed:
            raise InputError("the review is not signed off (it is a draft)")
        if not actor:
            raise InputError("reopening a signed review needs the name of who reopens it")
        if self.folder is not None and (self.folder / "review.json").exists():
            if load_review(self.folder).status == "final":
                reopen_review(self.folder, actor=actor, reason=reason)
        self.review.status = "draft"
        self._signed_labels = None
        self.events.status.emit(status="draft")

    def close(self) -> None:
        """Close the case: tell the front ends (``closed``) and drop their callbacks."""
        self.events.closed.emit()
        self.events.disconnect_all()


def _sparse_copy(labels: np.ndarray, box: Box | None | str = "scan") -> np.ndarray:
    """A copy of a label map that costs memory (and time) for its labelled box only.

    New zero pages are not resident until written, so only the box of the non-zero
    voxels is copied into a fresh zero map: equal to ``labels.copy()`` (same dtype,
    shape and C order), without touching the background of a 512 x 512 x 160 map.
    ``box``: a box known to hold every non-zero voxel (None: none), else the map is
    scanned for it.
    """
    out = np.zeros(labels.shape, dtype=labels.dtype)
    if isinstance(box, str):
        box = nonzero_box(labels)
    if box is not None:
        out[box] = labels[box]
    return out


#: an index box holding nothing (an edit that changed no voxel)
_EMPTY_BOX: Box = (slice(0, 0), slice(0, 0), slice(0, 0))


def _offset_box(inner: Box, outer: Box) -> Box:
    """``inner`` (relative to ``outer``'s start) in the coordinates of ``outer``'s array."""
    return tuple(
        slice(o.start + i.start, o.start + i.stop) for i, o in zip(inner, outer, strict=True)
    )
