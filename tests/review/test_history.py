"""Kept versions: listing, restoring (review and its label map), and stale label files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.io.image import make_volume
from nvcview.io.nifti import write_nifti
from nvcview.review import (
    ReviewFinalError,
    list_history,
    load_labels,
    load_review,
    restore_version,
    save_review,
)
from nvcview.review.audit import read_audit


def test_restore_brings_back_review_and_its_labels(tmp_path, review, labels):
    review.impression = "first"
    save_review(review, tmp_path, labels)
    edited = labels.array.copy()
    edited[edited == 2] = 0  # the reader erased the vessel...
    review.impression = "second"
    save_review(review, tmp_path, make_volume(edited, labels.affine))
    review.impression = "third"
    save_review(review, tmp_path)  # a save without labels
    first = [e for e in list_history(tmp_path, "review")][0]

    restored = restore_version(tmp_path, first, actor="reader-a")
    assert restored.impression == "first"
    back = load_review(tmp_path)
    assert back.impression == "first"
    np.testing.assert_array_equal(load_labels(back, tmp_path).array, labels.array)
    last = read_audit(tmp_path)[-1]
    assert last["action"] == "restore" and last["restored_from"] == first.path.name
    assert "restored from labels-" in last["note"]
    # and the versions it replaced are themselves kept
    kept = [load_review(e.path).impression for e in list_history(tmp_path, "review")]
    assert kept[-1] == "third"


def test_restore_without_its_label_map_keeps_the_current_ones_checksum(
    tmp_path, review, labels, caplog
):
    review.impression = "first"
    save_review(review, tmp_path, labels)
    edited = labels.array.copy()
    edited[edited == 2] = 0
    review.impression = "second"
    save_review(review, tmp_path, make_volume(edited, labels.affine))
    for e in list_history(tmp_path, "labels"):  # the first label map was pruned
        e.path.unlink()
    (first,) = list_history(tmp_path, "review")
    restore_version(tmp_path, first, actor="reader-a")
    assert "not kept" in read_audit(tmp_path)[-1]["note"]
    with caplog.at_level(logging.WARNING, logger="nvcview.review.store"):
        img = load_labels(load_review(tmp_path), tmp_path)
    np.testing.assert_array_equal(img.array, edited)  # the current label map stayed
    assert "differs from the one saved" not in caplog.text  # and review.json says so


def test_restore_refused_on_final_and_needs_actor(tmp_path, review):
    save_review(review, tmp_path)
    review.status = "final"
    save_review(review, tmp_path)
    (entry,) = list_history(tmp_path, "review")
    with pytest.raises(InputError, match="needs an actor"):
        restore_version(tmp_path, entry, actor="")
    with pytest.raises(ReviewFinalError):
        restore_version(tmp_path, entry, actor="x")


def test_label_file_changed_behind_the_reviews_back_is_reported(tmp_path, review, labels, caplog):
    save_review(review, tmp_path, labels)
    other = labels.array.copy()
    other[0, 0, 0] = 1
    write_nifti(make_volume(other, labels.affine), tmp_path / "labels.nii.gz")
    with caplog.at_level(logging.WARNING, logger="nvcview.review.store"):
        img = load_labels(load_review(tmp_path), tmp_path)
    assert "differs from the one saved" in caplog.text
    assert "Doe" not in caplog.text
    assert img.array[0, 0, 0] == 1  # the newer file is what the reader gets


def test_non_integer_label_file_is_refused(tmp_path, review, labels):
    save_review(review, tmp_path, labels)
    write_nifti(make_volume(labels.array + 0.5, labels.affine), tmp_path / "labels.nii.gz")
    with pytest.raises(InputError, match=r"labels\.nii\.gz: label map holds non-integer"):
        load_labels(load_review(tmp_path), tmp_path)


def test_restore_with_no_label_map_left_at_all(tmp_path, review, labels):
    save_review(review, tmp_path, labels)
    review.impression = "second"
    save_review(review, tmp_path)
    (tmp_path / "labels.nii.gz").unlink()
    (first,) = list_history(tmp_path, "review")
    assert restore_version(tmp_path, first, actor="a").labelmap_sha256 == ""
    assert load_review(tmp_path).impression != "second"
