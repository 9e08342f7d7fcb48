"""The plain report model: everything a report says, independent of its format.

JSON, HTML, PDF and the DICOM SR are all rendered from one :class:`ReportModel`
so that their numbers cannot disagree. Lengths are mm, angles degrees,
positions patient LPS mm. Patient identifiers appear only in
``header["patient"]``, which is ``None`` in de-identified reports.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nvcview import __version__
from nvcview.io.image import Image
from nvcview.measure.records import SEGMENTS, VesselMeasurement
from nvcview.report.conclusion import SEGMENT_NAMES, conclusion_text, vessel_phrase
from nvcview.review.model import (
    APPROACH_ANATOMY,
    FINDING_STATUSES,
    OTHER_CAUSES,
    OVERALL_IMPRESSIONS,
    ReaderCall,
    Review,
    opposite_side,
)
from nvcview.structures import VESSEL_COLORS, Structure

#: Version of the report JSON document (docs/report.md, schema/report-1.schema.json).
REPORT_SCHEMA_VERSION = 1

#: Limits printed in every report (DOMAIN.md).
LIMITS = (
    "Distances are measured on the segmentation in patient space; a gap smaller than the "
    "resolution limit given for each vessel (the acquired voxel size along the gap) cannot "
    "be told from contact.",
    "Neurovascular contact on MRI is also seen in about a fifth of asymptomatic facial "
    "nerves, and the specificity of MRI alone can be low.",
    "This report supports, and does not replace, the surgeon's judgement at operation.",
)


#: A gap at most this (mm) counts as zero for showing an indentation depth.
GAP_ZERO_MM = 1e-3

#: The grade scale every report names, with its definitions (DOMAIN.md).
GRADE_SCALE_NAME = (
    "nvcview conflict grade (after the hemifacial spasm MRI grading of 2008: contact = mild, "
    "indentation = moderate, deviation = severe; Sindou I / III / II)"
)
GRADE_SCALE = (
    ("none", "CSF visible between vessel and nerve: gap at least the resolution limit."),
    ("contact", "Vessel touches the nerve (gap below the resolution limit), nerve not deformed."),
    (
        "indentation",
        "Vessel dents the nerve: gap zero and the nerve locally thinner toward the vessel "
        "by more than the resolution limit.",
    ),
    ("deviation", "Nerve course displaced or distorted by the vessel."),
)


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb)


@dataclass
class KeyImage:
    """One rendered key image (PNG bytes) and where its marked points landed.

    Attributes
    ----------
    key : str
        File stem, unique in the report (e.g. ``"vessel3-axial"``).
    kind : str
        ``"axial"``, ``"coronal"`` or ``"nerve"`` (reformat along the centreline).
    title, caption : str
        Short title and one-sentence caption.
    png : bytes
        The image.
    vessel_label : int or None
        The vessel shown (None for the nerve reformat).
    points_px : dict
        Name -> [column, row] pixel position in the PNG of marked points
        (``"nerve_point"``, ``"vessel_point"``), for checks.
    """

    key: str
    kind: str
    title: str
    caption: str
    png: bytes
    vessel_label: int | None = None
    width_px: int = 0
    height_px: int = 0
    points_px: dict[str, list[float]] = field(default_factory=dict)
    #: "symptomatic" or "control": the side of the case the image belongs to
    side_role: str = "symptomatic"
    #: where to find the shown slice on PACS, e.g. "T2 series 3 (3D CISS), image 14"
    location: str = ""
    #: colour legend: [(what, "#rrggbb")] in drawing order
    legend: list[tuple[str, str]] = field(default_factory=list)
    #: the source image nearest the shown plane: {"series_number", "instance_number",
    #: "sop_instance_uid", "series_uid"} (None when the series is not DICOM)
    source: dict | None = None
    #: the plane: centre and the two in-plane unit directions (LPS mm) and pixel size
    plane: dict | None = None

    @property
    def wide(self) -> bool:
        """Shown across the page (reformats along the nerve, wide images)."""
        return self.kind == "nerve" or self.width_px > 1.6 * self.height_px

    @property
    def filename(self) -> str:
        return f"{self.key}.png"

    def to_dict(self, image_dir: str = "images") -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "title": self.title,
            "caption": self.caption,
            "file": f"{image_dir}/{self.filename}",
            "vessel_label": self.vessel_label,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "points_px": {k: [float(v) for v in p] for k, p in self.points_px.items()},
            "side_role": self.side_role,
            "location": self.location,
            "legend": [{"name": n, "color": c} for n, c in self.legend],
        }


@dataclass
class SideSection:
    """One side of the case: the symptomatic side, or the other side as control.

    Attributes
    ----------
    role : str
        "symptomatic" or "control".
    side : str or None
        "left" / "right".
    conclusion : str
        The conclusion sentence(s) for this side's facial nerve.
    vessels : list of dict
        Vessel rows (gap order), as in :attr:`ReportModel.vessels`.
    landmarks : dict
        Name -> LPS mm.
    reviewed : bool
        False when the review holds nothing for this side (control not reviewed).
    """

    role: str
    side: str | None
    conclusion: str
    vessels: list[dict]
    landmarks: dict[str, list[float]]
    reviewed: bool = True

    @property
    def title(self) -> str:
        nerve = f"{self.side} facial nerve" if self.side else "facial nerve"
        if self.role == "symptomatic":
            return f"Symptomatic side: {nerve}"
        return f"Other side, as control: {nerve}"

    def near_vessels(self) -> list[dict]:
        return [v for v in self.vessels if _in_table(v)]

    def far_vessels(self) -> list[dict]:
        return [v for v in self.vessels if not _in_table(v)]

    def to_dict(self) -> dict:
        return {
            "role": self.role,
            "side": self.side,
            "reviewed": self.reviewed,
            "conclusion": self.conclusion,
            "landmarks": self.landmarks,
            "vessels": self.vessels,
        }


@dataclass
class ReportModel:
    """Everything the report says. Build with :func:`build_report`.

    ``vessels``/``conclusion``/``landmarks`` are the symptomatic side's (as in
    report schema 1); ``sides`` holds both sides, symptomatic first.
    """

    header: dict
    conclusion: str
    vessels: list[dict]
    series: list[dict]
    landmarks: dict[str, list[float]]
    limits: list[str]
    settings: dict
    impression: str = ""
    key_images: list[KeyImage] = field(default_factory=list)
    sides: list[SideSection] = field(default_factory=list)
    #: reader findings: {"overall_impression": str|None, "other_causes": [{key, name,
    #: status, status_text, comment}], "approach_anatomy": [...]}
    findings: dict = field(default_factory=dict)
    grade_scale: list[tuple[str, str]] = field(default_factory=lambda: list(GRADE_SCALE))

    def to_dict(self, image_dir: str = "images") -> dict:
        """The JSON document (schema version :data:`REPORT_SCHEMA_VERSION`)."""
        control = self.control
        return {
            "schema": "nvcview-report",
            "schema_version": REPORT_SCHEMA_VERSION,
            "header": self.header,
            "conclusion": self.conclusion,
            "impression": self.impression,
            "series": self.series,
            "landmarks": self.landmarks,
            "vessels": self.vessels,
            "contralateral": control.to_dict() if control is not None else None,
            "reader_findings": self.findings,
            "grade_scale": {
                "name": GRADE_SCALE_NAME,
                "grades": [{"grade": g, "definition": d} for g, d in self.grade_scale],
            },
            "limits": self.limits,
            "settings": self.settings,
            "key_images": [k.to_dict(image_dir) for k in self.key_images],
        }

    @property
    def control(self) -> SideSection | None:
        """The contralateral (control) side section, if there is one."""
        return next((s for s in self.sides if s.role == "control"), None)

    def near_vessels(self) -> list[dict]:
        """Rows of the vessels near the nerve (the engine's ``near`` flag), gap order,
        and of any vessel graded as a conflict (the conclusion names it)."""
        return [v for v in self.vessels if _in_table(v)]

    def far_vessels(self) -> list[dict]:
        """Rows of the vessels measured but farther than the "near" threshold."""
        return [v for v in self.vessels if not _in_table(v)]

    def images_for(self, vessel_label: int | None) -> list[KeyImage]:
        return [k for k in self.key_images if k.vessel_label == vessel_label]


def _in_table(row: dict) -> bool:
    return bool(row.get("near", True)) or row.get("grade", "none") != "none"


def indentation_shown(m: VesselMeasurement) -> bool:
    """Whether the report shows an indentation depth for a vessel.

    Only where the nerve is dented beyond the resolution limit and the gap is
    zero: a vessel with CSF between it and the nerve cannot dent it, and a depth
    below one voxel along the gap cannot be told from none.
    """
    d = m.indentation_depth_mm
    return (
        d is not None
        and m.gap_mm is not None
        and m.gap_mm <= GAP_ZERO_MM
        and m.resolution_mm is not None
        and d > m.resolution_mm
    )


def vessel_label_text(row: dict) -> str:
    """How a vessel is named in tables: its name, plus its type when the name lacks it."""
    name = str(row.get("vessel_name") or "")
    long = vessel_phrase(row["vessel_type"], None)
    if row["vessel_type"] in ("other", "unknown") or row["vessel_type"].lower() in name.lower():
        return name or long
    if long.lower() in name.lower():
        return name
    return f"{name} ({long})" if name else long


def not_assessable(measurements: Sequence[VesselMeasurement]) -> list[str]:
    """Nerve segments any measurement marks not assessable (order of ``SEGMENTS``)."""
    found = {seg for m in measurements for seg in m.not_assessable_segments}
    return [seg for seg in SEGMENTS if seg in found] + sorted(found - set(SEGMENTS))


def _vessel_row(
    m: VesselMeasurement, call: ReaderCall | None, structures: list[Structure] | None = None
) -> dict:
    row = m.to_dict()
    # the reader's call in review.json wins over a grade stored with old measurements
    # (`report --stored`), as in the batch tables
    reader = (call.grade if call and call.grade else None) or m.reader_grade
    suggested = m.suggested_grade
    notes = list(m.notes)
    shown = indentation_shown(m)
    row["engine_suggested_grade"] = suggested
    if suggested == "indentation" and not shown:
        suggested = "contact" if m.contact else "none"
        notes.append(
            "the engine's indentation estimate is not shown: the gap is not zero or the "
            "depth does not exceed the resolution limit"
        )
    row["suggested_grade"] = suggested
    row["reader_grade"] = reader
    row["grade"] = reader or suggested
    row["grade_differs"] = bool(reader and reader != suggested)
    row["indentation_shown_mm"] = m.indentation_depth_mm if shown else None
    row["confidence"] = call.confidence if call else None
    row["comment"] = call.comment if call else ""
    # the structure's own colour (the one of the viewer, key images and 3D scene)
    own = next((st for st in structures or () if st.label == m.vessel_label), None)
    row["color"] = _hex(
        own.color if own is not None else VESSEL_COLORS.get(m.vessel_type, VESSEL_COLORS["unknown"])
    )
    row["segment_name"] = SEGMENT_NAMES.get(m.segment, m.segment) if m.segment else None
    row["vessel_label_text"] = vessel_label_text(row)
    row["notes"] = notes
    return row


def _series_rows(
    review: Review, images: Mapping[str, Image] | None, deidentify: bool
) -> list[dict]:
    rows = []
    images = images or {}
    for ref in review.series:
        img = images.get(ref.role)
        voxel = ref.voxel_size_mm
        if not voxel and img is not None:
            voxel = list(img.spacing_mm)
        seq = ref.sequence_name or (img.meta.sequence_name if img is not None else "")
        desc = ref.description or (img.meta.series_description if img is not None else "")
        number = getattr(img.meta, "series_number", None) if img is not None else None
        rows.append(
            {
                "role": ref.role,
                "description": desc,
                "sequence": seq,
                "voxel_size_mm": [float(v) for v in voxel] if voxel else None,
                "series_uid": None if deidentify else ref.series_uid,
                "series_number": int(number) if number not in (None, "") else None,
                "reference": ref.series_uid == review.reference_series_uid,
            }
        )
    return rows


#: Appended when a series is shown over the reference without a registration.
NOT_REGISTERED_TEXT = "overlaid by the DICOM geometry"


def registration_rows(review: Review, deidentify: bool) -> list[dict]:
    """How each other series (TOF, T1, ...) lies on the reference series.

    One row per series of the review other than the reference one, worded by
    :func:`nvcview.register.describe_registration` from the registration stored
    for it (:meth:`Review.registration_for`): "TOF registered to T2 (rigid,
    estimated residual 0.12 mm)", or "TOF not registered to T2 (overlaid by the
    DICOM geometry)". The registration's warnings are listed apart. When
    de-identified, the series UIDs are left out as in the series rows, and any
    UID in a warning becomes ``[uid]``.
    """
    from nvcview.register import describe_registration
    from nvcview.report.deidentify import scrub_error_message

    ref = next((s for s in review.series if s.series_uid == review.reference_series_uid), None)
    if ref is None:
        ref = next((s for s in review.series if s.role == "T2"), None)
    if ref is None:
        return []
    rows = []
    for s in review.series:
        if s is ref or s.role == ref.role:
            continue
        reg = review.registration_for(s.series_uid) if s.series_uid else None
        registered = reg is not None and reg.method != "identity"
        text = describe_registration(
            dataclasses.replace(reg, warnings=()) if reg is not None else None, s.role, ref.role
        )
        if not registered:
            text += f" ({NOT_REGISTERED_TEXT})"
        warnings = list(reg.warnings) if reg is not None else []
        if deidentify:
            warnings = [scrub_error_message(w) for w in warnings]
        residual = reg.residual_mm if reg is not None else None
        rows.append(
            {
                "moving_role": s.role,
                "fixed_role": ref.role,
                "registered": registered,
                "method": reg.method if reg is not None else None,
                "residual_mm": float(residual)
                if residual is not None and math.isfinite(residual)
                else None,
                "forced": bool(reg.forced) if reg is not None else False,
                "text": text,
                "warnings": warnings,
                "moving_series_uid": None if deidentify else (s.series_uid or None),
                "fixed_series_uid": None if deidentify else (ref.series_uid or None),
            }
        )
    return rows


def _findings(review: Review) -> dict:
    def items(table: dict[str, str], given: dict) -> list[dict]:
        out = []
        for key, name in table.items():
            f = given.get(key)
            status = f.status if f is not None else None
            out.append(
                {
                    "key": key,
                    "name": name,
                    "status": status,
                    "status_text": FINDING_STATUSES.get(status, "not assessed")
                    if status
                    else "not assessed",
                    "comment": f.comment if f is not None else "",
                }
            )
        return out

    code = review.overall_impression
    return {
        "overall_impression": code,
        "overall_impression_text": OVERALL_IMPRESSIONS.get(code or "", None),
        "other_causes": items(OTHER_CAUSES, review.other_causes),
        "approach_anatomy": items(APPROACH_ANATOMY, review.approach_anatomy),
    }


def build_report(
    review: Review,
    measurements: Sequence[VesselMeasurement],
    images: Mapping[str, Image] | None = None,
    *,
    deidentify: bool = False,
    pseudonym: str | None = None,
    key_images: Sequence[KeyImage] = (),
    generated: str | None = None,
    control_measurements: Sequence[VesselMeasurement] | None = None,
) -> ReportModel:
    """Build the report model from a review and the engine's measurements.

    Parameters
    ----------
    review : Review
        The reader's review (side, reader, landmarks in LPS mm, calls).
    measurements : sequence of VesselMeasurement
        The symptomatic side, one per vessel, from :func:`nvcview.measure.measure_case`.
    images : mapping, optional
        Role ("T2", "TOF") -> loaded :class:`Image`, for voxel sizes and sequence
        names missing from the review's series references.
    deidentify : bool
        Leave out patient identifiers, the case id, UIDs and file paths; the case
        is named by ``pseudonym``.
    pseudonym : str, optional
        Stable pseudonym used when ``deidentify`` is true.
    key_images : sequence of KeyImage
        Rendered images to embed.
    generated : str, optional
        Report time (ISO 8601, UTC); now by default.
    control_measurements : sequence of VesselMeasurement, optional
        The contralateral side's vessels against its facial nerve; by default the
        ones stored in ``review.contralateral``.

    Returns
    -------
    ReportModel
    """
    vessels = [
        _vessel_row(m, review.call_for(m.vessel_label), review.structures)
        for m in sorted(measurements, key=lambda m: m.gap_mm)
    ]
    patient = None
    if not deidentify and review.patient is not None:
        p = review.patient
        patient = {
            "name": p.patient_name,
            "id": p.patient_id,
            "birth_date": p.patient_birth_date,
            "sex": p.patient_sex,
            "accession_number": p.accession_number,
            "study_date": p.study_date,
        }
    if deidentify and not pseudonym:
        raise ValueError("a de-identified report needs a pseudonym")
    header = {
        "case": pseudonym if deidentify else review.case_id,
        "deidentified": bool(deidentify),
        "patient": patient,
        "study_uid": None if deidentify else (review.study_uid or None),
        "side": review.side,
        "status": review.status,
        "reader": review.reader,
        "fusion_used": bool(review.fusion_used),
        "va_dominance": review.va_dominance,
        "registrations": registration_rows(review, deidentify),
        "review_modified": review.modified,
        "review_id": review.review_id,
        "generated": generated or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "software_version": __version__,
    }
    landmarks = {k: [float(v) for v in p] for k, p in review.landmarks.items()}
    conclusion = conclusion_text(vessels, review.side, not_assessable(measurements))
    sides = [SideSection("symptomatic", review.side, conclusion, vessels, landmarks)]
    other = opposite_side(review.side)
    c = review.contralateral
    if c is None:
        sides.append(
            SideSection(
                "control",
                other,
                "The other side was not reviewed.",
                [],
                {},
                reviewed=False,
            )
        )
    else:
        cms = control_measurements if control_measurements is not None else c.measurements
        crow = [
            _vessel_row(m, c.call_for(m.vessel_label), c.structures)
            for m in sorted(cms, key=lambda m: m.gap_mm)
        ]
        sides.append(
            SideSection(
                "control",
                other,
                conclusion_text(crow, other, not_assessable(cms)),
                crow,
                {k: [float(v) for v in p] for k, p in c.landmarks.items()},
            )
        )
    return ReportModel(
        header=header,
        conclusion=conclusion,
        vessels=vessels,
        series=_series_rows(review, images, deidentify),
        landmarks=landmarks,
        limits=list(LIMITS),
        settings=review.settings.to_dict(),
        impression=review.impression,
        key_images=list(key_images),
        sides=sides,
        findings=_findings(review),
    )
