"""`nvcview report` through the CLI: DICOM SR/SEG validity, numbers, de-identification."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from nvcview.report import codes as C
from nvcview.report.seg import find_series_files, label_frames
from nvcview.review.store import load_labels

from .conftest import PHI


def _report(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "report", str(folder), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def plain(synth_case, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain")
    res = _report(synth_case["folder"], out)
    assert f"html: {out / 'report.html'}" in res.stdout
    return out


@pytest.fixture(scope="module")
def deid(synth_case, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deid")
    _report(synth_case["folder"], out, "--deidentify")
    return out


def _dciodvfy_errors(path: Path) -> list[str]:
    res = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    lines = (res.stdout + res.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


@pytest.mark.parametrize("which", ["plain", "deid"])
def test_sr_and_seg_pass_dciodvfy_dsrdump_and_highdicom(which, request):
    out = request.getfixturevalue(which)
    sr_path, seg_path = out / "report-sr.dcm", out / "labels-seg.dcm"
    for p in (sr_path, seg_path):
        assert _dciodvfy_errors(p) == [], p
    dump = subprocess.run(["dsrdump", str(sr_path)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "Imaging Measurement Report" in dump.stdout
    sr = hd.sr.srread(sr_path)
    seg = hd.seg.segread(seg_path)
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    assert seg.number_of_segments == 4


def test_sr_numbers_and_codes_agree_with_json(plain, synth_case):
    doc = json.loads((plain / "report.json").read_text())
    sr = hd.sr.srread(plain / "report-sr.dcm")
    seg = pydicom.dcmread(plain / "labels-seg.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(doc["vessels"])
    for g, v in zip(groups, doc["vessels"], strict=True):
        assert g.tracking_identifier.startswith(f"vessel {v['vessel_label']}")
        gap = g.get_measurements(name=hd.sr.CodedConcept("121206", "DCM", "Distance"))[0]
        assert gap.value == pytest.approx(v["gap_mm"], abs=1e-6)
        assert gap.unit.value == "mm" and gap.unit.scheme_designator == "UCUM"
        rdp = g.get_measurements(name=C.RDP_SIGNED)[0]
        assert "negative = medial" in rdp.name.meaning  # the sign is stated
        assert rdp.value == pytest.approx(v["dist_from_rdp_mm"], abs=1e-6)
        angle = g.get_measurements(name=hd.sr.CodedConcept("1483009", "SCT", "Angle"))[0]
        assert angle.value == pytest.approx(v["crossing_angle_deg"], abs=1e-6)
        diam = g.get_measurements(name=hd.sr.CodedConcept("81827009", "SCT", "Diameter"))[0]
        assert diam.value == pytest.approx(v["vessel_diameter_mm"], abs=1e-6)
        site = g.finding_sites[0]
        assert site.value.value == "56052001"  # facial nerve
        ref = g.referenced_segment
        assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
        desc = seg.SegmentSequence[ref.referenced_segment_numbers[0] - 1]
        assert desc.SegmentLabel == v["vessel_name"]
    aica = next(
        g for g, v in zip(groups, doc["vessels"], strict=True) if v["vessel_type"] == "AICA"
    )
    assert aica.finding_type.scheme_designator == "99NVCVIEW"
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99NVCVIEW"


def test_seg_frames_match_label_map_on_source_frames(plain, synth_case):
    review, folder = synth_case["review"], synth_case["folder"]
    seg = hd.seg.segread(plain / "labels-seg.dcm")
    sources = find_series_files(review.series[0].path, review.series[0].series_uid)
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    expected = label_frames(load_labels(review, folder), sources)
    src_uids = [ds.SOPInstanceUID for ds in sources]
    got = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=src_uids, combine_segments=True, skip_overlap_checks=True
    )
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)  # structures 1..4 are labels 1..4 here
    assert (expected == 3).sum() > 20


def _original_identifiers(case) -> list[bytes]:
    values = list(PHI.values()) + PHI["name"].split("^")
    values += [case["study_uid"], case["t2_uid"], case["tof_uid"]]
    return [v.encode() for v in values]


def _all_bytes(folder: Path) -> dict[Path, bytes]:
    out = {}
    for p in folder.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix == ".pdf":  # page streams are compressed: add the extracted text
                data += subprocess.run(
                    ["pdftotext", str(p), "-"], capture_output=True, check=True
                ).stdout
            if p.suffix == ".png":  # and PNG chunks (zlib) decompressed
                pos, idat = 8, b""
                while pos < len(data):
                    n = int.from_bytes(data[pos : pos + 4], "big")
                    if data[pos + 4 : pos + 8] in (b"IDAT", b"zTXt", b"iTXt"):
                        idat += data[pos + 8 : pos + 8 + n]
                    pos += 12 + n
                data += zlib.decompress(idat) if idat else b""
            out[p] = data
    return out


def test_plain_report_does_carry_identifiers(plain, synth_case):
    # guards the de-identification scan below: the same scan finds them here
    blob = b"".join(_all_bytes(plain).values())
    assert PHI["id"].encode() in blob and PHI["name"].encode() in blob


def test_deidentified_outputs_hold_no_identifier_and_new_uids(deid, synth_case, tmp_path):
    files = _all_bytes(deid)
    assert {p.name for p in files} >= {
        "report.json",
        "report.html",
        "report.pdf",
        "report-sr.dcm",
        "labels-seg.dcm",
    }
    for p, data in files.items():
        for ident in _original_identifiers(synth_case):
            assert ident not in data, (p.name, ident)
            assert ident.lower() not in data.lower(), (p.name, ident)
    doc = json.loads((deid / "report.json").read_text())
    pseud = doc["header"]["case"]
    assert pseud.startswith("NVC-") and doc["header"]["patient"] is None
    sr = pydicom.dcmread(deid / "report-sr.dcm")
    seg = pydicom.dcmread(deid / "labels-seg.dcm")
    assert str(sr.PatientID) == pseud and str(seg.PatientID) == pseud
    assert sr.PatientIdentityRemoved == "YES"
    assert sr.StudyInstanceUID == seg.StudyInstanceUID != synth_case["study_uid"]
    assert seg.FrameOfReferenceUID != synth_case["t2"].volume.frame_of_reference_uid
    # the pseudonym is stable: a second run gives the same one
    again = tmp_path / "again"
    _report(synth_case["folder"], again, "--deidentify", "--format", "json")
    assert json.loads((again / "report.json").read_text())["header"]["case"] == pseud
    # a secret key gives another pseudonym
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123456789abcdef")
    keyed = tmp_path / "keyed"
    _report(synth_case["folder"], keyed, "--deidentify", "--format", "json", "--key-file", str(key))
    other = json.loads((keyed / "report.json").read_text())["header"]["case"]
    assert other.startswith("NVC-") and other != pseud


def test_report_cli_error_is_one_line(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "report",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o"),
            "--format",
            "json,xml",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "xml" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_deidentified_run_into_a_folder_of_an_identified_run_leaves_no_identified_file(
    synth_case, tmp_path
):
    out = tmp_path / "shared"
    res = _report(synth_case["folder"], out)  # identified, every format
    assert res.returncode == 0, res.stderr
    assert (out / "report-sr.dcm").is_file() and any((out / "key-images-dicom").iterdir())
    (out / "my-notes.txt").write_text("kept")
    (out / "images" / "my-sketch.png").write_bytes(b"\x89PNG kept")
    res = _report(synth_case["folder"], out, "--deidentify", "--format", "json")
    assert res.returncode == 0, res.stderr
    left = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "report.json" in left
    for gone in ("report.html", "report.pdf", "report-sr.dcm", "labels-seg.dcm", "report-pdf.dcm"):
        assert gone not in left, gone
    assert not any(p.startswith("key-images-dicom/") for p in left)
    # only our own file names are removed
    assert {"my-notes.txt", "images/my-sketch.png"} <= left
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "my-" not in p.name}
    for p, data in files.items():
        for ident in _original_identifiers(synth_case):
            assert ident not in data, (p.name, ident)
