"""Saving that never loses work: final/reopen, audit trail, locks, crashes, full disks."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from nvcview.errors import NvcviewError
from nvcview.io.image import make_volume
from nvcview.review import (
    ReviewFinalError,
    ReviewLock,
    ReviewLockedError,
    ReviewSaveError,
    list_history,
    load_labels,
    load_review,
    reopen_review,
    save_review,
)
from nvcview.review.audit import read_audit

from .conftest import make_labels


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# ------------------------------------------------------------------ final / reopen / audit


def test_final_review_is_read_only_until_reopened(tmp_path, review, labels):
    save_review(review, tmp_path, labels)
    review.status = "final"
    save_review(review, tmp_path, actor="reader-a")
    before = _snapshot(tmp_path)
    review.impression = "changed after sign-off"
    with pytest.raises(ReviewFinalError, match=f"{tmp_path}: review is final.*reopen"):
        save_review(review, tmp_path)
    with pytest.raises(ReviewFinalError):
        save_review(review, tmp_path, labels)
    assert _snapshot(tmp_path) == before

    with pytest.raises(NvcviewError, match="needs an actor"):
        reopen_review(tmp_path, actor="")
    reopened = reopen_review(tmp_path, actor="dr-lead", reason="addendum: second vessel")
    assert reopened.status == "draft"
    assert load_review(tmp_path).status == "draft"
    review.status = "draft"
    save_review(review, tmp_path)
    assert load_review(tmp_path).impression == "changed after sign-off"

    actions = [(e["action"], e["actor"]) for e in read_audit(tmp_path)]
    assert actions == [
        ("create", "reader-a"),
        ("finalise", "reader-a"),
        ("reopen", "dr-lead"),
        ("save", "reader-a"),
    ]
    reopen = read_audit(tmp_path)[2]
    assert reopen["reason"] == "addendum: second vessel"
    assert {"field": "status", "change": "changed", "from": "final", "to": "draft"} in reopen[
        "changes"
    ]


def test_audit_trail_is_appended_with_field_level_changes(tmp_path, review, labels):
    audit = tmp_path / "audit.jsonl"
    save_review(review, tmp_path, labels, actor="reader-a")
    first = audit.read_bytes()
    review.landmarks["RDP"] = [-17.0, 19.0, 3.5]
    review.calls[0].grade = "indentation"
    review.calls[0].comment = "new free text"
    review.patient.patient_name = "Doe^Janet"
    save_review(review, tmp_path, actor="reader-b")
    data = audit.read_bytes()
    assert data.startswith(first)  # appended, never rewritten
    entries = read_audit(tmp_path)
    assert len(entries) == 2
    import hashlib

    assert (
        entries[-1]["review_sha256"]
        == hashlib.sha256((tmp_path / "review.json").read_bytes()).hexdigest()
    )
    (kept,) = list_history(tmp_path, "review")
    assert entries[0]["review_sha256"] == hashlib.sha256(kept.path.read_bytes()).hexdigest()
    last = entries[-1]
    assert last["actor"] == "reader-b" and last["action"] == "save"
    fields = {c["field"]: c for c in last["changes"]}
    assert fields["landmarks.RDP"]["change"] == "moved"
    assert fields["calls[vessel 2]"]["grade"] == ["contact", "indentation"]
    assert fields["calls[vessel 2]"]["comment"] == "changed"
    assert fields["patient"]["change"] == "changed"
    # no PHI and no free text in the trail
    text = data.decode()
    for secret in ("Doe^Jan", "PID123", "new free text", "loop at the RDP"):
        assert secret not in text


def test_torn_audit_line_does_not_spoil_the_next(tmp_path, review):
    save_review(review, tmp_path)
    with open(tmp_path / "audit.jsonl", "ab") as fh:
        fh.write(b'{"time": "2026-01-01", "act')  # a crash mid-append
    review.impression = "next"
    save_review(review, tmp_path)
    entries = read_audit(tmp_path)
    assert [e["action"] for e in entries] == ["create", "save"]


# ------------------------------------------------------------------ locks


def _hold_lock(folder, ready, release):
    with ReviewLock(folder, actor="reader-b"):
        ready.set()
        release.wait(20)


def test_lock_contention_between_processes(tmp_path, review):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    proc.start()
    try:
        assert ready.wait(20)
        with pytest.raises(ReviewLockedError) as info:
            save_review(review, tmp_path, actor="reader-a")
        msg = str(info.value)
        assert str(tmp_path) in msg and f"process {proc.pid}" in msg and "reader-b" in msg
        assert info.value.holder["pid"] == proc.pid
        assert not (tmp_path / "review.json").exists()
        # waiting works once the holder lets go
        release.set()
        save_review(review, tmp_path, lock_timeout_s=10)
    finally:
        release.set()
        proc.join(20)
    assert load_review(tmp_path) == review


def test_lock_is_reentrant_within_one_editor(tmp_path, review):
    with ReviewLock(tmp_path, actor="editor"):
        save_review(review, tmp_path)  # the editor holding the folder can still save
        review.impression = "second"
        save_review(review, tmp_path)
    assert load_review(tmp_path).impression == "second"


def test_threads_of_one_process_take_turns(tmp_path, review, labels):
    import threading

    save_review(review, tmp_path, labels)
    errors = []

    def saver(name):
        try:
            for i in range(8):
                r = load_review(tmp_path)
                r.impression = f"{name} {i}"
                save_review(r, tmp_path, labels, actor=name)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(f"t{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(read_audit(tmp_path)) == 1 + 3 * 8
    assert load_review(tmp_path).impression.endswith(" 7")
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []


def test_lock_released_when_holder_is_killed(tmp_path, review):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    proc.start()
    assert ready.wait(20)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(20)
    save_review(review, tmp_path)  # no stale lock left behind
    assert load_review(tmp_path) == review


# ------------------------------------------------------------------ crashes


def _writer_loop(folder, start, ready, saves):
    """Save over and over; the counter goes into the impression and one voxel.

    ``saves`` counts the saves this writer completed, so the test can wait for one before it
    kills the writer at a random moment of a later save (a busy machine makes a save slow).
    """
    review = load_review(folder)
    base = load_labels(review, folder)
    ready.set()
    n = start
    while True:
        n += 1
        arr = base.array.copy()
        arr[0, 0, 0] = n % 250
        review.impression = f"save {n}"
        save_review(review, folder, make_volume(arr, base.affine), actor="writer")
        with saves.get_lock():
            saves.value += 1


def _wait_for_a_save(saves, proc, limit_s=120.0):
    """Block until the writer has completed a save (a hang limit, not a timing condition)."""
    deadline = time.monotonic() + limit_s
    while saves.value < 1:
        assert proc.is_alive(), "the writer died before its first save"
        assert time.monotonic() < deadline, "the writer completed no save in the hang limit"
        time.sleep(0.01)


def test_sigkill_mid_save_never_loses_the_last_good_version(tmp_path, review, labels, caplog):
    folder = tmp_path / "r"
    review.impression = "save 0"
    save_review(review, folder, labels)
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(4)
    last = 0
    mid_save = 0  # kills that left a half-written temporary file behind
    rounds = 0
    # 25 kills, and more while fewer than three of them landed mid-save (the writer is inside
    # save_review nearly all the time, so this ends quickly however busy the machine is)
    while rounds < 25 or (mid_save < 3 and rounds < 200):
        rounds += 1
        ready, saves = ctx.Event(), ctx.Value("i", 0)
        proc = ctx.Process(target=_writer_loop, args=(folder, last, ready, saves), daemon=True)
        proc.start()
        assert ready.wait(120)
        _wait_for_a_save(saves, proc)
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(20)
        mid_save += bool(list(folder.rglob(".tmp-*")) + list(folder.rglob(".pending-*")))
        back = load_review(folder)  # always loads
        n = int(back.impression.split()[1])
        assert n >= last  # never goes back to an older save
        img = load_labels(back, folder)
        # exactly one committed version: its impression and its label map, never a mix
        assert "differs from the one saved" not in caplog.text
        assert img.array[0, 0, 0] == (n % 250 if n else labels.array[0, 0, 0])
        caplog.clear()
        last = n
    assert last > 0 and mid_save >= 3  # the writers really were killed mid-save
    # the next save sweeps up what the killed writers left behind
    save_review(back, folder)
    leftovers = [p.name for p in folder.rglob(".tmp-*")] + [
        p.name for p in folder.rglob(".pending-*")
    ]
    assert leftovers == []
    entries = read_audit(folder)
    assert all(e["action"] in ("create", "save") for e in entries)
    assert len(entries) >= last


# ------------------------------------------------------------------ full disk


def test_disk_full_at_fsync_keeps_the_old_version(tmp_path, review, labels, monkeypatch):
    save_review(review, tmp_path, labels)
    before = _snapshot(tmp_path)
    modified = review.modified

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    review.impression = "lost?"
    bigger = make_labels()
    bigger.array[0, 0, 0] = 2
    with pytest.raises(ReviewSaveError, match=f"{tmp_path}.*No space left.*unchanged") as info:
        save_review(review, tmp_path, bigger)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []
    assert review.modified == modified  # the in-memory review was not marked saved
    back = load_review(tmp_path)
    assert back.impression == "AICA contact at the RDP"
    np.testing.assert_array_equal(load_labels(back, tmp_path).array, labels.array)


FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import errno, json, os, resource, signal, subprocess, sys
    sys.path.insert(0, {tests!r})
    from review.conftest import make_labels, make_review
    from nvcview.review import load_labels, load_review, save_review, ReviewSaveError

    folder = sys.argv[1]
    mode = sys.argv[2]
    print("STARTED", mode, file=sys.stderr, flush=True)
    results = []
    review = make_review()
    save_review(review, folder, make_labels())
    good = {{p: open(os.path.join(folder, p), "rb").read()
            for p in ("review.json", "labels.nii.gz")}}
    if mode == "tmpfs":
        filler = os.path.join(folder, "..", "filler")
        with open(filler, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"x" * 4096)
            except OSError:
                pass
    else:  # RLIMIT_FSIZE: any write past 2 KiB fails (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
    for free_pages in range(12):
        if mode == "tmpfs" and free_pages:
            size = os.path.getsize(filler)
            os.truncate(filler, max(0, size - 4096))
        review.impression = "x" * 3000  # a bigger review.json than the one on disk
        labels = make_labels()
        labels.array[:] = (labels.array + free_pages) % 3
        try:
            save_review(review, folder, labels)
            outcome = "saved"
        except ReviewSaveError as exc:
            outcome = "error: " + str(exc)
        now = {{p: open(os.path.join(folder, p), "rb").read()
               for p in ("review.json", "labels.nii.gz")}}
        back = load_review(folder)
        load_labels(back, folder)
        results.append({{"outcome": outcome, "intact": now == good,
                         "tmp": [p for p in os.listdir(folder) if p.startswith(".tmp-")]}})
        if outcome == "saved":
            break
    print(json.dumps(results))
    """
)


