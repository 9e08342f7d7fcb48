"""The realistic variant: noisier, biased, inflow fall-off, dark veins, optional motion."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from nvcview_sample import make_phantom

from nvcview.io.image import lps_to_index


@pytest.fixture(scope="module")
def real():
    return make_phantom(seed=0, realistic=True)


def sample_at(img, pts):
    from scipy import ndimage

    idx = lps_to_index(img.affine, np.asarray(pts, float))
    return ndimage.map_coordinates(img.array.astype(float), idx.T, order=1)


def test_same_anatomy_labels_and_truth_as_the_clean_one(real, default_phantom):
    assert np.array_equal(real.labels.array, default_phantom.labels.array)
    assert real.truth["vessels"] == default_phantom.truth["vessels"]
    assert "realistic" not in default_phantom.truth["settings"]
    assert real.truth["settings"]["realistic"] is True
    assert real.truth["realistic"]["noise"] == "rician"
    # the clean images are the ones of before (the realistic path does not touch them)
    assert not np.array_equal(real.t2.array, default_phantom.t2.array)


def test_noise_is_higher_and_csf_snr_ciss_like(real, default_phantom):
    L = real.labels.array
    csf = (L == 0) & (default_phantom.t2.array > 900)
    snr = real.t2.array[csf].mean() / real.t2.array[csf].std()
    snr_clean = default_phantom.t2.array[csf].mean() / default_phantom.t2.array[csf].std()
    assert 8 < snr < 30 and snr < snr_clean


def test_tof_signal_falls_along_the_arteries_and_veins_are_dark(real):
    a = real.anatomy
    va = sample_at(real.tof, a.tubes["VA"].points[::20]).max()
    aica = a.tubes["AICA"].points
    aica_distal = sample_at(real.tof, aica[-120::10]).mean()
    vein = sample_at(real.tof, a.tubes["vein"].points[::10]).mean()
    csf_like = np.median(real.tof.array)
    assert aica_distal < 0.75 * va
    assert vein < 1.5 * csf_like and vein < 0.3 * va


@pytest.fixture(scope="module")
def moved_sample(tmp_path_factory):
    """``nvcview sample --realistic --motion`` written once through the command line."""
    out = tmp_path_factory.mktemp("realistic") / "r"
    r = subprocess.run([sys.executable, "-m", "nvcview", "sample", str(out), "--realistic",
                        "--motion", "--seed", "2"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out


def test_motion_moves_the_tof_by_the_truth_transform(moved_sample):
    """On the files the command wrote: the TOF shows the anatomy moved by truth's transform."""
    from nvcview_sample.anatomy import build_anatomy

    import nvcview

    truth = json.loads((moved_sample / "truth.json").read_text())
    m = np.array(truth["motion"]["tof_to_t2_lps"])
    assert truth["motion"]["moved"] and not np.allclose(m, np.eye(4))
    assert np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-9)
    shift = np.linalg.norm(m[:3, 3])
    assert 0.1 < shift < 5.0
    # the basilar (bright, big) is where the inverse transform puts it
    tof = nvcview.load(moved_sample / "dicom" / "TOF")
    pts = build_anatomy(seed=2).tubes["basilar"].points[50:250:10]
    inv = np.linalg.inv(m)
    moved = pts @ inv[:3, :3].T + inv[:3, 3]
    assert sample_at(tof, moved).mean() > sample_at(tof, pts + 20 * (moved - pts)).mean()
    with pytest.raises(ValueError, match="realistic"):
        make_phantom(seed=2, motion=True)


def test_sample_command_realistic_with_motion(moved_sample, tmp_path):
    truth = json.loads((moved_sample / "truth.json").read_text())
    assert truth["settings"]["realistic"] and truth["settings"]["motion"]
    assert truth["settings"]["seed"] == 2
    assert len(truth["motion"]["tof_to_t2_lps"]) == 4
    bad = subprocess.run([sys.executable, "-m", "nvcview", "sample", str(tmp_path / "x"),
                          "--motion"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2 and "--motion needs --realistic" in bad.stderr
