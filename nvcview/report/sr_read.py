"""Read an nvcview DICOM SR (TID 1500, :mod:`nvcview.report.sr`) back into contact rows.

``nvcview measure REPORT-SR.dcm --json`` prints what :func:`read_sr` returns: the
same document shape as ``nvcview measure REVIEW --json`` (``review_id``,
``case_id``, ``reader``, ``side``, ``units``, ``contacts``), plus
``contralateral`` ({``side``, ``contacts``}) when the SR holds the other side and
``source`` naming the SR. Lengths mm, positions patient LPS mm (the closest-point
pair comes from the SCOORD3D of each gap).
"""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from nvcview.errors import InputError
from nvcview.measure.records import VesselMeasurement
from nvcview.report import codes as C

#: Concept codes (value, scheme) of the items read.
_IMAGING_MEASUREMENTS = ("126010", "DCM")
_MEASUREMENT_GROUP = ("125007", "DCM")
_TRACKING_ID = ("112039", "DCM")
_FINDING = ("121071", "DCM")
_PERSON_NAME = ("121008", "DCM")
_DEVICE_NAME = ("121013", "DCM")


def _key(item: Dataset) -> tuple[str, str]:
    c = item.ConceptNameCodeSequence[0]
    return str(c.CodeValue), str(c.CodingSchemeDesignator)


def _ck(concept) -> tuple[str, str]:
    return str(concept.value), str(concept.scheme_designator)


def _code(item: Dataset) -> tuple[str, str]:
    c = item.ConceptCodeSequence[0]
    return str(c.CodeValue), str(c.CodingSchemeDesignator)


def _reverse(table: dict) -> dict[tuple[str, str], str]:
    return {_ck(v): k for k, v in table.items()}


_GRADES = _reverse(C.GRADE_CODES)
_SEGMENTS = _reverse(C.SEGMENT_CODES)
_SIDES_OF_NERVE = _reverse(C.SIDE_OF_NERVE_CODES)
_MULTIPLICITY = _reverse(C.MULTIPLICITY_CODES)
_ROLES = _reverse(C.SIDE_ROLE_CODES)
_LATERALITY = {_ck(C.LEFT): "left", _ck(C.RIGHT): "right"}
_VESSELS = {
    _ck(v): k for k, v in C.VESSEL_CODES.items() if k != "unknown"
}  # blood vessel -> "other"
_NUMS = {
    _ck(C.DISTANCE): "gap_mm",
    _ck(C.RESOLUTION_LIMIT): "resolution_mm",
    _ck(C.RDP_SIGNED): "dist_from_rdp_mm",
    _ck(C.REXP_ARC): "arc_length_from_rexp_mm",
    _ck(C.ANGLE): "crossing_angle_deg",
    _ck(C.DIAMETER): "vessel_diameter_mm",
    _ck(C.THINNING): "indentation_depth_mm",
    _ck(C.DEVIATION): "deviation_mm",
    _ck(C.GAP_TO_CN8): "gap_to_cn8_mm",
    _ck(C.GAP_LOW): "gap_low_mm",
    _ck(C.GAP_HIGH): "gap_high_mm",
    _ck(C.INDENTATION_THRESHOLD): "indentation_threshold_mm",
    _ck(C.DEVIATION_THRESHOLD): "deviation_threshold_mm",
}


def _is_nvcview(ds: Dataset) -> bool:
    if str(ds.get("Manufacturer", "")) == "nvcview":
        return True
    return any(
        str(item.get("TextValue", "")) == "nvcview" and _key(item) == _DEVICE_NAME
        for item in ds.get("ContentSequence", [])
        if "ConceptNameCodeSequence" in item
    )


def is_sr_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DICOM Structured Report file (checked from its header)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["Modality", "SOPClassUID"])
    except Exception:  # not DICOM
        return False
    return str(ds.get("Modality", "")) == "SR"


