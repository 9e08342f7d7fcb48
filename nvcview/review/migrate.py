"""Migrations of older ``review.json`` layouts to the current schema version.

Each step ``MIGRATIONS[n]`` turns a version-``n`` document into version ``n + 1``.
:func:`migrate` chains them. A document from a *newer* nvcview is refused, never
downgraded or overwritten.

Version 0 (the pre-release layout, still found in early pilot folders)::

    {"format": "nvcview-review", "version": 0,
     "case": "...", "reader_id": "...", "side": "L" | "R" | "",
     "final": false,
     "patient_name": "...", "patient_id": "...",      # PHI at the top level
     "series": {"T2": {"uid": "...", "path": "..."}, "TOF": {...}},
     "reference_series": "<uid>", "labels": "labels.nii.gz",
     "structures": {"1": {"name": "...", "kind": "nerve", "vessel": null,
                          "nerve": "VII"}, ...},       # keyed by label value
     "landmarks": [{"name": "RExP", "x": 0.0, "y": 0.0, "z": 0.0}, ...],
     "nerve_path": [[x, y, z], ...],
     "grades": {"2": "contact"}, "comments": {"2": "..."},
     "impression": "", "created": "...", "modified": "...", "software_version": "..."}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from nvcview.errors import SchemaError
from nvcview.review.model import SCHEMA_VERSION

V0_FORMAT = "nvcview-review"
_V0_PATIENT_KEYS = {
    "patient_name": "patient_name",
    "patient_id": "patient_id",
    "patient_birth_date": "patient_birth_date",
    "patient_sex": "patient_sex",
    "accession_number": "accession_number",
    "study_date": "study_date",
}


def document_version(doc: dict, source: str | Path = "review.json") -> int:
    """The schema version of a parsed review document.

    Raises
    ------
    SchemaError
        When the document carries no recognisable version, or a non-integer one.
    """
    if "schema_version" in doc:
        v = doc["schema_version"]
    elif doc.get("format") == V0_FORMAT:
        v = doc.get("version", 0)
    else:
        raise SchemaError(
            f"{source}: field 'schema_version' is missing; this is not an nvcview review"
        )
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SchemaError(f"{source}: field 'schema_version' must be a non-negative integer")
    return v


def _xyz(p: dict, source: str | Path, i: int) -> list[float]:
    try:
        return [float(p["x"]), float(p["y"]), float(p["z"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(
            f"{source}: field 'landmarks[{i}]' (version 0) needs numeric x, y, z"
        ) from exc


def _v0_to_v1(doc: dict, source: str | Path) -> dict:
    """Version 0 (pre-release layout) -> version 1."""
    side = {"L": "left", "R": "right", "left": "left", "right": "right"}.get(doc.get("side") or "")
    patient = {new: str(doc[old]) for old, new in _V0_PATIENT_KEYS.items() if doc.get(old)}
    series = []
    for role, ref in (doc.get("series") or {}).items():
        series.append(
            {
                "series_uid": str(ref.get("uid", "")),
                "role": role if role in ("T2", "TOF", "T1") else "other",
                "path": str(ref.get("path", "")),
            }
        )
    structures = []
    for key, s in (doc.get("structures") or {}).items():
        try:
            label = int(key)
        except ValueError as exc:
            raise SchemaError(
                f"{source}: field 'structures.{key}' (version 0): key must be a label value"
            ) from exc
        entry = {"label": label, "name": s.get("name", f"label {label}"), "kind": s.get("kind")}
        if s.get("vessel") is not None:
            entry["vessel_type"] = s["vessel"]
        if s.get("nerve") is not None:
            entry["nerve"] = s["nerve"]
        structures.append(entry)
    structures.sort(key=lambda e: e["label"])
    landmarks = {}
    for i, p in enumerate(doc.get("landmarks") or []):
        landmarks[str(p.get("name", f"point {i}"))] = _xyz(p, source, i)
    grades = {str(k): v for k, v in (doc.get("grades") or {}).items()}
    comments = {str(k): v for k, v in (doc.get("comments") or {}).items()}
    calls = []
    for key in sorted(set(grades) | set(comments), key=lambda k: int(k) if k.isdigit() else 0):
        if not key.isdigit():
            raise SchemaError(
                f"{source}: field 'grades.{key}' (version 0): key must be a label value"
            )
        calls.append(
            {"vessel_label": int(key), "grade": grades.get(key), "comment": comments.get(key, "")}
        )
    out = {
        "schema_version": 1,
        "review_id": str(doc.get("review_id") or uuid.uuid4().hex),
        "case_id": str(doc.get("case", "")),
        "reader": str(doc.get("reader_id", "")),
        "side": side,
        "status": "final" if doc.get("final") else "draft",
        "patient": patient or None,
        "series": series,
        "reference_series_uid": str(doc.get("reference_series", "")),
        "labelmap_path": str(doc.get("labels", "labels.nii.gz")),
        "structures": structures,
        "landmarks": landmarks,
        "nerve_path_lps": doc.get("nerve_path") or [],
        "calls": calls,
        "impression": str(doc.get("impression", "")),
    }
    for key in ("created", "modified", "software_version"):
        if key in doc:
            out[key] = str(doc[key])
    return out


#: version n -> function turning a version-n document into version n + 1
MIGRATIONS: dict[int, Callable[[dict, str | Path], dict]] = {0: _v0_to_v1}


def migrate(doc: dict, source: str | Path = "review.json") -> tuple[dict, int]:
    """Bring a parsed review document to the current :data:`SCHEMA_VERSION`.

    Parameters
    ----------
    doc : dict
        Parsed ``review.json`` of any supported version (not modified).
    source : str or Path
        File name for messages.

    Returns
    -------
    (dict, int)
        The current-version document and the version it was read as.

    Raises
    ------
    SchemaError
        Newer version than this nvcview supports (the file is left untouched), or
        an older document that cannot be migrated.
    """
    version = document_version(doc, source)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{source}: review schema_version {version} is newer than this nvcview supports "
            f"({SCHEMA_VERSION}); upgrade nvcview to open it (the file was not changed)"
        )
    original = version
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:  # pragma: no cover - every version has a step
            raise SchemaError(f"{source}: no migration from schema_version {version}")
        doc = step(doc, source)
        version += 1
    return doc, original
