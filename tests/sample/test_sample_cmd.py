"""``nvcview sample`` driven as a user would, through a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "nvcview", "sample", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sample_command_writes_and_reports(tmp_path):
    out = tmp_path / "case"
    r = run(str(out), "--seed", "4", "--side", "right", "--segment", "RExP", "--indent-mm", "0.3")
    assert r.returncode == 0, r.stderr
    assert "truth.json" in r.stdout and "dicom" in r.stdout
    truth = json.loads((out / "truth.json").read_text())
    assert truth["settings"] == {
        "seed": 4,
        "side": "right",
        "gap_mm": 0.0,
        "segment": "RExP",
        "indent_mm": 0.3,
        "oblique": False,
        "full_size": False,
    }
    conflict = truth["conflict"]
    assert conflict["grade"] == "indentation"
    assert abs(conflict["indentation_depth_mm"] - 0.3) < 1e-9
    assert conflict["segment"] == "RExP"
    assert len(list((out / "dicom" / "T2").glob("*.dcm"))) == 48
    assert len(list((out / "dicom" / "TOF").glob("*.dcm"))) == 34
    assert (out / "review" / "review.json").is_file()
    assert (out / "review" / "labels.nii.gz").is_file()
    assert not (out / "nifti").exists()


def test_sample_command_bad_parameters_one_line_error(tmp_path):
    r = run(str(tmp_path / "x"), "--gap-mm", "0.5", "--indent-mm", "0.2")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "indent" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x" / "truth.json").exists()


def test_sample_command_negative_seed_names_the_parameter(tmp_path):
    r = run(str(tmp_path / "x"), "--seed", "-1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "seed must be a non-negative integer, got -1" in r.stderr
