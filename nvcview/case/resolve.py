"""The one series resolver: open a study folder, series files or a review folder as a case.

A review names its series by path (absolute, or relative to the review folder,
its parent, or the working directory) and SeriesInstanceUID. Every front end
(viewer, report, batch) finds them through :func:`resolve_series_path` and
:func:`load_review_series`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from nvcview.case.session import CaseSession
from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.io.sniff import load_images
from nvcview.review.model import Review, SeriesRef

__all__ = [
    "find_series_path",
    "is_review_path",
    "load_review_series",
    "load_series_ref",
    "open_paths",
    "open_review_folder",
    "open_study",
    "reference_ref",
    "resolve_series_path",
    "review_folder_of",
]

log = logging.getLogger(__name__)

REVIEW_NAME = "review.json"


def is_review_path(path: str | os.PathLike) -> bool:
    """True for a review folder (holding ``review.json``) or a ``review.json`` file."""
    p = Path(path)
    return p.name == REVIEW_NAME or (p.is_dir() and (p / REVIEW_NAME).exists())


def review_folder_of(path: str | os.PathLike) -> Path:
    """The review folder of a folder or of its ``review.json``."""
    p = Path(path)
    return p.parent if p.name == REVIEW_NAME else p


def find_series_path(ref: SeriesRef, folder: str | os.PathLike) -> Path | None:
    """Where a review's series is on disk, or None (no path stored, or nothing there).

    Relative paths are tried against the review folder, its parent and the
    working directory, in that order.
    """
    if not ref.path:
        return None
    p = Path(ref.path)
    base = Path(folder)
    candidates = [p] if p.is_absolute() else [base / p, base.parent / p, Path.cwd() / p]
    return next((c for c in candidates if c.exists()), None)


def resolve_series_path(ref: SeriesRef, folder: str | os.PathLike) -> Path:
    """Where a review's series is on disk; a clear :class:`InputError` when it is not."""
    found = find_series_path(ref, folder)
    if found is not None:
        return found
    if not ref.path:
        raise InputError(f"{folder}: review names no path for the {ref.role} series")
    raise InputError(
        f"{folder}: the {ref.role} series path {ref.path!r} named in the review does not exist"
    )


def reference_ref(review: Review) -> SeriesRef:
    """The reference series of a review: by ``reference_series_uid``, else T2, else TOF."""
    for s in review.series:
        if review.reference_series_uid and s.series_uid == review.reference_series_uid:
            return s
    ref = review.series_by_role("T2") or review.series_by_role("TOF")
    if ref is None:
        raise InputError(f"review {review.case_id or review.review_id}: names no T2 or TOF series")
    return ref


def load_series_ref(ref: SeriesRef, path: Path) -> Image:
    """Load a review's series from ``path`` (found by :func:`find_series_path`).

    By its SeriesInstanceUID; when the folder holds exactly one loadable volume under
    another UID (re-exported), that one, with a warning.

    Raises
    ------
    InputError
        The series cannot be read there (the message names the folder); re-link the
        review to the series' current folder.
    """
    from nvcview.io import list_series, load

    try:
        return load(path, series_uid=ref.series_uid or None)
    except InputError:
        if not ref.series_uid:
            raise
        loadable = [m for m in list_series(path) if m.loadable]
        if len(loadable) != 1:
            raise
        # one volume there, with another UID (e.g. re-exported): the review's series moved
        log.warning("the %s series was found under another SeriesInstanceUID", ref.role)
        return load(path)


def load_review_series(
    review: Review, folder: str | os.PathLike, *, required: Sequence[str] = ()
) -> dict[str, Image]:
    """Load the review's T2 / TOF series that can be found.

    Parameters
    ----------
    review : Review
        The review (series references).
    folder : path-like
        Its folder (relative series paths).
    required : sequence of str
        Roles that must be found ("T2", "TOF", or "reference" for the reference
        series); a missing one raises.

    Returns
    -------
    dict
        Role -> Image for each series found.
    """
    out: dict[str, Image] = {}
    need = set(required)
    if "reference" in need:
        need.discard("reference")
        need.add(reference_ref(review).role)
    for ref in review.series:
        if ref.role not in ("T2", "TOF") or ref.role in out:
            continue
        path = find_series_path(ref, folder)
        if path is None:
            if ref.role in need:
                resolve_series_path(ref, folder)  # raises the clear error
            continue
        out[ref.role] = load_series_ref(ref, path)
    missing = need - set(out)
    if missing:
        raise InputError(f"{folder}: the review names no {' or '.join(sorted(missing))} series")
    return out


def open_review_folder(folder: str | os.PathLike) -> CaseSession:
    """Open a saved review with the series it refers to and its label map.

    Series are found by :func:`find_series_path` and chosen by SeriesInstanceUID.
    """
    from nvcview.review.store import load_labels, load_review

    folder = review_folder_of(folder)
    review = load_review(folder)
    images = load_review_series(review, folder)
    if not images:
        raise InputError(
            f"{folder}: none of the review's series could be found "
            f"({[r.path for r in review.series]}); open the series first"
        )
    labels = None
    if (folder / review.labelmap_path).exists():
        labels = load_labels(review, folder)
    return CaseSession.from_review(
        review, labels, t2=images.get("T2"), tof=images.get("TOF"), folder=folder
    )


def _session_of(images: Sequence[tuple[str, Image]], where: str) -> CaseSession:
    session = CaseSession()
    for role, img in images:
        if role == "T2" and session.t2 is None:
            session.t2 = img
        elif role == "TOF" and session.tof is None:
            session.tof = img
    if session.t2 is None and session.tof is None:
        # an unknown single series: shown as the grey base
        other = [img for role, img in images if role != "labels"]
        if other:
            session.t2 = other[0]
    if session.t2 is None and session.tof is None:
        raise InputError(f"{where}: no T2 or TOF volume found")
    return session


def open_study(path: str | os.PathLike) -> CaseSession:
    """Open a review folder, a study folder (T2 + TOF) or a single series as a session.

    Parameters
    ----------
    path : path-like
        A folder holding ``review.json``; or any folder / file with images (the
        first T2 and the first TOF found are used).
    """
    if is_review_path(path):
        return open_review_folder(path)
    return _session_of(load_images(path), str(path))


def open_paths(paths: Sequence[str | os.PathLike]) -> CaseSession:
    """Open several series paths of one study (``t2.nii.gz tof.nii.gz``) as one case.

    A single path may also be a review or study folder (:func:`open_study`).
    """
    items = [Path(p) for p in paths]
    if not items:
        raise InputError("no path given")
    if len(items) == 1:
        return open_study(items[0])
    reviews = [p for p in items if is_review_path(p)]
    if reviews:
        raise InputError(f"{reviews[0]}: a review folder opens on its own, not with other series")
    images: list[tuple[str, Image]] = []
    for p in items:
        images.extend(load_images(p))
    return _session_of(images, " ".join(str(p) for p in items))
