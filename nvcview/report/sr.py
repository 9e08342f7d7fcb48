"""DICOM Structured Report: TID 1500 Measurement Report (Comprehensive 3D SR).

One measurement group (TID 1411, volumetric ROI) per vessel, referencing the
vessel's segment in the SEG and the source T2 series. Finding type = the
vessel, finding site = the facial nerve with its laterality. Measurements:
gap (DCM 121206 Distance) with the closest-point pair as a SCOORD3D polyline in
the T2 frame of reference, its resolution limit, the signed distance from the
RDP along the nerve (private concept whose name states the sign), arc length
from the RExP, crossing angle (SCT 1483009 Angle, deg), vessel diameter (SCT
81827009), indentation depth (only where the report shows one), deviation, gap
to CN VIII. Qualitative evaluations (codes): grade, suggested and reader grade,
REZ segment, contact, near, side of the nerve, multiplicity, confidence, VA
dominance, side of symptoms, symptomatic/control side; TEXT items: vessel label,
relation to CN VIII, reader comment. Both sides' vessels are reported (the
control side's finding sites carry its laterality). The report's Qualitative
Evaluations container holds the conclusion(s), overall impression, impression,
other causes, approach anatomy, case and review identifiers as TEXT. Codes:
:mod:`nvcview.report.codes`. :mod:`nvcview.report.sr_read` reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from nvcview import __version__
from nvcview.report import codes as C
from nvcview.report.content import ReportModel
from nvcview.report.seg import frame_geometries


def _nearest_frame(
    sources: Sequence[pydicom.Dataset], xyz: np.ndarray
) -> hd.sr.SourceImageForMeasurement:
    """Reference to the source frame whose plane is nearest a point (LPS mm)."""
    best = None
    for ds in sources:
        for g in frame_geometries(ds):
            d = abs(float(np.dot(g.normal, xyz - g.position)))
            if best is None or d < best[0]:
                best = (d, ds, g.frame_number)
    if best is None:
        raise ValueError("no source image frame to reference")
    _, ds, frame = best
    if frame is None:
        return hd.sr.SourceImageForMeasurement.from_source_image(ds)
    return hd.sr.SourceImageForMeasurement.from_source_image(ds, referenced_frame_numbers=[frame])


def _person_name(text: str | None) -> str:
    """A DICOM PN from free text: a single component gets a trailing caret."""
    text = (text or "unknown").strip()[:60]
    return text if "^" in text else text + "^"


def _num(name, value, unit, **kw) -> hd.sr.Measurement:
    return hd.sr.Measurement(name=name, value=float(value), unit=unit, **kw)


def _code_eval(name, value) -> hd.sr.QualitativeEvaluation:
    return hd.sr.QualitativeEvaluation(name, value)


def _frame_of_reference(sources: Sequence[pydicom.Dataset]) -> str | None:
    for ds in sources:
        if "FrameOfReferenceUID" in ds:
            return str(ds.FrameOfReferenceUID)
    return None


def vessel_group(
    row: dict,
    *,
    side: str | None,
    seg: pydicom.Dataset,
    segment_number: int | None,
    sources: Sequence[pydicom.Dataset],
    symptom_side: str | None = None,
    va_dominance: str | None = None,
    role: str = "symptomatic",
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """The TID 1411 measurement group of one vessel row of the report model.

    ``side`` is the side of the nerve reviewed (the symptomatic side, or the
    other one for ``role="control"``); ``symptom_side`` the side of symptoms.
    """
    a = np.asarray(row["nerve_point_lps"], dtype=float)
    b = np.asarray(row["vessel_point_lps"], dtype=float)
    source = _nearest_frame(sources, (a + b) / 2)
    site = hd.sr.FindingSite(anatomic_location=C.FACIAL_NERVE, laterality=C.laterality(side))
    for_uid = _frame_of_reference(sources)
    measurements = [
        _num(C.DISTANCE, row["gap_mm"], C.MM, referenced_images=[source]),
        _num(C.RESOLUTION_LIMIT, row["resolution_mm"], C.MM),
    ]
    if row.get("dist_from_rdp_mm") is not None:
        measurements.append(
            _num(C.RDP_SIGNED, row["dist_from_rdp_mm"], C.MM, method=C.RDP_DISTANCE)
        )
    optional = (
        ("gap_low_mm", C.GAP_LOW, C.MM),
        ("gap_high_mm", C.GAP_HIGH, C.MM),
        ("indentation_threshold_mm", C.INDENTATION_THRESHOLD, C.MM),
        ("deviation_threshold_mm", C.DEVIATION_THRESHOLD, C.MM),
        ("arc_length_from_rexp_mm", C.REXP_ARC, C.MM),
        ("crossing_angle_deg", C.ANGLE, C.DEG),
        ("vessel_diameter_mm", C.DIAMETER, C.MM),
        ("indentation_shown_mm", C.INDENTATION_DEPTH, C.MM),
        ("deviation_mm", C.DEVIATION, C.MM),
        ("gap_to_cn8_mm", C.GAP_TO_CN8, C.MM),
        ("indentation_depth_mm", C.THINNING, C.MM),
    )
    for key, name, unit in optional:
        value = row.get(key)
        if value is not None and np.isfinite(value):
            measurements.append(_num(name, value, unit))
    evaluations = [_code_eval(C.GRADE_NAME, C.GRADE_CODES[row["grade"]])]
    engine = row.get("engine_suggested_grade") or row["suggested_grade"]
    evaluations.append(_code_eval(C.SUGGESTED_GRADE, C.GRADE_CODES[engine]))
    if row.get("reader_grade") in C.GRADE_CODES:
        evaluations.append(_code_eval(C.READER_GRADE, C.GRADE_CODES[row["reader_grade"]]))
    if row.get("segment") in C.SEGMENT_CODES:
        evaluations.append(_code_eval(C.SEGMENT_NAME, C.SEGMENT_CODES[row["segment"]]))
    evaluations.append(_code_eval(C.CONTACT, C.YES if row.get("contact") else C.NO))
    evaluations.append(_code_eval(C.NEAR, C.YES if row.get("near", True) else C.NO))
    if row.get("side_of_nerve") in C.SIDE_OF_NERVE_CODES:
        evaluations.append(_code_eval(C.SIDE_OF_NERVE, C.SIDE_OF_NERVE_CODES[row["side_of_nerve"]]))
    if row.get("multiplicity") in C.MULTIPLICITY_CODES:
        evaluations.append(_code_eval(C.MULTIPLICITY, C.MULTIPLICITY_CODES[row["multiplicity"]]))
    if row.get("confidence") in C.CONFIDENCE_CODES:
        evaluations.append(_code_eval(C.CONFIDENCE, C.CONFIDENCE_CODES[row["confidence"]]))
    va = C.va_dominance_code(va_dominance)
    if va is not None:
        evaluations.append(_code_eval(C.VA_DOMINANCE, va))
    symptoms = C.laterality(symptom_side)
    if symptoms is not None:
        evaluations.append(_code_eval(C.SYMPTOM_SIDE, symptoms))
    evaluations.append(_code_eval(C.SIDE_ROLE, C.SIDE_ROLE_CODES[role]))
    prefix = "control " if role == "control" else ""
    tracking = hd.sr.TrackingIdentifier(
        uid=generate_uid(),
        identifier=f"{prefix}vessel {row['vessel_label']}: {row['vessel_name']}"[:64],
    )
    referenced = None
    if segment_number is not None:
        referenced = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=int(segment_number),
            source_series=hd.sr.SourceSeriesForSegmentation(sources[0].SeriesInstanceUID),
        )
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_type=C.VESSEL_CODES.get(row["vessel_type"], C.VESSEL_CODES["unknown"]),
        finding_sites=[site],
        measurements=measurements,
        qualitative_evaluations=evaluations,
        referenced_segment=referenced,
    )
    if for_uid:
        # the closest-point pair as a 3D polyline (nerve surface point, then vessel
        # surface point) in the T2 frame of reference, "inferred from" under the gap
        # (TID 300 row 8). highdicom refuses coordinates in a volumetric group's
        # measurements, so the item is added to the built gap measurement.
        distance = next(
            item
            for item in group[0].ContentSequence
            if item.ValueType == "NUM"
            and item.ConceptNameCodeSequence[0].CodeValue == C.DISTANCE.value
        )
        distance.ContentSequence.append(
            hd.sr.Scoord3DContentItem(
                name=C.CLOSEST_POINTS,
                graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
                graphic_data=np.stack([a, b]),
                frame_of_reference_uid=for_uid,
                relationship_type="INFERRED FROM",
            )
        )
    texts = [
        (C.VESSEL_LABEL, str(row["vessel_label"])),
        (C.VESSEL_TYPE, row["vessel_type"]),
        (C.RELATION_TO_CN8, row.get("relation_to_cn8")),
        (C.GAP_INTERVAL_METHOD, row.get("uncertainty_method")),
    ]
    texts.append((C.COMMENT, row.get("comment")))
    for name, value in texts:
        if value:
            group[0].ContentSequence.append(
                hd.sr.TextContentItem(
                    name=name, value=str(value)[:1024], relationship_type="CONTAINS"
                )
            )
    return group


def _report_texts(model: ReportModel) -> hd.sr.ContainerContentItem:
    """TID 1500 Qualitative Evaluations: the conclusion and the reader's findings as TEXT."""
    h = model.header
    items: list = [
        hd.sr.TextContentItem(C.CONCLUSION, model.conclusion, relationship_type="CONTAINS")
    ]
    control = model.control
    if control is not None:
        items.append(
            hd.sr.TextContentItem(
                C.CONCLUSION,
                f"Other side, as control ({control.side or 'unknown'}): {control.conclusion}",
                relationship_type="CONTAINS",
            )
        )
    f = model.findings
    if f.get("overall_impression_text"):
        items.append(
            hd.sr.TextContentItem(
                C.OVERALL_IMPRESSION, f["overall_impression_text"], relationship_type="CONTAINS"
            )
        )
    if model.impression:
        items.append(
            hd.sr.TextContentItem(
                C.IMPRESSION, model.impression[:1024], relationship_type="CONTAINS"
            )
        )
    for key, name in (("other_causes", C.OTHER_CAUSE), ("approach_anatomy", C.APPROACH_ANATOMY)):
        for item in f.get(key, []):
            if item["status"] is None and not item["comment"]:
                continue
            text = f"{item['name']}: {item['status_text']}"
            if item["comment"]:
                text += f" ({item['comment']})"
            items.append(hd.sr.TextContentItem(name, text, relationship_type="CONTAINS"))
    for reg in h.get("registrations") or []:
        items.append(
            hd.sr.TextContentItem(C.REGISTRATION, reg["text"][:1024], relationship_type="CONTAINS")
        )
        for w in reg["warnings"]:
            items.append(
                hd.sr.TextContentItem(
                    C.REGISTRATION_WARNING,
                    f"{reg['moving_role']}: {w}"[:1024],
                    relationship_type="CONTAINS",
                )
            )
    symptoms = C.laterality(h["side"])
    if symptoms is not None:
        items.append(hd.sr.CodeContentItem(C.SYMPTOM_SIDE, symptoms, relationship_type="CONTAINS"))
    items.append(hd.sr.TextContentItem(C.CASE_ID, h["case"] or "-", relationship_type="CONTAINS"))
    if h.get("review_id"):
        items.append(
            hd.sr.TextContentItem(C.REVIEW_ID, h["review_id"], relationship_type="CONTAINS")
        )
    container = hd.sr.ContainerContentItem(
        name=C.QUALITATIVE_EVALUATIONS, relationship_type="CONTAINS"
    )
    container.ContentSequence = pydicom.Sequence(items)
    return container


