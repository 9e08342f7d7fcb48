"""Label-map checks: clear errors for input that is not a usable label map."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.io.image import Image, SeriesMeta, make_volume
from nvcview.measure import as_label_grid, label_boxes, surface_gap


def _image(arr, affine=None, path="case7/labels.nii.gz"):
    aff = np.diag([0.5, 0.5, 1.0, 1.0]) if affine is None else affine
    return Image(volume=make_volume(arr, aff), meta=SeriesMeta(source_path=path))


def _two_blobs(dtype=np.uint16):
    arr = np.zeros((20, 20, 12), dtype)
    arr[2:8, 2:8, 2:8] = 4
    arr[12:18, 2:8, 2:8] = 9
    return arr


def test_float_image_is_refused_naming_the_file():
    arr = np.random.default_rng(0).random((6, 6, 6))
    with pytest.raises(InputError, match=r"case7/labels.nii.gz: not a label map: float64"):
        as_label_grid(_image(arr))


def test_integer_valued_floats_and_bools_are_labels():
    grid = as_label_grid(_image(_two_blobs().astype(np.float32)))
    assert np.issubdtype(grid.array.dtype, np.integer)
    assert set(label_boxes(grid.array)) == {4, 9}
    assert as_label_grid(_image(_two_blobs() > 0)).array.max() == 1


def test_negative_values_are_refused():
    arr = _two_blobs(np.int16)
    arr[0, 0, 0] = -1
    with pytest.raises(InputError, match="negative values"):
        as_label_grid(_image(arr))


def test_not_an_image_is_refused():
    with pytest.raises(InputError, match="expected an nvcview Image or highdicom.Volume"):
        as_label_grid(np.zeros((4, 4, 4), np.uint8))


def test_surface_gap_errors_name_the_label():
    img = _image(_two_blobs())
    with pytest.raises(InputError, match=r"second label 5 is not in the label map .* \[4, 9\]"):
        surface_gap(img, 4, 5)
    with pytest.raises(InputError, match="overlap"):
        surface_gap(img, 4, 4)
    with pytest.raises(InputError, match="label map is empty"):
        surface_gap(_image(np.zeros((5, 5, 5), np.uint8)), 1, 2)


def test_box_gap_in_mm_through_the_affine():
    # blocks end at voxel 7 and start at 12 along axis 0 (0.5 mm): their boundaries lie
    # half-way to the next voxel, at 7.5 and 11.5, so 4 * 0.5 = 2.0 mm apart
    res = surface_gap(_image(_two_blobs()), 4, 9)
    assert abs(res.gap_mm - 2.0) <= 0.25
    assert res.resolution_mm == pytest.approx(0.5)
    assert res.point_b_lps[0] > res.point_a_lps[0]


def test_boxes_of_huge_label_values():
    arr = np.zeros((6, 6, 6), np.int64)
    arr[1:3, 1, 1] = 7
    arr[4, 2:5, 3] = 5_000_000
    assert label_boxes(arr) == {
        7: (slice(1, 3), slice(1, 2), slice(1, 2)),
        5_000_000: (slice(4, 5), slice(2, 5), slice(3, 4)),
    }
    full = np.full((2, 2, 2), 200_001)
    full[0, 0, 0] = 300_000
    assert label_boxes(full) == {
        200_001: (slice(0, 2), slice(0, 2), slice(0, 2)),
        300_000: (slice(0, 1), slice(0, 1), slice(0, 1)),
    }


def test_mr_image_given_as_label_map_is_refused(tmp_path):
    """A T2 passed by mistake (integer, noisy, every voxel non-zero) is not measured."""
    import subprocess
    import sys

    from nvcview.io import write_nifti

    rng = np.random.default_rng(3)
    t2 = rng.integers(1, 1200, (20, 20, 12)).astype(np.uint16)
    with pytest.raises(InputError, match=r"case7/labels.nii.gz: not a label map: .* non-zero"):
        as_label_grid(_image(t2))
    path = write_nifti(make_volume(t2, np.diag([0.5, 0.5, 1.0, 1.0])), tmp_path / "t2.nii.gz")
    run = subprocess.run(
        [sys.executable, "-m", "nvcview", "distance", str(path), "--nerve", "2", "--vessel", "5"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "t2.nii.gz: not a label map" in run.stderr
    assert "Traceback" not in run.stderr
    # a label map with many labels but mostly background is still a label map
    many = np.zeros((40, 40, 12), np.uint16)
    many[::2, ::2, ::3] = np.arange(1, 20 * 20 * 4 + 1).reshape(20, 20, 4)
    assert as_label_grid(_image(many)).array.max() == 1600


def test_label_boxes_of_a_boolean_mask():
    mask = _two_blobs() == 4
    assert label_boxes(mask) == {1: (slice(2, 8), slice(2, 8), slice(2, 8))}
