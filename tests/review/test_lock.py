"""Lock refusals name the live holder (checked) or say a stale lock was taken over."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from nvcview.review import ReviewLock, ReviewLockedError, load_review, save_review
from nvcview.review.lock import LOCK_NAME, read_holder

from .conftest import make_labels, make_review

RAW_FLOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""

NVCVIEW_LOCK = """
import sys
from nvcview.review import ReviewLock
with ReviewLock(sys.argv[1], actor="dr-x"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _hold(code: str, *args: str) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "locked"
    return p


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "r"
    save_review(make_review(), f, make_labels())
    return f


def test_refusal_names_the_live_holder_not_a_stale_record(folder):
    dead = _dead_pid()
    stale = {"pid": dead, "host": socket.gethostname(), "actor": "gone", "since": "2020"}
    (folder / LOCK_NAME).write_text(json.dumps(stale))
    holder = _hold(RAW_FLOCK, str(folder / LOCK_NAME))  # holds it, records nothing
    try:
        with pytest.raises(ReviewLockedError) as info:
            save_review(load_review(folder), folder)
    finally:
        holder.communicate("\n", timeout=30)
    msg = str(info.value)
    assert f"process {holder.pid} " in msg and "still running" in msg
    assert str(dead) not in msg and "gone" not in msg
    assert info.value.holder["pid"] == holder.pid


def test_refusal_names_pid_host_user_and_reader(folder):
    holder = _hold(NVCVIEW_LOCK, str(folder))
    try:
        with pytest.raises(ReviewLockedError) as info:
            save_review(load_review(folder), folder)
    finally:
        holder.communicate("\n", timeout=30)
    msg = str(info.value)
    assert f"process {holder.pid} on {socket.gethostname()}" in msg
    assert "reader 'dr-x'" in msg and "still running" in msg and "user " in msg
    assert read_holder(folder) == {}  # released: the record is cleared


def test_stale_lock_of_a_dead_holder_is_taken_over_and_said(folder, caplog):
    dead = _dead_pid()
    rec = {"pid": dead, "host": socket.gethostname(), "actor": "crashed", "since": "2020"}
    (folder / LOCK_NAME).write_text(json.dumps(rec))
    caplog.set_level(logging.WARNING)
    lock = ReviewLock(folder, actor="me")
    with lock:
        assert read_holder(folder)["pid"] == os.getpid()
    assert lock.taken_over["pid"] == dead
    assert f"stale lock of process {dead}" in caplog.text and "taken over" in caplog.text
    caplog.clear()
    with ReviewLock(folder, actor="me") as again:  # a clean release leaves no record
        assert again.taken_over == {}
    assert "stale lock" not in caplog.text
