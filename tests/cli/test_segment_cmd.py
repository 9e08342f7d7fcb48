"""``nvcview segment`` driven as a user would: sample -> segment -> measure, by subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def nv(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nvcview", *args], capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def fmt(p):
    return ",".join(f"{x:.3f}" for x in p)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "case"
    r = nv("sample", str(out), "--realistic", "--seed", "1", "--oblique", "--segment", "RExP",
           "--gap-mm", "0.5")  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out, json.loads((out / "truth.json").read_text())


def test_segment_then_measure_finds_the_offending_aica(study, tmp_path):
    out, truth = study
    args = [f"--landmark={k}={fmt(v)}" for k, v in truth["landmarks"].items()]
    # one click per vessel where a reader would put it: on the vessel next to the nerve
    args += [f"--vessel={v['vessel_type']}={fmt(v['vessel_axis_point_lps'])}"
             for v in truth["vessels"]]  # fmt: skip
    review = tmp_path / "review"
    r = nv("segment", str(out / "dicom"), "--out", str(review), "--side", "left",
           "--no-register", *args)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (review / "review.json").is_file() and (review / "labels.nii.gz").is_file()
    m = nv("measure", str(review), "--json")
    assert m.returncode == 0, m.stderr
    rows = {c["vessel_type"]: c for c in json.loads(m.stdout)["contacts"]}
    t = {v["vessel_type"]: v for v in truth["vessels"]}
    assert set(rows) == set(t)
    aica = rows["AICA"]
    assert abs(aica["gap_mm"] - t["AICA"]["gap_mm"]) <= 0.3
    assert aica["segment"] == t["AICA"]["segment"]
    assert aica["grade"] == t["AICA"]["grade"]
    near = [abs(rows[k]["gap_mm"] - t[k]["gap_mm"]) for k in t if t[k]["gap_mm"] <= 5.0]
    assert near and float(sum(near) / len(near)) <= 0.25
    # the nerve label spans the nerve: no unsegmented segment behind a "none"
    from nvcview.measure.coverage import nerve_coverage, uncovered_segments
    from nvcview.review.store import load_labels, load_review

    rv = load_review(review)
    cov = nerve_coverage(load_labels(rv, review), 2, rv.landmarks, rv.nerve_path_lps)
    assert uncovered_segments(cov) == []


@pytest.fixture(scope="module")
def moved_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("seg-moved") / "case"
    r = nv("sample", str(out), "--realistic", "--motion", "--seed", "3", "--segment", "AS",
           "--gap-mm", "0.0")  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out, json.loads((out / "truth.json").read_text())


def test_segment_registers_a_moved_tof_and_stores_the_transform(moved_study, tmp_path):
    out, truth = moved_study
    lm = [f"--landmark={k}={fmt(v)}" for k, v in truth["landmarks"].items()]
    aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
    review = tmp_path / "review"
    r = nv("segment", str(out / "dicom"), "--out", str(review), "--side", "left", *lm,
           f"--vessel=AICA={fmt(aica['vessel_axis_point_lps'])}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "registered to" in r.stdout
    doc = json.loads((review / "review.json").read_text())
    (reg,) = doc["registrations"]
    m = np.asarray(reg["moving_to_fixed_lps"], float)
    want = np.asarray(truth["motion"]["tof_to_t2_lps"], float)
    rexp = np.append(np.asarray(truth["landmarks"]["RExP"], float), 1.0)
    # the stored transform maps TOF anatomy onto the T2 at the REZ within 0.5 mm
    assert np.linalg.norm((m @ rexp)[:3] - (want @ rexp)[:3]) <= 0.5
    assert reg["moving_series_uid"] != reg["fixed_series_uid"]
    meas = nv("measure", str(review), "--json")
    assert meas.returncode == 0, meas.stderr
    row = next(c for c in json.loads(meas.stdout)["contacts"] if c["vessel_type"] == "AICA")
    assert abs(row["gap_mm"] - aica["gap_mm"]) <= 0.3
    assert row["segment"] == aica["segment"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--vessel=SCA=1,2,3"], "unknown type 'SCA'"),
        (["--landmark=RExP=1,2"], "expected X,Y,Z"),
        (["--landmark=FOO=1,2,3"], "unknown name 'FOO'"),
    ],
)
def test_bad_arguments_one_line(study, tmp_path, extra, words):
    out, _ = study
    r = nv("segment", str(out / "dicom"), "--out", str(tmp_path / "r"), "--side", "left",
           "--no-register", *extra)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert words in r.stderr and r.stderr.strip().count("\n") == 0


def test_missing_landmark_named(study, tmp_path):
    out, truth = study
    r = nv("segment", str(out / "dicom"), "--out", str(tmp_path / "r"), "--side", "left",
           "--no-register", f"--landmark=RExP={fmt(truth['landmarks']['RExP'])}")  # fmt: skip
    assert r.returncode == 2 and "RDP, IAC" in r.stderr


def _cn8_points(side="left", seed=1, **kw):
    """CN VIII root, middle and porus of the sample's anatomy (where a reader clicks)."""
    from nvcview_sample.anatomy import build_anatomy

    a = build_anatomy(seed=seed, side=side, **kw)
    p8 = a.tubes["VIII"].points
    k = int(np.argmin(np.linalg.norm(p8 - np.asarray(a.landmarks["IAC"]), axis=1)))
    return [p8[0], p8[k // 2], p8[k]]


def test_segment_cn8_from_points_labels_viii_beside_vii(study, tmp_path):
    out, truth = study
    lm = [f"--landmark={k}={fmt(v)}" for k, v in truth["landmarks"].items()]
    pts = _cn8_points(segment="RExP", gap_mm=0.5)
    review = tmp_path / "review"
    r = nv("segment", str(out / "dicom"), "--out", str(review), "--side", "left",
           "--no-register", *lm, *[f"--cn8={fmt(p)}" for p in pts])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "CN VIII:" in r.stdout
    from nvcview.io import list_series, load
    from nvcview.review.store import load_labels, load_review

    rv = load_review(review)
    viii = [s for s in rv.structures if s.kind == "nerve" and s.nerve == "VIII"]
    assert len(viii) == 1 and "vestibulocochlear" in viii[0].name
    labels = load_labels(rv, review).array
    mine = labels == viii[0].label
    # against the truth VIII label of the same study (up to the porus)
    t2 = next(m for m in list_series(str(out / "dicom")) if m.role == "T2")
    img = load(str(out / "dicom"), series_uid=t2.series_uid)
    from nvcview_sample import make_phantom

    ph = make_phantom(seed=1, realistic=True, oblique=True, segment="RExP", gap_mm=0.5)
    assert np.allclose(ph.t2.affine, img.affine, atol=1e-4)
    tl = ph.labels.array
    idx = np.argwhere(tl == 3)
    lps = idx @ ph.t2.affine[:3, :3].T + ph.t2.affine[:3, 3]
    tang = pts[2] - pts[1]
    keep = (lps - pts[2]) @ (tang / np.linalg.norm(tang)) <= 0
    cpa = np.zeros(tl.shape, bool)
    cpa[tuple(idx[keep].T)] = True
    dice = 2 * (mine & cpa).sum() / (mine.sum() + cpa.sum())
    assert dice >= 0.8, dice
    assert not (mine & (tl == 2)).any()  # VII keeps its voxels


def test_segment_cn8_needs_two_points(study, tmp_path):
    out, truth = study
    lm = [f"--landmark={k}={fmt(v)}" for k, v in truth["landmarks"].items()]
    r = nv("segment", str(out / "dicom"), "--out", str(tmp_path / "r"), "--side", "left",
           "--no-register", *lm, "--cn8=1,2,3")  # fmt: skip
    assert r.returncode != 0
    assert "--cn8" in r.stderr and "two points" in r.stderr
    assert "Traceback" not in r.stderr


def test_segment_reads_each_dicom_header_once(study, tmp_path, header_reads):
    from nvcview.cli import main

    out, truth = study
    reads = header_reads
    aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
    args = [f"--landmark={k}={fmt(v)}" for k, v in truth["landmarks"].items()]
    args += [f"--vessel=AICA={fmt(aica['vessel_axis_point_lps'])}"]
    review = tmp_path / "review"
    code = main(["segment", str(out / "dicom"), "--out", str(review), "--side", "left",
                 "--no-register", *args])  # fmt: skip
    assert code == 0 and (review / "review.json").is_file()
    files = {str(p.resolve()) for p in (out / "dicom").rglob("*") if p.is_file()}
    assert len(files) > 50 and files <= set(reads)
    # the study is scanned once: T2 and TOF headers read one time each (was three)
    assert max(reads.values()) == 1, reads.most_common(3)
