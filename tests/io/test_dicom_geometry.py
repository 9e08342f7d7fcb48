"""Synthetic series load with the scanner's geometry, agreeing with SimpleITK and dcm2niix.

Every comparison is in world space: each voxel is mapped through each reader's own
affine to LPS mm (positions within 1e-3 mm, identical values).
"""

from __future__ import annotations

import numpy as np
import pytest
from dicom_factory import JPEG_LOSSLESS, assert_same_world, write_enhanced, write_series
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)
from references import dcm2niix, sitk_file, sitk_series

import nvcview

CASES = {
    "axial": dict(plane="axial"),
    "coronal_reversed": dict(plane="coronal", order="reverse"),
    "sagittal_shuffled": dict(plane="sagittal", order="shuffle"),
    "double_oblique_signed_rescaled": dict(
        plane="axial",
        tilt_deg=(14.0, -21.0, 6.0),
        order="shuffle",
        dtype=np.int16,
        slope=2.0,
        intercept=-100.0,
    ),
    "unsigned_fractional_rescale": dict(
        plane="coronal",
        tilt_deg=(0.0, 0.0, 9.0),
        dtype=np.uint16,
        bits_stored=12,
        slope=0.25,
        intercept=10.5,
    ),
    "rle": dict(plane="sagittal", tilt_deg=(5.0, 0, 0), order="shuffle", compress=RLELossless),
    "jpeg2000": dict(
        plane="axial",
        order="reverse",
        dtype=np.int16,
        bits_stored=12,
        compress=JPEG2000Lossless,
        shape=(12, 36, 32),  # openjpeg needs >= 32 pixels
    ),
    # geometry comes from IPP/IOP alone: a prone (HFP) patient is not "fixed"
    "head_first_prone": dict(plane="axial", tilt_deg=(0, 0, 180), patient_position="HFP"),
    "jpeg_ls": dict(plane="coronal", order="shuffle", dtype=np.uint16, compress=JPEGLSLossless),
    "jpeg_lossless": dict(plane="axial", tilt_deg=(-9, 0, 0), compress=JPEG_LOSSLESS),
    # GDCM rewrites a rescaled signed image with (shared/per-frame) functional groups
    # even in a single-frame MR object: geometry must come from there
    "jpeg_lossless_gdcm_functional_groups": dict(
        plane="sagittal",
        tilt_deg=(0, 0, 4),
        dtype=np.int16,
        bits_stored=16,
        slope=1.0,
        intercept=-1024.0,
        compress=JPEG_LOSSLESS,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_series_matches_truth_sitk_and_dcm2niix(tmp_path, name):
    params = {"shape": (12, 20, 16), **CASES[name]}
    series = write_series(tmp_path / "dicom", seed=len(name), **params)
    image = nvcview.load(tmp_path / "dicom")

    assert image.array.shape == params["shape"]
    assert_same_world(image.array, image.affine, series.values, series.affine, label="truth")
    sitk_arr, sitk_aff = sitk_series(tmp_path / "dicom")
    assert_same_world(image.array, image.affine, sitk_arr, sitk_aff, label="SimpleITK")
    (nii,) = dcm2niix(tmp_path / "dicom", tmp_path / "nii")
    assert_same_world(image.array, image.affine, nii[1], nii[2], label="dcm2niix")

    # integer-exact transforms stay integer, fractional ones are float32
    exact = float(series.slope).is_integer() and float(series.intercept).is_integer()
    assert (image.array.dtype.kind in "iu") == exact
    if not exact:
        assert image.array.dtype == np.float32
    # the slice axis steps along the plane normal by the slice spacing
    np.testing.assert_allclose(image.spacing_mm, (0.7, 0.5, 0.6), atol=1e-4)
    assert image.meta.series_uid == series.series_uid
    assert image.meta.n_files == 12


@pytest.mark.parametrize("name", [n for n in CASES if n != "jpeg_lossless_gdcm_functional_groups"])
def test_series_matches_highdicom(tmp_path, name):
    """highdicom's get_volume_from_series places the same values at the same points."""
    import highdicom as hd
    import pydicom

    params = {"shape": (12, 20, 16), **CASES[name]}
    series = write_series(tmp_path, seed=len(name), **params)
    image = nvcview.load(tmp_path)
    ref = hd.get_volume_from_series([pydicom.dcmread(p) for p in series.paths])
    assert_same_world(image.array, image.affine, ref.array, ref.affine, label="highdicom")


def test_deflated_series(tmp_path):
    """Deflated explicit VR (dcm2niix refuses it): truth, SimpleITK and highdicom agree."""
    import highdicom as hd
    import pydicom

    series = write_series(
        tmp_path, plane="coronal", tilt_deg=(0, 6, 0), compress=DeflatedExplicitVRLittleEndian
    )
    image = nvcview.load(tmp_path)
    assert_same_world(image.array, image.affine, series.values, series.affine, label="truth")
    arr, aff = sitk_series(tmp_path)
    assert_same_world(image.array, image.affine, arr, aff, label="SimpleITK")
    ref = hd.get_volume_from_series([pydicom.dcmread(p) for p in series.paths])
    assert_same_world(image.array, image.affine, ref.array, ref.affine, label="highdicom")


def test_gdcm_case_really_uses_functional_groups(tmp_path):
    import pydicom

    params = {"shape": (2, 20, 16), **CASES["jpeg_lossless_gdcm_functional_groups"]}
    series = write_series(tmp_path, **params)
    ds = pydicom.dcmread(series.paths[0], stop_before_pixels=True)
    assert "ImagePositionPatient" not in ds and "PerFrameFunctionalGroupsSequence" in ds


def test_orientation_names(tmp_path):
    names = {}
    for plane, tilt in (("axial", (0, 0, 0)), ("coronal", (0, 0, 0)), ("sagittal", (20, 0, 0))):
        folder = tmp_path / plane
        write_series(folder, shape=(3, 6, 5), plane=plane, tilt_deg=tilt)
        names[plane] = nvcview.list_series(folder)[0].orientation
    assert names == {"axial": "axial", "coronal": "coronal", "sagittal": "sagittal oblique"}


def test_enhanced_multiframe_matches_truth_dcm2niix_highdicom(tmp_path):
    import highdicom as hd
    import pydicom

    path = tmp_path / "enh" / "enhanced.dcm"
    series = write_enhanced(path)
    image = nvcview.load(path)
    assert image.array.dtype == np.float32  # slope 1.5: not integer-exact
    assert_same_world(image.array, image.affine, series.values, series.affine, label="truth")
    # the folder gives the same volume as the file
    again = nvcview.load(path.parent)
    assert_same_world(image.array, image.affine, again.array, again.affine, label="folder")
    (nii,) = dcm2niix(path.parent, tmp_path / "nii")
    assert_same_world(image.array, image.affine, nii[1], nii[2], label="dcm2niix")
    vol = hd.Image.from_dataset(pydicom.dcmread(path)).get_volume()
    assert_same_world(image.array, image.affine, vol.array, vol.affine, label="highdicom")
    assert image.meta.role == "TOF"


def test_enhanced_sitk_reads_first_frame_geometry(tmp_path):
    """SimpleITK's file reader on an axial enhanced object agrees too (unrotated case)."""
    path = tmp_path / "enh.dcm"
    series = write_enhanced(path, tilt_deg=(0, 0, 0), order="normal")
    image = nvcview.load(path)
    arr, aff = sitk_file(path)
    assert_same_world(image.array, image.affine, series.values, series.affine, label="truth")
    assert_same_world(image.array, image.affine, arr, aff, label="SimpleITK")


def test_world_comparison_detects_flip_and_shift(tmp_path):
    """The comparison used above fails on a left-right flip or a 0.01 mm shift."""
    series = write_series(tmp_path, shape=(4, 6, 5))
    image = nvcview.load(tmp_path)
    flipped = image.array[:, :, ::-1]
    with pytest.raises(AssertionError):
        assert_same_world(flipped, image.affine, series.values, series.affine)
    shifted = image.affine.copy()
    shifted[0, 3] += 0.01
    with pytest.raises(AssertionError, match="positions differ"):
        assert_same_world(image.array, shifted, series.values, series.affine)
