"""CaseSession's registration methods: the stored TOF -> T2 transform is the one every
TOF use of the session goes through (seed grows, carried masks, the TOF shown)."""

from __future__ import annotations

import numpy as np
import pytest
from register.motion_phantoms import moved_study

from nvcview.case import CaseSession
from nvcview.case.session import MISALIGNMENT_WARN_MM
from nvcview.errors import InputError
from nvcview.register import Registration


@pytest.fixture(scope="module")
def study():
    # the head moved 1.5 mm and 2 degrees between T2 and TOF
    return moved_study((1.5, -1.0, 0.5), (0.0, 0.0, 2.0))


def _aica(study):
    ph = study.phantom
    aica = next(v for v in ph.truth["vessels"] if v["vessel_type"] == "AICA")
    label = next(s.label for s in ph.structures if s.vessel_type == "AICA")
    return np.asarray(aica["vessel_axis_point_lps"], float), ph.labels.array == label


def _on_truth(grown: np.ndarray, truth: np.ndarray) -> float:
    """Share of the grown voxels that lie on the true vessel (the grow is radius-limited)."""
    return float((grown & truth).sum() / max(1, grown.sum()))


def test_vessel_grow_goes_through_the_stored_registration(study):
    seed, truth_mask = _aica(study)  # the seed as clicked on the T2 (T2 frame)
    session = CaseSession(t2=study.t2, tof=study.tof)
    assert session.tof_registration is None and session.tof_to_reference_lps() is None
    try:
        without, _ = session.vessel_mask(seed, radius_mm=8.0)
    except InputError:  # the seed, by DICOM geometry alone, misses the moved vessel
        without = np.zeros_like(truth_mask)

    seen = []
    session.events.registration.connect(seen.append)
    reg = Registration(
        moving_to_fixed_lps=study.true_moving_to_fixed,
        moving_series_uid=study.tof.meta.series_uid,
        who="dr-test",
    )
    session.set_registration(reg)
    assert session.dirty and len(seen) == 1
    assert seen[0].moving_series_uid == study.tof.meta.series_uid
    assert session.tof_registration is reg
    np.testing.assert_allclose(session.tof_to_reference_lps(), study.true_moving_to_fixed)
    with_reg, _ = session.vessel_mask(seed, radius_mm=8.0)
    assert with_reg.shape == truth_mask.shape == study.t2.array.shape
    # the grown AICA lies on the true (T2-frame) AICA only through the transform
    assert with_reg.sum() > 50 and _on_truth(with_reg, truth_mask) > 0.85
    assert _on_truth(with_reg, truth_mask) > _on_truth(without, truth_mask) + 0.1


def test_tof_on_reference_is_the_tof_resampled_through_the_registration(study):
    session = CaseSession(t2=study.t2, tof=study.tof)
    assert session.tof_on_reference() is None  # not registered: shown as acquired
    session.set_registration(
        Registration(
            moving_to_fixed_lps=study.true_moving_to_fixed,
            moving_series_uid=study.tof.meta.series_uid,
        )
    )
    shown = session.tof_on_reference()
    assert shown is not None and shown.array.shape == study.t2.array.shape
    assert session.tof_on_reference() is shown  # cached
    # the registered TOF's arteries sit on the T2's vessel labels
    _, truth_mask = _aica(study)
    inside = float(shown.array[truth_mask].mean())
    assert inside > 2.0 * float(np.median(shown.array))
    session.set_registration(None)
    assert session.review.registrations == [] and session.tof_on_reference() is None
    session.set_registration(None)  # nothing stored: nothing changes, no error


def test_misalignment_warning_above_the_threshold_only():
    session = CaseSession()
    assert session.misalignment_warning(MISALIGNMENT_WARN_MM - 0.1) is None
    text = session.misalignment_warning(1.3)
    assert text is not None and "1.3 mm" in text and "register TOF to T2" in text


def test_the_alignment_check_is_held_for_its_t2_tof_pair_only(study):
    from nvcview.register.check import AlignmentCheck

    session = CaseSession(t2=study.t2, tof=study.tof)
    seen = []
    session.events.alignment.connect(seen.append)
    assert session.alignment_due and session.alignment is None
    wrong = AlignmentCheck(2.0, study.t2.meta.series_uid, "another series")
    assert not session.set_alignment(wrong) and session.alignment is None and not seen
    check = AlignmentCheck(2.0, study.t2.meta.series_uid, study.tof.meta.series_uid)
    assert session.set_alignment(check)
    assert session.alignment is check and not session.alignment_due
    assert len(seen) == 1 and seen[0].check is check
    assert not session.dirty  # not an edit of the review
    session.set_series(study.t2, None)  # another pair (none): the result is not this one's
    assert session.alignment is None and not session.alignment_due
    only_t2 = CaseSession(t2=study.t2)
    assert not only_t2.alignment_due  # a study with one series checks nothing
