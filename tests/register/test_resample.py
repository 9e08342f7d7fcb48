"""resample_to: moving series and TOF-grid labels shown on the T2 grid through a transform."""

from __future__ import annotations

import numpy as np
import pytest
from motion_phantoms import moved_study

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.measure import measure_case
from nvcview.register import apply_to_points, register_series, resample_to
from nvcview.structures import vessels


def _grid(shape, spacing, origin, order=(0, 1, 2)):
    """An axis-aligned affine; ``order`` permutes which array axis runs along x, y, z."""
    aff = np.eye(4)
    aff[:3, :3] = 0.0
    for axis, world in enumerate(order):
        aff[world, axis] = spacing[axis]
    aff[:3, 3] = origin
    return aff


def test_resample_to_follows_the_transform_in_world_space():
    # a bright cube at a known LPS place on the moving grid, (i, j, k) array order
    mov_aff = _grid((40, 40, 40), (0.5, 0.5, 0.5), (-10.0, -10.0, -10.0))
    arr = np.zeros((40, 40, 40), np.float32)
    idx = np.indices(arr.shape).reshape(3, -1).T
    p = idx @ mov_aff[:3, :3].T + mov_aff[:3, 3]
    inside = np.all(np.abs(p - [2.0, -1.0, 3.0]) <= 2.0, axis=1)
    arr.reshape(-1)[inside] = 100.0
    moving = Image(volume=make_volume(arr, mov_aff))
    # fixed grid in the other array order (slice, row, column) with other spacings
    fix_aff = _grid((30, 50, 50), (0.7, 0.4, 0.4), (-9.0, -9.0, -9.0), order=(2, 1, 0))
    fixed = Image(volume=make_volume(np.zeros((30, 50, 50), np.float32), fix_aff))
    m = np.eye(4)
    m[:3, 3] = [1.0, 2.0, -1.5]  # the anatomy sits here in the fixed series
    out = resample_to(moving, fixed, m)
    assert out.array.shape == fixed.array.shape
    assert np.allclose(out.affine, fixed.affine)
    w = out.array.astype(np.float64)
    fidx = np.indices(w.shape).reshape(3, -1).T
    fp = fidx @ fix_aff[:3, :3].T + fix_aff[:3, 3]
    centroid = (fp * w.reshape(-1, 1)).sum(0) / w.sum()
    assert np.allclose(centroid, apply_to_points([2.0, -1.0, 3.0], m), atol=0.05)


def test_resample_to_identity_on_the_same_grid_is_exact():
    s = moved_study()
    same = resample_to(s.t2, s.t2, np.eye(4))
    assert np.array_equal(same.array, s.t2.array)
    labels = resample_to(s.phantom.labels, s.t2, np.eye(4), order=0)
    assert labels.array.dtype == np.uint8
    assert np.array_equal(labels.array, s.phantom.labels.array)


def test_resample_to_rejects_bad_arguments():
    s = moved_study()
    with pytest.raises(InputError, match="order"):
        resample_to(s.tof, s.t2, np.eye(4), order=2)
    with pytest.raises(InputError, match="4x4"):
        resample_to(s.tof, s.t2, np.eye(3))


def _fused_gaps(study, moving_to_fixed):
    """Nerve from the T2 labels, vessels carried from the TOF grid; gap per vessel (mm)."""
    ph = study.phantom
    vessel_labels = [v.label for v in vessels(ph.structures)]
    carried = resample_to(study.tof_labels, study.t2, moving_to_fixed, order=0).array
    fused = ph.labels.array.copy()
    fused[np.isin(fused, vessel_labels)] = 0
    take = np.isin(carried, vessel_labels) & (fused == 0)
    fused[take] = carried[take]
    img = Image(volume=make_volume(fused, ph.labels.affine), meta=ph.labels.meta)
    return {r.vessel_label: r for r in measure_case(img, ph.structures, ph.landmarks)}


def test_gaps_with_registration_agree_with_truth_as_well_as_without_motion():
    still = moved_study()
    moved = moved_study((1.5, -1.0, 1.0), (2.0, -2.0, 1.0))
    truth = {v["label"]: v["gap_mm"] for v in still.phantom.truth["vessels"]}
    reg = register_series(moved.t2, moved.tof, landmarks=moved.phantom.landmarks)

    base = _fused_gaps(still, np.eye(4))
    registered = _fused_gaps(moved, reg.moving_to_fixed_lps)
    unregistered = _fused_gaps(moved, np.eye(4))
    assert set(registered) == set(truth)
    for label, gap in truth.items():
        err_still = abs(base[label].gap_mm - gap)
        err_reg = abs(registered[label].gap_mm - gap)
        assert err_reg <= err_still + 0.1, (label, err_reg, err_still)
        assert err_reg <= registered[label].resolution_mm
    # the conflict vessel (AICA, 0.6 mm from VII): the motion alone spoils the gap
    aica = int(still.phantom.truth["conflict"]["vessel_label"])
    assert abs(unregistered[aica].gap_mm - truth[aica]) > 0.5
    assert registered[aica].grade == base[aica].grade


def test_placed_and_through_review_apply_the_stored_transform():
    from nvcview.register import Registration, placed, through_review
    from nvcview.review.model import Review

    study = moved_study((1.5, -1.0, 0.5), (0.0, 0.0, 2.0))
    m = study.true_moving_to_fixed
    moved = placed(study.tof, m)
    np.testing.assert_array_equal(moved.array, study.tof.array)  # no resampling
    np.testing.assert_allclose(moved.affine, m @ study.tof.affine)
    review = Review()
    assert through_review(study.tof, review) is study.tof  # not registered: as acquired
    review.registrations = [
        Registration(moving_to_fixed_lps=m, moving_series_uid=study.tof.meta.series_uid)
    ]
    shown = through_review(study.tof, review)
    assert shown is not None
    np.testing.assert_allclose(shown.affine, m @ study.tof.affine)
    # a TOF voxel now lies where its anatomy is in the T2 frame
    ijk = np.array([10.0, 40.0, 50.0])
    p_tof = study.tof.affine[:3, :3] @ ijk + study.tof.affine[:3, 3]
    np.testing.assert_allclose(
        shown.affine[:3, :3] @ ijk + shown.affine[:3, 3], apply_to_points(p_tof, m)
    )
    with pytest.raises(InputError, match="finite 4x4"):
        placed(study.tof, np.full((4, 4), np.nan))


def test_resample_to_in_slabs_gives_the_same_voxels_reports_progress_and_cancels():
    from nvcview.register import RegistrationCancelledError

    s = moved_study((0.7, -0.4, 0.2), (0.0, 1.0, 0.0), oblique=True)
    m = s.true_moving_to_fixed
    whole = resample_to(s.tof, s.t2, m)
    seen: list[float] = []
    slabbed = resample_to(s.tof, s.t2, m, progress=lambda f, _t: seen.append(f), slabs=5)
    assert np.array_equal(slabbed.array, whole.array)  # the same values, piece by piece
    assert len(seen) == 5 and seen == sorted(seen) and seen[-1] == 1.0
    labels = resample_to(s.tof_labels, s.t2, m, order=0, cancel=lambda: False)
    assert np.array_equal(labels.array, resample_to(s.tof_labels, s.t2, m, order=0).array)
    # cancelled after two slabs: nothing is returned
    calls = iter([False, False, True])
    with pytest.raises(RegistrationCancelledError, match="cancelled"):
        resample_to(s.tof, s.t2, m, cancel=lambda: next(calls), slabs=4)
