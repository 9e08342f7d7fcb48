"""The uncertainty rules (nvcview.measure.uncertainty): gap intervals, the indentation
threshold, and the grades a measurement can give for a known gap and depth."""

from __future__ import annotations

import pytest
from nerve_phantoms import make_curved_nerve_phantom

from nvcview.measure import MeasureSettings, measure_case
from nvcview.measure.uncertainty import (
    gap_interval,
    grades_within_resolution,
    indentation_threshold_mm,
)


def test_gap_interval_includes_zero_below_one_voxel_only():
    assert gap_interval(0.3, 0.4, False).includes_zero
    iv = gap_interval(0.6, 0.4, False)
    assert not iv.includes_zero
    assert iv.gap_low_mm == pytest.approx(0.2) and iv.gap_high_mm == pytest.approx(0.8)
    touching = gap_interval(0.0, 0.5, True)
    assert (touching.gap_low_mm, touching.gap_high_mm) == (0.0, 0.5)


def test_indentation_threshold_is_the_larger_of_mm_and_voxels():
    s = MeasureSettings()
    assert indentation_threshold_mm(0.2, s) == s.indentation_min_mm
    assert indentation_threshold_mm(0.6, s) == pytest.approx(s.indentation_min_vox * 0.6)
    assert indentation_threshold_mm(0.6, MeasureSettings(indentation_min_mm=1.0)) == 1.0


def test_grades_within_resolution():
    s = MeasureSettings()
    # a gap above one voxel is visible CSF; below it, contact
    assert grades_within_resolution(1.0, None, 0.4, s) == {"none"}
    assert grades_within_resolution(0.3, None, 0.4, s) == {"contact"}
    assert grades_within_resolution(0.0, None, 0.4, s) == {"contact"}
    # a dent far above the threshold is indentation only; one near it may read either
    assert grades_within_resolution(0.0, 0.9, 0.4, s) == {"indentation"}
    assert grades_within_resolution(0.0, 0.3, 0.42, s) == {"contact", "indentation"}
    # a tiny dent at coarse voxels is within the resolution: contact only
    assert grades_within_resolution(0.0, 0.1, 0.8, s) == {"contact"}
    # thresholds are the settings
    loose = MeasureSettings(indentation_min_mm=0.05, indentation_min_vox=0.1)
    assert grades_within_resolution(0.0, 0.3, 0.42, loose) == {"indentation"}


@pytest.mark.parametrize(
    ("indent_mm", "kwargs"),
    [
        (0.0, {"contact_arc_mm": 4.5, "side": "inner"}),  # the largest depth read at no dent
        (0.3, {"side": "outer"}),  # a 0.3 mm dent at 0.39 x 0.39 x 0.5 mm voxels
    ],
)
def test_measured_grade_is_one_the_resolution_allows(indent_mm, kwargs):
    """The depth estimator's error on curving nerves stays inside indentation_error_vox,
    so the suggested grade is one of the grades the truth allows at this resolution."""
    ph = make_curved_nerve_phantom(10.0, indent_mm=indent_mm, **kwargs)
    s = MeasureSettings()
    rec = measure_case(ph.labels, ph.structures, ph.landmarks, settings=s)[0]
    res = rec.resolution_mm
    assert abs(rec.indentation_depth_mm - indent_mm) <= s.indentation_error_vox * res
    assert rec.suggested_grade in grades_within_resolution(0.0, indent_mm, res, s)
