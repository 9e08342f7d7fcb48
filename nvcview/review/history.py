"""Bounded history of previous versions of a review folder's files.

Before a save replaces ``review.json`` or the label map, the version on disk is
copied (atomically) to ``<folder>/.history/<stem>-<UTC timestamp><suffix>``, e.g.
``.history/review-20261125T073012.123456Z.json``. The newest ``limit`` copies of
each kind are kept. A ``.history`` that is a symbolic link is refused, and
symlinked entries in it are ignored (never read, restored or pruned).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nvcview.fsutil import atomic_path, check_inside, check_not_linked

HISTORY_DIR = ".history"
DEFAULT_LIMIT = 20
_NAME = re.compile(
    r"^(?P<kind>review|labels)-(?P<stamp>\d{8}T\d{6}\.\d{6}Z)(?:-(?P<n>\d+))?(?P<tag>\.corrupt|\.v\d+)?(?P<suffix>\..+)$"
)


@dataclass(frozen=True)
class HistoryEntry:
    """One kept previous version.

    Attributes
    ----------
    path : Path
        The file in ``.history``.
    kind : str
        ``"review"`` (a ``review.json``) or ``"labels"`` (a label map).
    saved_at : datetime.datetime
        UTC time at which it was replaced by a newer save.
    corrupt : bool
        True for a ``review.json`` that could not be read when it was replaced.
    original_version : int or None
        Set for a ``review.json`` of an older schema version, replaced by its first
        save after migration (``review-<stamp>.v0.json``).

    Entries that are corrupt or pre-migration originals are never pruned.
    """

    path: Path
    kind: str
    saved_at: _dt.datetime
    corrupt: bool = False
    original_version: int | None = None

    @property
    def pinned(self) -> bool:
        """Kept whatever the history limit (unreadable or pre-migration originals)."""
        return self.corrupt or self.original_version is not None


def history_stamp() -> str:
    """UTC timestamp used in history file names (microsecond resolution)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _suffix(name: str) -> str:
    for s in (".nii.gz", ".json", ".nii"):
        if name.endswith(s):
            return s
    return Path(name).suffix


def keep_previous(
    folder: Path,
    current: Path,
    kind: str,
    stamp: str,
    *,
    corrupt: bool = False,
    original_version: int | None = None,
) -> Path | None:
    """Copy ``current`` (if it exists) into the history folder; return the copy's path.

    ``corrupt`` / ``original_version`` tag the copy (``.corrupt``, ``.v0``) so that it
    is never pruned.
    """
    if not current.exists():
        return None
    check_inside(folder, current, "file to keep in the history")
    hdir = history_dir(folder, create=True)
    tag = ".corrupt" if corrupt else f".v{original_version}" if original_version is not None else ""
    suffix = _suffix(current.name)
    dest = hdir / f"{kind}-{stamp}{tag}{suffix}"
    n = 1
    while dest.exists():
        dest = hdir / f"{kind}-{stamp}-{n}{tag}{suffix}"
        n += 1
    with atomic_path(dest) as tmp:
        shutil.copyfile(current, tmp)
    return dest


def history_dir(folder: str | os.PathLike, *, create: bool = False) -> Path:
    """``<folder>/.history``, refused when it is a symbolic link (never followed).

    Raises
    ------
    nvcview.fsutil.OutsideFolderError
        ``.history`` is a symlink (it would take copies of the review elsewhere).
    """
    hdir = Path(folder) / HISTORY_DIR
    check_not_linked(hdir, "history folder")
    if create:
        hdir.mkdir(exist_ok=True)
        check_not_linked(hdir, "history folder")
    return hdir


def list_history(folder: str | os.PathLike, kind: str | None = None) -> list[HistoryEntry]:
    """Previous versions kept in ``<folder>/.history``, oldest first.

    Parameters
    ----------
    folder : path-like
        Review folder.
    kind : {"review", "labels"}, optional
        Only this kind of file.
    """
    hdir = history_dir(folder)
    if not hdir.is_dir():
        return []
    out = []
    for p in hdir.iterdir():
        m = _NAME.match(p.name)
        if not m or (kind and m["kind"] != kind) or p.is_symlink():
            continue
        when = _dt.datetime.strptime(m["stamp"], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=_dt.UTC)
        tag = m["tag"] or ""
        version = int(tag[2:]) if tag.startswith(".v") else None
        out.append(HistoryEntry(p, m["kind"], when, tag == ".corrupt", version))
    out.sort(key=lambda e: (e.saved_at, e.path.name))
    return out


def prune_history(folder: Path, limit: int = DEFAULT_LIMIT) -> list[Path]:
    """Delete all but the newest ``limit`` entries of each kind; return what was removed.

    Pinned entries (unreadable or pre-migration originals) are kept and not counted.
    """
    removed = []
    for kind in ("review", "labels"):
        entries = [e for e in list_history(folder, kind) if not e.pinned]
        for e in entries[: max(0, len(entries) - limit)]:
            try:
                e.path.unlink()
                removed.append(e.path)
            except OSError:
                pass
    return removed
