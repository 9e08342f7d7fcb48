"""End to end: the phantom's ground-truth review measured by ``nvcview measure``."""

from __future__ import annotations

import json
import subprocess
import sys

from nvcview.review import list_history, load_review
from nvcview.review.audit import read_audit


def test_measure_phantom_review_matches_truth(tmp_path):
    from nvcview_sample import write_sample

    paths = write_sample(tmp_path / "case", gap_mm=1.0)
    truth = json.loads(paths.truth.read_text())
    review = load_review(paths.review_dir)
    assert read_audit(paths.review_dir)[0]["action"] == "create"
    assert list_history(paths.review_dir) == []

    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "measure", str(paths.review_dir), "--json"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    contacts = {c["vessel_label"]: c for c in json.loads(res.stdout)["contacts"]}
    assert set(contacts) == {v["label"] for v in truth["vessels"]}
    for v in truth["vessels"]:
        c = contacts[v["label"]]
        assert c["vessel_type"] == v["vessel_type"]
        # measured within one voxel along the gap of the analytic gap
        assert abs(c["gap_mm"] - v["gap_mm"]) <= c["resolution_mm"], (v["name"], c)
    offender = contacts[truth["conflict"]["vessel_label"]]
    assert abs(offender["gap_mm"] - truth["conflict"]["gap_mm"]) <= offender["resolution_mm"]
    assert offender["reader_grade"] == (review.call_for(offender["vessel_label"]).grade)
