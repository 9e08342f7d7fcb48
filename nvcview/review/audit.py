"""The audit trail of a review folder: ``audit.jsonl``, one JSON object per line.

Each save, finalisation and reopening appends ``{"time", "actor", "action",
"review_id", "changes": [...], "review_sha256", ...}``; ``review_sha256`` (and
``labels_sha256`` when the label map was written) identify the exact files saved,
so each entry can be matched with ``review.json`` or a kept version. The entry is
written just before the new files replace the old ones: after a crash in between,
the last entry names a version that never landed (its hash matches no file). The file is opened in append mode only and
never rewritten; a symlinked or hard-linked ``audit.jsonl`` is refused (never followed). Changes are field-level summaries; patient identifiers and free
text are never copied into the trail (only the fact that they changed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nvcview.fsutil import open_nofollow
from nvcview.review.model import now_iso

AUDIT_NAME = "audit.jsonl"

#: fields whose old and new values are short codes, safe to copy into the trail
_SHOW_VALUES = {
    "status",
    "side",
    "reader",
    "va_dominance",
    "fusion_used",
    "schema_version",
    "labelmap_path",
    "reference_series_uid",
}
#: bookkeeping fields that change on every save
_IGNORE = {"modified", "software_version", "labelmap_sha256"}


def _by_key(items: list, key: str) -> dict:
    return {it.get(key): it for it in items if isinstance(it, dict)}


def _diff_keyed(field: str, old: list, new: list, key: str, what: str) -> list[dict]:
    a, b = _by_key(old or [], key), _by_key(new or [], key)
    out: list[dict] = []
    for k in sorted(set(a) | set(b), key=str):
        if k not in a:
            out.append({"field": f"{field}[{what} {k}]", "change": "added"})
        elif k not in b:
            out.append({"field": f"{field}[{what} {k}]", "change": "removed"})
        elif a[k] != b[k]:
            entry: dict[str, object] = {"field": f"{field}[{what} {k}]", "change": "changed"}
            if field == "calls":
                for sub in ("grade", "confidence"):
                    if a[k].get(sub) != b[k].get(sub):
                        entry[sub] = [a[k].get(sub), b[k].get(sub)]
                if a[k].get("comment") != b[k].get("comment"):
                    entry["comment"] = "changed"
            out.append(entry)
    return out


def diff_documents(old: dict | None, new: dict) -> list[dict]:
    """Field-level summary of what changed between two ``review.json`` documents.

    Returns a list of ``{"field": ..., "change": "added" | "removed" | "changed"}``
    entries, with ``"from"``/``"to"`` only for short coded fields (status, side, ...)
    and grades/confidences of reader calls. Never includes patient data or free text.
    """
    if old is None:
        return [{"field": "(review)", "change": "created"}]
    changes: list[dict] = []
    for key in sorted(set(old) | set(new)):
        if key in _IGNORE or old.get(key) == new.get(key):
            continue
        if key not in old or key not in new:
            changes.append({"field": key, "change": "added" if key in new else "removed"})
        elif key == "structures":
            changes += _diff_keyed(key, old[key], new[key], "label", "label")
        elif key == "calls":
            changes += _diff_keyed(key, old[key], new[key], "vessel_label", "vessel")
        elif key == "landmarks" and isinstance(old[key], dict) and isinstance(new[key], dict):
            for name in sorted(set(old[key]) | set(new[key])):
                if old[key].get(name) != new[key].get(name):
                    ch = (
                        "added"
                        if name not in old[key]
                        else "removed"
                        if name not in new[key]
                        else "moved"
                    )
                    changes.append({"field": f"landmarks.{name}", "change": ch})
        elif key == "nerve_path_lps":
            changes.append(
                {"field": key, "change": "changed", "points": [len(old[key]), len(new[key])]}
            )
        elif key in _SHOW_VALUES:
            changes.append({"field": key, "change": "changed", "from": old[key], "to": new[key]})
        else:
            changes.append({"field": key, "change": "changed"})
    return changes


def _last_byte(fd: int) -> bytes:
    return os.pread(fd, 1, os.fstat(fd).st_size - 1)


def append_audit(folder: str | os.PathLike, entry: dict) -> None:
    """Append one entry (a line of JSON) to ``<folder>/audit.jsonl`` and fsync it.

    A ``"time"`` (UTC ISO 8601) is added when missing. The file is only ever
    appended to.
    """
    entry = {"time": now_iso(), **entry}
    line = (json.dumps(entry, sort_keys=False, allow_nan=False) + "\n").encode("utf-8")
    fd = open_nofollow(
        Path(folder) / AUDIT_NAME, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644, what="audit trail"
    )
    try:
        size = os.fstat(fd).st_size
        if size and _last_byte(fd) != b"\n":
            line = b"\n" + line  # a previous append was torn by a crash: start afresh
        view = memoryview(line)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def read_audit(folder: str | os.PathLike) -> list[dict]:
    """All audit entries of a folder, oldest first (a torn last line is skipped)."""
    path = Path(folder) / AUDIT_NAME
    if not os.path.lexists(path):
        return []
    fd = open_nofollow(path, os.O_RDONLY, what="audit trail")
    with os.fdopen(fd, "rb") as fh:
        text = fh.read().decode("utf-8", errors="replace")
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
