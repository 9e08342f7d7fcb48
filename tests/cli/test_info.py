"""``nvcview info`` driven as a user would, through ``python -m nvcview``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from dicom_factory import write_series  # noqa: E402


def nvcview(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", *map(str, args)], capture_output=True, text=True
    )


def _folder(tmp_path):
    t2 = write_series(tmp_path / "t2", description="T2 SPACE CPA", series_number=2)
    tof = write_series(
        tmp_path / "tof",
        description="3D TOF",
        sequence_name="*fl3d1r_t70",
        plane="axial",
        tilt_deg=(0, 15, 0),
        shape=(6, 10, 8),
        series_number=3,
        seed=2,
    )
    return t2, tof


def test_info_lines_and_json(tmp_path):
    t2, tof = _folder(tmp_path)
    res = nvcview("info", tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(t2.series_uid + "  T2  'T2 SPACE CPA'  12x20x16  0.7x0.5x0.6 mm")
    assert lines[0].endswith("axial  12 files")
    assert lines[1].startswith(tof.series_uid + "  TOF  '3D TOF'  6x10x8")
    assert "axial oblique" in lines[1]
    # no PHI on screen
    assert "Phantom" not in res.stdout and "PHANTOM-0001" not in res.stdout

    res = nvcview("info", tmp_path, "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [d["volume_id"] for d in data] == [t2.series_uid, tof.series_uid]
    assert data[1]["shape"] == [6, 10, 8]
    assert data[1]["spacing_mm"] == [0.7, 0.5, 0.6]
    assert data[1]["role"] == "TOF" and data[1]["n_files"] == 6
    assert "PHANTOM-0001" not in res.stdout


def test_info_shows_warnings_of_broken_series(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    series.paths[3].unlink()  # written in position order: a hole in the middle
    res = nvcview("info", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "warnings: not loadable:" in res.stdout and "missing slice" in res.stdout


def test_info_errors_are_one_line(tmp_path):
    for target, expected in (
        (tmp_path / "absent", "no such file or folder"),
        (tmp_path, "no DICOM image files found"),
    ):
        res = nvcview("info", target)
        assert res.returncode == 2
        assert res.stdout == ""
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in res.stderr
        assert err[0].startswith("nvcview info: error: ") and expected in err[0]
        assert str(target) in err[0]


def test_info_phi_only_on_request(tmp_path):
    t2 = write_series(tmp_path, shape=(3, 6, 5))
    res = nvcview("info", tmp_path, "--phi")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith(t2.series_uid)
    assert lines[1] == (
        "    patient: Phantom^Test  id PHANTOM-0001  born 19700101  study 20260101  "
        "accession ACC123"
    )
    res = nvcview("info", tmp_path, "--phi", "--json")
    (doc,) = json.loads(res.stdout)
    assert doc["patient"]["patient_id"] == "PHANTOM-0001"


def _imported(*args) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the CLI with ``-X importtime``; return the result and the modules it imported."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nvcview", *map(str, args)],
        capture_output=True,
        text=True,
    )
    mods = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return res, mods


def test_help_and_info_import_only_what_they_use(tmp_path):
    write_series(tmp_path, shape=(3, 6, 5))
    heavy = {"highdicom", "nibabel", "SimpleITK", "scipy", "skimage", "pandas", "napari"}
    res, mods = _imported("--help")
    assert res.returncode == 0 and "info" in res.stdout
    assert not mods & (heavy | {"pydicom", "numpy"}), sorted(mods & (heavy | {"pydicom"}))
    res, mods = _imported("info", tmp_path)
    assert res.returncode == 0 and "3x6x5" in res.stdout
    assert "pydicom" in mods  # it reads DICOM headers...
    assert not mods & heavy, sorted(mods & heavy)  # ...and nothing else heavy


def test_info_names_a_damaged_file_and_lists_the_rest(tmp_path):
    series = write_series(tmp_path, shape=(5, 8, 8))
    bad = series.paths[-1]
    raw = bad.read_bytes()
    bad.write_bytes(raw.replace(b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00UY", 1))
    res = nvcview("info", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert (
        "4x8x8" in res.stdout
        and f"unreadable file(s) skipped in this folder: {bad.name}" in res.stdout
    )


def test_info_lists_metaimage(tmp_path):
    import numpy as np
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 5, 6), np.int16)), str(tmp_path / "v.mha"))
    res = nvcview("info", tmp_path / "v.mha", "--json")
    assert res.returncode == 0, res.stderr
    (doc,) = json.loads(res.stdout)
    assert doc["shape"] == [4, 5, 6] and doc["spacing_mm"] == [1.0, 1.0, 1.0]
