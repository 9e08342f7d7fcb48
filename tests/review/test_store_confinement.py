"""Symlinks planted in a review folder never lead a load or a save outside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nvcview.fsutil import OutsideFolderError
from nvcview.io.nifti import write_nifti
from nvcview.review import list_history, load_labels, load_review, save_review

from .conftest import make_labels, make_review


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / "review"
    save_review(make_review(), folder, make_labels())
    victim = tmp_path / "outside" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("the user's own file\n")
    return folder, victim


def _snapshot(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != ".review.lock"
    }


@pytest.mark.parametrize("name", [".review.lock", "audit.jsonl"])
def test_symlinked_lock_or_audit_file_is_refused(saved, name):
    folder, victim = saved
    (folder / name).unlink()
    (folder / name).symlink_to(victim)
    before = _snapshot(folder)
    review = load_review(folder)
    review.impression = "edited"
    with pytest.raises(OutsideFolderError, match=rf"{name}.*symbolic link"):
        save_review(review, folder, make_labels())
    assert victim.read_text() == "the user's own file\n"
    assert _snapshot(folder) == before  # nothing saved, no pending label map left


def test_hard_linked_lock_file_is_refused(saved):
    folder, victim = saved
    (folder / ".review.lock").unlink()
    os.link(victim, folder / ".review.lock")
    with pytest.raises(OutsideFolderError, match="hard-linked"):
        save_review(load_review(folder), folder)
    assert victim.read_text() == "the user's own file\n"


def test_symlinked_history_folder_is_refused(saved, tmp_path):
    folder, _ = saved
    outside = tmp_path / "outside_history"
    outside.mkdir()
    import shutil

    shutil.rmtree(folder / ".history", ignore_errors=True)
    (folder / ".history").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutsideFolderError, match=r"\.history.*symbolic link"):
        save_review(load_review(folder), folder, make_labels())
    assert list(outside.iterdir()) == []
    with pytest.raises(OutsideFolderError):
        list_history(folder)


def test_labelmap_path_through_a_symlinked_subfolder(saved, tmp_path):
    folder, _ = saved
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_nifti(make_labels(), outside / "labels.nii.gz")
    secret = (outside / "labels.nii.gz").read_bytes()
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    doc = json.loads((folder / "review.json").read_text())
    doc["labelmap_path"] = "sub/labels.nii.gz"
    doc["labelmap_sha256"] = ""
    (folder / "review.json").write_text(json.dumps(doc))
    review = load_review(folder)
    with pytest.raises(OutsideFolderError, match=r"sub/labels\.nii\.gz.*outside the folder"):
        load_labels(review, folder)
    edited = make_labels()
    edited.array[0, 0, 0] = 2
    with pytest.raises(OutsideFolderError):
        save_review(review, folder, edited)
    assert (outside / "labels.nii.gz").read_bytes() == secret
    assert sorted(p.name for p in outside.iterdir()) == ["labels.nii.gz"]


def test_symlinked_label_map_is_not_read_nor_copied(saved, tmp_path):
    folder, _ = saved
    outside = tmp_path / "other_patient.nii.gz"
    arr = make_labels()
    arr.array[:] = 1
    write_nifti(arr, outside)
    (folder / "labels.nii.gz").unlink()
    (folder / "labels.nii.gz").symlink_to(outside)
    review = load_review(folder)
    with pytest.raises(OutsideFolderError, match=r"labels\.nii\.gz.*outside the folder"):
        load_labels(review, folder)
    with pytest.raises(OutsideFolderError):
        save_review(review, folder, make_labels())
    secret = outside.read_bytes()
    copies = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    assert copies and not any(p.read_bytes() == secret for p in copies)


def test_symlinked_review_json_is_refused(saved, tmp_path):
    folder, _ = saved
    other = tmp_path / "other.json"
    other.write_bytes((folder / "review.json").read_bytes())
    (folder / "review.json").unlink()
    (folder / "review.json").symlink_to(other)
    with pytest.raises(OutsideFolderError, match=r"review\.json.*outside the folder"):
        load_review(folder)


def test_cli_refusal_is_one_line(saved):
    folder, victim = saved
    (folder / "labels.nii.gz").unlink()
    (folder / "labels.nii.gz").symlink_to(victim)
    proc = subprocess.run(
        [sys.executable, "-m", "nvcview", "measure", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "symbolic link" in lines[0] and "Traceback" not in proc.stderr
