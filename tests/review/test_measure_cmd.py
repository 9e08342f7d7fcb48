"""``nvcview measure`` and measure_review on a tiny label map built here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nvcview.case.measurement import measure_review
from nvcview.io.image import index_to_lps, lps_to_index, make_volume
from nvcview.io.nifti import write_nifti
from nvcview.review import ReaderCall, load_review, save_review
from nvcview.review.colortable import write_itksnap
from nvcview.review.slicer import write_markups
from nvcview.structures import Structure

from .conftest import make_review, oblique_affine

# nerve slab rows 8..11 and vessel slab rows 16..19 along array axis 1 (0.6 mm):
# their facing surfaces (voxel faces at 11.5 and 15.5) are 4 voxels apart
NERVE_ROWS, VESSEL_ROWS = (8, 12), (16, 20)


def _case(tmp_path):
    arr = np.zeros((30, 28, 16), np.uint8)
    arr[2:28, NERVE_ROWS[0] : NERVE_ROWS[1], 5:11] = 1
    arr[12:18, VESSEL_ROWS[0] : VESSEL_ROWS[1], 5:11] = 2
    aff = oblique_affine()
    labels = make_volume(arr, aff)
    ends = index_to_lps(aff, np.array([[2.0, 9.5, 7.5], [27.0, 9.5, 7.5]]))
    review = make_review(
        landmarks={"RExP": ends[0].tolist(), "RDP": (0.6 * ends[0] + 0.4 * ends[1]).tolist()},
        nerve_path_lps=np.linspace(ends[0], ends[1], 12).tolist(),
        calls=[ReaderCall(2, "none", "medium")],
    )
    spacing = np.linalg.norm(aff[:3, :3], axis=0)
    expected_gap = (VESSEL_ROWS[0] - NERVE_ROWS[1]) * spacing[1]  # face to face, mm
    return review, labels, expected_gap


def _nvcview(*args):
    return subprocess.run(
        [sys.executable, "-m", "nvcview", *map(str, args)], capture_output=True, text=True
    )


def test_measure_review_api(tmp_path):
    review, labels, gap = _case(tmp_path)
    save_review(review, tmp_path, labels)
    (m,) = measure_review(load_review(tmp_path), tmp_path)
    assert m.vessel_label == 2 and m.vessel_type == "AICA"
    assert m.gap_mm == pytest.approx(gap, abs=0.15)
    assert m.reader_grade == "none"
    # closest points lie on the facing surfaces (array row 11.5 and 15.5)
    aff = labels.affine
    assert lps_to_index(aff, m.nerve_point_lps)[1] == pytest.approx(11.5, abs=0.3)
    assert lps_to_index(aff, m.vessel_point_lps)[1] == pytest.approx(15.5, abs=0.3)


def test_measure_cli_json_and_table(tmp_path):
    review, labels, gap = _case(tmp_path)
    save_review(review, tmp_path / "r", labels)
    res = _nvcview("measure", tmp_path / "r", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    (c,) = doc["contacts"]
    assert c["vessel_label"] == 2 and c["vessel_type"] == "AICA"
    assert c["gap_mm"] == pytest.approx(gap, abs=0.15)
    assert c["reader_grade"] == "none" and c["suggested_grade"] in ("none", "contact")
    assert np.linalg.norm(np.subtract(c["vessel_point_lps"], c["nerve_point_lps"])) == (
        pytest.approx(c["gap_mm"], abs=0.01)
    )
    assert {"segment", "nerve_point_lps", "grade"} <= set(c)
    assert "Doe" not in res.stdout  # no PHI printed
    table = _nvcview("measure", tmp_path / "r" / "review.json")
    assert table.returncode == 0, table.stderr
    line = next(ln for ln in table.stdout.splitlines() if ln.startswith("2 "))
    assert "AICA" in line and f"{c['gap_mm']:.2f}" in line


def test_measure_cli_save_stores_measurements(tmp_path):
    review, labels, gap = _case(tmp_path)
    save_review(review, tmp_path, labels)
    res = _nvcview("measure", tmp_path, "--save", "--actor", "cli-user")
    assert res.returncode == 0, res.stderr
    back = load_review(tmp_path)
    assert back.measurements[0].gap_mm == pytest.approx(gap, abs=0.15)
    from nvcview.review.audit import read_audit

    assert read_audit(tmp_path)[-1]["actor"] == "cli-user"


def test_measure_cli_save_with_contact_mm_stores_the_threshold_used(tmp_path):
    review, labels, gap = _case(tmp_path)
    save_review(review, tmp_path, labels)
    res = _nvcview("measure", tmp_path, "--save", "--contact-mm", gap + 1.0)
    assert res.returncode == 0, res.stderr
    back = load_review(tmp_path)
    assert back.measurements[0].contact  # judged with the given threshold ...
    assert back.settings.contact_mm == pytest.approx(gap + 1.0)  # ... which is stored too


def test_measure_cli_on_slicer_itksnap_label_map(tmp_path):
    review, labels, gap = _case(tmp_path)
    write_nifti(labels, tmp_path / "seg.nii.gz")
    write_itksnap(
        [
            Structure(1, "Facial nerve", "nerve", nerve="VII"),
            Structure(2, "left AICA", "vessel", "AICA"),
        ],
        tmp_path / "seg.label",
    )
    # landmarks from Slicer, written in RAS as older Slicer versions do
    ras = {k: (np.array(v) * [-1, -1, 1]).tolist() for k, v in review.landmarks.items()}
    doc = {
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "RAS",
                "controlPoints": [{"label": k, "position": p} for k, p in ras.items()],
            }
        ]
    }
    (tmp_path / "lm.mrk.json").write_text(json.dumps(doc))
    write_markups(tmp_path / "nerve.mrk.json", curve=np.array(review.nerve_path_lps))
    res = _nvcview(
        "measure",
        tmp_path / "seg.nii.gz",
        "--table",
        tmp_path / "seg.label",
        "--markups",
        tmp_path / "lm.mrk.json",
        "--markups",
        tmp_path / "nerve.mrk.json",
        "--reader",
        "importer",
        "--save-review",
        tmp_path / "imported",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    (c,) = json.loads(res.stdout)["contacts"]
    assert c["gap_mm"] == pytest.approx(gap, abs=0.15)
    imported = load_review(tmp_path / "imported")
    assert imported.reader == "importer"
    np.testing.assert_allclose(imported.landmarks["RDP"], review.landmarks["RDP"], atol=1e-6)
    assert len(imported.nerve_path_lps) == 12


def test_measure_cli_errors_are_one_line(tmp_path):
    review, labels, _ = _case(tmp_path)
    save_review(review, tmp_path / "r")  # no label map
    res = _nvcview("measure", tmp_path / "r")
    assert res.returncode == 2
    assert "labels.nii.gz" in res.stderr and "missing" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1

    write_nifti(labels, tmp_path / "seg.nii.gz")
    res = _nvcview("measure", tmp_path / "seg.nii.gz")
    assert res.returncode == 2 and "structure table is needed" in res.stderr

    res = _nvcview("measure", tmp_path / "seg.nii.gz", "--structures", "2=AICA")
    assert res.returncode == 2 and "no facial nerve" in res.stderr


def test_measure_reference_accepts_the_same_grid_in_any_axis_order(tmp_path):
    """--reference DICOM_DIR / converted NIfTI / a Slicer-style export, each the T2 grid."""
    from nvcview_sample import write_sample

    from nvcview.io import load
    from nvcview.io.nifti import read_nifti

    paths = write_sample(tmp_path / "s")
    t2_dir = tmp_path / "s" / "dicom" / "T2"
    labels_nii = tmp_path / "s" / "review" / "labels.nii.gz"
    spec = "--structures", "1=facial nerve,2=left AICA"
    lab = read_nifti(labels_nii)
    # 1. the review's own label map (NIfTI order) against the DICOM folder (slice order)
    out = _nvcview("measure", labels_nii, *spec, "--reference", t2_dir, "--json")
    assert out.returncode == 0, out.stderr
    ref_rows = json.loads(out.stdout)["contacts"]
    # 2. against `nvcview convert`'s NIfTI of the same series
    conv = tmp_path / "t2.nii.gz"
    assert _nvcview("convert", t2_dir, conv).returncode == 0
    out = _nvcview("measure", labels_nii, *spec, "--reference", conv, "--json")
    assert out.returncode == 0, out.stderr
    conv_rows = json.loads(out.stdout)["contacts"]
    assert [r["gap_mm"] for r in conv_rows] == pytest.approx(
        [r["gap_mm"] for r in ref_rows], abs=1e-3
    )
    assert [r["suggested_grade"] for r in conv_rows] == [r["suggested_grade"] for r in ref_rows]
    # 2b. a label map stored in the converted NIfTI's own axis order, against the DICOM
    from nvcview.io.grids import conform_to

    conv_img = read_nifti(conv)
    in_conv_order = conform_to(lab, conv_img)
    conv_labels = tmp_path / "labels-conv-order.nii.gz"
    write_nifti(in_conv_order, conv_labels)
    out = _nvcview("measure", conv_labels, *spec, "--reference", t2_dir, "--json")
    assert out.returncode == 0, out.stderr
    assert [r["gap_mm"] for r in json.loads(out.stdout)["contacts"]] == pytest.approx(
        [r["gap_mm"] for r in ref_rows], abs=1e-3
    )
    assert load(t2_dir).array.shape == lab.array.shape
    # 3. a Slicer-style export: axes permuted and one flipped, affine to match
    arr = np.flip(np.transpose(lab.array, (2, 0, 1)), axis=1)
    aff = lab.affine[:, [2, 0, 1, 3]].copy()
    n1 = arr.shape[1]
    aff[:3, 3] = aff[:3, 3] + aff[:3, 1] * (n1 - 1)
    aff[:3, 1] = -aff[:3, 1]
    slicer = tmp_path / "slicer-label.nii.gz"
    write_nifti(make_volume(arr, aff), slicer)
    out = _nvcview("measure", slicer, *spec, "--reference", t2_dir, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["contacts"]
    assert [r["gap_mm"] for r in rows] == pytest.approx([r["gap_mm"] for r in ref_rows], abs=1e-3)
    assert rows[0]["gap_low_mm"] <= rows[0]["gap_mm"] <= rows[0]["gap_high_mm"]
    # a grid shifted by half a voxel is refused in one line
    shifted = aff.copy()
    shifted[:3, 3] += 0.5 * aff[:3, 0]
    bad = tmp_path / "shifted.nii.gz"
    write_nifti(make_volume(arr, shifted), bad)
    out = _nvcview("measure", bad, *spec, "--reference", t2_dir)
    assert out.returncode == 2
    errors = [ln for ln in out.stderr.splitlines() if not ln.startswith("WARNING")]
    assert len(errors) == 1 and "not on the grid of the reference series" in errors[0]
    assert "would need resampling" in errors[0]
    assert paths is not None
