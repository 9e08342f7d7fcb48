"""The review model: one reader's annotations of one case.

Plain dataclasses; all positions patient LPS mm. Serialised to ``review.json``
by :mod:`nvcview.review.store`. Patient identifiers live only in ``patient``
(a :class:`~nvcview.io.image.PatientInfo`), so de-identification drops one field.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field

from nvcview import __version__
from nvcview.io.image import PatientInfo
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.register.model import Registration
from nvcview.structures import Structure

SCHEMA_VERSION = 1
STATUSES = ("draft", "final")
SIDES = ("left", "right")
CONFIDENCES = ("low", "medium", "high")
LANDMARK_NAMES = ("RExP", "RDP", "IAC")

#: Other causes of hemifacial spasm the reader excludes or reports: key -> plain wording.
OTHER_CAUSES = {
    "cpa_mass": "CPA mass",
    "epidermoid": "epidermoid",
    "vascular_malformation": "vascular malformation",
    "brainstem_lesion": "brainstem lesion or demyelination",
}
#: Anatomy met on the retrosigmoid approach: key -> plain wording.
APPROACH_ANATOMY = {
    "petrosal_vein": "petrosal vein",
    "lower_cranial_nerves": "lower cranial nerves (IX-XI)",
    "flocculus": "flocculus",
    "jugular_bulb": "jugular bulb",
}
#: Statuses of a reader finding: code -> plain wording (None = not assessed).
FINDING_STATUSES = {
    "none_seen": "none seen",
    "present": "present",
    "uncertain": "uncertain",
    "unremarkable": "unremarkable",
    "of_note": "of surgical note",
}
#: Which statuses each kind of finding takes.
OTHER_CAUSE_STATUSES = ("none_seen", "present", "uncertain")
APPROACH_STATUSES = ("unremarkable", "of_note")
#: The reader's overall impression: code -> plain wording.
OVERALL_IMPRESSIONS = {
    "nvc_likely": "neurovascular compression likely responsible for the symptoms",
    "nvc_possible": "neurovascular compression possible",
    "no_nvc": "no neurovascular compression found",
    "other_cause": "another cause found",
}


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class SeriesRef:
    """A series the review refers to (by UID, with where it was loaded from)."""

    series_uid: str
    role: str  # "T2", "TOF", "T1", "other"
    path: str = ""
    description: str = ""
    sequence_name: str = ""
    voxel_size_mm: list[float] | None = None


@dataclass
class ReaderCall:
    """The reader's call on one vessel-nerve conflict."""

    vessel_label: int
    grade: str | None = None  # one of measure.records.GRADES
    confidence: str | None = None  # one of CONFIDENCES
    comment: str = ""


@dataclass
class ReaderFinding:
    """The reader's call on one other cause or one piece of approach anatomy.

    Attributes
    ----------
    status : str or None
        A key of :data:`FINDING_STATUSES` (:data:`OTHER_CAUSE_STATUSES` for other
        causes, :data:`APPROACH_STATUSES` for approach anatomy); None = not assessed.
    comment : str
        Free text (e.g. "high-riding jugular bulb").
    """

    status: str | None = None
    comment: str = ""


@dataclass
class ContralateralSide:
    """The asymptomatic side, reviewed as a control.

    Its structures are labels of the review's one label map (values distinct from
    the symptomatic side's ``Review.structures``); landmarks and the nerve path are
    patient LPS mm. The side is the opposite of ``Review.side``.
    """

    structures: list[Structure] = field(default_factory=list)
    landmarks: dict[str, list[float]] = field(default_factory=dict)
    nerve_path_lps: list[list[float]] = field(default_factory=list)
    calls: list[ReaderCall] = field(default_factory=list)
    #: measurements stored at the last save (recomputed on demand)
    measurements: list[VesselMeasurement] = field(default_factory=list)

    def call_for(self, vessel_label: int) -> ReaderCall | None:
        """The reader's call on a control-side vessel, if any."""
        for c in self.calls:
            if c.vessel_label == vessel_label:
                return c
        return None


def opposite_side(side: str | None) -> str | None:
    """ "left" <-> "right"; None stays None."""
    return {"left": "right", "right": "left"}.get(side or "")


@dataclass
class Review:
    """One reader's review of one case (see docs/review-schema.json)."""

    case_id: str = ""
    reader: str = ""
    side: str | None = None  # side of symptoms: "left" / "right"
    status: str = "draft"
    study_uid: str = ""
    patient: PatientInfo | None = None
    series: list[SeriesRef] = field(default_factory=list)
    #: SeriesInstanceUID of the series the label map is aligned to
    reference_series_uid: str = ""
    #: label map file, relative to the review folder
    labelmap_path: str = "labels.nii.gz"
    #: grid of the reference series (4x4 index -> LPS mm affine and array shape);
    #: the label map must lie on it. Filled from the labels at the first save with labels.
    reference_affine: list[list[float]] | None = None
    reference_shape: list[int] | None = None
    #: SHA-256 of the label map file as last saved (detects a label file changed behind
    #: the review's back, e.g. by a crash between the two renames of a save)
    labelmap_sha256: str = ""
    structures: list[Structure] = field(default_factory=list)
    #: named points in LPS mm: "RExP", "RDP", "IAC" and free names
    landmarks: dict[str, list[float]] = field(default_factory=dict)
    #: facial nerve centreline, RExP -> IAC, (N, 3) LPS mm
    nerve_path_lps: list[list[float]] = field(default_factory=list)
    calls: list[ReaderCall] = field(default_factory=list)
    impression: str = ""
    va_dominance: str | None = None  # "left", "right", "codominant"
    fusion_used: bool = True
    #: the asymptomatic side as control (None when not reviewed)
    contralateral: ContralateralSide | None = None
    #: other causes: key of OTHER_CAUSES -> the reader's finding
    other_causes: dict[str, ReaderFinding] = field(default_factory=dict)
    #: approach anatomy: key of APPROACH_ANATOMY -> the reader's finding
    approach_anatomy: dict[str, ReaderFinding] = field(default_factory=dict)
    #: a key of OVERALL_IMPRESSIONS (None = not given); free text stays in ``impression``
    overall_impression: str | None = None
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    #: measurements stored at the last save (recomputed by the engine on demand)
    measurements: list[VesselMeasurement] = field(default_factory=list)
    #: registrations of the other series onto the reference series (one per moving
    #: series; see nvcview.register.Registration): what display, carried labels, seeds
    #: and measurements of that series go through. Empty: DICOM geometry only.
    registrations: list[Registration] = field(default_factory=list)
    review_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)
    software_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    def call_for(self, vessel_label: int) -> ReaderCall | None:
        """The reader's call on a vessel, if any."""
        for c in self.calls:
            if c.vessel_label == vessel_label:
                return c
        return None

    def registration_for(self, moving_series_uid: str) -> Registration | None:
        """The registration stored for a moving series (by SeriesInstanceUID), if any."""
        for r in self.registrations:
            if r.moving_series_uid == moving_series_uid:
                return r
        return None

    def series_by_role(self, role: str) -> SeriesRef | None:
        """The first series of a role ("T2", "TOF", ...), if any."""
        for s in self.series:
            if s.role == role:
                return s
        return None
