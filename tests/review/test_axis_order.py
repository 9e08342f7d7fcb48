"""Label maps of the same grid stored in another axis order (Slicer, ITK-SNAP,
`nvcview convert`: column, row, slice) are re-indexed onto the reference grid, not refused."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import GeometryError
from nvcview.io.image import index_to_lps, make_volume
from nvcview.io.nifti import write_nifti
from nvcview.review.store import load_label_grid, load_labels, load_review, save_review

from .conftest import make_labels, make_review


def _reversed_axes(vol):
    """The same voxels with array axes reversed and one flipped (as a NIfTI tool stores them)."""
    arr = np.transpose(np.asarray(vol.array), (2, 1, 0))[::-1]
    aff = vol.affine.copy()
    perm = aff[:, [2, 1, 0, 3]]
    # flipping new axis 0: index i -> n-1-i
    n = arr.shape[0]
    perm[:3, 3] = perm[:3, 3] + perm[:3, 0] * (n - 1)
    perm[:3, 0] = -perm[:3, 0]
    return make_volume(np.ascontiguousarray(arr), perm)


def test_permuted_label_map_loads_on_reference_grid(tmp_path):
    labels = make_labels()
    folder = tmp_path / "rev"
    save_review(make_review(), folder, labels)
    review = load_review(folder)
    # replace the label file by the same voxels stored in (column, row, slice) order
    other = _reversed_axes(labels)
    assert other.array.shape != labels.array.shape
    # same world point holds the same label: pick a nerve voxel
    ijk = np.argwhere(other.array == 1)[0]
    xyz = index_to_lps(other.affine, ijk)
    write_nifti(other, folder / review.labelmap_path)
    loaded = load_labels(review, folder)
    assert loaded.array.shape == labels.array.shape
    np.testing.assert_allclose(loaded.affine, labels.affine, atol=1e-4)
    np.testing.assert_array_equal(loaded.array, labels.array)
    back = np.round(np.linalg.solve(loaded.affine[:3, :3], xyz - loaded.affine[:3, 3])).astype(int)
    assert loaded.array[tuple(back)] == 1


def test_permuted_labels_saved_onto_reference_grid(tmp_path):
    labels = make_labels()
    folder = tmp_path / "rev"
    save_review(make_review(), folder, labels)
    review = load_review(folder)
    save_review(review, folder, _reversed_axes(labels))
    np.testing.assert_array_equal(load_labels(load_review(folder), folder).array, labels.array)


def test_shifted_label_map_still_refused(tmp_path):
    labels = make_labels()
    folder = tmp_path / "rev"
    save_review(make_review(), folder, labels)
    review = load_review(folder)
    aff = labels.affine.copy()
    aff[:3, 3] += [0.3, 0.0, 0.0]  # not a re-indexing: a real shift
    write_nifti(make_volume(np.asarray(labels.array), aff), folder / review.labelmap_path)
    with pytest.raises(GeometryError, match="reference"):
        load_labels(review, folder)


def test_label_grid_read_matches_load_labels_on_a_permuted_file(tmp_path):
    """load_label_grid (no highdicom.Volume) re-indexes and refuses exactly as load_labels."""
    labels = make_labels()
    folder = tmp_path / "rev"
    save_review(make_review(), folder, labels)
    review = load_review(folder)
    write_nifti(_reversed_axes(labels), folder / review.labelmap_path)
    grid = load_label_grid(review, folder)
    image = load_labels(review, folder)
    np.testing.assert_array_equal(grid.array, image.array)
    np.testing.assert_array_equal(grid.array, labels.array)
    np.testing.assert_allclose(grid.affine, image.affine, atol=0)
    assert grid.source.endswith(review.labelmap_path)
    aff = labels.affine.copy()
    aff[:3, 3] += [0.3, 0.0, 0.0]
    write_nifti(make_volume(np.asarray(labels.array), aff), folder / review.labelmap_path)
    with pytest.raises(GeometryError, match="reference"):
        load_label_grid(review, folder)
