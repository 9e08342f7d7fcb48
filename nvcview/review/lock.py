"""An exclusive, non-blocking lock on a review folder (``fcntl.flock``).

Two processes saving the same review must not interleave. The lock is an advisory
``flock`` on ``<folder>/.review.lock``; the file also records who holds it (process
id, host, actor, since when) so that the second process gets a message naming the
holder. The kernel drops the lock when the holder dies, even by SIGKILL, so a
crashed editor never leaves a folder locked.

Within one process the lock is re-entrant for the thread holding it (an editor may
hold it for a whole session and still call :func:`nvcview.review.store.save_review`);
other threads of the process wait for it (up to :data:`THREAD_WAIT_S`).
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import socket
import threading
import time
from pathlib import Path

from nvcview.errors import NvcviewError

LOCK_NAME = ".review.lock"

try:  # POSIX (Linux, macOS): flock, released by the kernel when the holder dies
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows: a byte-range lock far past the holder info
    import msvcrt

    _LOCK_OFFSET = 1 << 20

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


#: per folder (realpath): the in-process state. Threads of one process serialise on the
#: RLock (re-entrant for the thread that holds it); processes on the flock.
_state: dict[str, _FolderState] = {}
_state_guard = threading.Lock()
#: how long a thread waits for another thread of the same process to finish a save
THREAD_WAIT_S = 30.0


class _FolderState:
    def __init__(self) -> None:
        self.rlock = threading.RLock()
        self.fd: int | None = None
        self.depth = 0
        self.pid = 0


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
        """Take the lock (see the class); returns ``self``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._key = os.path.realpath(self.folder)
        with _state_guard:
            st = _state.setdefault(self._key, _FolderState())
        if not st.rlock.acquire(timeout=max(self.timeout_s, THREAD_WAIT_S)):
            raise ReviewLockedError(
                f"{self.folder}: review is locked by another thread of this process",
                self.folder,
                {"pid": os.getpid()},
            )
        try:
            if st.depth == 0 or st.pid != os.getpid():  # (a forked child takes its own)
                st.fd = self._flock()
                st.pid = os.getpid()
                st.depth = 0
            st.depth += 1
        except BaseException:
            st.rlock.release()
            raise
        return self

    def _flock(self) -> int:
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if _try_lock(fd):
                    break
            except OSError:
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
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder).encode("utf-8"))
        except OSError:
            pass  # holder info is a courtesy (e.g. disk full); the flock is what counts
        return fd

    def release(self) -> None:
        """Give the lock back (the flock is dropped when the outermost holder releases)."""
        st = _state.get(self._key)
        if st is None or st.depth == 0:
            return
        st.depth -= 1
        try:
            if st.depth == 0 and st.fd is not None:
                fd, st.fd = st.fd, None
                try:
                    _unlock(fd)
                finally:
                    os.close(fd)
        finally:
            st.rlock.release()

    def __enter__(self) -> ReviewLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
