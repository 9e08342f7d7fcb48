"""Reviews on disk: ``review.json`` + label map in a folder, saved so work is never lost.

A review folder holds::

    review.json        the document (schema: review.schema.json)
    labels.nii.gz      the label map named by ``review.labelmap_path`` (NIfTI, RAS on
                       disk, aligned to the reference series)
    audit.jsonl        who changed what and when (appended, never rewritten)
    .history/          previous versions of review.json and the label map (bounded)
    .review.lock       the lock file (fcntl.flock) and who holds it

A save commits the pair atomically: the new label map is written (fsynced) under a
content-addressed name ``.pending-<sha256>-labels.nii.gz``, then ``review.json``,
which names that checksum, is renamed into place (the commit), and only then the
pending file is renamed over ``labels.nii.gz``. A reader that finds
``review.json`` naming a checksum whose pending file still exists (a crash between
the commit and the last rename) reads the pending file, and the next save finishes
the rename; pending files that no committed ``review.json`` names are deleted by
the next save. So whatever step a save is killed at, a reload sees exactly one
committed version, labels included. Saves take an exclusive lock, keep the version
they replace in ``.history``, append to the audit trail and refuse to overwrite a
``review.json`` that another process saved since this one loaded it. A final review
refuses to save until :func:`reopen_review`. Nothing is read or written through a
symbolic link leading out of the folder; declared sizes are bounded
(:mod:`nvcview.review.limits`). Several readers of one case: sibling folders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nvcview import __version__
from nvcview.errors import GeometryError, InputError, NvcviewError, SchemaError
from nvcview.fsutil import _fsync_dir, atomic_path, check_inside, file_sha256
from nvcview.io.grids import conform_to, grid_mismatch
from nvcview.io.image import Image, SeriesMeta, make_volume
from nvcview.io.nifti import read_nifti, read_nifti_arrays, write_nifti
from nvcview.review import limits
from nvcview.review.audit import append_audit, diff_documents, read_audit
from nvcview.review.document import review_from_dict, review_to_dict
from nvcview.review.history import (
    DEFAULT_LIMIT,
    HISTORY_DIR,
    HistoryEntry,
    history_dir,
    history_stamp,
    keep_previous,
    list_history,
    prune_history,
)
from nvcview.review.lock import ReviewLock
from nvcview.review.migrate import document_version, migrate
from nvcview.review.model import SCHEMA_VERSION, Review, now_iso
from nvcview.review.schema import review_schema, validate_review_dict

if TYPE_CHECKING:
    import highdicom as hd

    from nvcview.measure.labelmap import LabelGrid

log = logging.getLogger(__name__)

REVIEW_NAME = "review.json"


class ReviewFinalError(NvcviewError):
    """The review on disk is final (signed off); reopen it before saving."""


class ReviewSaveError(NvcviewError):
    """Writing failed (disk full, permissions...); the previous version is intact."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class ReviewChangedError(ReviewSaveError):
    """``review.json`` was saved by someone else since this review was loaded; nothing written.

    ``saved_by`` is the audit entry of the save in between (``{}`` when the file was
    changed outside nvcview).
    """

    def __init__(self, message: str, saved_by: dict | None = None):
        super().__init__(message)
        self.saved_by = saved_by or {}


#: prefix of label maps written but not yet renamed over the review's label map file
PENDING_PREFIX = ".pending-"
_PENDING = re.compile(r"^\.pending-(?P<sha>[0-9a-f]{64})-(?P<name>.+)$")
#: attribute set on a loaded Review: SHA-256 of the review.json bytes it was loaded from
_ORIGIN_ATTR = "_nvcview_origin_sha256"
#: per review.json (real path): SHA-256 of the last version this process wrote there
_written: dict[str, str] = {}
_written_guard = threading.Lock()
#: test hook: a save kills its own process (SIGKILL) at the named step (docs/reviews.md)
KILL_ENV = "NVCVIEW_TEST_KILL_AT"
SAVE_STEPS = (
    "labels-written",
    "history-kept",
    "audit-appended",
    "committed",
    "labels-renamed",
    "cleaned",
)


