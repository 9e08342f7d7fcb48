"""The plain report model: everything a report says, independent of its format.

JSON, HTML, PDF and the DICOM SR are all rendered from one :class:`ReportModel`
so that their numbers cannot disagree. Lengths are mm, angles degrees,
positions patient LPS mm. Patient identifiers appear only in
``header["patient"]``, which is ``None`` in de-identified reports.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nvcview import __version__
from nvcview.io.image import Image
from nvcview.measure.records import VesselMeasurement
from nvcview.report.conclusion import SEGMENT_NAMES, conclusion_text
from nvcview.review.model import Review
from nvcview.structures import VESSEL_COLORS

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
        }


@dataclass
class ReportModel:
    """Everything the report says. Build with :func:`build_report`."""

    header: dict
    conclusion: str
    vessels: list[dict]
    series: list[dict]
    landmarks: dict[str, list[float]]
    limits: list[str]
    settings: dict
    impression: str = ""
    key_images: list[KeyImage] = field(default_factory=list)

    def to_dict(self, image_dir: str = "images") -> dict:
        """The JSON document (schema version :data:`REPORT_SCHEMA_VERSION`)."""
        return {
            "schema": "nvcview-report",
            "schema_version": REPORT_SCHEMA_VERSION,
            "header": self.header,
            "conclusion": self.conclusion,
            "impression": self.impression,
            "series": self.series,
            "landmarks": self.landmarks,
            "vessels": self.vessels,
            "limits": self.limits,
            "settings": self.settings,
            "key_images": [k.to_dict(image_dir) for k in self.key_images],
        }

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


def _vessel_row(m: VesselMeasurement, review: Review) -> dict:
    row = m.to_dict()
    call = review.call_for(m.vessel_label)
    # the reader's call in review.json wins over a grade stored with old measurements
    # (`report --stored`), as in the batch tables
    reader = (call.grade if call and call.grade else None) or m.reader_grade
    row["reader_grade"] = reader
    row["grade"] = reader or m.suggested_grade
    row["grade_differs"] = bool(reader and reader != m.suggested_grade)
    row["confidence"] = call.confidence if call else None
    row["comment"] = call.comment if call else ""
    row["color"] = _hex(VESSEL_COLORS.get(m.vessel_type, VESSEL_COLORS["unknown"]))
    row["segment_name"] = SEGMENT_NAMES.get(m.segment, m.segment) if m.segment else None
    row["notes"] = list(m.notes)
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
        rows.append(
            {
                "role": ref.role,
                "description": desc,
                "sequence": seq,
                "voxel_size_mm": [float(v) for v in voxel] if voxel else None,
                "series_uid": None if deidentify else ref.series_uid,
                "reference": ref.series_uid == review.reference_series_uid,
            }
        )
    return rows


def build_report(
    review: Review,
    measurements: Sequence[VesselMeasurement],
    images: Mapping[str, Image] | None = None,
    *,
    deidentify: bool = False,
    pseudonym: str | None = None,
    key_images: Sequence[KeyImage] = (),
    generated: str | None = None,
) -> ReportModel:
    """Build the report model from a review and the engine's measurements.

    Parameters
    ----------
    review : Review
        The reader's review (side, reader, landmarks in LPS mm, calls).
    measurements : sequence of VesselMeasurement
        One per vessel, from :func:`nvcview.measure.measure_case`.
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

    Returns
    -------
    ReportModel
    """
    vessels = [_vessel_row(m, review) for m in sorted(measurements, key=lambda m: m.gap_mm)]
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
        "review_modified": review.modified,
        "generated": generated or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "software_version": __version__,
    }
    landmarks = {k: [float(v) for v in p] for k, p in review.landmarks.items()}
    return ReportModel(
        header=header,
        conclusion=conclusion_text(vessels, review.side),
        vessels=vessels,
        series=_series_rows(review, images, deidentify),
        landmarks=landmarks,
        limits=list(LIMITS),
        settings=review.settings.to_dict(),
        impression=review.impression,
        key_images=list(key_images),
    )
