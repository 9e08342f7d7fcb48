"""Review <-> plain JSON-able dict (the content of ``review.json``).

Patient identifiers appear only under ``"patient"``; ``deidentify=True`` drops them.
Numbers are plain Python floats/ints; non-finite floats become ``null`` (strict JSON).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar, cast

import numpy as np

from nvcview.errors import NvcviewError, SchemaError
from nvcview.io.image import PatientInfo
from nvcview.jsonutil import plain_json
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.register.model import Registration
from nvcview.review.model import (
    APPROACH_STATUSES,
    OTHER_CAUSE_STATUSES,
    ContralateralSide,
    ReaderCall,
    ReaderFinding,
    Review,
    SeriesRef,
)
from nvcview.structures import Structure, assign_colors

_plain = plain_json
_T = TypeVar("_T")


def _points(values: object, what: str) -> list[list[float]]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{what} must be (N, 3) LPS mm, got shape {arr.shape}")
    return arr.tolist()


def _landmarks(values: dict, what: str) -> dict[str, list[float]]:
    out = {}
    for name, p in values.items():
        arr = np.asarray(p, dtype=np.float64).reshape(-1)
        if arr.shape != (3,):
            raise ValueError(f"{what} {name!r} must be 3 LPS mm coordinates")
        out[str(name)] = arr.tolist()
    return out


def _contralateral_to_dict(side: ContralateralSide | None) -> dict | None:
    if side is None:
        return None
    return {
        "structures": [s.to_dict() for s in side.structures],
        "landmarks": _landmarks(side.landmarks, "contralateral landmark"),
        "nerve_path_lps": _points(side.nerve_path_lps, "contralateral.nerve_path_lps"),
        "calls": [asdict(c) for c in side.calls],
        "measurements": [m.to_dict() for m in side.measurements],
    }


def _findings_to_dict(findings: dict[str, ReaderFinding]) -> dict:
    return {str(k): asdict(v) for k, v in findings.items()}


def review_to_dict(review: Review, *, deidentify: bool = False) -> dict:
    """Serialise a review to the ``review.json`` document (current schema version).

    Parameters
    ----------
    review : Review
        The review. Positions are LPS mm.
    deidentify : bool
        Drop the patient identifiers (``"patient": null``) and the series paths
        (folder names often carry patient names). UIDs are kept: remap them where
        they leave the institution (``nvcview.report.deidentify``).

    Returns
    -------
    dict
        JSON-able document that validates against ``review.schema.json``.
    """
    landmarks = _landmarks(review.landmarks, "landmark")
    doc = {
        "schema_version": int(review.schema_version),
        "review_id": review.review_id,
        "case_id": review.case_id,
        "reader": review.reader,
        "side": review.side,
        "status": review.status,
        "study_uid": review.study_uid,
        "patient": None
        if (deidentify or review.patient is None)
        else {k: str(v) for k, v in review.patient.to_dict().items()},
        "series": [{**asdict(s), "path": ""} if deidentify else asdict(s) for s in review.series],
        "reference_series_uid": review.reference_series_uid,
        "labelmap_path": review.labelmap_path,
        "reference_affine": None
        if review.reference_affine is None
        else np.asarray(review.reference_affine, dtype=np.float64).tolist(),
        "reference_shape": None
        if review.reference_shape is None
        else [int(v) for v in review.reference_shape],
        "labelmap_sha256": review.labelmap_sha256,
        "structures": [s.to_dict() for s in review.structures],
        "landmarks": landmarks,
        "nerve_path_lps": _points(review.nerve_path_lps, "nerve_path_lps"),
        "calls": [asdict(c) for c in review.calls],
        "impression": review.impression,
        "va_dominance": review.va_dominance,
        "fusion_used": bool(review.fusion_used),
        "contralateral": _contralateral_to_dict(review.contralateral),
        "other_causes": _findings_to_dict(review.other_causes),
        "approach_anatomy": _findings_to_dict(review.approach_anatomy),
        "overall_impression": review.overall_impression,
        "settings": review.settings.to_dict(),
        "measurements": [m.to_dict() for m in review.measurements],
        "registrations": [r.to_dict() for r in review.registrations],
        "created": review.created,
        "modified": review.modified,
        "software_version": review.software_version,
    }
    return cast(dict[str, Any], _plain(doc))


def _build(cls: type[_T], d: dict, where: str) -> _T:
    names = {f.name for f in fields(cast(Any, cls))}
    try:
        return cls(**{k: v for k, v in d.items() if k in names})
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"field '{where}': {exc}") from exc


def _settings(d: dict) -> MeasureSettings:
    """Measurement settings, each known threshold checked to be a number (mm)."""
    for f in fields(MeasureSettings):
        if f.name not in d:
            continue
        v = d[f.name]
        if isinstance(f.default, str):  # a named choice (surface_method)
            if not isinstance(v, str):
                got = type(v).__name__
                raise SchemaError(f"field 'settings.{f.name}': must be a string, got a {got}")
            continue
        optional = f.default is None
        if (v is None and not optional) or (
            v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
        ):
            need = "a number or null" if optional else "a number"
            got = type(v).__name__  # never the value: it may be an identifier typed here
            raise SchemaError(f"field 'settings.{f.name}': must be {need}, got a {got}")
    try:
        return MeasureSettings.from_dict(d)
    except (TypeError, ValueError, NvcviewError) as exc:  # e.g. a negative threshold
        raise SchemaError(f"field 'settings': {exc}") from exc


def _structures(items: list, where: str, seen: set[int]) -> list[Structure]:
    out = []
    for i, s in enumerate(items):
        try:
            st = Structure.from_dict(s)
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"field '{where}[{i}]': {exc}") from exc
        if st.label in seen:
            raise SchemaError(f"field '{where}[{i}]': label {st.label} is used twice")
        seen.add(st.label)
        out.append(st)
    return assign_colors(out)  # one colour per structure, also for older reviews


def _measurements(items: list, where: str) -> list[VesselMeasurement]:
    out = []
    for i, m in enumerate(items):
        try:
            out.append(VesselMeasurement.from_dict(m))
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"field '{where}[{i}]': {exc}") from exc
    return out


def _findings(d: dict | None, where: str, allowed: tuple[str, ...]) -> dict[str, ReaderFinding]:
    out: dict[str, ReaderFinding] = {}
    for k, v in (d or {}).items():
        f = _build(ReaderFinding, v, f"{where}.{k}")
        if f.status is not None and f.status not in allowed:
            raise SchemaError(
                f"field '{where}.{k}.status': {f.status!r} is not one of {', '.join(allowed)}"
            )
        out[str(k)] = f
    return out


def _contralateral(d: dict | None, seen: set[int]) -> ContralateralSide | None:
    if d is None:
        return None
    return ContralateralSide(
        structures=_structures(d.get("structures", []), "contralateral.structures", seen),
        landmarks={k: [float(v) for v in p] for k, p in d.get("landmarks", {}).items()},
        nerve_path_lps=[[float(v) for v in p] for p in d.get("nerve_path_lps", [])],
        calls=[
            _build(ReaderCall, c, f"contralateral.calls[{i}]")
            for i, c in enumerate(d.get("calls", []))
        ],
        measurements=_measurements(d.get("measurements", []), "contralateral.measurements"),
    )


def review_from_dict(doc: dict) -> Review:
    """Build a :class:`Review` from a current-version document (see :func:`review_to_dict`).

    The document is expected to be validated already (``load_review`` does it);
    semantic problems (duplicate labels, bad structure values) raise
    :class:`~nvcview.errors.SchemaError` naming the field.
    """
    seen: set[int] = set()
    structures = _structures(doc.get("structures", []), "structures", seen)
    patient = doc.get("patient")
    measurements = _measurements(doc.get("measurements", []), "measurements")
    registrations = []
    for i, r in enumerate(doc.get("registrations", [])):
        try:
            registrations.append(Registration.from_dict(r))
        except (KeyError, TypeError, ValueError, NvcviewError) as exc:
            raise SchemaError(f"field 'registrations[{i}]': {exc}") from exc
    kw = {
        k: doc[k]
        for k in (
            "review_id",
            "case_id",
            "reader",
            "side",
            "status",
            "study_uid",
            "reference_series_uid",
            "labelmap_path",
            "reference_affine",
            "reference_shape",
            "labelmap_sha256",
            "impression",
            "va_dominance",
            "fusion_used",
            "overall_impression",
            "created",
            "modified",
            "software_version",
            "schema_version",
        )
        if k in doc
    }
    return Review(
        **kw,
        patient=None if patient is None else _build(PatientInfo, patient, "patient"),
        series=[_build(SeriesRef, s, f"series[{i}]") for i, s in enumerate(doc.get("series", []))],
        structures=structures,
        landmarks={k: [float(v) for v in p] for k, p in doc.get("landmarks", {}).items()},
        nerve_path_lps=[[float(v) for v in p] for p in doc.get("nerve_path_lps", [])],
        calls=[_build(ReaderCall, c, f"calls[{i}]") for i, c in enumerate(doc.get("calls", []))],
        settings=_settings(doc.get("settings") or {}),
        measurements=measurements,
        registrations=registrations,
        contralateral=_contralateral(doc.get("contralateral"), seen),
        other_causes=_findings(doc.get("other_causes"), "other_causes", OTHER_CAUSE_STATUSES),
        approach_anatomy=_findings(
            doc.get("approach_anatomy"), "approach_anatomy", APPROACH_STATUSES
        ),
    )
