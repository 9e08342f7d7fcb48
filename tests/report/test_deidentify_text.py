"""``report --deidentify``: free text scrubbed of DICOM identifiers and written dates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from nvcview.report.deidentify import SCRUB_NOTE, scrub_error_message, scrub_text

from .conftest import PHI, make_case

IMPRESSION = (
    "Patient {name} (MRN {pid}), DOB 1958-03-14, also written 14.03.1958, "
    "March 14, 1958 and 14 March 1958; AICA loop 0.4 mm from the RDP."
)


@pytest.mark.parametrize(
    "date",
    [
        "1958-03-14",
        "14.03.1958",
        "03/14/1958",
        "19580314",
        "March 14, 1958",
        "14 March 1958",
        "14th of March, 1958",
        "Mar. 14 1958",
    ],
)
def test_dates_in_written_forms_are_removed(date):
    out = scrub_text(f"DOB {date}; gap 0.40 mm", None)
    assert "1958" not in out and "[date]" in out and "gap 0.40 mm" in out


def test_measurements_and_versions_are_kept():
    text = "gap 0.5 mm, 2.25 mm from the RDP, angle 60 deg, CN VIII, v1.2.3"
    assert scrub_text(text, None) == text


def _unidentified_review(tmp_path):
    """A review without a patient block (as ``measure --save-review`` writes) over
    identified DICOM, with identifiers and dates typed into the impression."""
    case = make_case(tmp_path / "Zzyzxa_Quetzalina")
    folder = case["folder"]
    doc = json.loads((folder / "review.json").read_text())
    doc["patient"] = None
    doc["case_id"] = "case-1"
    doc["status"] = "draft"
    doc["impression"] = IMPRESSION.format(name=PHI["name"].replace("^", " "), pid=PHI["id"])
    doc["calls"][0]["comment"] = f"seen with {PHI['name'].split('^')[0]} on 05/01/2024"
    doc["labelmap_sha256"] = doc["labelmap_sha256"]
    (folder / "review.json").write_text(json.dumps(doc))
    return case


def test_report_scrubs_identifiers_from_dicom_headers(tmp_path):
    case = _unidentified_review(tmp_path)
    out = tmp_path / "out"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "report",
            str(case["folder"]),
            "--out",
            str(out),
            "--deidentify",
            "--format",
            "json,html,pdf",
            "--stored",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    pdf_text = subprocess.run(
        ["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    texts = {
        "json": (out / "report.json").read_text(),
        "html": (out / "report.html").read_text(),
        "pdf": pdf_text,
    }
    name_parts = PHI["name"].split("^")
    for fmt, text in texts.items():
        for secret in [*name_parts, PHI["id"], "1958", "05/01/2024"]:
            assert secret not in text, (fmt, secret)
    report = json.loads(texts["json"])
    blob = json.dumps(report)
    assert "AICA loop 0.4 mm from the RDP" in blob  # the clinical words stay
    assert SCRUB_NOTE in blob and "De-identified" in texts["html"]
    assert "De-identified" in pdf_text


def test_failing_deidentified_report_prints_no_path_or_uid(tmp_path):
    case = _unidentified_review(tmp_path)
    shutil.rmtree(case["folder"].parent / "dicom" / "T2")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "report",
            str(case["folder"]),
            "--out",
            str(tmp_path / "o"),
            "--deidentify",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Zzyzxa" not in res.stderr and str(tmp_path) not in res.stderr
    assert case["t2_uid"] not in res.stderr and case["study_uid"] not in res.stderr


def test_scrub_error_message_keeps_file_names():
    msg = "/data/Doe_Jane/review/labels.nii.gz: series 1.2.840.1.2.3 missing in Doe_Jane/dicom"
    out = scrub_error_message(msg)
    assert out == "[path]/labels.nii.gz: series [uid] missing in [path]"
