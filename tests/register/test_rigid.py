"""register_series / estimate_misalignment on phantom studies with a known TOF motion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from motion_phantoms import moved_study, tre_mm

from nvcview.errors import NvcviewError
from nvcview.io.image import Image, make_volume
from nvcview.register import (
    RegistrationError,
    RegistrationRefusedError,
    estimate_misalignment,
    register_series,
)
from nvcview.register.region import box_corners
from nvcview.register.rigid import Schedule

# (shift mm, rotation about x, y, z degrees, oblique grids): 1-2 mm, 1-3 degrees
MOTIONS = [
    ((1.5, -1.0, 0.5), (0.0, 0.0, 1.0), False),
    ((1.0, 1.0, -1.0), (2.0, -1.0, 1.5), False),
    ((-2.0, 0.5, 1.0), (-1.0, 3.0, 0.0), True),
    ((0.5, 1.5, 1.0), (3.0, 0.0, -2.0), True),
]


@pytest.fixture(scope="module")
def still():
    return moved_study()


def shifted(img: Image, d) -> Image:
    """The same voxels placed ``d`` mm away (a huge apparent motion)."""
    a = img.affine.copy()
    a[:3, 3] += d
    return Image(volume=make_volume(img.array, a), meta=img.meta, patient=img.patient)


@pytest.mark.parametrize(("shift", "rot", "oblique"), MOTIONS)
def test_register_recovers_known_motion_within_tre_targets(shift, rot, oblique):
    s = moved_study(shift, rot, oblique=oblique)
    rexp = s.phantom.landmarks["RExP"]
    before = tre_mm(np.eye(4), s.true_moving_to_fixed, rexp)
    assert np.median(before) > 1.0  # the motion is real

    reg = register_series(s.t2, s.tof, landmarks=s.phantom.landmarks)

    err = tre_mm(reg.moving_to_fixed_lps, s.true_moving_to_fixed, rexp)
    assert np.median(err) <= 0.3, np.median(err)
    assert err.max() <= 0.5, err.max()
    assert reg.method == "rigid" and reg.metric == "MattesMutualInformation"
    assert reg.iterations > 0 and np.isfinite(reg.metric_value)
    assert reg.moving_series_uid == s.tof.meta.series_uid
    assert reg.fixed_series_uid == s.t2.meta.series_uid
    # the residual estimate is of the order of the real error, not a made-up zero
    assert 0.0 < reg.residual_mm < 0.5
    assert not reg.warnings and not reg.forced
    # the region is around the landmarks and inside the T2
    lo, hi = reg.region_lps
    assert np.all(lo <= rexp) and np.all(rexp <= hi)


def test_register_without_motion_stays_at_identity(still):
    reg = register_series(still.t2, still.tof, landmarks=still.phantom.landmarks)
    err = tre_mm(reg.moving_to_fixed_lps, np.eye(4), still.phantom.landmarks["RExP"])
    assert err.max() <= 0.1, err.max()


def test_register_without_landmarks_uses_the_volume_centre(still):
    reg = register_series(still.t2, still.tof, estimate_residual=False)
    t2_centre = (np.array(still.t2.array.shape) - 1) / 2 @ still.t2.affine[:3, :3].T
    t2_centre += still.t2.affine[:3, 3]
    assert np.allclose(reg.region_lps.mean(axis=0), t2_centre, atol=1.0)
    assert tre_mm(reg.moving_to_fixed_lps, np.eye(4), t2_centre, 15.0).max() < 0.2


def test_register_warns_on_different_frame_of_reference(still):
    other = dataclasses.replace(still.tof.meta, frame_of_reference_uid="1.2.3.4")
    tof = Image(volume=still.tof.volume, meta=other)
    reg = register_series(still.t2, tof, landmarks=still.phantom.landmarks, estimate_residual=False)
    assert any("FrameOfReferenceUID" in w for w in reg.warnings)
    assert tre_mm(reg.moving_to_fixed_lps, np.eye(4), still.phantom.landmarks["RExP"]).max() < 0.15


def test_register_refuses_more_than_10_mm_unless_forced(still):
    tof = shifted(still.tof, [11.0, 0.0, 0.0])
    with pytest.raises(RegistrationRefusedError, match=r"11\.\d mm .*refused"):
        register_series(still.t2, tof, landmarks=still.phantom.landmarks)
    reg = register_series(
        still.t2, tof, landmarks=still.phantom.landmarks, force=True, estimate_residual=False
    )
    assert reg.forced and any("forced" in w for w in reg.warnings)
    assert np.allclose(reg.translation_mm, [-11.0, 0.0, 0.0], atol=0.15)


def test_register_accepts_8_mm_without_force(still):
    reg = register_series(
        still.t2,
        shifted(still.tof, [8.0, 3.0, 0.0]),
        landmarks=still.phantom.landmarks,
        estimate_residual=False,
    )
    assert not reg.forced
    assert np.allclose(reg.translation_mm, [-8.0, -3.0, 0.0], atol=0.15)


def test_register_no_overlap_is_a_clear_error_naming_the_series(still):
    with pytest.raises(RegistrationError, match="do not overlap") as exc:
        register_series(still.t2, shifted(still.tof, [100.0, 0.0, 0.0]))
    assert still.t2.meta.series_description in str(exc.value)
    assert still.tof.meta.series_description in str(exc.value)


def test_register_empty_region_is_an_error(still):
    far = {"IAC": [300.0, 0.0, 0.0], "RExP": [300.0, 0.0, 0.0]}
    with pytest.raises(RegistrationError, match="outside .*empty region"):
        register_series(still.t2, still.tof, landmarks=far)
    flat = Image(
        volume=make_volume(np.full(still.t2.array.shape, 7, np.uint16), still.t2.affine),
        meta=still.t2.meta,
    )
    with pytest.raises(RegistrationError, match="empty"):
        register_series(flat, still.tof)


def test_register_no_convergence_is_refused_unless_forced(still):
    few = Schedule(max_iterations=3)
    with pytest.raises(RegistrationError, match="did not converge"):
        register_series(still.t2, still.tof, schedule=few)
    reg = register_series(still.t2, still.tof, schedule=few, force=True, estimate_residual=False)
    assert reg.forced and any("did not converge" in w for w in reg.warnings)


def test_registration_errors_are_nvcview_errors():
    assert issubclass(RegistrationError, NvcviewError)
    assert issubclass(RegistrationRefusedError, RegistrationError)


def test_estimate_misalignment_tells_moved_from_still(still):
    assert estimate_misalignment(still.t2, still.tof, landmarks=still.phantom.landmarks) < 0.5
    s = moved_study((0.5, 0.4, 0.0), (0.0, 0.0, 0.0))
    mis = estimate_misalignment(s.t2, s.tof, landmarks=s.phantom.landmarks)
    assert mis > 0.5
    # about the true displacement of the region corners (0.64 mm shift, no rotation)
    assert abs(mis - np.hypot(0.5, 0.4)) < 0.2


def test_tre_helper_measures_what_it_says():
    truth = np.eye(4)
    found = np.eye(4)
    found[:3, 3] = [0.3, 0.0, 0.4]
    err = tre_mm(found, truth, np.zeros(3))
    assert np.allclose(err, 0.5)
    assert len(box_corners([[0, 0, 0], [1, 1, 1]])) == 8


def test_register_reports_progress_up_to_the_end(still):
    seen: list[tuple[float, str]] = []
    reg = register_series(
        still.t2,
        still.tof,
        landmarks=still.phantom.landmarks,
        progress=lambda f, text: seen.append((f, text)),
    )
    fractions = [f for f, _ in seen]
    # three levels, then the two residual runs: increasing, ending at 1
    assert len(seen) == 5 and fractions == sorted(fractions)
    assert 0.0 < fractions[0] and fractions[-1] == pytest.approx(1.0)
    assert "level 1 of 3" in seen[0][1] and "residual" in seen[-1][1]
    assert np.isfinite(reg.residual_mm)


def test_register_cancelled_stops_and_returns_nothing(still):
    from nvcview.register import RegistrationCancelledError

    polls = [0]

    def cancel() -> bool:  # the reader presses Cancel during the first level
        polls[0] += 1
        return polls[0] > 3

    with pytest.raises(RegistrationCancelledError, match="cancelled; nothing applied"):
        register_series(still.t2, still.tof, cancel=cancel)
    # the optimiser stopped at once: a few polls, not a whole registration's iterations
    assert polls[0] <= 6
    assert issubclass(RegistrationCancelledError, RegistrationError)
