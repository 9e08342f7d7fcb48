"""``nvcview register FIXED MOVING``, driven through a subprocess like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "register"))
from motion_phantoms import moved_study, tre_mm  # noqa: E402

from nvcview.io.nifti import write_nifti  # noqa: E402


def nvcview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    s = moved_study((1.2, -0.8, 0.6), (1.5, 0.0, -1.0))
    d = tmp_path_factory.mktemp("register_cli")
    write_nifti(s.t2, d / "t2.nii.gz")
    write_nifti(s.tof, d / "tof.nii.gz")
    return s, d


def _landmark_args(s) -> list[str]:
    out = []
    for name, p in s.phantom.landmarks.items():
        out += ["--landmark", f"{name}=" + ",".join(f"{v:.3f}" for v in p)]
    return out


def test_register_json_recovers_the_motion(study):
    s, d = study
    res = nvcview(
        "register", str(d / "t2.nii.gz"), str(d / "tof.nii.gz"), "--json", *_landmark_args(s)
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("moving_to_fixed_lps", "residual_mm", "metric", "iterations", "region_lps"):
        assert key in out
    m = np.asarray(out["moving_to_fixed_lps"])
    err = tre_mm(m, s.true_moving_to_fixed, s.phantom.landmarks["RExP"])
    assert np.median(err) <= 0.3 and err.max() <= 0.5
    assert out["metric"] == "MattesMutualInformation"
    assert out["iterations"] > 0 and 0 < out["residual_mm"] < 0.5
    lo, hi = np.asarray(out["region_lps"])
    assert np.all(lo <= s.phantom.landmarks["IAC"]) and np.all(s.phantom.landmarks["IAC"] <= hi)


def test_register_text_prints_transform_and_quality(study):
    s, d = study
    res = nvcview("register", str(d / "t2.nii.gz"), str(d / "tof.nii.gz"), "--side", "left")
    assert res.returncode == 0, res.stderr
    assert "moving_to_fixed_lps" in res.stdout
    assert "estimated residual" in res.stdout and "MattesMutualInformation" in res.stdout
    assert "region LPS mm" in res.stdout


def test_register_bad_input_is_one_line_exit_2(study, tmp_path):
    s, d = study
    res = nvcview("register", str(d / "t2.nii.gz"), str(tmp_path / "missing.nii.gz"))
    assert res.returncode == 2
    assert "missing.nii.gz" in res.stderr and "Traceback" not in res.stderr
    res = nvcview("register", str(d / "t2.nii.gz"), str(d / "tof.nii.gz"), "--landmark", "IAC=1,2")
    assert res.returncode == 2 and "NAME=X,Y,Z" in res.stderr
    far = ["--landmark", "IAC=400,0,0"]
    res = nvcview("register", str(d / "t2.nii.gz"), str(d / "tof.nii.gz"), *far)
    assert res.returncode == 2
    assert "empty region" in res.stderr and "t2.nii.gz" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_register_dicom_series_folders_without_motion(tmp_path):
    from nvcview_sample import write_sample

    paths = write_sample(tmp_path / "study")  # one frame of reference, no motion
    res = nvcview("register", str(paths.t2_dir), str(paths.tof_dir), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    truth = json.loads(paths.truth.read_text())
    rexp = np.asarray(truth["landmarks"]["RExP"])
    err = tre_mm(np.asarray(out["moving_to_fixed_lps"]), np.eye(4), rexp)
    assert err.max() <= 0.1, err.max()
    assert out["warnings"] == []
