"""End to end on phantom cases: recompute with the engine, two readers, agreement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.batch.cohort import write_phantom_case

CASES = [("p0", 0, "left", 0.0), ("p1", 1, "right", 1.0)]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantoms") / "root"
    for name, seed, side, gap in CASES:
        write_phantom_case(root, name, seed=seed, side=side, gap_mm=gap)
    return root


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_recomputed_batch_matches_phantom_truth_and_feeds_agreement(root, tmp_path):
    out = tmp_path / "vessels.csv"
    res = run("batch", root, "--out", out, "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    vessels = pd.read_csv(out)
    cases = pd.read_csv(tmp_path / "vessels_cases.csv")
    assert set(vessels.measurement_source) == {"recomputed"}
    assert len(cases) == 4 and set(cases.reader) == {"truth", "reader2"}
    for name, _, side, gap in CASES:
        truth = json.loads((root / name / "truth.json").read_text())
        conflict = truth["conflict"]
        row = vessels[
            (vessels.review_folder == f"{name}/review")
            & (vessels.vessel_label == conflict["vessel_label"])
        ].iloc[0]
        # the engine finds the phantom's conflict gap to within one voxel
        assert abs(row.gap_mm - gap) <= row.resolution_mm, (name, row.gap_mm, gap)
        assert row.vessel_type == conflict["vessel_type"]
        assert row.side == side
        second = vessels[
            (vessels.review_folder == f"{name}/reader2")
            & (vessels.vessel_label == conflict["vessel_label"])
        ].iloc[0]
        assert second.grade == "indentation"
        # reader2's RDP lies 1 mm further along the nerve: the signed distance shrinks
        assert second.dist_from_rdp_mm == pytest.approx(row.dist_from_rdp_mm - 1.0, abs=0.3)
        case = cases[cases.review_folder == f"{name}/review"].iloc[0]
        assert case.t2_voxel_i_mm == pytest.approx(truth["series"]["T2"]["voxel_size_mm"][0])

    agr = run("agreement", out, "--out", tmp_path / "agreement", "--all-vessels")
    assert agr.returncode == 0, agr.stderr
    stats = pd.read_csv(tmp_path / "agreement" / "agreement.csv")
    grade = stats[(stats.measure == "grade") & (stats.statistic == "cohen_kappa")].iloc[0]
    assert grade.readers == "reader2 vs truth"
    assert grade.n == len(vessels) // 2
    ba = stats[(stats.measure == "dist_from_rdp_mm") & (stats.statistic == "bland_altman")]
    # difference = truth - reader2 = +1 mm on every vessel
    assert ba.bias.iloc[0] == pytest.approx(1.0, abs=0.3)
