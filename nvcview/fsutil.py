"""Atomic file writes: temporary file in the same folder, flush, fsync, rename.

A crash or a full disk during a write leaves the previous file intact.
Also the confinement checks of folders that others can write to (review folders):
a file that resolves outside its folder, through a symlink of its own or of a
sub-folder, is refused rather than read or overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from nvcview.errors import InputError


class OutsideFolderError(InputError):
    """A path inside a folder resolves outside it (a symlink), or is hard-linked elsewhere."""


def check_inside(folder: str | os.PathLike, path: str | os.PathLike, what: str = "") -> Path:
    """Refuse ``path`` unless it resolves (symlinks followed) to a place inside ``folder``.

    Parameters
    ----------
    folder : path-like
        The folder that must contain it (itself may be reached through a symlink).
    path : path-like
        A path inside ``folder`` (need not exist yet).
    what : str
        What the file is, for the message (e.g. ``"label map"``).

    Returns
    -------
    Path
        ``path`` unchanged.

    Raises
    ------
    OutsideFolderError
        Naming the path and where it leads (never followed, never written).
    """
    path = Path(path)
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        kind = f" ({what})" if what else ""
        raise OutsideFolderError(
            f"{path}{kind}: is or passes through a symbolic link leading outside the folder "
            f"{folder}; refusing to read or write through it"
        )
    return path


def check_not_linked(path: str | os.PathLike, what: str = "") -> None:
    """Refuse an existing ``path`` that is a symlink or a directory symlink (not followed)."""
    if os.path.islink(path):
        kind = f" ({what})" if what else ""
        raise OutsideFolderError(
            f"{path}{kind}: is a symbolic link; refusing to follow it out of the folder"
        )


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o644, what: str = "") -> int:
    """``os.open`` that refuses a symlink (``O_NOFOLLOW``) or a file hard-linked elsewhere.

    Raises
    ------
    OutsideFolderError
        ``path`` is a symbolic link or has more than one hard link.
    """
    kind = f" ({what})" if what else ""
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise OutsideFolderError(
                f"{path}{kind}: is a symbolic link; refusing to follow it out of the folder"
            ) from None
        raise
    try:
        if os.fstat(fd).st_nlink > 1:
            raise OutsideFolderError(
                f"{path}{kind}: is hard-linked to another file; refusing to write into it"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename over ``path``.

    The temporary name keeps the final name's ending (``.nii.gz``, ``.json``) so that
    writers which choose a format by extension still work. On any error the temporary
    file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{secrets.token_hex(4)}-{path.name}"
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
