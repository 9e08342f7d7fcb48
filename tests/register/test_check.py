"""Checkerboard and edge overlay arrays for checking a registration."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.register.check import checkerboard, edge_overlay


def _img(arr, spacing=(0.5, 0.5, 0.5)):
    return Image(volume=make_volume(arr, np.diag([*spacing, 1.0])))


def test_checkerboard_alternates_mm_tiles_of_both_images():
    fixed = _img(np.zeros((32, 32, 32), np.float32))
    moving = _img(
        np.full((32, 32, 32), 5.0, np.float32) + np.random.default_rng(0).random((32,) * 3)
    )
    fixed.array[0, 0, 0] = 1.0  # give the fixed image a range
    board = checkerboard(fixed, moving, tile_mm=4.0)  # 8 voxels per tile
    assert board.shape == (32, 32, 32)
    assert board[1, 1, 1] == 0.0  # tile (0, 0, 0): fixed
    assert board[9, 1, 1] > 0.0  # tile (1, 0, 0): moving
    assert board[9, 9, 1] == 0.0  # tile (1, 1, 0): fixed again
    assert board[9, 9, 9] > 0.0
    with pytest.raises(InputError, match="resample_to"):
        checkerboard(fixed, _img(np.zeros((16, 16, 16), np.float32)))


def test_edge_overlay_lies_on_the_surface_of_a_cube():
    arr = np.zeros((40, 40, 40), np.float32)
    arr[10:30, 10:30, 10:30] = 100.0
    edges = edge_overlay(_img(arr))
    assert edges.any()
    idx = np.argwhere(edges)
    # every edge voxel is within 2 voxels (1 mm) of a cube face
    face_dist = np.min(np.abs(np.concatenate([idx - 9.5, idx - 29.5], axis=1)), axis=1)
    assert face_dist.max() <= 2.0
    assert not edges[20, 20, 20] and not edges[0, 0, 0]


def test_region_pair_crops_both_to_the_box_keeping_world_positions():
    from nvcview.register.check import region_pair

    arr = np.arange(20 * 30 * 40, dtype=np.float32).reshape(20, 30, 40)
    aff = np.diag([0.5, 0.4, 0.4, 1.0])
    aff[:3, 3] = (-5.0, 3.0, 1.0)
    fixed = Image(volume=make_volume(arr, aff))
    moving = Image(volume=make_volume(arr * 2, aff))
    box = np.array([[-2.0, 5.0, 4.0], [1.0, 9.0, 8.0]])
    f_box, m_box = region_pair(fixed, moving, box)
    assert f_box.array.shape == m_box.array.shape
    assert all(a < b for a, b in zip(f_box.array.shape, arr.shape, strict=True))
    # the first cropped voxel keeps its LPS position and value
    i0 = np.round(np.linalg.solve(aff[:3, :3], f_box.affine[:3, 3] - aff[:3, 3])).astype(int)
    assert f_box.array[0, 0, 0] == arr[tuple(i0)]
    np.testing.assert_array_equal(m_box.array, 2 * f_box.array)
    # the box is covered
    far = f_box.affine[:3, :3] @ (np.asarray(f_box.array.shape) - 1) + f_box.affine[:3, 3]
    assert np.all(f_box.affine[:3, 3] <= box[0] + 1e-6) and np.all(far >= box[1] - 1e-6)


def test_check_alignment_says_when_a_moved_tof_needs_registering():
    from motion_phantoms import moved_study

    from nvcview.register import RegistrationCancelledError
    from nvcview.register.check import MISALIGNMENT_WARN_MM, check_alignment

    moved = moved_study((1.2, -0.6, 0.4), (0.0, 0.0, 1.5))
    lm = moved.phantom.landmarks
    found = check_alignment(moved.t2, moved.tof, landmarks=lm, side="left")
    assert found.misaligned and found.misalignment_mm > MISALIGNMENT_WARN_MM
    assert found.moving_series_uid == moved.tof.meta.series_uid
    assert found.message.startswith("T2 and TOF look misaligned by about")
    assert "register TOF to T2" in found.message
    still = moved_study()
    fine = check_alignment(still.t2, still.tof, landmarks=lm, side="left")
    assert not fine.misaligned, fine.misalignment_mm
    assert "agree within" in fine.message
    with pytest.raises(RegistrationCancelledError):
        check_alignment(moved.t2, moved.tof, landmarks=lm, cancel=lambda: True)