def _step(name: str) -> None:
    """Crash-test hook: ``NVCVIEW_TEST_KILL_AT=<step>`` makes a save die there."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = [
    "REVIEW_NAME",
    "ReviewChangedError",
    "ReviewFinalError",
    "ReviewSaveError",
    "load_labels",
    "load_review",
    "reopen_review",
    "restore_version",
    "review_from_dict",
    "review_to_dict",
    "save_review",
]


# ---------------------------------------------------------------------------- reading


def _review_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        return path / REVIEW_NAME
    return path


def _read_review_bytes(file: Path) -> bytes:
    """The bytes of a ``review.json``: confined to its folder, bounded in size."""
    if not os.path.lexists(file):
        where = file.parent if file.name == REVIEW_NAME else file
        hint = ""
        if where.is_dir():  # a case folder holding one review per reader?
            readers = sorted(p.parent.name for p in where.glob(f"*/{REVIEW_NAME}"))
            if readers:
                hint = f"; reviews in its subfolders: {', '.join(readers[:10])}"
        raise InputError(f"{where}: no {REVIEW_NAME} here (not a review folder){hint}")
    check_inside(file.parent, file, "review document")
    try:
        with open(file, "rb") as fh:
            limits.check_review_file_size(
                os.fstat(fh.fileno()).st_size, file, list(review_schema()["properties"])
            )
            return fh.read(limits.MAX_REVIEW_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{file}: cannot be read ({exc.strerror})") from exc


def _parse_document(data: bytes, file: Path) -> dict:
    hint = f"; earlier versions are kept in {file.parent / '.history'}"
    limits.check_review_file_size(len(data), file)
    if not data.strip():
        raise SchemaError(f"{file}: file is empty (an interrupted copy?){hint}")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{file}: not UTF-8 text (byte {exc.start}){hint}") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}){hint}"
        ) from exc
    except RecursionError:
        raise SchemaError(
            f"{file}: nested more than {limits.MAX_JSON_DEPTH} levels deep: not a review document"
        ) from None
    if not isinstance(doc, dict):
        raise SchemaError(f"{file}: expected a JSON object at the top level")
    limits.check_document(doc, file)
    return doc


def read_document(path: str | os.PathLike) -> dict:
    """Parse a ``review.json`` (file or folder) into a dict, without migrating it.

    Raises
    ------
    InputError
        The file is missing or unreadable, or a symlink leading out of its folder.
    SchemaError
        Empty, not JSON, not a JSON object, or beyond a bound of
        :mod:`nvcview.review.limits` (size, nesting, text length, points, grid).
    """
    file = _review_file(path)
    return _parse_document(_read_review_bytes(file), file)


def load_review(path: str | os.PathLike) -> Review:
    """Load, migrate and validate a review.

    Parameters
    ----------
    path : path-like
        Review folder or its ``review.json``.

    Returns
    -------
    Review
        Always the current schema version (older files are migrated in memory; the
        file itself is rewritten only by the next :func:`save_review`, which keeps the
        old one in ``.history``).

    Raises
    ------
    InputError
        No review there.
    SchemaError
        Corrupt JSON, a field that fails validation (named as a dotted path), or a
        newer ``schema_version`` than this nvcview supports (the file is not touched).
    """
    file = _review_file(path)
    data = _read_review_bytes(file)
    doc = _parse_document(data, file)
    doc, version = migrate(doc, file)
    validate_review_dict(doc, file)
    try:
        review = review_from_dict(doc)
    except SchemaError as exc:
        raise SchemaError(f"{file}: invalid review: {exc}") from exc
    if version != SCHEMA_VERSION:
        log.info("review migrated from schema_version %d to %d", version, SCHEMA_VERSION)
    setattr(review, _ORIGIN_ATTR, hashlib.sha256(data).hexdigest())
    return review


def _conform_to_reference(image: Image, review: Review) -> Image | None:
    """The label map permuted/flipped onto the review's reference grid, or None if it is not
    the same set of voxel centres."""
    shape = tuple(int(s) for s in review.reference_shape or ())
    reference = make_volume(np.zeros(shape, dtype=np.uint8), np.asarray(review.reference_affine))
    try:
        return conform_to(image, reference, name=image.meta.source_path or "label map")
    except GeometryError:
        return None


def _labelmap_file(review: Review, folder: Path) -> Path:
    if len(review.labelmap_path) > limits.MAX_LABELMAP_PATH_CHARS:
        raise SchemaError(
            f"{folder / REVIEW_NAME}: field 'labelmap_path': {len(review.labelmap_path)} "
            f"characters, more than the {limits.MAX_LABELMAP_PATH_CHARS} allowed"
        )
    rel = Path(review.labelmap_path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise SchemaError(
            f"{folder / REVIEW_NAME}: field 'labelmap_path' must be a file name inside the "
            f"review folder, got {review.labelmap_path!r}"
        )
    return check_inside(folder, folder / rel, "label map named by 'labelmap_path'")


def _pending_file(label_file: Path, sha: str) -> Path:
    """Where a save puts the label map of checksum ``sha`` before the commit."""
    return label_file.parent / f"{PENDING_PREFIX}{sha}-{label_file.name}"


def _read_committed_labels(
    review: Review, folder: Path, file: Path
) -> tuple[Path, tuple[np.ndarray, np.ndarray, SeriesMeta]]:
    """Read the label map of the committed save: its pending file when the last rename of
    that save did not happen yet, else ``file``. The header is checked before any voxel
    is read (:func:`nvcview.review.limits.check_nifti_header`)."""
    candidates = [file]
    if review.labelmap_sha256:
        candidates.insert(0, _pending_file(file, review.labelmap_sha256))
    for src in candidates:
        if not os.path.lexists(src):
            continue
        check_inside(folder, src, "label map")
        try:
            limits.check_nifti_header(src, review.reference_shape)
            return src, read_nifti_arrays(src)
        except (InputError, OSError):
            if src != file and not os.path.lexists(src):
                continue  # a save renamed it over `file` while we read: read that
            raise
    raise InputError(
        f"{file}: label map named by {folder / REVIEW_NAME} ('labelmap_path') is missing"
    )


def load_labels(review: Review, folder: str | os.PathLike) -> Image:
    """Read the review's label map, checked against the reference grid.

    Parameters
    ----------
    review : Review
        The review (``labelmap_path`` relative to ``folder``; ``reference_affine``
        and ``reference_shape`` when the reference grid is known).
    folder : path-like
        The review folder (or its ``review.json``).

    Returns
    -------
    Image
        Integer label map, affine index -> LPS mm.

    Raises
    ------
    InputError
        Missing or unreadable label file, or non-integer labels.
    GeometryError
        The label map does not lie on the reference series' grid.
    """
    arr, affine, meta = _load_label_arrays(review, folder)
    return Image(make_volume(arr, affine), meta)


def load_label_grid(review: Review, folder: str | os.PathLike) -> LabelGrid:
    """The review's label map as the measurement engine's :class:`LabelGrid`.

    The same file, checks and errors as :func:`load_labels`, without building a
    ``highdicom.Volume`` (highdicom is not imported): for readers that only measure or
    mesh the labels (``nvcview scene``). Array axes and the index -> LPS mm affine are
    those :func:`load_labels` returns.

    Raises
    ------
    InputError, GeometryError
        As :func:`load_labels`; also when the data is not a label map
        (:func:`nvcview.measure.labelmap.label_grid`).
    """
    from nvcview.measure.labelmap import label_grid

    arr, affine, meta = _load_label_arrays(review, folder)
    return label_grid(arr, affine, meta.source_path or "label map")


def _load_label_arrays(
    review: Review, folder: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray, SeriesMeta]:
    """Label array, index -> LPS mm affine and metadata of :func:`load_labels`."""
    folder = Path(folder)
    if folder.name == REVIEW_NAME and folder.is_file():
        folder = folder.parent
    file = _labelmap_file(review, folder)
    src, (arr, affine, meta) = _read_committed_labels(review, folder, file)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InputError(f"{file}: label map holds non-integer values")
        arr = np.ascontiguousarray(arr.astype(np.int32))
    if review.reference_affine is not None and review.reference_shape is not None:
        why = grid_mismatch(affine, arr.shape, review.reference_affine, review.reference_shape)
        if why:
            # Slicer / ITK-SNAP / `nvcview convert` store the same grid in another axis
            # order (column, row, slice): re-index (never resample) when that is all it is.
            conformed = _conform_to_reference(Image(make_volume(arr, affine), meta), review)
            if conformed is not None:
                arr, affine, meta = conformed.array, conformed.affine, conformed.meta
            why = grid_mismatch(affine, arr.shape, review.reference_affine, review.reference_shape)
        if why:
            raise GeometryError(
                f"{file}: label map does not match the reference series "
                f"{review.reference_series_uid or '(unnamed)'} grid: {why}"
            )
    if review.labelmap_sha256 and file_sha256(src) != review.labelmap_sha256:
        log.warning(
            "%s: label map differs from the one saved with review.json (edited outside "
            "nvcview, or a save was interrupted); earlier label maps are in .history",
            file.name,
        )
    known = {s.label for s in review.structures}
    if review.contralateral is not None:  # the control side's labels share the map
        known |= {s.label for s in review.contralateral.structures}
    present = {int(v) for v in np.unique(arr)} - {0}
    if present - known:
        log.warning(
            "%s: label values %s have no entry in the structure table",
            file.name,
            sorted(present - known),
        )
    meta.role = "labels"
    return arr, affine, meta


# ---------------------------------------------------------------------------- writing


def _document_bytes(doc: dict) -> bytes:
    """The exact bytes of ``review.json`` for a document."""
    return (json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")


def _write_json_tmp(tmp: Path, data: bytes) -> None:
    """Write the document to a temporary file and fsync it (the rename comes later)."""
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _as_label_volume(labels: Image | hd.Volume | np.ndarray, review: Review) -> hd.Volume:
    """Labels as an unsigned-integer volume (uint8/uint16), checked for sane values."""
    import highdicom as hd

    if isinstance(labels, Image):
        vol = labels.volume
    elif isinstance(labels, hd.Volume):
        vol = labels
    else:
        arr = np.asarray(labels)
        if arr.ndim != 3:
            raise InputError(f"label map must be 3D, got shape {arr.shape}")
        if review.reference_affine is None:
            raise InputError(
                "labels given as a bare array but the review has no reference grid "
                "(reference_affine); pass an Image or highdicom.Volume"
            )
        vol = make_volume(arr, np.asarray(review.reference_affine, dtype=np.float64))
    arr = np.asarray(vol.array)
    if arr.ndim != 3:
        raise InputError(f"label map must be 3D, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InputError("label map holds non-integer values")
        arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise InputError(f"label map holds negative label {int(arr.min())}")
    top = int(arr.max()) if arr.size else 0
    if top > 65535:
        raise InputError(f"label map holds label {top} > 65535")
    arr = arr.astype(np.uint8 if top < 256 else np.uint16, copy=False)
    return make_volume(arr, np.asarray(vol.affine, dtype=np.float64))


def _previous_document(file: Path) -> tuple[dict | None, bool, bytes | None]:
    """The document on disk (None if none), whether it is unreadable, and its bytes."""
    if not os.path.lexists(file):
        return None, False, None
    data = _read_review_bytes(file)
    try:
        return _parse_document(data, file), False, data
    except SchemaError:
        return None, True, data


def _remove_stale_temporaries(folder: Path, label_dir: Path | None = None) -> None:
    """Delete temporary files left by writers that died mid-save.

    Only called with the folder's lock held: no live writer can own them then.
    """
    dirs = [folder, folder / HISTORY_DIR]
    if label_dir is not None and label_dir not in dirs:
        dirs.append(label_dir)
    for d in dirs:
        if not d.is_dir() or d.is_symlink():
            continue
        for p in d.glob(".tmp-*"):
            try:
                p.unlink()
            except OSError:
                pass


def _settle_labels(folder: Path, doc: dict | None, corrupt: bool) -> None:
    """Finish what a killed save left: rename the committed pending label map into place,
    delete pending label maps that no committed ``review.json`` names.

    Only called with the folder's lock held. With an unreadable ``review.json``
    nothing is deleted (which pending file is committed cannot be told).
    """
    if corrupt:
        return
    label_file: Path | None = None
    committed = ""
    if doc is not None and isinstance(doc.get("labelmap_path"), str):
        try:
            probe = Review(labelmap_path=doc["labelmap_path"])
            label_file = _labelmap_file(probe, folder)
            committed = str(doc.get("labelmap_sha256") or "")
        except NvcviewError:
            label_file = None
    dirs = {folder} | ({label_file.parent} if label_file is not None else set())
    for d in dirs:
        if not d.is_dir():
            continue
        for p in d.glob(f"{PENDING_PREFIX}*"):
            m = _PENDING.match(p.name)
            try:
                if (
                    m
                    and label_file is not None
                    and m["sha"] == committed
                    and p.parent == label_file.parent
                    and m["name"] == label_file.name
                    and not p.is_symlink()
                ):
                    os.replace(p, label_file)  # the rename the killed save did not reach
                    _fsync_dir(label_file.parent)
                    log.info("%s: finished an interrupted save (label map renamed)", folder)
                else:
                    p.unlink()
            except OSError:
                pass


def _check_unchanged(review: Review, file: Path, data: bytes | None) -> None:
    """Refuse to overwrite a ``review.json`` someone else saved since ``review`` was loaded.

    A review loaded by :func:`load_review` remembers the checksum of the bytes it was
    read from; if the file now holds other bytes that this process did not write
    itself, another process (or editor) saved in between. Reviews built in memory
    (not loaded) are not checked.
    """
    origin = getattr(review, _ORIGIN_ATTR, None)
    if not origin or data is None:
        return
    now = hashlib.sha256(data).hexdigest()
    if now == origin:
        return
    with _written_guard:
        if _written.get(os.path.realpath(file)) == now:
            # our own last save (from a copy of this review). Only the last: another
            # process may put back bytes equal to an earlier save of ours (a restore
            # within the same second), and that is someone else's change
            return
    by = next((e for e in reversed(read_audit(file.parent)) if e.get("review_sha256") == now), None)
    if by is not None:
        who = (
            f"saved by {by.get('actor') or '?'!r} at {by.get('time') or '?'} "
            f"({by.get('action') or 'save'})"
        )
    else:
        import datetime as _dt

        when = _dt.datetime.fromtimestamp(os.stat(file).st_mtime, _dt.UTC).replace(microsecond=0)
        who = f"changed outside nvcview (no audit entry) at {when.isoformat()}"
    raise ReviewChangedError(
        f"{file}: changed on disk since this review was loaded ({who}); nothing was "
        "written: reload the review and apply the edits again",
        by,
    )


def _remember_written(review: Review, file: Path, data: bytes) -> None:
    sha = hashlib.sha256(data).hexdigest()
    setattr(review, _ORIGIN_ATTR, sha)
    with _written_guard:
        _written[os.path.realpath(file)] = sha


def _undo(review: Review, previous: dict, copies: list[Path | None]) -> None:
    """After a failed save: restore the review's bookkeeping, drop this save's history copies."""
    for k, v in previous.items():
        setattr(review, k, v)
    for p in copies:
        if p is not None:
            try:
                p.unlink()
            except OSError:
                pass


def _default_actor(review: Review, actor: str | None) -> str:
    return actor or review.reader or os.environ.get("USER", "") or "unknown"


def save_review(
    review: Review,
    folder: str | os.PathLike,
    labels: Image | hd.Volume | np.ndarray | None = None,
    *,
    actor: str | None = None,
    history_limit: int = DEFAULT_LIMIT,
    lock_timeout_s: float = 0.0,
    _allow_final: bool = False,
    _audit: dict | None = None,
) -> Path:
    """Save a review (and optionally its label map) into ``folder``, never losing work.

    Steps, all under the folder's exclusive lock: refuse if the review on disk is
    final or from a newer schema; keep the versions about to be replaced in
    ``.history``; write the label map then ``review.json`` atomically (tmp + fsync +
    rename); append a field-level summary to ``audit.jsonl``.

    Parameters
    ----------
    review : Review
        The review. Updated in place: ``modified``, ``software_version``,
        ``schema_version`` and, with labels, ``reference_affine``/``reference_shape``
        (when not yet set) and ``labelmap_sha256``.
    folder : path-like
        Review folder (created if missing).
    labels : Image, highdicom.Volume or ndarray, optional
        Label map (integer, 0 = background) on the reference grid. An array is
        placed on ``review.reference_affine``.
    actor : str, optional
        Who saves (for the audit trail and the lock); defaults to ``review.reader``.
    history_limit : int
        Previous versions kept per file kind.
    lock_timeout_s : float
        Wait this long for another saver (default: fail at once).

    Returns
    -------
    Path
        The ``review.json`` written.

    Raises
    ------
    ReviewLockedError
        Another process is saving or editing this folder.
    ReviewFinalError
        The review on disk is final; call :func:`reopen_review` first.
    SchemaError
        The review on disk is from a newer nvcview, or the review does not validate.
    GeometryError
        ``labels`` do not lie on the review's reference grid.
    ReviewSaveError
        Disk full or similar (``.errno`` tells which); the previous files are intact.
    """
    folder = Path(folder)
    if folder.name == REVIEW_NAME or folder.is_file():
        folder = folder.parent  # given the review.json itself
    file = folder / REVIEW_NAME
    who = _default_actor(review, actor)
    with ReviewLock(folder, actor=who, timeout_s=lock_timeout_s):
        label_file = _labelmap_file(review, folder)
        _remove_stale_temporaries(folder, label_file.parent)
        history_dir(folder)  # refuse a symlinked .history before anything is written
        old_doc, old_corrupt, old_data = _previous_document(file)
        _settle_labels(folder, old_doc, old_corrupt)
        original_version: int | None = None  # set when the file on disk is an older schema
        if old_doc is not None:
            try:
                old_version = document_version(old_doc, file)
            except SchemaError:
                old_version = 0
            if old_version > SCHEMA_VERSION:
                raise SchemaError(
                    f"{file}: the review on disk has schema_version {old_version}, newer than "
                    f"this nvcview ({SCHEMA_VERSION}); refusing to overwrite it"
                )
            if old_version < SCHEMA_VERSION:
                original_version = old_version
                try:
                    old_doc, _ = migrate(old_doc, file)
                except SchemaError:  # kept as it is in .history; a v0 "final" still counts
                    if old_doc.get("final") is True:
                        old_doc = {**old_doc, "status": "final"}
            if old_doc.get("status") == "final" and not _allow_final:
                raise ReviewFinalError(
                    f"{folder}: review is final (signed off by {old_doc.get('reader') or '?'}); "
                    "reopen it with reopen_review() before saving changes"
                )
        _check_unchanged(review, file, old_data)

        previous = {
            "modified": review.modified,
            "software_version": review.software_version,
            "schema_version": review.schema_version,
            "labelmap_sha256": review.labelmap_sha256,
            "reference_affine": review.reference_affine,
            "reference_shape": review.reference_shape,
        }
        label_vol = None
        if labels is not None:
            label_vol = _as_label_volume(labels, review)
            if review.reference_affine is not None and review.reference_shape is not None:
                why = grid_mismatch(
                    label_vol.affine,
                    label_vol.array.shape,
                    review.reference_affine,
                    review.reference_shape,
                )
                if why:  # same voxels in another axis order: re-index, never resample
                    conformed = _conform_to_reference(Image(label_vol), review)
                    if conformed is not None:
                        label_vol, why = conformed.volume, None
                if why:
                    raise GeometryError(
                        f"{folder}: labels to save do not match the reference series "
                        f"{review.reference_series_uid or '(unnamed)'} grid: {why}"
                    )
            else:
                review.reference_affine = np.asarray(label_vol.affine, dtype=float).tolist()
                review.reference_shape = [int(s) for s in label_vol.array.shape]

        review.modified = now_iso()
        review.software_version = __version__
        review.schema_version = SCHEMA_VERSION
        new_files: list[Path | None] = []  # this save's files, removed if it fails
        committed = False
        action = "save"
        if old_doc is None:
            action = "create"
        try:
            doc = review_to_dict(review)
            validate_review_dict(doc, file)
            limits.check_document(doc, file)
            review_from_dict(doc)  # semantic checks (unique labels...): what loads again
            if doc["status"] == "final" and (old_doc or {}).get("status") != "final":
                action = "finalise"
            entry = {
                "actor": who,
                "action": action,
                "review_id": review.review_id,
                "changes": diff_documents(old_doc, doc),
            }
            entry.update(_audit or {})
            pending: Path | None = None
            if label_vol is not None:
                # 1. the new label map, complete and fsynced under its checksum's name
                label_file.parent.mkdir(parents=True, exist_ok=True)
                check_inside(folder, label_file, "label map named by 'labelmap_path'")
                ltmp = label_file.parent / f".tmp-{secrets.token_hex(4)}-{label_file.name}"
                try:
                    write_nifti(label_vol, ltmp)
                    with open(ltmp, "rb+") as fh:
                        os.fsync(fh.fileno())
                    sha = file_sha256(ltmp)
                    pending = _pending_file(label_file, sha)
                    os.replace(ltmp, pending)
                except BaseException:
                    ltmp.unlink(missing_ok=True)
                    raise
                new_files.append(pending)
                _fsync_dir(pending.parent)
                review.labelmap_sha256 = sha
                doc["labelmap_sha256"] = sha
                entry["labels_sha256"] = sha
            _step("labels-written")
            # 2. the versions about to be replaced, into .history
            stamp = history_stamp()
            kept = keep_previous(
                folder,
                file,
                "review",
                stamp,
                corrupt=old_corrupt,
                original_version=original_version,
            )
            new_files.append(kept)
            if old_corrupt and kept is not None:
                entry["note"] = f"previous review.json was unreadable; kept as {kept.name}"
            if label_vol is not None:
                new_files.append(keep_previous(folder, label_file, "labels", stamp))
            _step("history-kept")
            # 3. review.json (naming the new label map's checksum) complete and fsynced,
            # and the audit entry appended, before anything replaces the old version
            data = _document_bytes(doc)
            entry["review_sha256"] = hashlib.sha256(data).hexdigest()
            with atomic_path(file) as jtmp:
                _write_json_tmp(jtmp, data)
                append_audit(folder, entry)
                _step("audit-appended")
            # 4. committed: the rename of review.json above is the one atomic step
            committed = True
            _remember_written(review, file, data)
            _step("committed")
        except OSError as exc:
            _undo(review, previous, new_files)
            raise ReviewSaveError(
                f"{folder}: could not save the review ({exc.strerror or exc}); "
                "the previous version on disk is unchanged",
                errno=exc.errno,
            ) from exc
        except BaseException:
            if not committed:
                _undo(review, previous, new_files)
            raise
        # 5. after the commit: the pending label map takes the label map's name, and
        # what no committed review names is cleaned up. A failure here loses nothing:
        # loads read the pending file and the next save finishes the rename.
        if pending is not None:
            try:
                os.replace(pending, label_file)
                _fsync_dir(label_file.parent)
            except OSError as exc:
                log.warning(
                    "%s: saved; the label map stays under %s until the next save (%s)",
                    folder,
                    pending.name,
                    exc.strerror or exc,
                )
        _step("labels-renamed")
        _settle_labels(folder, doc, False)
        prune_history(folder, history_limit)
        _step("cleaned")
    return file


def reopen_review(
    folder: str | os.PathLike, *, actor: str, reason: str = "", lock_timeout_s: float = 0.0
) -> Review:
    """Reopen a final review for editing (status back to draft), logged in the audit trail.

    Parameters
    ----------
    folder : path-like
        Review folder (or its ``review.json``).
    actor : str
        Who reopens it (required: reopening a signed-off review is accountable).
    reason : str
        Why; stored in the audit trail.

    Returns
    -------
    Review
        The reopened review as now saved on disk (status ``"draft"``).
    """
    folder = Path(folder)
    if folder.name == REVIEW_NAME:
        folder = folder.parent
    if not actor:
        raise InputError(f"{folder}: reopening a review needs an actor (who reopens it)")
    with ReviewLock(folder, actor=actor, timeout_s=lock_timeout_s):
        review = load_review(folder)
        if review.status != "final":
            raise InputError(f"{folder}: review is not final (status {review.status!r})")
        review.status = "draft"
        save_review(
            review,
            folder,
            actor=actor,
            _allow_final=True,
            _audit={"action": "reopen", "reason": reason},
        )
    return review


def restore_version(
    folder: str | os.PathLike,
    entry: HistoryEntry | str | os.PathLike,
    *,
    actor: str,
    lock_timeout_s: float = 0.0,
) -> Review:
    """Make a kept previous version the current one again (a logged save; nothing is lost).

    The current ``review.json`` and label map go to the history as with any save.
    The label map that belonged to the restored version is found by its SHA-256
    among the kept label maps; when none matches, the current label map stays.

    Parameters
    ----------
    folder : path-like
        Review folder.
    entry : HistoryEntry or path-like
        A ``review`` entry from :func:`~nvcview.review.history.list_history`.
    actor : str
        Who restores (audit trail).

    Returns
    -------
    Review
        The restored review, as now saved.

    Raises
    ------
    ReviewFinalError
        The current review is final (reopen it first).
    SchemaError, InputError
        The kept version cannot be read.
    """
    folder = Path(folder)
    path = Path(entry.path if isinstance(entry, HistoryEntry) else entry)
    if not path.is_absolute() and not path.exists():
        path = folder / HISTORY_DIR / path
    if not actor:
        raise InputError(f"{folder}: restoring a version needs an actor (who restores it)")
    with ReviewLock(folder, actor=actor, timeout_s=lock_timeout_s):
        review = load_review(path)
        # a deliberate replacement of whatever is current (under the lock): not stale
        setattr(review, _ORIGIN_ATTR, None)
        labels = None
        note = "label map of that version not kept; current label map unchanged"
        if review.labelmap_sha256:
            current = _labelmap_file(review, folder)
            candidates = [current] + [e.path for e in reversed(list_history(folder, "labels"))]
            for cand in candidates:
                if cand.exists() and file_sha256(cand) == review.labelmap_sha256:
                    if cand != current:
                        labels = read_nifti(cand)
                        note = f"label map restored from {cand.name}"
                    else:
                        note = "label map unchanged (same as the restored version's)"
                    break
            else:  # the current label map stays: review.json must carry its checksum
                review.labelmap_sha256 = file_sha256(current) if current.exists() else ""
        save_review(
            review,
            folder,
            labels,
            actor=actor,
            _audit={"action": "restore", "restored_from": path.name, "note": note},
        )
    return review