def test_full_disk_real_filesystem(tmp_path):
    """A tiny tmpfs (in a user+mount namespace) filled up; or a file size limit."""
    tests = os.path.dirname(os.path.dirname(__file__))
    script = tmp_path / "fill.py"
    script.write_text(FULL_DISK_SCRIPT.format(tests=tests))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    shell = (
        f"mount -t tmpfs -o size=256k tmpfs {mnt} && mkdir {mnt}/r && "
        f"exec {sys.executable} {script} {mnt}/r tmpfs"
    )
    try:
        res = subprocess.run(["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True)
        started = "STARTED tmpfs" in res.stderr
    except FileNotFoundError:  # no unshare(1) at all
        started = False
    if not started:
        # no namespaces on this machine: a real kernel write failure through a size limit
        (tmp_path / "r").mkdir()
        res = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "r"), "rlimit"],
            capture_output=True,
            text=True,
        )
    assert res.returncode == 0, res.stderr
    results = json.loads(res.stdout.strip().splitlines()[-1])
    errors = [r for r in results if r["outcome"].startswith("error")]
    assert errors, results  # the full disk really made saves fail
    for r in errors:
        assert r["intact"], r  # old review.json and labels untouched
        assert r["tmp"] == [], r  # no half-written files left
        assert "could not save the review" in r["outcome"]
        assert "unchanged" in r["outcome"]
    if "STARTED tmpfs" in res.stderr:
        # freeing the disk page by page: every failed stage left the old version, then it saved
        assert results[-1]["outcome"] == "saved" and len(errors) >= 3, results
