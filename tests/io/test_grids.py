"""Re-indexing a volume onto another's grid (label maps from Slicer / ITK-SNAP)."""

from __future__ import annotations

import numpy as np
import pytest
from dicom_factory import write_series

import nvcview
from nvcview.errors import GeometryError
from nvcview.io import make_volume, read_nifti, write_nifti
from nvcview.io.grids import (
    GRID_TOL_VOXELS,
    conform_to,
    grid_mismatch,
    grid_tolerance_mm,
    same_grid,
    same_voxels,
)


@pytest.fixture
def t2(tmp_path):
    write_series(tmp_path / "dcm", shape=(7, 9, 8), tilt_deg=(10, -5, 20), order="shuffle")
    return nvcview.load(tmp_path / "dcm")


def test_nifti_layout_conforms_back_to_dicom(tmp_path, t2):
    """A NIfTI in (column, row, slice) order, as Slicer/ITK-SNAP/convert write it."""
    nifti_layout = t2.volume.permute_spatial_axes((2, 1, 0)).flip_spatial((1,))
    path = write_nifti(nifti_layout, tmp_path / "labels.nii.gz")
    labels = read_nifti(path)
    assert labels.array.shape == (8, 9, 7)
    assert same_voxels(labels, t2)
    assert not same_grid(labels, t2)  # same voxels, another axis order
    back = conform_to(labels, t2, name=path.name)
    assert back.array.shape == t2.array.shape
    np.testing.assert_array_equal(back.array, t2.array)
    np.testing.assert_allclose(back.affine, t2.affine)


def test_shifted_grid_refused(t2):
    affine = t2.affine.copy()
    affine[:3, 3] += 0.2 * affine[:3, 0] / np.linalg.norm(affine[:3, 0])  # 0.2 mm off
    moved = make_volume(np.zeros(t2.array.shape, np.uint8), affine)
    assert not same_voxels(moved, t2) and not same_grid(moved, t2)
    with pytest.raises(GeometryError, match="labels.nii: grid .* would need resampling"):
        conform_to(moved, t2, name="labels.nii")


def test_cropped_label_map_padded_when_allowed(t2):
    crop = t2.volume[1:5, 2:7, 3:8]  # a sub-grid, as ITK-SNAP may save
    sub = make_volume(np.ones(crop.array.shape, np.uint8), crop.affine)
    with pytest.raises(GeometryError):
        conform_to(sub, t2)
    full = conform_to(sub, t2, allow_pad_crop=True)
    expected = np.zeros(t2.array.shape, np.uint8)
    expected[1:5, 2:7, 3:8] = 1
    np.testing.assert_array_equal(full.array, expected)


def test_rotated_grid_refused_even_with_pad_crop(t2):
    from dicom_factory import rotation

    affine = t2.affine.copy()
    affine[:3, :3] = rotation(2, 0, 0) @ affine[:3, :3]  # 2 degrees off
    turned = make_volume(np.zeros(t2.array.shape, np.uint8), affine)
    with pytest.raises(GeometryError, match="would need resampling"):
        conform_to(turned, t2, allow_pad_crop=True)


def test_same_corners_different_samples_is_not_the_same_grid():
    """10 x 2 mm along x and 19 x 1 mm along y has the corners of 19 x 1 mm / 10 x 2 mm."""
    a = make_volume(np.zeros((10, 19, 5), np.uint8), np.diag([2.0, 1.0, 1.0, 1.0]))
    b = make_volume(np.zeros((19, 10, 5), np.uint8), np.diag([1.0, 2.0, 1.0, 1.0]))
    assert not same_voxels(a, b)
    swapped = make_volume(
        np.zeros((19, 10, 5), np.uint8),
        np.array([[0, 2.0, 0, 0], [1.0, 0, 0, 0], [0, 0, -1.0, 4.0], [0, 0, 0, 1.0]]),
    )
    assert same_voxels(a, swapped) and same_voxels(swapped, a)


def test_one_tolerance_for_same_grid_and_re_indexing(t2):
    """A shift just inside GRID_TOL_VOXELS passes both rules; just outside, both refuse."""
    tol = grid_tolerance_mm(t2.affine)
    vox = float(np.min(t2.spacing_mm))
    assert tol == pytest.approx(GRID_TOL_VOXELS * vox)
    axis = t2.affine[:3, 0] / np.linalg.norm(t2.affine[:3, 0])
    for factor, ok in ((0.7, True), (1.5, False)):
        affine = t2.affine.copy()
        affine[:3, 3] += factor * tol * axis
        moved = make_volume(np.zeros(t2.array.shape, np.uint8), affine)
        permuted = moved.permute_spatial_axes((2, 1, 0))
        assert same_grid(moved, t2) is ok
        assert (grid_mismatch(affine, t2.array.shape, t2.affine, t2.array.shape) is None) is ok
        assert same_voxels(permuted, t2) is ok
        if ok:
            np.testing.assert_array_equal(conform_to(permuted, t2).affine, t2.affine)
        else:
            with pytest.raises(GeometryError, match="would need resampling"):
                conform_to(permuted, t2)
