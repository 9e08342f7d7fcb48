"""MetaImage and NRRD volumes: exact geometry, checked against SimpleITK in world space."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import assert_same_world, rotation
from references import sitk_affine

import nvcview
from nvcview.errors import InputError


def _write(path, array, spacing=(0.3, 0.35, 0.6), origin=(-20.0, 11.5, 40.25), tilt=(3, -2, 7)):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(rotation(*tilt).ravel().tolist())
    sitk.WriteImage(img, str(path))
    return img


@pytest.mark.parametrize("suffix", [".mha", ".mhd", ".nrrd"])
def test_itk_formats_load_in_the_same_lps_place_as_simpleitk(tmp_path, suffix):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 1200, size=(9, 11, 13)).astype(np.int16)  # [k, j, i]
    path = tmp_path / f"tof{suffix}"
    _write(path, array)
    image = nvcview.load(path)
    ref = sitk.ReadImage(str(path))
    assert_same_world(image.array, image.affine, sitk.GetArrayFromImage(ref), sitk_affine(ref))
    # an independent check of one voxel: ITK index (i, j, k) = (4, 2, 6)
    lps = np.array(ref.TransformIndexToPhysicalPoint((4, 2, 6)))
    np.testing.assert_allclose(image.affine[:3, :3] @ [6, 2, 4] + image.affine[:3, 3], lps)
    assert image.array[6, 2, 4] == array[6, 2, 4]
    assert image.array.flags.c_contiguous
    assert image.meta.role == "TOF" and image.meta.orientation == "axial oblique"
    assert nvcview.list_series(path)[0].shape == (9, 11, 13)


def test_nrrd_in_ras_space_is_converted_by_itk(tmp_path):
    """A hand-written NRRD header in RAS: x and y flip into LPS."""
    data = np.arange(2 * 3 * 4, dtype=np.uint16)
    path = tmp_path / "ras.nrrd"
    header = (
        "NRRD0004\ntype: uint16\ndimension: 3\nspace: right-anterior-superior\n"
        "sizes: 4 3 2\nspace directions: (0.5,0,0) (0,0.6,0) (0,0,0.7)\n"
        "kinds: domain domain domain\nendian: little\nencoding: raw\n"
        "space origin: (10,20,30)\n\n"
    )
    path.write_bytes(header.encode() + data.tobytes())
    image = nvcview.load(path)
    np.testing.assert_allclose(image.affine[:3, 3], [-10, -20, 30])
    # array axis 2 is NRRD's first (fastest) axis: +0.5 mm towards the right = -x in LPS
    np.testing.assert_allclose(image.affine[:3, 2], [-0.5, 0, 0])
    assert image.array[1, 2, 3] == data.reshape(2, 3, 4)[1, 2, 3]


def test_8bit_metaimage_angiogram_is_not_a_label_map(tmp_path):
    rng = np.random.default_rng(2)
    array = np.clip(rng.normal(70, 15, size=(12, 20, 20)), 0, 255).astype(np.uint8)
    _write(tmp_path / "case.mha", array)
    assert nvcview.load(tmp_path / "case.mha").meta.role != "labels"
    labels = np.zeros((12, 20, 20), np.uint8)
    labels[3:6, 4:9, 4:9] = 2
    _write(tmp_path / "mask.mha", labels)
    assert nvcview.load(tmp_path / "mask.mha").meta.role == "labels"


def test_2d_and_vector_images_are_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), np.uint8)), str(tmp_path / "a.mha"))
    with pytest.raises(InputError, match=r"a\.mha: expected a 3D volume"):
        nvcview.load(tmp_path / "a.mha")
    vec = sitk.GetImageFromArray(np.zeros((4, 5, 6, 3), np.uint8), isVector=True)
    sitk.WriteImage(vec, str(tmp_path / "v.mha"))
    with pytest.raises(InputError, match=r"v\.mha: 3 components per voxel"):
        nvcview.load(tmp_path / "v.mha")
    (tmp_path / "junk.mha").write_text("not an image")
    with pytest.raises(InputError, match=r"junk\.mha: not a readable MetaImage/NRRD"):
        nvcview.load(tmp_path / "junk.mha")


def test_convert_metaimage_to_nifti_keeps_world_geometry(tmp_path):
    import nibabel as nib

    array = np.random.default_rng(3).integers(0, 999, size=(6, 7, 8)).astype(np.int16)
    ref = _write(tmp_path / "t2.mha", array)
    out = tmp_path / "t2.nii.gz"
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "convert", tmp_path / "t2.mha", out],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    nii = nib.load(str(out))
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ nii.affine
    data = np.asarray(nii.dataobj)
    assert data.shape == (8, 7, 6)  # NIfTI (i, j, k)
    assert_same_world(data, lps, sitk.GetArrayFromImage(ref), sitk_affine(ref), atol_mm=1e-4)
