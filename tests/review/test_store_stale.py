"""A loads, B loads + edits + saves, A saves: refused, naming who saved in between."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nvcview.review import load_review, save_review
from nvcview.review.store import ReviewChangedError

from .conftest import make_labels, make_review

TESTS = str(Path(__file__).resolve().parents[1])

PROCESS_A = """
import sys
sys.path.insert(0, {tests!r})
from nvcview.review import load_review, save_review
from nvcview.review.store import ReviewChangedError

folder = sys.argv[1]
review = load_review(folder)
print("loaded", flush=True)
sys.stdin.readline()  # wait until B has saved
review.impression = "A's words"
try:
    save_review(review, folder, actor="reader-a")
    print("SAVED")
except ReviewChangedError as exc:
    print("REFUSED", exc)
"""


def test_stale_save_from_another_process_is_refused(tmp_path):
    folder = tmp_path / "r"
    save_review(make_review(), folder, make_labels())
    script = tmp_path / "a.py"
    script.write_text(PROCESS_A.format(tests=TESTS))
    a = subprocess.Popen(
        [sys.executable, str(script), str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert a.stdout.readline().strip() == "loaded"
    b = load_review(folder)  # process B (this one)
    b.impression = "B's careful edit"
    save_review(b, folder, actor="reader-b")
    out, err = a.communicate("go\n", timeout=120)
    assert "REFUSED" in out, err
    assert "'reader-b'" in out and "changed on disk since this review was loaded" in out
    assert load_review(folder).impression == "B's careful edit"  # B's edit survives


def test_same_process_saves_and_copies_are_not_stale(tmp_path):
    import copy

    folder = tmp_path / "r"
    save_review(make_review(), folder, make_labels())
    review = load_review(folder)
    dup = copy.deepcopy(review)
    review.impression = "one"
    save_review(review, folder)
    review.impression = "two"
    save_review(review, folder)  # its own saves move its origin along
    dup.impression = "three"
    save_review(dup, folder)  # a copy of ours: what is on disk was written by us
    assert load_review(folder).impression == "three"


def test_file_edited_outside_nvcview_is_reported(tmp_path):
    folder = tmp_path / "r"
    save_review(make_review(), folder, make_labels())
    review = load_review(folder)
    text = (folder / "review.json").read_text().replace("AICA contact", "AICA touch")
    (folder / "review.json").write_text(text)
    with pytest.raises(ReviewChangedError, match="changed outside nvcview"):
        save_review(review, folder)
    assert "AICA touch" in (folder / "review.json").read_text()


def test_measure_save_refused_when_the_review_changed_meanwhile(tmp_path, monkeypatch):
    """``measure --save`` loads without the lock; a save in between is not overwritten."""
    from nvcview.cli import main
    from nvcview.review import store

    folder = tmp_path / "r"
    save_review(make_review(), folder, make_labels())
    real_load = store.load_review

    def load_then_someone_saves(path):
        review = real_load(path)
        other = real_load(path)
        other.impression = "edited by B meanwhile"
        # another process's save: written bytes this process does not know of
        store._written.clear()
        save_review(other, folder, actor="reader-b")
        store._written.clear()
        return review

    monkeypatch.setattr(store, "load_review", load_then_someone_saves)
    assert main(["measure", str(folder), "--save"]) == 2
    assert load_review(folder).impression == "edited by B meanwhile"


RESTORE_IN_OTHER_PROCESS = """
import sys
from nvcview.review import list_history, restore_version
folder = sys.argv[1]
first = list_history(folder, "review")[0]
restore_version(folder, first, actor="reader-c")
print("restored")
"""


def test_restore_version_from_another_process_is_not_stale(tmp_path):
    folder = tmp_path / "r"
    review = make_review(impression="first")
    save_review(review, folder, make_labels())
    review.impression = "second"
    save_review(review, folder)
    proc = subprocess.run(
        [sys.executable, "-c", RESTORE_IN_OTHER_PROCESS, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "restored" in proc.stdout, proc.stderr[-2000:]
    assert load_review(folder).impression == "first"
    with pytest.raises(ReviewChangedError, match="'reader-c'.*restore"):
        review.impression = "third, from a stale copy"
        save_review(review, folder)


def test_bytes_equal_to_an_earlier_save_of_ours_are_someone_elses_change(tmp_path):
    """Another process putting back the bytes of one of our earlier saves (a restore in the
    same second gives identical bytes) is still a change we did not make."""
    folder = tmp_path / "r"
    review = make_review(impression="first")
    save_review(review, folder, make_labels())
    first_bytes = (folder / "review.json").read_bytes()
    review.impression = "second"
    save_review(review, folder)
    (folder / "review.json").write_bytes(first_bytes)  # the other process's write
    review.impression = "third, from a stale copy"
    with pytest.raises(ReviewChangedError, match="changed on disk"):
        save_review(review, folder)
    assert (folder / "review.json").read_bytes() == first_bytes  # nothing was written
