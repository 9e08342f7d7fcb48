"""The report as a JSON document, validated against a versioned schema.

Schema: ``nvcview/report/schema/report-<version>.schema.json`` (documented in
docs/report.md). Lengths mm, angles degrees, positions patient LPS mm.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema

from nvcview.errors import SchemaError
from nvcview.fsutil import atomic_write_text
from nvcview.report.content import REPORT_SCHEMA_VERSION, ReportModel


@cache
def report_schema(version: int = REPORT_SCHEMA_VERSION) -> dict:
    """The JSON schema of report documents of ``version``."""
    text = (
        resources.files("nvcview.report")
        .joinpath(f"schema/report-{version}.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def _finite(obj):
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def report_document(model: ReportModel, image_dir: str = "images") -> dict:
    """The JSON document of a report, validated against the schema.

    Raises
    ------
    SchemaError
        The document does not validate (a bug: the model and schema disagree).
    """
    doc = _finite(model.to_dict(image_dir))
    validate_report(doc)
    return doc


def validate_report(doc: dict, source: str = "report") -> None:
    """Validate a report document; raise :class:`SchemaError` naming the first problem."""
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if version != REPORT_SCHEMA_VERSION:
        raise SchemaError(
            f"{source}: report schema version {version!r} is not supported "
            f"(this nvcview reads version {REPORT_SCHEMA_VERSION})"
        )
    try:
        jsonschema.validate(doc, report_schema(version))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(document)"
        raise SchemaError(f"{source}: {where}: {exc.message}") from None


def write_json(model: ReportModel, path: str | os.PathLike, image_dir: str = "images") -> Path:
    """Write the report JSON atomically (UTF-8, indented); returns the path."""
    path = Path(path)
    doc = report_document(model, image_dir)
    atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path


def read_json(path: str | os.PathLike) -> dict:
    """Read and validate a report JSON file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: not a readable JSON report ({exc})") from exc
    validate_report(doc, str(path))
    return doc
