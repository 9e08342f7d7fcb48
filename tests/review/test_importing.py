"""Label maps from other tools into reviews, checked against their reference series."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import GeometryError, InputError
from nvcview.io.image import make_volume
from nvcview.io.nifti import write_nifti
from nvcview.review import load_labels, load_review
from nvcview.review.importing import import_review, review_from_labelmap

from .conftest import make_labels


def _reference(tmp_path, labels, shift_mm=0.0):
    aff = labels.affine.copy()
    aff[:3, 3] += [shift_mm, 0.0, 0.0]
    ref = make_volume(np.zeros(labels.array.shape, np.int16), aff)
    return write_nifti(ref, tmp_path / f"t2_{shift_mm}.nii.gz")


def test_import_with_reference_and_spec(tmp_path, labels):
    write_nifti(labels, tmp_path / "seg.nii.gz")
    ref = _reference(tmp_path, labels)
    path = import_review(
        tmp_path / "seg.nii.gz",
        tmp_path / "rev",
        structures="1=facial nerve,2=AICA",
        reference=ref,
        reader="r1",
        side="right",
    )
    review = load_review(path)
    assert [s.kind for s in review.structures] == ["nerve", "vessel"]
    assert review.series[0].path == str(ref)
    np.testing.assert_allclose(review.reference_affine, labels.affine, atol=1e-5)
    np.testing.assert_array_equal(load_labels(review, tmp_path / "rev").array, labels.array)


def test_import_with_a_relative_reference_keeps_a_path_that_still_resolves(
    tmp_path, labels, monkeypatch
):
    from nvcview.report import resolve_series_path

    write_nifti(labels, tmp_path / "seg.nii.gz")
    ref = _reference(tmp_path, labels)
    monkeypatch.chdir(tmp_path)  # `--reference t2_0.0.nii.gz` given relative to the cwd
    rev = tmp_path / "out" / "rev"
    path = import_review("seg.nii.gz", rev, structures="1=facial nerve", reference=ref.name)
    monkeypatch.chdir(tmp_path / "out")  # report run from elsewhere
    review = load_review(path)
    assert resolve_series_path(review.series[0], path.parent) == ref


def test_import_refuses_labels_off_the_reference_grid(tmp_path, labels):
    write_nifti(labels, tmp_path / "seg.nii.gz")
    ref = _reference(tmp_path, labels, shift_mm=2.0)
    with pytest.raises(GeometryError, match=r"seg\.nii\.gz: label map is not on the grid") as info:
        review_from_labelmap(tmp_path / "seg.nii.gz", structures="1=VII", reference=ref)
    assert str(ref) in str(info.value)
    assert not (tmp_path / "rev").exists()


def test_import_needs_a_table_and_integer_labels(tmp_path, labels):
    write_nifti(labels, tmp_path / "seg.nii.gz")
    with pytest.raises(InputError, match="structure table is needed"):
        review_from_labelmap(tmp_path / "seg.nii.gz")
    write_nifti(make_volume(labels.array * 0.3, labels.affine), tmp_path / "float.nii.gz")
    with pytest.raises(InputError, match=r"float\.nii\.gz: not a label map"):
        review_from_labelmap(tmp_path / "float.nii.gz", structures="1=VII")


def test_shape_mismatch_named(tmp_path):
    lab = make_labels(shape=(16, 18, 20))
    write_nifti(lab, tmp_path / "seg.nii.gz")
    ref = write_nifti(make_labels(shape=(16, 18, 22)), tmp_path / "ref.nii.gz")
    with pytest.raises(
        GeometryError, match=r"shape \(16, 18, 20\) != reference shape \(16, 18, 22\)"
    ):
        review_from_labelmap(tmp_path / "seg.nii.gz", structures="1=VII", reference=ref)
