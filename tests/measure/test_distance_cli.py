"""``nvcview distance`` driven as a user would, through a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from capsule_phantoms import Capsule, pair_image, voxelise

from nvcview.io.image import Image, make_volume
from nvcview.io.nifti import read_nifti, write_nifti
from nvcview.measure import surface_gap


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", "distance", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory):
    """Nerve (label 3) with a vessel 1.2 mm away (5) and a touching one (7), oblique grid."""
    nerve = Capsule(np.array([-6.0, 0, 0]), np.array([6.0, 0, 0]), 1.0)
    far = Capsule(np.array([0.0, -6, 3.2]), np.array([0.0, 6, 3.2]), 1.0)  # gap 1.2 mm
    touch = Capsule(np.array([3.0, -6, -1.9]), np.array([3.0, 6, -1.9]), 0.9)  # gap 0
    rot = np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    from capsule_phantoms import grid_affine

    shape = (45, 45, 24)
    aff = grid_affine((0.4, 0.4, 0.8), rot, np.zeros(3), shape)
    lab = voxelise([nerve, far, touch], aff, shape)
    arr = np.choose(lab, [0, 3, 5, 7]).astype(np.int16)
    path = tmp_path_factory.mktemp("cli") / "labels.nii.gz"
    write_nifti(Image(volume=make_volume(arr, aff)), path)
    return path


def test_json_output_has_the_documented_shape_and_values(labels_file):
    res = _run(str(labels_file), "--nerve", "3", "--vessel", "5", "--vessel", "7", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert list(doc) == ["pairs"]
    keys = [
        "nerve_label",
        "vessel_label",
        "gap_mm",
        "gap_low_mm",
        "gap_high_mm",
        "uncertainty_method",
        "nerve_point_lps",
        "vessel_point_lps",
        "resolution_mm",
        "contact",
    ]
    assert [list(p) for p in doc["pairs"]] == [keys, keys]
    far, touch = doc["pairs"]
    assert (far["nerve_label"], far["vessel_label"]) == (3, 5)
    assert abs(far["gap_mm"] - 1.2) <= 0.4
    assert far["contact"] is False
    assert touch["gap_mm"] <= 0.4 and touch["contact"] is True
    # the interval: contact exactly when it reaches 0, the far gap inside its own
    assert touch["gap_low_mm"] == 0.0 and far["gap_low_mm"] > 0.0
    assert far["gap_low_mm"] < far["gap_mm"] < far["gap_high_mm"]
    assert "voxel" in far["uncertainty_method"]
    # same numbers as the Python API on the file as read back (LPS, not RAS)
    api = surface_gap(read_nifti(labels_file), 3, 5)
    assert far["gap_mm"] == pytest.approx(api.gap_mm, abs=1e-3)
    np.testing.assert_allclose(far["nerve_point_lps"], api.point_a_lps, atol=1e-3)
    # the nerve point lies on the nerve surface (radius 1 about the x axis, LPS mm)
    p = np.array(far["nerve_point_lps"])
    assert abs(np.hypot(p[1], p[2]) - 1.0) <= 0.4
    assert p[2] > 0  # towards the vessel, superior: no RAS sign flip


def test_text_output_names_gap_and_resolution(labels_file):
    res = _run(str(labels_file), "--nerve", "3", "--vessel", "5")
    assert res.returncode == 0, res.stderr
    assert "nerve 3 - vessel 5: gap" in res.stdout
    assert "] (no contact; resolution" in res.stdout  # the interval is printed
    assert "resolution" in res.stdout and "mm" in res.stdout


def test_missing_file_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nope.nii.gz"
    res = _run(str(missing), "--nerve", "1", "--vessel", "2")
    assert res.returncode == 2
    assert str(missing) in res.stderr and "no such file" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_label_names_the_file_and_the_labels_present(labels_file):
    res = _run(str(labels_file), "--nerve", "3", "--vessel", "9")
    assert res.returncode == 2
    assert str(labels_file) in res.stderr
    assert "vessel label 9 is not in the label map" in res.stderr
    assert "[3, 5, 7]" in res.stderr


def test_missing_nerve_label(labels_file):
    res = _run(str(labels_file), "--nerve", "4", "--vessel", "5")
    assert res.returncode == 2
    assert "nerve label 4 is not in the label map" in res.stderr


def test_empty_label_map(tmp_path):
    path = tmp_path / "empty.nii.gz"
    write_nifti(Image(volume=make_volume(np.zeros((8, 8, 8), np.uint8), np.eye(4))), path)
    res = _run(str(path), "--nerve", "1", "--vessel", "2")
    assert res.returncode == 2
    assert "label map is empty" in res.stderr and str(path) in res.stderr


def test_vessel_label_equal_to_nerve_label_is_an_overlap_error(labels_file):
    res = _run(str(labels_file), "--nerve", "3", "--vessel", "3")
    assert res.returncode == 2
    assert "overlap" in res.stderr and str(labels_file) in res.stderr


def test_float_image_is_not_a_label_map(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "t2.nii.gz"
    write_nifti(
        Image(volume=make_volume(rng.random((8, 8, 8)).astype(np.float32), np.eye(4))), path
    )
    res = _run(str(path), "--nerve", "1", "--vessel", "2")
    assert res.returncode == 2
    assert "not a label map" in res.stderr and str(path) in res.stderr


def test_integer_valued_float_label_map_is_accepted(tmp_path):
    nerve = Capsule(np.array([-4.0, 0, 0]), np.array([4.0, 0, 0]), 1.0)
    vessel = Capsule(np.array([0.0, -4, 3.0]), np.array([0.0, 4, 3.0]), 1.0)
    img = pair_image((nerve, vessel), spacing=(0.5, 0.5, 0.5))
    path = tmp_path / "float_labels.nii.gz"
    write_nifti(Image(volume=make_volume(img.array.astype(np.float32), img.affine)), path)
    res = _run(str(path), "--nerve", "1", "--vessel", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert abs(json.loads(res.stdout)["pairs"][0]["gap_mm"] - 1.0) <= 0.25


@pytest.mark.parametrize("value", ["nan", "-0.5"])
def test_nan_or_negative_contact_threshold_is_refused(labels_file, value):
    """A NaN/negative threshold would silently call the touching vessel "no contact"."""
    res = _run(str(labels_file), "--nerve", "3", "--vessel", "7", f"--contact-mm={value}")
    assert res.returncode == 2
    assert "contact_mm must be a finite number >= 0" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def scanned_files(tmp_path_factory):
    """A T2-like scan of a nerve (1) and an artery (2) 0.6 mm apart, and its thresholded
    labels (capsule_phantoms.pair_scan), both written as NIfTI on one oblique grid."""
    from capsule_phantoms import pair_scan

    rng = np.random.default_rng(11)
    nerve = Capsule(np.array([-5.0, 0, 0]), np.array([5.0, 0, 0]), 1.1)
    artery = Capsule(np.array([0.0, -5, 2.4]), np.array([0.0, 5, 2.4]), 0.7)  # gap 0.6
    rot = np.array([[1, 0, 0], [0, np.cos(0.4), -np.sin(0.4)], [0, np.sin(0.4), np.cos(0.4)]])
    image, labels = pair_scan((nerve, artery), rng, (0.4, 0.4, 0.8), rot, extent_mm=12.0)
    folder = tmp_path_factory.mktemp("scan")
    return write_nifti(labels, folder / "labels.nii.gz"), write_nifti(image, folder / "t2.nii.gz")


def test_image_edge_surface_method_reads_the_image_and_names_the_method(scanned_files):
    labels_path, image_path = scanned_files
    args = (str(labels_path), "--nerve", "1", "--vessel", "2", "--json")
    res = _run(*args, "--surface-method", "image-edge", "--image", str(image_path))
    assert res.returncode == 0, res.stderr
    edge = json.loads(res.stdout)["pairs"][0]
    binary = json.loads(_run(*args).stdout)["pairs"][0]
    assert "surface image-edge" in edge["uncertainty_method"]
    assert "image-edge" not in binary["uncertainty_method"]
    # the image was read: the same numbers as the API with the image, not the labels'
    labels, image = read_nifti(labels_path), read_nifti(image_path)
    api = surface_gap(labels, 1, 2, method="image-edge", image=image)
    assert edge["gap_mm"] == pytest.approx(api.gap_mm, abs=1e-3)
    assert edge["gap_mm"] != pytest.approx(binary["gap_mm"], abs=1e-3)
    assert abs(edge["gap_mm"] - 0.6) <= 0.2 and edge["gap_low_mm"] <= 0.6 <= edge["gap_high_mm"]


def test_image_edge_without_or_off_the_grid_image_is_a_one_line_error(scanned_files, tmp_path):
    labels_path, image_path = scanned_files
    args = (str(labels_path), "--nerve", "1", "--vessel", "2")
    missing = _run(*args, "--surface-method", "image-edge")
    assert missing.returncode == 2 and "needs --image" in missing.stderr
    shifted = read_nifti(image_path)
    aff = shifted.affine.copy()
    aff[:3, 3] += 2.0  # the same voxels 2 mm away: not the label map's grid
    off = write_nifti(Image(volume=make_volume(shifted.array, aff)), tmp_path / "off.nii.gz")
    res = _run(*args, "--surface-method", "image-edge", "--image", str(off))
    assert res.returncode == 2 and "not on the label map's grid" in res.stderr
    unknown = _run(*args, "--surface-method", "nope")
    assert unknown.returncode == 2 and "surface_method must be one of" in unknown.stderr
    for r in (missing, res, unknown):
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
