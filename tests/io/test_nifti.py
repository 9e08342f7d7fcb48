"""NIfTI in and out: RAS on disk, LPS in memory; broken files refused clearly."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import assert_same_world, rotation

import nvcview
from nvcview.errors import GeometryError, InputError
from nvcview.io import make_volume, read_nifti, write_nifti


def _oblique_affine():
    affine = np.eye(4)
    affine[:3, :3] = rotation(10, -25, 40) @ np.diag([0.4, 0.5, 0.7])
    affine[:3, 3] = (-12.5, 30.0, -7.25)
    return affine


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_roundtrip_keeps_world_geometry(tmp_path, suffix):
    rng = np.random.default_rng(0)
    array = rng.normal(size=(7, 9, 5)).astype(np.float32)
    volume = make_volume(array, _oblique_affine())
    path = write_nifti(volume, tmp_path / f"v{suffix}")
    image = read_nifti(path)
    assert_same_world(image.array, image.affine, array, volume.affine)
    # on disk it is RAS: x and y rows of the affine are negated
    on_disk = nib.load(str(path))
    np.testing.assert_allclose(on_disk.affine, np.diag([-1, -1, 1, 1]) @ volume.affine)
    assert int(on_disk.header["sform_code"]) == 1 and int(on_disk.header["qform_code"]) == 1


def test_integer_labels_stay_integer(tmp_path):
    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    labels[1:3, 2, 3] = 7
    path = write_nifti(make_volume(labels, np.eye(4)), tmp_path / "labels.nii.gz")
    image = nvcview.load(path)
    assert image.array.dtype == np.uint8
    assert image.meta.role == "labels"
    np.testing.assert_array_equal(image.array, labels)


@pytest.mark.parametrize(
    "affine, problem",
    [
        (np.zeros((4, 4)), "singular"),
        (np.diag([1.0, 1.0, 0.0, 1.0]), "singular"),
        (np.full((4, 4), np.nan), "not a finite 4x4"),
        (np.array([[0.5, 0, 0.05, 0], [0, 0.5, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 1]]), "sheared"),
    ],
)
def test_broken_affine_refused(tmp_path, affine, problem):
    path = tmp_path / "broken.nii"
    header = nib.Nifti1Header()
    header.set_data_shape((3, 3, 3))
    header.set_data_dtype(np.int16)
    # nibabel will not build such an affine through its API: write the header fields
    header["sform_code"], header["qform_code"] = 1, 0
    header["srow_x"], header["srow_y"], header["srow_z"] = affine[:3]
    img = nib.Nifti1Image(np.zeros((3, 3, 3), dtype=np.int16), None, header=header)
    nib.save(img, str(path))
    assert int(nib.load(str(path)).header["sform_code"]) == 1
    with pytest.raises(GeometryError, match=f"broken.nii: NIfTI affine .*{problem}"):
        nvcview.load(path)


def test_4d_refused(tmp_path):
    path = tmp_path / "four.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2), dtype=np.int16), np.eye(4)), str(path))
    with pytest.raises(
        InputError, match=r"four.nii.gz: expected a 3D volume, got shape \(3, 3, 3, 2\)"
    ):
        nvcview.load(path)


def test_not_a_nifti(tmp_path):
    path = tmp_path / "fake.nii"
    path.write_text("not nifti at all")
    with pytest.raises(InputError, match="fake.nii: not a readable NIfTI file"):
        nvcview.load(path)


def test_write_refuses_wrong_suffix(tmp_path):
    with pytest.raises(InputError, match="must end in .nii"):
        write_nifti(make_volume(np.zeros((2, 2, 2)), np.eye(4)), tmp_path / "x.img.txt")


def test_write_int64_labels(tmp_path):
    """numpy's default integer (int64) is written as int32, not refused by nibabel."""
    arr = np.zeros((4, 5, 6), np.int64)
    arr[1:3, 2, 3] = 7
    out = write_nifti(make_volume(arr, np.diag([0.5, 0.6, 0.7, 1.0])), tmp_path / "l.nii.gz")
    back = read_nifti(out)
    assert back.array.dtype == np.int32
    np.testing.assert_array_equal(back.array, arr)
    arr[0, 0, 0] = 2**40
    with pytest.raises(InputError, match="big.nii.gz"):
        write_nifti(make_volume(arr, np.eye(4)), tmp_path / "big.nii.gz")


