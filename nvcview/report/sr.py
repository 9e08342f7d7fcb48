"""DICOM Structured Report: TID 1500 Measurement Report (Comprehensive 3D SR).

One measurement group (TID 1411, volumetric ROI) per vessel, referencing the
vessel's segment in the SEG and the source T2 series. Finding type = the
vessel, finding site = the facial nerve with its laterality. Measurements:
gap (DCM 121206 Distance; the closest-point pair in LPS mm is in the JSON report,
not yet as SCOORD3D in the SR), its
resolution limit, distance from the RDP along the nerve (SCT 410668003 Length,
signed: negative = medial), crossing angle (SCT 1483009 Angle, deg), vessel
diameter (SCT 81827009 Diameter), indentation depth. Qualitative evaluations:
grade and REZ segment (private codes, see :mod:`nvcview.report.codes`).
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


def vessel_group(
    row: dict,
    *,
    side: str | None,
    seg: pydicom.Dataset,
    segment_number: int | None,
    sources: Sequence[pydicom.Dataset],
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """The TID 1411 measurement group of one vessel row of the report model."""
    a = np.asarray(row["nerve_point_lps"], dtype=float)
    b = np.asarray(row["vessel_point_lps"], dtype=float)
    source = _nearest_frame(sources, (a + b) / 2)
    site = hd.sr.FindingSite(anatomic_location=C.FACIAL_NERVE, laterality=C.laterality(side))
    measurements = [
        _num(
            C.DISTANCE,
            row["gap_mm"],
            C.MM,
            referenced_images=[source],
        ),
        _num(C.RESOLUTION_LIMIT, row["resolution_mm"], C.MM),
    ]
    if row.get("dist_from_rdp_mm") is not None:
        measurements.append(_num(C.LENGTH, row["dist_from_rdp_mm"], C.MM, method=C.RDP_DISTANCE))
    if row.get("crossing_angle_deg") is not None:
        measurements.append(_num(C.ANGLE, row["crossing_angle_deg"], C.DEG))
    if row.get("vessel_diameter_mm") is not None:
        measurements.append(_num(C.DIAMETER, row["vessel_diameter_mm"], C.MM))
    if row.get("indentation_depth_mm") is not None:
        measurements.append(_num(C.INDENTATION_DEPTH, row["indentation_depth_mm"], C.MM))
    evaluations = [hd.sr.QualitativeEvaluation(C.GRADE_NAME, C.GRADE_CODES[row["grade"]])]
    if row.get("segment") in C.SEGMENT_CODES:
        evaluations.append(
            hd.sr.QualitativeEvaluation(C.SEGMENT_NAME, C.SEGMENT_CODES[row["segment"]])
        )
    tracking = hd.sr.TrackingIdentifier(
        uid=generate_uid(), identifier=f"vessel {row['vessel_label']}: {row['vessel_name']}"[:64]
    )
    kwargs = {}
    if segment_number is not None:
        kwargs["referenced_segment"] = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=int(segment_number),
            source_series=hd.sr.SourceSeriesForSegmentation(sources[0].SeriesInstanceUID),
        )
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_type=C.VESSEL_CODES.get(row["vessel_type"], C.VESSEL_CODES["unknown"]),
        finding_sites=[site],
        measurements=measurements,
        qualitative_evaluations=evaluations,
        **kwargs,
    )


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
    groups = [
        vessel_group(
            row,
            side=h["side"],
            seg=seg,
            segment_number=segment_numbers.get(row["vessel_label"]),
            sources=sources,
        )
        for row in model.vessels
    ]
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=C.IMAGING_PROCEDURE,
        imaging_measurements=groups,
    )
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