def _group(group: Dataset, where: str) -> tuple[str, str | None, VesselMeasurement]:
    """One measurement group -> (role, side of the nerve, measurement)."""
    values: dict = {"notes": []}
    name = ""
    label = None
    side = None
    role = "symptomatic"
    points = None
    for item in group.get("ContentSequence", []):
        key = _key(item)
        vt = item.ValueType
        if vt == "TEXT" and key == _TRACKING_ID:
            name = str(item.TextValue).split(": ", 1)[-1]
        elif vt == "TEXT" and key == _ck(C.VESSEL_LABEL):
            label = int(str(item.TextValue))
        elif vt == "TEXT" and key == _ck(C.VESSEL_TYPE):
            values["vessel_type"] = str(item.TextValue)
        elif vt == "TEXT" and key == _ck(C.RELATION_TO_CN8):
            values["relation_to_cn8"] = str(item.TextValue)
        elif vt == "TEXT" and key == _ck(C.GAP_INTERVAL_METHOD):
            values["uncertainty_method"] = str(item.TextValue)
        elif vt == "CODE" and key == _FINDING:
            values.setdefault("vessel_type", _VESSELS.get(_code(item), "unknown"))
        elif vt == "CODE" and key == ("363698007", "SCT"):  # finding site
            for mod in item.get("ContentSequence", []):
                if mod.ValueType == "CODE":
                    side = _LATERALITY.get(_code(mod), side)
        elif vt == "NUM" and key in _NUMS:
            mv = item.MeasuredValueSequence[0]
            values[_NUMS[key]] = float(mv.NumericValue)
            if key == _ck(C.DISTANCE):
                for sub in item.get("ContentSequence", []):
                    if sub.ValueType == "SCOORD3D":
                        data = [float(v) for v in sub.GraphicData]
                        points = (
                            (data[0], data[1], data[2]),
                            (data[3], data[4], data[5]),
                        )
        elif vt == "CODE":
            code = _code(item)
            if key == _ck(C.SUGGESTED_GRADE):
                values["suggested_grade"] = _GRADES[code]
            elif key == _ck(C.READER_GRADE):
                values["reader_grade"] = _GRADES[code]
            elif key == _ck(C.SEGMENT_NAME):
                values["segment"] = _SEGMENTS.get(code)
            elif key == _ck(C.CONTACT):
                values["contact"] = code == _ck(C.YES)
            elif key == _ck(C.NEAR):
                values["near"] = code == _ck(C.YES)
            elif key == _ck(C.SIDE_OF_NERVE):
                values["side_of_nerve"] = _SIDES_OF_NERVE.get(code)
            elif key == _ck(C.MULTIPLICITY):
                values["multiplicity"] = _MULTIPLICITY.get(code)
            elif key == _ck(C.SIDE_ROLE):
                role = _ROLES.get(code, role)
    if label is None or "gap_mm" not in values or points is None:
        raise InputError(
            f"{where}: a measurement group lacks the vessel label, the gap or its closest "
            "points; not written by this nvcview"
        )
    try:
        m = VesselMeasurement(
            vessel_label=label,
            vessel_name=name,
            vessel_type=values.pop("vessel_type", "unknown"),
            nerve_label=0,
            nerve_point_lps=points[0],
            vessel_point_lps=points[1],
            resolution_mm=values.pop("resolution_mm", float("nan")),
            contact=values.pop("contact", False),
            gap_mm=values.pop("gap_mm"),
            **values,
        )
    except (TypeError, KeyError) as exc:
        raise InputError(f"{where}: measurement group of vessel {label} is incomplete") from exc
    return role, side, m


def read_sr(path: str | os.PathLike) -> dict:
    """Read an nvcview SR; returns the ``nvcview measure --json`` document.

    Raises
    ------
    InputError
        Not a readable DICOM file, not an SR, or not written by nvcview.
    """
    from nvcview.review.measuring import contact_rows

    p = Path(path)
    try:
        ds = pydicom.dcmread(p)
    except Exception as exc:
        raise InputError(f"{p}: not a readable DICOM file ({type(exc).__name__})") from exc
    if str(ds.get("Modality", "")) != "SR" or "ContentSequence" not in ds:
        raise InputError(f"{p}: not a DICOM structured report")
    if not _is_nvcview(ds):
        raise InputError(f"{p}: this SR was not written by nvcview; only nvcview SRs are read")
    reader = ""
    case_id = ""
    review_id = ""
    symptom_side = None
    sides: dict[str, tuple[str | None, list[VesselMeasurement]]] = {}
    for item in ds.ContentSequence:
        key = _key(item)
        if item.ValueType == "PNAME" and key == _PERSON_NAME:
            reader = str(item.PersonName).rstrip("^")
        elif item.ValueType == "CONTAINER" and key == _IMAGING_MEASUREMENTS:
            for group in item.get("ContentSequence", []):
                if _key(group) != _MEASUREMENT_GROUP:
                    continue
                role, side, m = _group(group, str(p))
                entry = sides.setdefault(role, (side, []))
                entry[1].append(m)
        elif item.ValueType == "CONTAINER" and key == _ck(C.QUALITATIVE_EVALUATIONS):
            for sub in item.get("ContentSequence", []):
                sk = _key(sub)
                if sub.ValueType == "TEXT" and sk == _ck(C.CASE_ID):
                    case_id = str(sub.TextValue)
                elif sub.ValueType == "TEXT" and sk == _ck(C.REVIEW_ID):
                    review_id = str(sub.TextValue)
                elif sub.ValueType == "CODE" and sk == _ck(C.SYMPTOM_SIDE):
                    symptom_side = _LATERALITY.get(_code(sub))
    _, main = sides.get("symptomatic", (symptom_side, []))
    doc: dict = {
        "review_id": review_id,
        "case_id": case_id if case_id != "-" else "",
        "reader": reader if reader != "unknown" else "",
        "side": symptom_side,
        "units": {"length": "mm", "frame": "patient LPS"},
        "contacts": contact_rows(sorted(main, key=lambda m: m.gap_mm)),
        "source": {"sr": str(p), "sop_instance_uid": str(ds.SOPInstanceUID)},
    }
    if "control" in sides:
        cside, cms = sides["control"]
        doc["contralateral"] = {
            "side": cside,
            "contacts": contact_rows(sorted(cms, key=lambda m: m.gap_mm)),
        }
    return doc
