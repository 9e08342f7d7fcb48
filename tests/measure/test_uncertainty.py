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
    interval_text,
)


def test_interval_text_is_the_tables_two_decimal_mm_range():
    assert interval_text(0.0, 0.454) == "0.00-0.45"
    assert interval_text(1.234, 2.0) == "1.23-2.00"
    assert interval_text(None, 0.4) is None and interval_text(0.1, None) is None


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


def test_touching_interval_reaches_the_voxel_across_the_shared_faces():
    s = MeasureSettings()
    assert gap_interval(0.0, 0.5, True, s, shut_span_mm=0.8).gap_high_mm == 0.8
    assert gap_interval(0.0, 0.5, True, s, shut_span_mm=0.4).gap_high_mm == 0.5
    assert "across their faces" in gap_interval(0.0, 0.5, True, s, 0.8).method
    # a measured gap is not widened (the span is the touching labels' only)
    assert gap_interval(0.9, 0.5, False, s, shut_span_mm=0.8).gap_high_mm == pytest.approx(1.15)


def _shut_pair():
    """The benchmark's risk case (bench_capsules --noisy --seed 500, pair 11): a 0.74 mm
    gap on the oblique 0.4 x 0.4 x 0.8 mm grid, scanned with Rician noise and thresholded;
    the labels come out face-adjacent. Replays the benchmark's random draws."""
    import numpy as np
    from capsule_phantoms import capsule_pair, pair_scan, random_rotation

    spacing = (0.4, 0.4, 0.8)
    shape = tuple(int(np.ceil(16.0 / v)) for v in spacing)
    rng, noise = np.random.default_rng(500), np.random.default_rng(550)
    gaps = np.concatenate([[0.0, 3.0], rng.uniform(0.0, 3.0, 22)])
    for i in range(12):
        caps = capsule_pair(rng, float(gaps[i]), radii=(0.6, 2.0))
        rotation = random_rotation(rng) if i % 2 else np.eye(3)
        if i < 11:  # pair_scan's two noise draws of the pairs before
            noise.normal(0.0, 45.0, shape)
            noise.normal(0.0, 45.0, shape)
    image, labels = pair_scan(caps, noise, spacing, rotation)
    return float(gaps[11]), image, labels


def test_labels_thresholded_shut_across_a_sub_slice_gap_keep_the_truth_in_the_interval():
    from nvcview.measure import surface_gap
    from nvcview.measure.labelmap import as_label_grid
    from nvcview.measure.surface import face_adjacent

    truth, image, labels = _shut_pair()
    assert truth == pytest.approx(0.743, abs=1e-3)
    grid = as_label_grid(labels)
    assert len(face_adjacent(grid, tuple(slice(0, n) for n in grid.array.shape), 1, 2))
    for method, extra in (("corrected", {}), ("image-edge", {"image": image})):
        res = surface_gap(labels, 1, 2, method=method, **extra)
        assert res.touching and res.gap_mm == 0.0
        # the voxel along the contact normal (0.51 mm) is less than the truth: the
        # interval reaches the 0.8 mm slice across which the labels share faces
        assert res.resolution_mm < truth
        assert res.gap_low_mm == 0.0 and res.gap_high_mm == pytest.approx(0.8)
        assert res.gap_low_mm <= truth <= res.gap_high_mm, (method, res)
