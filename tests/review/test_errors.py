"""Every refusal names the file or folder and the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nvcview.cli import main
from nvcview.errors import GeometryError, InputError, SchemaError
from nvcview.io.image import make_volume
from nvcview.io.nifti import write_nifti
from nvcview.review import load_review, reopen_review, restore_version, save_review

from .conftest import make_review
from .test_schema import V0


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((4, 4, 4), -1, np.int16), "negative label -1"),
        (np.full((4, 4, 4), 70000, np.int32), "label 70000 > 65535"),
        (np.full((4, 4, 4), 1.5), "non-integer values"),
        (np.zeros((4, 4), np.uint8), "must be 3D"),
    ],
)
def test_bad_label_arrays(tmp_path, review, array, message):
    aff = np.eye(4)
    with pytest.raises(InputError, match=message):
        save_review(review, tmp_path, make_volume(array, aff) if array.ndim == 3 else array)
    assert not (tmp_path / "review.json").exists()


def test_bare_array_needs_a_reference_grid(tmp_path, review, labels):
    with pytest.raises(InputError, match="bare array.*no reference grid"):
        save_review(review, tmp_path, labels.array)
    save_review(review, tmp_path, labels)  # now the grid is known
    arr = labels.array.copy()
    arr[1, 1, 1] = 2
    save_review(review, tmp_path, arr)
    from nvcview.review import load_labels

    assert load_labels(load_review(tmp_path), tmp_path).array[1, 1, 1] == 2


def test_float_labels_with_integer_values_are_accepted(tmp_path, review, labels):
    save_review(review, tmp_path, make_volume(labels.array.astype(np.float32), labels.affine))
    from nvcview.review import load_labels

    got = load_labels(load_review(tmp_path), tmp_path).array
    assert np.issubdtype(got.dtype, np.integer)
    np.testing.assert_array_equal(got, labels.array)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"structures": {"one": {"name": "x", "kind": "nerve"}}}, r"structures\.one.*label value"),
        ({"grades": {"AICA": "contact"}}, r"grades\.AICA.*label value"),
        ({"structures": {"1": {"name": "x", "kind": "artery"}}}, r"structures\[0\]\.kind"),
        ({"version": "zero"}, "schema_version' must be a non-negative integer"),
    ],
)
def test_bad_v0_documents(tmp_path, change, message):
    (tmp_path / "review.json").write_text(json.dumps({**V0, **change}))
    with pytest.raises(SchemaError, match=message) as info:
        load_review(tmp_path)
    assert str(tmp_path / "review.json") in str(info.value)


def test_reopen_a_draft_is_refused(tmp_path, review):
    save_review(review, tmp_path)
    with pytest.raises(InputError, match=f"{tmp_path}: review is not final"):
        reopen_review(tmp_path, actor="x")


def test_restore_missing_version(tmp_path, review):
    save_review(review, tmp_path)
    with pytest.raises(InputError, match="no review.json|no such"):
        restore_version(tmp_path, "review-19990101T000000.000000Z.json", actor="x")


def test_mismatched_reference_in_review_is_a_geometry_error(tmp_path, labels):
    review = make_review(
        reference_affine=np.diag([1.0, 1.0, 1.0, 1.0]).tolist(), reference_shape=[16, 18, 20]
    )
    with pytest.raises(GeometryError, match=f"{tmp_path}: labels to save do not match"):
        save_review(review, tmp_path, labels)
    assert not (tmp_path / "labels.nii.gz").exists()


def test_cli_option_misuse(tmp_path, review, labels, capsys):
    save_review(review, tmp_path / "r", labels)
    assert main(["measure", str(tmp_path / "r"), "--table", "x.txt"]) == 2
    assert "are for a label map input" in capsys.readouterr().err
    write_nifti(labels, tmp_path / "seg.nii.gz")
    assert main(["measure", str(tmp_path / "seg.nii.gz"), "--structures", "1=VII", "--save"]) == 2
    assert "--save needs a review folder" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "nothing")]) == 2
    assert "no such review folder" in capsys.readouterr().err


def test_cli_export_for_slicer(tmp_path, review, labels, capsys):
    save_review(review, tmp_path / "r", labels)
    assert main(["measure", str(tmp_path / "r"), "--json", "--export", str(tmp_path / "x")]) == 0
    names = sorted(p.name for p in (tmp_path / "x").iterdir())
    assert names == sorted(
        ["labels.nii.gz", "labels.ctbl", "labels.label", "landmarks.mrk.json", "nerve.mrk.json"]
    )
    assert json.loads(capsys.readouterr().out)["contacts"]
