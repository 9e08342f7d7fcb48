"""Resumable batch runs: per-review results cached as JSON, keyed by input hashes.

The cache is a folder beside the output (``FILE_cache/``) with one JSON file per
review. An entry is reused when

- the SHA-256 of the review's inputs (``review.json`` and its label map) is
  unchanged, and
- the run *fingerprint* matches: nvcview version, ``--stored`` or recomputed
  (with a hash of the measurement engine's source files, so a changed engine
  recomputes), and for de-identified runs the key/date-mode tag (never the key).

Entries are written atomically as each review finishes, so an interrupted run
resumes where it stopped. Failed reviews are not cached: they are retried.
JSON only, never pickle. De-identified runs cache de-identified rows, under
file names derived from the key, so the cache holds no identifiers either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from pathlib import Path

from nvcview.batch.discover import input_files
from nvcview.fsutil import atomic_write_text, file_sha256

log = logging.getLogger(__name__)

#: 2: de-identified results pseudonymise a reader column taken from the folder name
CACHE_FORMAT = 2


def inputs_hash(folder: str | os.PathLike) -> str:
    """SHA-256 over a review's input files (names and contents; missing files count too).

    A label map named outside the review folder (absolute path or ``..``) is not
    read; the worker reports it as an error.
    """
    folder = Path(folder)
    h = hashlib.sha256()
    for path in input_files(folder):
        rel = os.path.relpath(path, folder)
        h.update(rel.encode("utf-8") + b"\0")
        if rel.startswith("..") or os.path.isabs(rel):
            h.update(b"outside\0")
        elif path.is_file():
            h.update(file_sha256(path).encode("ascii") + b"\0")
        else:
            h.update(b"missing\0")
    return h.hexdigest()


class ResultCache:
    """Per-review result cache in a folder.

    Parameters
    ----------
    folder : path-like
        Cache folder (created on the first write).
    fingerprint : str
        Tag of everything besides the inputs that changes the result.
    name_key : bytes, optional
        When given (de-identified runs), entry file names are keyed HMACs of the
        review's relative folder instead of plain hashes, and the folder name is
        not stored in the entry.
    """

    def __init__(
        self, folder: str | os.PathLike, fingerprint: str, name_key: bytes | None = None
    ) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self._name_key = name_key

    def _entry_path(self, rel: str) -> Path:
        if self._name_key is not None:
            name = hmac.new(self._name_key, b"cache:" + rel.encode(), hashlib.sha256).hexdigest()
        else:
            name = hashlib.sha256(rel.encode("utf-8")).hexdigest()
        return self.folder / f"{name[:32]}.json"

    def get(self, rel: str, input_hash: str) -> dict | None:
        """The cached result for a review, or None when absent or stale."""
        path = self._entry_path(rel)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s)", path.name, exc)
            return None
        if (
            not isinstance(entry, dict)
            or entry.get("format") != CACHE_FORMAT
            or entry.get("fingerprint") != self.fingerprint
            or entry.get("input_hash") != input_hash
            or not isinstance(entry.get("result"), dict)
        ):
            return None
        return entry["result"]

    def put(self, rel: str, input_hash: str, result: dict) -> None:
        """Store a successful result (atomically)."""
        entry = {
            "format": CACHE_FORMAT,
            "fingerprint": self.fingerprint,
            "input_hash": input_hash,
            "review_folder": None if self._name_key is not None else rel,
            "result": result,
        }
        text = json.dumps(entry, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        atomic_write_text(self._entry_path(rel), text)
