"""The image-edge surface through the one review -> measurement path: the case session
(what the widget measures), its one-shot path and the saved review's path agree."""

from __future__ import annotations

import dataclasses

import pytest

from nvcview.case.measurement import edge_image, measure_review
from nvcview.case.resolve import open_review_folder
from nvcview.measure.records import MeasureSettings


def test_session_measures_with_its_t2_when_the_review_asks_for_image_edge(sample_study):
    paths, _ = sample_study
    session = open_review_folder(paths.review_dir)
    binary = {m.vessel_label: m.gap_mm for m in session.measure()}
    session.review.settings = dataclasses.replace(
        session.review.settings, surface_method="image-edge"
    )
    assert edge_image(session.review.settings, session.reference) is session.reference
    live = session.measure()  # the cached path the widget uses
    full = session.measure_full()  # the one-shot path
    saved = measure_review(session.review, paths.review_dir)  # report / batch path
    assert [m.vessel_label for m in live] == [m.vessel_label for m in full]
    for a, b, c in zip(live, full, saved, strict=True):
        assert a.gap_mm == b.gap_mm, a.vessel_name
        # the saved path reads the T2 from disk again: the same voxels; its gaps
        # (rounded to 1 um) have been seen 1 um off at a 5.5 mm gap
        assert c.gap_mm == pytest.approx(a.gap_mm, abs=1.5e-3), a.vessel_name
        assert "surface image-edge" in a.uncertainty_method
    assert any(abs(m.gap_mm - binary[m.vessel_label]) > 1e-3 for m in live)


def test_edge_image_is_none_for_other_methods_and_off_grid_series(sample_study):
    paths, _ = sample_study
    session = open_review_folder(paths.review_dir)
    images = {"T2": session.t2, "TOF": session.tof}
    assert edge_image(MeasureSettings(), images) is None
    edge = MeasureSettings(surface_method="image-edge")
    labels = session.labels_image()
    assert edge_image(edge, images, labels) is session.t2
    assert edge_image(edge, {"TOF": session.tof}, labels) in (None, session.tof)


def test_report_json_and_sr_name_the_image_edge_method(sample_study, tmp_path):
    """The report path measures with the review's T2 and names the method in its JSON and
    SR (the HTML/PDF table shows the interval, not its method text)."""
    import json
    import shutil

    from nvcview.report import write_reports
    from nvcview.report.sr_read import read_sr
    from nvcview.review.store import load_review

    paths, _ = sample_study
    copy = paths.review_dir.parent / "review_report_image_edge"  # series paths stay valid
    shutil.copytree(paths.review_dir, copy)
    review = load_review(copy)
    review.settings = dataclasses.replace(review.settings, surface_method="image-edge")
    out = write_reports(review, copy, tmp_path / "out", formats=("json", "sr"))
    expected = {m.vessel_label: m.gap_mm for m in measure_review(review, copy)}
    doc = json.loads(out["json"].read_text())
    rows = doc["vessels"]
    assert rows and all("surface image-edge" in r["uncertainty_method"] for r in rows)
    assert {r["vessel_label"]: r["gap_mm"] for r in rows} == pytest.approx(expected, abs=1e-3)
    sr = read_sr(out["sr"])
    assert all("surface image-edge" in c["uncertainty_method"] for c in sr["contacts"])