def build_sr(
    model: ReportModel,
    sources: Sequence[pydicom.Dataset],
    seg: pydicom.Dataset,
    segment_numbers: dict[int, int],
    *,
    other_evidence: Sequence[pydicom.Dataset] = (),
    series_uid: str | None = None,
    sop_uid: str | None = None,
    series_number: int = 902,
) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 Measurement Report of a report model.

    Parameters
    ----------
    model : ReportModel
        The report (vessel rows with engine values).
    sources : sequence of pydicom.Dataset
        Headers of the reference (T2) series images, de-identified when needed.
    seg : pydicom.Dataset
        The SEG written with :func:`nvcview.report.seg.build_seg`.
    segment_numbers : dict
        Label value -> segment number in ``seg``.
    other_evidence : sequence of pydicom.Dataset
        Further source images (e.g. the TOF series) listed as evidence.

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
    """
    h = model.header
    person = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_person_name(h["reader"])
        ),
    )
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="nvcview", model_name=f"nvcview {__version__}"
        ),
    )
    context = hd.sr.ObservationContext(
        observer_person_context=person, observer_device_context=device
    )
    groups = []
    for section in model.sides:
        for row in section.vessels:
            groups.append(
                vessel_group(
                    row,
                    side=section.side,
                    seg=seg,
                    segment_number=segment_numbers.get(row["vessel_label"]),
                    sources=sources,
                    symptom_side=h["side"],
                    va_dominance=h.get("va_dominance"),
                    role=section.role,
                )
            )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=C.IMAGING_PROCEDURE,
        imaging_measurements=groups,
    )
    report[0].ContentSequence.append(_report_texts(model))
    final = h["status"] == "final"
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*sources, *other_evidence, seg],
        content=report,
        series_instance_uid=series_uid or generate_uid(),
        series_number=series_number,
        sop_instance_uid=sop_uid or generate_uid(),
        instance_number=1,
        manufacturer="nvcview",
        is_complete=final,
        is_final=final,
        series_description="nvcview measurement report",
    )
    C.add_private_scheme(sr)
    return sr
