"""Measurement records and settings shared by the engine, reviews, reports and batch.

All positions are patient LPS mm; all lengths mm; angles degrees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from nvcview.errors import InputError

SEGMENTS = ("RExP", "AS", "RDP/TZ", "proximal cisternal", "distal cisternal")
GRADES = ("none", "contact", "indentation", "deviation")
SIDES_OF_NERVE = ("anterior", "posterior", "superior", "inferior")
#: surface estimators (see nvcview.measure.surface)
#: antialias: comparison only; image-edge: needs the image the labels came from
SURFACE_METHODS = ("corrected", "gaussian", "antialias", "image-edge")


@dataclass
class MeasureSettings:
    """Thresholds of the engine: settings, never hidden constants (DOMAIN.md).

    Attributes
    ----------
    contact_factor : float
        A gap below ``contact_factor * resolution_mm`` is called contact
        (default 1.0: below one acquired voxel along the gap direction).
    contact_mm : float or None
        If set, an absolute contact threshold in mm instead of the voxel rule.
    near_mm : float
        Vessels whose gap exceeds this are measured but flagged not near the nerve.
    indentation_min_mm : float
        Minimum local loss of nerve radius (mm) to call indentation.
    deviation_min_mm : float
        Minimum displacement of the nerve course from its expected path (mm)
        to call deviation.
    rexp_radius_mm : float
        Contacts within this arc length of the RExP are segment "RExP".
    tz_half_length_mm : float
        The RDP/TZ segment spans the RDP +/- this arc length.
    proximal_cisternal_mm : float
        Lateral of the RDP/TZ and up to this arc length past the RDP is
        "proximal cisternal" (DOMAIN.md: 4 mm); beyond is "distal cisternal".
    indentation_ring_mm, deviation_window_mm : float
        Unused since the course fit (``course_exclusion_mm`` / ``course_window_mm``);
        kept so that stored settings still load.
    surface_sigma_mm : float
        Gaussian anti-aliasing of the binary masks before the sub-voxel surface
        is extracted (mm); see :mod:`nvcview.measure.surface`.
    surface_min_sigma_vox : float
        The same, at least this many voxels along each array axis.
    gap_error_vox : float
        The surface estimator's measured error, voxels along the gap direction:
        the upper side of each gap's uncertainty interval
        (:mod:`nvcview.measure.uncertainty`).
    indentation_min_vox : float
        Indentation also needs a loss of at least this many voxels along the
        direction of the vessel (partial volume alone takes up to about half a
        voxel off a touched nerve).
    indentation_error_vox : float
        The indentation depth estimator's measured error, voxels along the vessel
        direction (0.47 worst on the analytic nerve phantoms): a true depth within
        it of the threshold may read either side (scoring against truth only,
        :func:`nvcview.measure.uncertainty.grades_within_resolution`).
    deviation_min_vox : float
        Deviation also needs a displacement of at least this many voxels along
        the direction away from the vessel.
    course_exclusion_mm : float
        The nerve's expected course and calibre at a contact are fitted to the
        nerve at stations farther than this arc length from the contact (mm).
    course_window_mm : float
        ... and no farther than this (mm).
    surface_method : str
        Surface estimator (:data:`SURFACE_METHODS`, :mod:`nvcview.measure.surface`):
        "corrected" (default, from the label map alone) or "image-edge" (the boundary
        at the half-way intensity of the image the labels came from, within one voxel
        of the binary surface; needs that image on the label grid). Named in every
        gap's ``uncertainty_method`` so JSON, table, report and SR say which was used.
    """

    contact_factor: float = 1.0
    contact_mm: float | None = None
    near_mm: float = 5.0
    indentation_min_mm: float = 0.2
    deviation_min_mm: float = 1.0
    rexp_radius_mm: float = 1.0
    tz_half_length_mm: float = 1.25
    proximal_cisternal_mm: float = 4.0
    indentation_ring_mm: float = 4.0
    deviation_window_mm: float = 4.0
    surface_sigma_mm: float = 0.35
    surface_min_sigma_vox: float = 0.6
    gap_error_vox: float = 0.5
    indentation_min_vox: float = 0.75
    indentation_error_vox: float = 0.5
    deviation_min_vox: float = 1.0
    course_exclusion_mm: float = 2.5
    course_window_mm: float = 7.0
    surface_method: str = "corrected"

    def __post_init__(self) -> None:
        if self.surface_method not in SURFACE_METHODS:
            raise InputError(
                f"measurement setting surface_method must be one of {SURFACE_METHODS}, "
                f"got {self.surface_method!r}"
            )
        # a NaN or negative threshold silently turns every call into "no contact"
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "surface_method" or (v is None and f.name == "contact_mm"):
                continue
            try:
                ok = math.isfinite(float(v)) and float(v) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(
                    f"measurement setting {f.name} must be a finite number >= 0, got {v!r}"
                )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MeasureSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class VesselMeasurement:
    """One vessel measured against the facial nerve.

    Positions are LPS mm, lengths mm, angles degrees. ``None`` = not measurable.
    """

    vessel_label: int
    vessel_name: str
    vessel_type: str
    nerve_label: int
    #: minimum surface-to-surface gap (0 when touching or overlapping)
    gap_mm: float
    nerve_point_lps: tuple[float, float, float]
    vessel_point_lps: tuple[float, float, float]
    #: voxel extent along the gap direction: gaps below it cannot be told from contact
    resolution_mm: float
    contact: bool
    near: bool = True
    #: uncertainty interval of the gap (mm): the truth lies in [gap_low_mm, gap_high_mm];
    #: contact is called when it includes 0 (nvcview.measure.uncertainty)
    gap_low_mm: float | None = None
    gap_high_mm: float | None = None
    #: how the interval was derived (voxel along the gap, method error)
    uncertainty_method: str | None = None
    #: arc length along the nerve centreline from the RExP to the contact
    arc_length_from_rexp_mm: float | None = None
    #: signed arc length from the RDP (negative = medial/brainstem side, positive = lateral)
    dist_from_rdp_mm: float | None = None
    segment: str | None = None  # one of SEGMENTS
    crossing_angle_deg: float | None = None
    vessel_diameter_mm: float | None = None
    side_of_nerve: str | None = None  # one of SIDES_OF_NERVE
    #: local loss of nerve thickness towards the vessel against the nerve's own
    #: calibre fitted smoothly through the contact from 2.5-7 mm either side (mm)
    indentation_depth_mm: float | None = None
    #: displacement of the nerve (cross-section centre) away from the vessel against
    #: its own course fitted smoothly through the contact (mm)
    deviation_mm: float | None = None
    #: the depth / displacement (mm) from which indentation / deviation is called here
    #: (the mm setting, at least the voxel setting times the voxel towards the vessel)
    indentation_threshold_mm: float | None = None
    deviation_threshold_mm: float | None = None
    suggested_grade: str = "none"  # one of GRADES
    reader_grade: str | None = None
    #: gap from this vessel to CN VIII, and a phrase describing the relation
    gap_to_cn8_mm: float | None = None
    relation_to_cn8: str | None = None
    #: "single", "multiple" or "tandem" (case level, filled by measure_case: the same
    #: value on every record of the case; None when no vessel is in contact).
    #: tandem = a VA in contact with another vessel that is in contact with VII
    multiplicity: str | None = None
    #: case level (the same on every record): fraction (0-1) of each nerve segment's
    #: centreline covered by the nerve label (nvcview.measure.coverage), and the
    #: segments covered too little to assess ("not assessable": no gap was measured
    #: there, so "no contact" cannot be concluded over them). Empty: not checked.
    nerve_coverage: dict[str, float] = field(default_factory=dict)
    not_assessable_segments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def grade(self) -> str:
        """The reader's grade when given, otherwise the suggested one."""
        return self.reader_grade or self.suggested_grade

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nerve_point_lps"] = [float(v) for v in self.nerve_point_lps]
        d["vessel_point_lps"] = [float(v) for v in self.vessel_point_lps]
        d["grade"] = self.grade
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VesselMeasurement:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["nerve_point_lps"] = tuple(kw["nerve_point_lps"])
        kw["vessel_point_lps"] = tuple(kw["vessel_point_lps"])
        return cls(**kw)
