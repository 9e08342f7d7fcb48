"""``nvcview convert`` writes NIfTI whose voxels land where dcm2niix puts them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from dicom_factory import assert_same_world, write_series  # noqa: E402
from references import RAS_TO_LPS, dcm2niix  # noqa: E402


def nvcview(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", *map(str, args)], capture_output=True, text=True
    )


def _nifti_lps(path: Path):
    img = nib.load(str(path))
    return np.asarray(img.get_fdata(dtype=np.float64)), RAS_TO_LPS @ img.affine


def test_convert_matches_dcm2niix(tmp_path):
    series = write_series(
        tmp_path / "dcm",
        plane="coronal",
        tilt_deg=(7, 0, -12),
        order="shuffle",
        dtype=np.int16,
        slope=0.5,
        intercept=3.0,
    )
    out = tmp_path / "out" / "t2.nii.gz"
    res = nvcview("convert", tmp_path / "dcm", out)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"wrote {out}")
    ours, ours_aff = _nifti_lps(out)
    assert ours.shape == (16, 20, 12)  # NIfTI layout: column, row, slice
    assert_same_world(ours, ours_aff, series.values, series.affine, label="truth")
    (ref,) = dcm2niix(tmp_path / "dcm", tmp_path / "d2n")
    assert_same_world(ours, ours_aff, ref[1], ref[2], label="dcm2niix")


def test_convert_series_choice_and_errors(tmp_path):
    a = write_series(tmp_path / "in", shape=(4, 6, 5), series_number=2, prefix="A")
    b = write_series(tmp_path / "in", shape=(5, 6, 5), series_number=3, prefix="B", seed=3)
    out = tmp_path / "b.nii"

    res = nvcview("convert", tmp_path / "in", out)
    assert res.returncode == 2 and not out.exists()
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in res.stderr
    assert "2 volumes found" in err[0] and a.series_uid in err[0] and b.series_uid in err[0]

    res = nvcview("convert", tmp_path / "in", out, "--series", b.series_uid)
    assert res.returncode == 0, res.stderr
    arr, aff = _nifti_lps(out)
    assert_same_world(arr, aff, b.values, b.affine)

    res = nvcview("convert", tmp_path / "in", tmp_path / "b.png", "--series", b.series_uid)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"nvcview convert: error: {tmp_path / 'b.png'}: output name must end in .nii or .nii.gz"
    )

    res = nvcview("--debug", "convert", tmp_path / "in", out, "--series", "9.9.9")
    assert res.returncode != 0 and "Traceback" in res.stderr  # --debug shows it


def test_convert_missing_slice_needs_resample(tmp_path):
    series = write_series(tmp_path / "in", shape=(6, 8, 8))
    series.paths[2].unlink()  # written in position order: a hole in the middle
    out = tmp_path / "r.nii.gz"
    res = nvcview("convert", tmp_path / "in", out)
    assert res.returncode == 2 and not out.exists()
    assert "missing slice(s)" in res.stderr and "--resample" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1

    res = nvcview("convert", tmp_path / "in", out, "--resample")
    assert res.returncode == 0, res.stderr
    assert res.stderr.startswith("warning: resampled: 5 unevenly spaced slices")
    arr, aff = _nifti_lps(out)
    assert arr.shape == (8, 8, 6)
    kept = [0, 1, 3, 4, 5]
    # the regular grid is the scanner's grid (NIfTI layout: column, row, slice) ...
    np.testing.assert_allclose(aff, series.affine[:, [2, 1, 0, 3]], atol=1e-5)
    # ... and acquired slices keep their values; the missing one is their mean
    truth = series.values.transpose(2, 1, 0)
    np.testing.assert_allclose(arr[:, :, kept], truth[:, :, kept], rtol=1e-6)
    np.testing.assert_allclose(arr[:, :, 2], (truth[:, :, 1] + truth[:, :, 3]) / 2, rtol=1e-6)


def test_convert_nifti_to_nifti_keeps_geometry(tmp_path):
    series = write_series(tmp_path / "dcm", shape=(5, 7, 6), tilt_deg=(3, 4, 5))
    first = tmp_path / "a.nii"
    assert nvcview("convert", tmp_path / "dcm", first).returncode == 0
    second = tmp_path / "b.nii.gz"
    res = nvcview("convert", first, second)
    assert res.returncode == 0, res.stderr
    arr, aff = _nifti_lps(second)
    assert_same_world(arr, aff, series.values, series.affine)


def test_convert_names_a_damaged_file_in_one_line(tmp_path):
    series = write_series(tmp_path / "s", shape=(5, 8, 8))
    bad = series.paths[2]
    raw = bad.read_bytes()
    bad.write_bytes(raw.replace(b"\x20\x00\x32\x00DS", b"\x20\x00\x32\x00DX", 1))
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "convert", tmp_path / "s", tmp_path / "o.nii.gz"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in res.stderr
    assert bad.name in err[0] and "missing slice" in err[0]
    assert not (tmp_path / "o.nii.gz").exists()
