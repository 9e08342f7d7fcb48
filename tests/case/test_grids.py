"""The one grid rule: a label map shifted by header rounding opens everywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from nvcview.case import GRID_TOL_VOXELS, grid_mismatch, open_study, same_grid
from nvcview.errors import NvcviewError
from nvcview.io.image import make_volume


def _shifted_review(sample_study, tmp_path, shift_mm: float):
    paths, _ = sample_study
    folder = paths.review_dir.parent / f"review_shift_{shift_mm}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    f = folder / "labels.nii.gz"
    img = nib.load(f)
    aff = img.affine.copy()
    aff[0, 3] += shift_mm  # header rounding of another tool
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff, img.header), f)
    return folder


def test_rule_and_tolerance():
    aff = np.diag([0.4, 0.4, 0.5, 1.0])
    shifted = aff.copy()
    shifted[0, 3] = 0.003  # 0.0075 voxel
    assert grid_mismatch(shifted, (8, 8, 8), aff, (8, 8, 8)) is None
    off = aff.copy()
    off[0, 3] = 0.4 * GRID_TOL_VOXELS * 2
    assert "away from the reference grid" in grid_mismatch(off, (8, 8, 8), aff, (8, 8, 8))
    assert "shape" in grid_mismatch(aff, (8, 8, 9), aff, (8, 8, 8))
    z = np.zeros((8, 8, 8), np.uint8)
    assert same_grid(make_volume(z, shifted), make_volume(z, aff))


def test_label_map_shifted_0003_mm_opens_as_the_cli_measures_it(sample_study, tmp_path):
    folder = _shifted_review(sample_study, tmp_path, 0.003)
    cli = subprocess.run(
        [sys.executable, "-m", "nvcview", "measure", str(folder), "--json"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    session = open_study(folder)  # what the viewer opens
    assert session.labels is not None and session.labels.any()
    assert session.measure()


def test_label_map_shifted_a_voxel_is_refused_by_both(sample_study, tmp_path):
    folder = _shifted_review(sample_study, tmp_path, 0.4)
    cli = subprocess.run(
        [sys.executable, "-m", "nvcview", "measure", str(folder)], capture_output=True, text=True
    )
    assert cli.returncode != 0 and "reference" in cli.stderr
    with pytest.raises(NvcviewError, match="reference"):
        open_study(folder)
