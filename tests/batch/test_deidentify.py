"""De-identification of rows and error messages (the pieces behind --deidentify)."""

from __future__ import annotations

from nvcview.batch.deidentify import deidentify_record, deidentify_result
from nvcview.batch.pseudonym import Pseudonymizer

KEY = b"a-key-of-at-least-sixteen-bytes!"
CASE = {
    "case_id": "Smith_John",
    "patient_id": "MRN-123",
    "reader": "dr_a",
    "review_folder": "Smith_John/dr_a",
    "study_uid": "1.2.840.99.20240312.1",
    "accession_number": "ACC-1",
    "study_date": "20240312",
    "review_created": "2024-03-13T09:00:00+00:00",
    "review_modified": "2024-03-14T09:00:00+00:00",
    "n_vessels": 3,
}


def test_case_row_identifiers_replaced_dates_shifted_together():
    pz = Pseudonymizer(KEY)
    out = deidentify_record(CASE, pz)
    assert out["case_id"].startswith("C-") and out["patient_id"].startswith("NVC-")
    assert out["review_folder"].startswith("R-") and out["study_uid"].startswith("S-")
    assert out["accession_number"] is None
    assert (out["reader"], out["n_vessels"]) == ("dr_a", 3)
    shift = pz.shift_days("MRN-123")
    assert out["study_date"] == pz.shift_date("20240312", "MRN-123") != "20240312"
    assert out["review_created"].startswith(
        pz.shift_date("2024-03-13T09:00:00+00:00", "MRN-123")[:10]
    )
    assert -365 <= shift <= -1
    text = repr(out)
    for secret in ("Smith", "MRN-123", "ACC-1", "20240312", "2024-03-13", "1.2.840.99"):
        assert secret not in text, secret
    assert CASE["case_id"] == "Smith_John"  # the input is not modified


def test_drop_dates_mode():
    out = deidentify_record(CASE, Pseudonymizer(KEY, shift_dates=False))
    assert out["study_date"] is None and out["review_created"] is None


def test_error_message_scrubbed_of_paths_and_patient_identifiers():
    task = {
        "folder": "/archive/Smith_John/dr_a",
        "rel": "Smith_John/dr_a",
        "root": "/archive",
    }
    result = {
        "status": "error",
        "stage": "measure",
        "error_type": "InputError",
        "message": "/archive/Smith_John/dr_a/labels.nii.gz: label map for MRN-123 is missing",
        "case_id": "Smith_John",
        "reader": "dr_a",
        "phi": ["Smith^John", "MRN-123"],
    }
    pz = Pseudonymizer(KEY)
    out = deidentify_result(result, task, pz)
    assert "phi" not in out
    assert "Smith" not in out["message"] and "MRN-123" not in out["message"]
    assert "/archive" not in out["message"]
    assert "labels.nii.gz: label map for [removed] is missing" in out["message"]
    assert out["message"].startswith(pz.pseudonym("Smith_John/dr_a", "folder", "R"))
    assert out["case_id"] == pz.pseudonym("Smith_John", kind="case", prefix="C")


def test_error_message_keeps_no_dicom_uid_of_the_study(tmp_path):
    import json

    from nvcview.batch.case import process_case

    from .cohort import write_review

    folder = write_review(tmp_path / "Smith_John" / "dr_a", case_id="Smith_John", reader="dr_a")
    doc = json.loads((folder / "review.json").read_text())
    doc["reference_affine"][0][3] += 5.0  # label map off the reference grid: GeometryError
    (folder / "review.json").write_text(json.dumps(doc))
    task = {"folder": str(folder), "rel": "Smith_John/dr_a", "root": str(tmp_path)}
    result = process_case(dict(task, stored=False))
    assert result["status"] == "error" and doc["reference_series_uid"] in result["message"]
    out = deidentify_result(result, task, Pseudonymizer(KEY))
    assert "reference series" in out["message"]
    assert doc["reference_series_uid"] not in out["message"], out["message"]


def test_reader_named_after_its_folder_is_pseudonymised(tmp_path):
    from nvcview.batch.case import process_case

    from .cohort import write_review

    # no reader in review.json: the reader column falls back to the folder's name
    folder = write_review(tmp_path / "Smith_John_MRN123", case_id="", reader="")
    task = {"folder": str(folder), "rel": "Smith_John_MRN123", "root": str(tmp_path)}
    result = process_case(dict(task, stored=True))
    assert result["status"] == "ok" and result["case"]["reader"] == "Smith_John_MRN123"
    out = deidentify_result(result, task, Pseudonymizer(KEY))
    assert "Smith" not in repr(out)
    assert out["case"]["reader"] == out["rows"][0]["reader"] != ""
    # a reader named in review.json stays as it is
    named = write_review(tmp_path / "case" / "dr_a", case_id="c1", reader="dr_a")
    task = {"folder": str(named), "rel": "case/dr_a", "root": str(tmp_path)}
    out = deidentify_result(process_case(dict(task, stored=True)), task, Pseudonymizer(KEY))
    assert out["case"]["reader"] == "dr_a"


def test_schema_errors_in_deidentified_tables_echo_no_values(tmp_path):
    """A batch over folders named after patients, whose reviews fail validation with
    identifiers in wrong-typed fields: no identifier in the CSV or Parquet errors table,
    and the messages still read (the word "review" is not replaced)."""
    import json
    import subprocess
    import sys

    import pandas as pd

    from .cohort import write_review

    root = tmp_path / "archive"
    numeric = write_review(root / "DOE_JANE_998877" / "review", case_id="x", reader="dr_a")
    doc = json.loads((numeric / "review.json").read_text())
    doc["case_id"] = 998877  # a number: a schema error that used to quote it
    (numeric / "review.json").write_text(json.dumps(doc))
    named = write_review(root / "ROE_RICK_554433" / "review", case_id="y", reader="dr_a")
    doc = json.loads((named / "review.json").read_text())
    doc["side"] = "Roe Rick"  # a name typed into the wrong field
    doc["reader"] = ["Roe", "Rick"]
    (named / "review.json").write_text(json.dumps(doc))
    key = tmp_path / "k.key"
    key.write_bytes(b"k" * 32)
    forbidden = ["998877", "554433", "DOE", "Doe", "JANE", "Jane", "ROE", "Roe", "Rick", "Smith"]
    for ext in ("csv", "parquet"):
        out = tmp_path / f"out_{ext}" / f"t.{ext}"
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "nvcview",
                "batch",
                str(root),
                "--out",
                str(out),
                "--stored",
                "--workers",
                "1",
                "--quiet",
                "--deidentify",
                "--key-file",
                str(key),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert res.returncode == 1, res.stderr
        errors = out.with_name(f"t_errors.{ext}")
        data = errors.read_bytes()
        for secret in forbidden:
            assert secret.encode() not in data, (ext, secret)
        table = pd.read_parquet(errors) if ext == "parquet" else pd.read_csv(errors)
        messages = sorted(table.message)
        assert len(messages) == 2
        assert any("field 'case_id': must be of type string" in m for m in messages)
        assert any("field 'side': must be one of" in m for m in messages)
        assert all("invalid review" in m for m in messages), messages  # not mangled
        for secret in forbidden:
            assert secret not in res.stderr
