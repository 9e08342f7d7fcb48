"""save_review / load_review / load_labels: round trips and the basic contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nvcview.errors import GeometryError, InputError, SchemaError
from nvcview.io.image import index_to_lps
from nvcview.io.nifti import read_nifti
from nvcview.review import (
    list_history,
    load_labels,
    load_review,
    review_from_dict,
    review_to_dict,
    save_review,
)
from nvcview.review.schema import validate_review_dict

from .conftest import make_labels, make_review


def test_round_trip_json_and_labels(tmp_path, review, labels):
    path = save_review(review, tmp_path / "r", labels)
    assert path == tmp_path / "r" / "review.json"
    back = load_review(tmp_path / "r")
    assert back == review  # every field, including PHI, landmarks, calls, settings
    assert load_review(path) == review  # the file itself works too
    img = load_labels(back, tmp_path / "r")
    np.testing.assert_array_equal(img.array, labels.array)
    np.testing.assert_allclose(img.affine, labels.affine, atol=1e-5)
    # the reference grid went into review.json
    doc = json.loads(path.read_text())
    np.testing.assert_allclose(doc["reference_affine"], labels.affine)
    assert doc["reference_shape"] == list(labels.array.shape)
    assert len(doc["labelmap_sha256"]) == 64


def test_labels_land_in_the_same_lps_place(tmp_path, review, labels):
    """A labelled voxel is at the same LPS position after the NIfTI (RAS) round trip."""
    save_review(review, tmp_path, labels)
    img = read_nifti(tmp_path / review.labelmap_path)  # as any other tool would
    ijk = np.argwhere(labels.array == 2)[0]
    want = index_to_lps(labels.affine, ijk)
    got_ijk = np.argwhere(img.array == 2)[0]
    np.testing.assert_allclose(index_to_lps(img.affine, got_ijk), want, atol=1e-4)


def test_dict_round_trip_and_deidentify(review):
    doc = review_to_dict(review)
    validate_review_dict(doc)
    json.dumps(doc, allow_nan=False)  # strict JSON
    assert review_from_dict(doc) == review
    assert doc["patient"]["patient_name"] == "Doe^Jane"
    anon = review_to_dict(review, deidentify=True)
    assert anon["patient"] is None
    assert "Doe" not in json.dumps(anon) and "PID123" not in json.dumps(anon)
    assert [s["path"] for s in anon["series"]] == ["", ""]
    assert [s["series_uid"] for s in anon["series"]] == ["1.2.3.4.5", "1.2.3.4.6"]
    validate_review_dict(anon)


def test_non_finite_numbers_become_null(review):
    review.settings.near_mm = float("nan")
    doc = review_to_dict(review)
    assert doc["settings"]["near_mm"] is None
    json.dumps(doc, allow_nan=False)


def test_save_without_labels_then_load_labels_missing(tmp_path, review):
    save_review(review, tmp_path)
    back = load_review(tmp_path)
    with pytest.raises(InputError, match=r"labels\.nii\.gz.*missing"):
        load_labels(back, tmp_path)


def test_load_review_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no review.json"):
        load_review(tmp_path)


def test_labels_off_reference_grid_are_refused(tmp_path, review, labels):
    save_review(review, tmp_path, labels)
    shifted = labels.affine.copy()
    shifted[:3, 3] += [0.0, 0.0, 1.5]
    before = (tmp_path / "labels.nii.gz").read_bytes()
    with pytest.raises(GeometryError, match="reference series 1.2.3.4.5"):
        save_review(review, tmp_path, make_labels(affine=shifted))
    assert (tmp_path / "labels.nii.gz").read_bytes() == before


def test_label_file_replaced_by_mismatched_geometry(tmp_path, review, labels):
    from nvcview.io.nifti import write_nifti

    save_review(review, tmp_path, labels)
    before = (tmp_path / "review.json").read_bytes()
    write_nifti(make_labels(shape=(16, 18, 21)), tmp_path / "labels.nii.gz")
    with pytest.raises(GeometryError, match=r"labels\.nii\.gz.*shape \(16, 18, 21\)"):
        load_labels(load_review(tmp_path), tmp_path)
    assert (tmp_path / "review.json").read_bytes() == before


def test_history_keeps_previous_versions_bounded(tmp_path, review, labels):
    for i in range(5):
        review.impression = f"version {i}"
        save_review(review, tmp_path, labels, history_limit=3)
    hist = list_history(tmp_path, "review")
    assert len(hist) == 3
    kept = [json.loads(e.path.read_text())["impression"] for e in hist]
    assert kept == ["version 1", "version 2", "version 3"]
    assert len(list_history(tmp_path, "labels")) == 3
    assert load_review(tmp_path).impression == "version 4"


def test_bad_labelmap_path_is_a_schema_error(tmp_path, review):
    save_review(review, tmp_path)
    doc = json.loads((tmp_path / "review.json").read_text())
    doc["labelmap_path"] = "../elsewhere.nii.gz"
    (tmp_path / "review.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="labelmap_path"):
        load_review(tmp_path)


def test_case_folder_names_its_readers(tmp_path, review):
    save_review(review, tmp_path / "case" / "reader-a")
    save_review(review, tmp_path / "case" / "reader-b" / "review.json")  # file path works too
    assert (tmp_path / "case" / "reader-b" / "review.json").is_file()
    with pytest.raises(InputError, match="reviews in its subfolders: reader-a, reader-b"):
        load_review(tmp_path / "case")


def test_two_readers_side_by_side(tmp_path, labels):
    a = make_review(reader="reader-a")
    b = make_review(reader="reader-b", calls=[])
    save_review(a, tmp_path / "case-7" / "reader-a", labels)
    save_review(b, tmp_path / "case-7" / "reader-b", labels)
    ra = load_review(tmp_path / "case-7" / "reader-a")
    rb = load_review(tmp_path / "case-7" / "reader-b")
    assert (ra.reader, rb.reader) == ("reader-a", "reader-b")
    assert ra.calls and not rb.calls
    assert ra.review_id != rb.review_id


def test_label_map_opens_in_place_in_itk_tools(tmp_path, review, labels):
    """ITK (what 3D Slicer and ITK-SNAP read NIfTI with) puts each label at our LPS point."""
    import SimpleITK as sitk

    save_review(review, tmp_path, labels)
    img = sitk.ReadImage(str(tmp_path / review.labelmap_path))
    arr = sitk.GetArrayFromImage(img)  # [k, j, i]
    for value in (1, 2):
        ijk = np.argwhere(labels.array == value)[0]
        want = index_to_lps(labels.affine, ijk)  # LPS mm
        idx = tuple(int(v) for v in img.TransformPhysicalPointToIndex(tuple(want)))
        assert arr[idx[2], idx[1], idx[0]] == value
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint(idx), want, atol=1e-3)


def test_failed_label_rename_after_the_commit_loses_nothing(tmp_path, review, labels, monkeypatch):
    """The commit is the rename of review.json; the label map's rename after it may fail
    (I/O error): the save stands, loads read the new labels from the pending file, and
    the next save finishes the rename."""
    import os

    from nvcview.io.image import make_volume

    save_review(review, tmp_path, labels)
    old_json = (tmp_path / "review.json").read_bytes()
    old_labels = (tmp_path / "labels.nii.gz").read_bytes()
    real_replace = os.replace

    def failing_replace(src, dst):
        if os.path.basename(dst) == "labels.nii.gz":
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    review.impression = "new words"
    edited = labels.array.copy()
    edited[0, 0, 0] = 2
    save_review(review, tmp_path, make_volume(edited, labels.affine))
    monkeypatch.undo()
    back = load_review(tmp_path)
    assert back.impression == "new words"
    assert (tmp_path / "labels.nii.gz").read_bytes() == old_labels  # not renamed yet
    np.testing.assert_array_equal(load_labels(back, tmp_path).array, edited)
    (kept,) = list_history(tmp_path, "review")
    assert kept.path.read_bytes() == old_json
    save_review(back, tmp_path)  # the next save finishes the rename
    assert not list(tmp_path.glob(".pending-*"))
    np.testing.assert_array_equal(load_labels(load_review(tmp_path), tmp_path).array, edited)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.landmarks.update(RDP=[1.0, float("nan"), 2.0]), "landmarks.RDP"),
        (lambda r: setattr(r, "side", "both"), "field 'side'"),
        (lambda r: r.structures.append(r.structures[0]), r"structures\[2\].*used twice"),
        (lambda r: setattr(r, "labelmap_path", "/abs/labels.nii.gz"), "labelmap_path"),
    ],
)
def test_invalid_review_is_not_saved(tmp_path, review, mutate, message):
    save_review(review, tmp_path)
    before = (tmp_path / "review.json").read_bytes()
    mutate(review)
    with pytest.raises(SchemaError, match=message):
        save_review(review, tmp_path)
    assert (tmp_path / "review.json").read_bytes() == before
    assert len(list_history(tmp_path)) == 0


@pytest.mark.parametrize(
    ("shift_mm", "scale", "accepted"),
    [
        (1e-4, 1.0, True),  # float32 header rounding: the same grid
        (0.05, 1.0, False),  # a tenth of a voxel off: not the same grid
        (0.0, 1.001, False),  # 0.1 % spacing difference adds up across the grid
    ],
)
def test_grid_tolerance(tmp_path, review, labels, shift_mm, scale, accepted):
    save_review(review, tmp_path, labels)
    aff = labels.affine.copy()
    aff[:3, :3] *= scale
    aff[:3, 3] += shift_mm
    moved = make_labels(affine=aff)
    if accepted:
        save_review(review, tmp_path, moved)
    else:
        with pytest.raises(GeometryError, match="away from the reference grid"):
            save_review(review, tmp_path, moved)