def test_nifti_without_orientation_codes_is_refused(tmp_path):
    """sform_code = qform_code = 0: nibabel would invent a placement; we refuse it."""
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.diag([0.5, 0.5, 0.7, 1.0]))
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    path = tmp_path / "noorient.nii.gz"
    nib.save(img, str(path))
    assert int(nib.load(str(path)).header["sform_code"]) == 0
    with pytest.raises(GeometryError, match=r"noorient\.nii\.gz.*no orientation"):
        read_nifti(path)


def test_analyze_file_is_refused(tmp_path):
    img = nib.AnalyzeImage(np.zeros((4, 5, 6), np.int16), np.diag([0.5, 0.5, 0.7, 1.0]))
    path = tmp_path / "old.img"
    nib.save(img, str(path))
    with pytest.raises(GeometryError, match=r"old\.(img|hdr).*placement"):
        read_nifti(path)


def test_qform_only_nifti_loads(tmp_path):
    """ITK-style files with only a qform keep loading where the qform puts them."""
    aff = np.diag([-0.5, -0.5, 0.7, 1.0])
    aff[:3, 3] = [10.0, 20.0, -5.0]
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), aff)
    img.set_sform(None, code=0)
    img.set_qform(aff, code=1)
    path = tmp_path / "qform.nii.gz"
    nib.save(img, str(path))
    out = read_nifti(path)
    np.testing.assert_allclose(out.affine, np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff, atol=1e-5)


def _mra_like(shape=(40, 36, 24), seed=0):
    """An 8-bit angiogram: noisy non-zero background, bright tubes, ~200 distinct values."""
    rng = np.random.default_rng(seed)
    data = rng.normal(60, 12, size=shape)
    zz, yy, xx = np.indices(shape)
    data[(np.hypot(yy - 18, xx - 12) < 3)] += 150
    data[(np.hypot(zz - 20, yy - 10) < 2)] += 120
    return np.clip(data, 0, 255).astype(np.uint8)


def test_8bit_angiogram_is_not_taken_for_a_label_map(tmp_path):
    path = write_nifti(make_volume(_mra_like(), _oblique_affine()), tmp_path / "case12.nii.gz")
    image = nvcview.load(path)
    assert image.meta.role != "labels"
    assert nvcview.load(path, role="TOF").meta.role == "TOF"
    labels = np.zeros((20, 20, 10), np.uint8)
    labels[5:9, 5:9, 2:5] = 3
    lab = write_nifti(make_volume(labels, np.eye(4)), tmp_path / "seg.nii.gz")
    assert nvcview.load(lab).meta.role == "labels"
    assert nvcview.load(lab, role="other").meta.role == "other"
    with pytest.raises(InputError, match="unknown role 'CT'"):
        nvcview.load(lab, role="CT")


def test_label_intent_code_makes_a_label_map(tmp_path):
    data = _mra_like()
    img = nib.Nifti1Image(data, np.diag([-0.5, -0.5, 0.5, 1.0]))
    img.header.set_intent("label")
    path = tmp_path / "many_labels.nii.gz"
    nib.save(img, str(path))
    assert read_nifti(path).meta.role == "labels"


def test_nifti_arrays_are_c_contiguous(tmp_path):
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = write_nifti(make_volume(array, _oblique_affine()), tmp_path / "c.nii")
    image = nvcview.load(path)
    assert image.array.flags.c_contiguous and image.array.shape == (4, 5, 6)
    np.testing.assert_array_equal(image.array, array)


def test_zero_dimension_nifti_is_refused(tmp_path):
    path = write_nifti(make_volume(np.zeros((4, 5, 6), np.int16), np.eye(4)), tmp_path / "z.nii")
    raw = bytearray(path.read_bytes())
    raw[42:44] = (0).to_bytes(2, "little")  # dim[1] = 0
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"z\.nii: .*(include 0|no voxels|not a readable)"):
        read_nifti(path)


def test_qform_only_nifti_with_zero_pixdim_is_refused(tmp_path):
    aff = np.diag([-0.5, -0.5, 0.7, 1.0])
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), aff)
    img.set_sform(None, code=0)
    img.set_qform(aff, code=1)
    path = tmp_path / "qzero.nii"
    nib.save(img, str(path))
    raw = bytearray(path.read_bytes())
    raw[80:92] = np.zeros(3, "<f4").tobytes()  # pixdim[1:4] = 0
    raw[254:256] = (0).to_bytes(2, "little")  # sform_code = 0
    path.write_bytes(bytes(raw))
    assert int(nib.load(str(path)).header["sform_code"]) == 0
    with pytest.raises(GeometryError, match=r"qzero\.nii: NIfTI voxel size pixdim"):
        read_nifti(path)
