"""Find review folders under a root folder.

A review folder is any folder holding a ``review.json`` (see
:mod:`nvcview.review.store`). Several readers of one case are sibling folders.
Hidden folders (``.history`` kept by the review store, ``.git``, ...) and
symbolic links to folders are not entered, so old versions are never counted
and link loops cannot hang the walk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from nvcview.errors import InputError

REVIEW_NAME = "review.json"
#: label map name when review.json does not say (the model's default)
DEFAULT_LABELMAP = "labels.nii.gz"


@dataclass(frozen=True)
class ReviewRef:
    """Where one review lives.

    Attributes
    ----------
    folder : Path
        Absolute path of the review folder.
    rel : str
        Folder relative to the batch root, POSIX separators (``"."`` for the root
        itself); the stable key of the case in caches and error tables.
    """

    folder: Path
    rel: str


def find_reviews(root: str | os.PathLike) -> list[ReviewRef]:
    """All review folders under ``root`` (any depth), sorted by relative path.

    Raises
    ------
    InputError
        ``root`` does not exist or is not a folder.
    """
    root_path = Path(root)
    if not root_path.exists():
        raise InputError(f"{root_path}: no such folder")
    if not root_path.is_dir():
        raise InputError(f"{root_path}: not a folder (give the folder that holds the reviews)")
    root_path = root_path.resolve()
    found: list[ReviewRef] = []
    for dirpath, dirnames, filenames in os.walk(root_path, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if REVIEW_NAME in filenames:
            folder = Path(dirpath)
            rel = folder.relative_to(root_path).as_posix()
            found.append(ReviewRef(folder=folder, rel=rel))
    found.sort(key=lambda r: r.rel)
    return found


def input_files(folder: Path) -> list[Path]:
    """The files a review's measurements depend on: ``review.json`` and its label map.

    The label map name is read from ``labelmap_path`` in ``review.json`` without
    validating the document (that is the worker's job); an unreadable document
    falls back to :data:`DEFAULT_LABELMAP`.
    """
    files = [folder / REVIEW_NAME]
    name = DEFAULT_LABELMAP
    try:
        doc = json.loads((folder / REVIEW_NAME).read_bytes())
        if isinstance(doc, dict) and isinstance(doc.get("labelmap_path"), str):
            name = doc["labelmap_path"] or DEFAULT_LABELMAP
    except (OSError, ValueError):
        pass
    files.append(folder / name)
    return files
