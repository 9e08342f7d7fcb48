"""``nvcview measure --surface-method``, driven through a subprocess on the sample study."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from nvcview.case.measurement import measure_review_labels, review_edge_image
from nvcview.measure.records import MeasureSettings
from nvcview.review.store import load_labels, load_review


def _measure(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", "measure", *args], capture_output=True, text=True
    )


def test_image_edge_reads_the_reviews_t2_and_every_interval_names_it(sample_study):
    paths, truth = sample_study
    res = _measure(str(paths.review_dir), "--json", "--surface-method", "image-edge")
    assert res.returncode == 0, res.stderr
    edge = {c["vessel_label"]: c for c in json.loads(res.stdout)["contacts"]}
    binary = {
        c["vessel_label"]: c
        for c in json.loads(_measure(str(paths.review_dir), "--json").stdout)["contacts"]
    }
    assert set(edge) == {v["label"] for v in truth["vessels"]}
    for c in edge.values():
        assert "surface image-edge" in c["uncertainty_method"], c
    for c in binary.values():
        assert "image-edge" not in c["uncertainty_method"]
    # the T2 was read (not the labels alone): the path's own numbers with the T2 ...
    review = load_review(paths.review_dir)
    settings = MeasureSettings(surface_method="image-edge")
    t2 = review_edge_image(review, paths.review_dir, settings)
    assert t2 is not None
    api = measure_review_labels(review, load_labels(review, paths.review_dir), settings, image=t2)
    for m in api:
        assert edge[m.vessel_label]["gap_mm"] == pytest.approx(m.gap_mm, abs=1e-3)
    # ... which differ from the binary estimate somewhere, and stay close to the truth
    assert any(abs(edge[k]["gap_mm"] - binary[k]["gap_mm"]) > 1e-3 for k in edge)
    for v in truth["vessels"]:
        c = edge[v["label"]]
        assert abs(c["gap_mm"] - v["gap_mm"]) <= c["resolution_mm"] / 2, (v["name"], c)


def test_image_edge_without_the_series_is_a_one_line_error(sample_study, tmp_path):
    paths, _ = sample_study
    lonely = tmp_path / "elsewhere" / "review"
    shutil.copytree(paths.review_dir, lonely)  # its relative series paths lead nowhere
    res = _measure(str(lonely), "--surface-method", "image-edge")
    assert res.returncode == 2
    assert "image-edge needs the series the labels lie on" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_saved_image_edge_setting_is_used_by_the_next_measure(sample_study):
    paths, _ = sample_study
    copy = paths.review_dir.parent / "review_surface_method"  # series paths stay valid
    shutil.copytree(paths.review_dir, copy)
    res = _measure(str(copy), "--surface-method", "image-edge", "--save")
    assert res.returncode == 0, res.stderr
    assert load_review(copy).settings.surface_method == "image-edge"
    again = json.loads(_measure(str(copy), "--json").stdout)["contacts"]
    assert all("surface image-edge" in c["uncertainty_method"] for c in again)
