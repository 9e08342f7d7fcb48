"""The published JSON Schema of ``review.json`` and validation with field-naming errors.

The schema ships as package data (``nvcview/review/review.schema.json``); a copy
lives in ``docs/review-schema.json`` and a test keeps the two equal.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import jsonschema

from nvcview.errors import SchemaError

SCHEMA_FILE = "review.schema.json"
#: at most this many problems are listed in one error message
MAX_ERRORS = 5


@functools.cache
def review_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the current ``review.json`` version."""
    text = resources.files("nvcview.review").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    # The shipped schema is checked against the 2020-12 metaschema by the tests
    # (tests/review/test_schema.py), not on every load: that check costs ~0.3 s per
    # process, more than validating a review.
    return jsonschema.Draft202012Validator(review_schema())


def field_path(parts: Iterable[str | int]) -> str:
    """Render a jsonschema path (``deque(['landmarks', 'RDP', 1])``) as ``landmarks.RDP[1]``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For anyOf/oneOf failures, the alternative that got furthest into the value."""
    while err.context:
        sub = max(err.context, key=lambda e: len(e.absolute_path))
        if len(sub.absolute_path) <= len(err.absolute_path):
            break
        err = sub
    return err


def _describe(err: jsonschema.ValidationError) -> str:
    err = _deepest(err)
    where = field_path(err.absolute_path)
    if err.validator == "additionalProperties" and not err.absolute_path:
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"unknown field(s) {', '.join(extra)}"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"field '{where}': unknown field(s) {', '.join(extra)}"
    if err.validator == "required":
        missing = [r for r in err.validator_value if r not in err.instance]
        prefix = f"field '{where}': " if err.absolute_path else ""
        return f"{prefix}missing required field(s) {', '.join(missing)}"
    # never echo a field's value: any field can hold a patient identifier (a case id
    # that is an MRN, a name typed into the wrong field), and messages reach logs and
    # de-identified batch tables
    return f"field '{where}': {_value_free(err)}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _value_free(err: jsonschema.ValidationError) -> str:
    """What the check demands, from the schema alone (never the offending value)."""
    v, want, got = err.validator, err.validator_value, err.instance
    size = len(got) if isinstance(got, list | str | dict) else None
    if v == "type":
        return f"must be of type {want} (got {_json_type(got)}; value not shown)"
    if v == "enum":
        return f"must be one of {want} (value not shown)"
    if v == "const":
        return f"must be {want!r} (value not shown)"
    if v in ("minItems", "minLength", "minProperties"):
        return f"too short: needs at least {want} (has {size})"
    if v in ("maxItems", "maxLength", "maxProperties"):
        return f"too long: at most {want} (has {size})"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return f"must be {op[str(v)]} {want} (value not shown)"
    if v == "pattern":
        return "does not have the required form (value not shown)"
    if v in ("anyOf", "oneOf"):
        return f"matches none of the allowed forms (got {_json_type(got)}; value not shown)"
    return f"invalid value ({v} check failed; value not shown)"


def validate_review_dict(doc: dict, source: str | Path = "review.json") -> None:
    """Validate a current-version review document against the schema.

    Parameters
    ----------
    doc : dict
        The parsed ``review.json`` (already migrated to the current version).
    source : str or Path
        Name of the file, used in the error message.

    Raises
    ------
    SchemaError
        Naming the file and each bad field as a dotted path, e.g.
        ``review.json: field 'landmarks.RDP': [1.0, 2.0] is too short``.
    """
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    problems = [_describe(e) for e in errors[:MAX_ERRORS]]
    more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
    raise SchemaError(f"{source}: invalid review: " + "; ".join(problems) + more)
