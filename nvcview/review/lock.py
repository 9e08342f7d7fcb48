"""An exclusive, non-blocking lock on a review folder (``fcntl.flock``).

Two processes saving the same review must not interleave. The lock is an advisory
``flock`` on ``<folder>/.review.lock``; the file also records who holds it (process
id, host, actor, since when) so that the second process gets a message naming the
holder. The kernel drops the lock when the holder dies, even by SIGKILL, so a
crashed editor never leaves a folder locked.

Within one process the lock is re-entrant: an editor may hold it for a whole
session and still call :func:`nvcview.review.store.save_review`.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path

from nvcview.errors import NvcviewError

LOCK_NAME = ".review.lock"

_held: dict[str, list] = {}  # realpath of the folder -> [fd, depth]
_held_guard = threading.Lock()


class ReviewLockedError(NvcviewError):
    """Another process holds the review folder's lock."""

    def __init__(self, message: str, folder: Path, holder: dict | None = None):
        super().__init__(message)
        self.folder = folder
        self.holder = holder or {}


def read_holder(folder: str | os.PathLike) -> dict:
    """What the lock file says about its (last) holder; ``{}`` when unknown."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text("utf-8")
        holder = json.loads(text) if text.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe_holder(holder: dict) -> str:
    if not holder:
        return "another process"
    parts = [f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"]
    if holder.get("actor"):
        parts.append(f"user {holder['actor']!r}")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    return ", ".join(parts)


class ReviewLock:
    """Context manager holding the exclusive lock of one review folder.

    Parameters
    ----------
    folder : path-like
        The review folder (created if missing).
    actor : str, optional
        Who holds the lock (reader ID), shown to anyone who is refused.
    timeout_s : float
        Keep retrying this long before giving up (0: fail at once).

    Raises
    ------
    ReviewLockedError
        Naming the folder and the holder, when another process has the lock.
    """

    def __init__(self, folder: str | os.PathLike, actor: str | None = None, timeout_s: float = 0):
        self.folder = Path(folder)
        self.actor = actor
        self.timeout_s = float(timeout_s)
        self._key = ""

    def acquire(self) -> ReviewLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._key = os.path.realpath(self.folder)
        with _held_guard:
            if self._key in _held:
                _held[self._key][1] += 1
                return self
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    holder = read_holder(self.folder)
                    raise ReviewLockedError(
                        f"{self.folder}: review is locked by {_describe_holder(holder)}; "
                        "another save or editor has it open, try again when it is done",
                        self.folder,
                        holder,
                    ) from None
                time.sleep(0.05)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "actor": self.actor or "",
            "since": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        except OSError:
            pass  # holder info is a courtesy (e.g. disk full); the flock is what counts
        with _held_guard:
            _held[self._key] = [fd, 1]
        return self

    def release(self) -> None:
        with _held_guard:
            entry = _held.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _held[self._key]
        fd = entry[0]
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> ReviewLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
