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
import getpass
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

from nvcview.errors import NvcviewError
from nvcview.fsutil import open_nofollow

LOCK_NAME = ".review.lock"
log = logging.getLogger(__name__)
#: how long a refused process keeps asking the kernel and the lock file who holds it
IDENTIFY_WAIT_S = 2.0

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
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


#: per folder (realpath): the in-process state. Threads of one process serialise on the
#: RLock (re-entrant for the thread that holds it); processes on the flock.
_state: dict[str, _FolderState] = {}
_state_guard = threading.Lock()
#: how long a thread waits for another thread of the same process to finish a save
THREAD_WAIT_S = 30.0


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


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
    """What the lock file says about its (last) holder; ``{}`` when unknown.

    The file is cleared when a holder releases the lock, so holder information in
    an unlocked file is that of a holder that died (a stale lock).
    """
    path = Path(folder) / LOCK_NAME
    try:
        fd = open_nofollow(path, os.O_RDONLY, what="lock file")
    except (OSError, NvcviewError):
        return {}
    try:
        text = os.read(fd, 65536).decode("utf-8", errors="replace")
    except OSError:
        return {}
    finally:
        os.close(fd)
    try:
        holder = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _pid_alive(pid: object) -> bool:
    """Whether a process of this id runs on this host."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _flock_holders(fd: int) -> list[int] | None:
    """Process ids holding a flock on the file open as ``fd`` (Linux ``/proc/locks``).

    ``None`` when the kernel does not tell (not Linux).
    """
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    st = os.fstat(fd)
    pids = []
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] == "->" or parts[1] != "FLOCK":
            continue
        try:
            pid = int(parts[4])
            ino = int(parts[5].rsplit(":", 1)[1])
        except (ValueError, IndexError):
            continue
        if ino == st.st_ino:
            pids.append(pid)
    return pids


def _user_of(pid: int) -> str:
    """Login name owning a local process (``""`` when unknown)."""
    try:
        import pwd

        return pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return ""


def _current_holder(fd: int, folder: Path) -> dict | None:
    """The live holder of the lock, checked against the kernel; None if it is free now.

    The lock file's own record is used only when its process is the one the kernel
    says holds the flock (or, without ``/proc/locks``, when it is alive).
    """
    host = socket.gethostname()
    info = read_holder(folder)
    pids = _flock_holders(fd)
    if pids is None:  # no kernel view: trust a record of a live local process only
        if info and (info.get("host") != host or _pid_alive(info.get("pid"))):
            return {**info, "checked": info.get("host") == host}
        return {}
    if not pids:
        return None
    if info.get("pid") in pids and info.get("host") == host:
        return {**info, "checked": True}
    pid = pids[0]
    return {"pid": pid, "host": host, "user": _user_of(pid), "checked": True}


def _describe_holder(holder: dict) -> str:
    if not holder:
        return "a process that did not record itself (on another host?)"
    parts = [f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"]
    if holder.get("user"):
        parts.append(f"user {holder['user']!r}")
    if holder.get("actor"):
        parts.append(f"reader {holder['actor']!r}")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    if holder.get("checked"):
        parts.append("still running")
    elif holder.get("host") != socket.gethostname():
        parts.append("on another host, not checked")
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
        #: the record of a dead holder whose lock this acquisition took over, if any
        self.taken_over: dict = {}

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
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644, what="lock file")
        deadline = time.monotonic() + self.timeout_s
        try:
            while not _try_lock(fd):
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                holder = self._identify(fd)
                if holder is None:  # released while we looked: ours now
                    break
                raise ReviewLockedError(
                    f"{self.folder}: review is locked by {_describe_holder(holder)}; "
                    "another save or editor has it open, try again when it is done",
                    self.folder,
                    holder,
                )
        except BaseException:
            os.close(fd)
            raise
        self._take_over(fd)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": _login(),
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

    def _identify(self, fd: int) -> dict | None:
        """Who holds the lock, retried until the record matches a live holder.

        A new holder writes its record just after taking the flock, so for a moment
        the file can be empty or still name the previous (gone) holder. Returns None
        when the lock became free (and is now taken by us).
        """
        give_up = time.monotonic() + IDENTIFY_WAIT_S
        while True:
            if _try_lock(fd):
                return None
            holder = _current_holder(fd, self.folder)
            if holder and holder.get("since") is not None:
                return holder  # the live holder's own record
            if time.monotonic() >= give_up:  # it never recorded itself: what the kernel says
                return holder or {**read_holder(self.folder), "checked": False}
            time.sleep(0.05)

    def _take_over(self, fd: int) -> None:
        """Log (and keep in ``self.taken_over``) a record left by a holder that died."""
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 65536).decode("utf-8", errors="replace")
            old = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            old = {}
        if isinstance(old, dict) and old:
            self.taken_over = old
            log.warning(
                "%s: stale lock of %s taken over (it is no longer held: the process ended "
                "without releasing it)",
                self.folder,
                _describe_holder({k: v for k, v in old.items() if k != "checked"}),
            )

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
                    try:  # an unlocked file with a record means its holder died
                        os.ftruncate(fd, 0)
                    except OSError:
                        pass
                    _unlock(fd)
                finally:
                    os.close(fd)
        finally:
            st.rlock.release()

    def __enter__(self) -> ReviewLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
