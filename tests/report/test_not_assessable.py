"""A nerve label that misses a segment: measure and report say "not assessable" there.

Driven as a user would: the sample study is written, its nerve label is erased
between the RExP and the RDP (where the AICA touches the attached segment), and
``nvcview measure --json`` and ``nvcview report`` are run on the review folder.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from nvcview_sample import write_sample

from nvcview.measure.centreline import Centreline
from nvcview.review import load_review, save_review
from nvcview.review.store import load_labels
from nvcview.structures import find_facial_nerve


def _nvcview(*args) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return res


def _erase_nerve_between_rexp_and_rdp(review_dir) -> int:
    """Remove the nerve voxels whose arc along the traced path lies RExP..RDP.

    The reader's calls are cleared too (a reader who has not graded yet), so the
    conclusion rests on the engine's suggestion, which is "none" for every vessel.
    """
    review = load_review(review_dir / "review.json")
    review.calls = []
    labels = load_labels(review, review_dir)
    nerve = find_facial_nerve(review.structures)
    assert nerve is not None
    line = Centreline(np.asarray(review.nerve_path_lps, float))
    s_rexp = line.project(np.asarray(review.landmarks["RExP"], float)[None])[0][0]
    s_rdp = line.project(np.asarray(review.landmarks["RDP"], float)[None])[0][0]
    arr = np.asarray(labels.array).copy()
    ijk = np.argwhere(arr == nerve.label)
    lps = ijk @ labels.affine[:3, :3].T + labels.affine[:3, 3]
    s = line.project(lps)[0]
    cut = (s > s_rexp + 0.5) & (s < s_rdp)
    arr[tuple(ijk[cut].T)] = 0
    save_review(review, review_dir, arr.astype(np.asarray(labels.array).dtype), actor="test")
    return int(cut.sum())


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("intact"))


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    paths = write_sample(tmp_path_factory.mktemp("cut"))
    assert _erase_nerve_between_rexp_and_rdp(paths.review_dir) > 50
    return paths


def test_measure_json_lists_the_attached_segment_as_not_assessable(cut):
    doc = json.loads(_nvcview("measure", cut.review_dir, "--json").stdout)
    assert "AS" in doc["not_assessable_segments"]
    assert doc["nerve_coverage"]["AS"] < 0.8
    assert doc["nerve_coverage"]["distal cisternal"] > 0.95
    assert "distal cisternal" not in doc["not_assessable_segments"]
    assert all("AS" in row["not_assessable_segments"] for row in doc["contacts"])
    # the AICA's contact was on the erased stretch: the engine no longer sees it
    assert all(row["suggested_grade"] == "none" for row in doc["contacts"])


def test_measure_table_names_the_not_assessable_segments(cut):
    out = _nvcview("measure", cut.review_dir).stdout
    assert "not assessable" in out and "AS" in out.splitlines()[-1]


def test_intact_sample_has_no_not_assessable_segment(intact):
    doc = json.loads(_nvcview("measure", intact.review_dir, "--json").stdout)
    assert doc["not_assessable_segments"] == []
    assert set(doc["nerve_coverage"]) >= {"RExP", "AS", "RDP/TZ", "distal cisternal"}
    assert min(doc["nerve_coverage"].values()) > 0.95
    aica = [r for r in doc["contacts"] if r["vessel_type"] == "AICA"]
    assert aica and aica[0]["contact"] and aica[0]["segment"] == "AS"


def test_report_never_concludes_no_contact_over_an_unsegmented_segment(cut, tmp_path):
    _nvcview("report", cut.review_dir, "--out", tmp_path, "--format", "json,html")
    doc = json.loads((tmp_path / "report.json").read_text())
    html = (tmp_path / "report.html").read_text()
    conclusion = doc["conclusion"]
    assert "No neurovascular contact" not in conclusion
    assert conclusion.startswith("No contact seen along the segmented part")
    assert "Not assessable: attached segment (AS)" in conclusion
    assert "attached segment (AS)" in html
    assert "No neurovascular contact of the" not in html


def test_report_of_the_intact_sample_names_no_unassessed_segment(intact, tmp_path):
    _nvcview("report", intact.review_dir, "--out", tmp_path, "--format", "json")
    doc = json.loads((tmp_path / "report.json").read_text())
    assert "Not assessable" not in doc["conclusion"]
    assert "AICA contacts" in doc["conclusion"]


def test_conclusion_names_unassessed_segments_with_and_without_a_conflict():
    from nvcview.report.conclusion import conclusion_text

    far = {"vessel_type": "AICA", "grade": "none", "gap_mm": 2.4}
    text = conclusion_text([far], "left", ["AS", "RDP/TZ"])
    assert "No neurovascular contact" not in text
    assert "2.4 mm" in text and "cover them" in text
    assert "attached segment (AS), root detachment point / transition zone (RDP/TZ)" in text
    assert conclusion_text([far], "left").startswith("No neurovascular contact of the left")
    empty = conclusion_text([], "left", ["AS"])
    assert "segmented left facial nerve" in empty and "attached segment (AS)" in empty
    hit = {**far, "grade": "contact", "gap_mm": 0.0, "segment": "proximal cisternal"}
    both = conclusion_text([hit], "left", ["AS"])
    assert both.startswith("Left AICA contacts") and both.endswith("cannot be excluded.")
