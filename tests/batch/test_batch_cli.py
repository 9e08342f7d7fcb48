"""``nvcview batch`` driven as a user would: through the command line."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nvcview.batch.agreement_report import compute_agreement
from nvcview.batch.table import CASE_COLUMNS, ERROR_COLUMNS, VESSEL_COLUMNS
from nvcview.cli import main
from tests.batch.cohort import PATIENT, write_review

# folder names carry identifiers, as real archives' folders often do
CASE_DIRS = {"case-A": "Doe_Jane_MRN-0042-XYZ", "case-B": "Roe_Rick_MRN-0077"}
OTHER_PATIENT = dataclasses.replace(
    PATIENT, patient_name="Roe^Rick", patient_id="MRN-0077", accession_number="ACC-77-0001"
)


def nvcview(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cohort_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cohort") / "root"
    for case_id, dirname in CASE_DIRS.items():
        patient = PATIENT if case_id == "case-A" else OTHER_PATIENT
        write_review(root / dirname / "reader1", case_id=case_id, reader="R1", patient=patient)
        write_review(
            root / dirname / "reader2",
            case_id=case_id,
            reader="R2",
            gaps=(0.3, 2.4),
            grades=("indentation", "none"),
            patient=patient,
        )
    return root


@pytest.fixture
def cohort(cohort_template, tmp_path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(cohort_template, root)
    return root


def test_batch_stored_csv_tables(cohort, tmp_path):
    out = tmp_path / "out" / "vessels.csv"
    res = nvcview(cohort, "--out", out, "--stored", "--workers", "1", "--quiet")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # --quiet: nothing on stderr
    vessels = pd.read_csv(out)
    cases = pd.read_csv(tmp_path / "out" / "vessels_cases.csv")
    errors = pd.read_csv(tmp_path / "out" / "vessels_errors.csv")
    assert list(vessels.columns) == list(VESSEL_COLUMNS)
    assert list(cases.columns) == list(CASE_COLUMNS)
    assert list(errors.columns) == list(ERROR_COLUMNS) and errors.empty
    assert len(vessels) == 8  # 2 cases x 2 readers x 2 vessels
    row = vessels[(vessels.case_id == "case-A") & (vessels.reader == "R2")]
    aica = row[row.vessel_type == "AICA"].iloc[0]
    assert aica.gap_mm == pytest.approx(0.3)
    assert aica.grade == "indentation" and aica.reader_confidence == "high"
    assert aica.dist_from_rdp_mm == pytest.approx(-2.0)
    assert aica.review_folder == f"{CASE_DIRS['case-A']}/reader2"
    case = cases[(cases.case_id == "case-B") & (cases.reader == "R1")].iloc[0]
    assert (case.n_vessels, case.n_conflicts, case.worst_grade) == (2, 1, "contact")
    assert case.offending_vessels == "AICA"
    assert (case.t2_voxel_i_mm, case.t2_voxel_k_mm) == pytest.approx((0.5, 0.6))
    assert case.labels_voxel_k_mm == pytest.approx(0.6)
    assert case.patient_id == OTHER_PATIENT.patient_id  # identified run keeps the ids

    # a second run finds nothing changed; --force redoes every review
    again = nvcview(cohort, "--out", out, "--stored", "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert "4 reviews: 0 computed, 4 unchanged (cached), 0 failed" in again.stderr
    assert pd.read_csv(out).equals(vessels)
    forced = nvcview(cohort, "--out", out, "--stored", "--workers", "1", "--force", "--quiet")
    assert forced.returncode == 0 and forced.stderr == ""
    assert len(list((tmp_path / "out" / "vessels_cache").glob("*.json"))) == 4


def test_broken_review_is_recorded_and_exit_1(cohort, tmp_path):
    bad = cohort / "Broken_case" / "reader1"
    bad.mkdir(parents=True)
    (bad / "review.json").write_text("{ not json", encoding="utf-8")
    out = tmp_path / "t.parquet"
    res = nvcview(cohort, "--out", out, "--stored", "--workers", "2")
    assert res.returncode == 1, res.stderr
    assert "5 reviews: 5 computed, 0 unchanged (cached), 1 failed" in res.stderr
    assert "t_errors.parquet" in res.stderr
    assert "it/s" in res.stderr or "review/s" in res.stderr or "s/review" in res.stderr
    errors = pd.read_parquet(tmp_path / "t_errors.parquet")
    assert len(errors) == 1
    err = errors.iloc[0]
    assert err.review_folder == "Broken_case/reader1"
    assert err.error_type == "SchemaError" and "not valid JSON" in err.message
    assert "review.json" in err.message  # names the file
    vessels = pd.read_parquet(out)
    assert len(vessels) == 8  # the other reviews are all there
    assert str(vessels.gap_mm.dtype) == "Float64" and str(vessels.contact.dtype) == "boolean"


def test_deidentified_output_has_no_identifiers(cohort, tmp_path):
    bad = cohort / CASE_DIRS["case-A"] / "reader3"
    bad.mkdir()
    (bad / "review.json").write_text("[]", encoding="utf-8")  # a broken review: path in message
    key = tmp_path / "secret" / "nvcview.key"
    out_dir = tmp_path / "export"
    args = ["--out", out_dir / "t.csv", "--stored", "--workers", "1", "--quiet"]
    res = nvcview(cohort, *args, "--deidentify", "--key-file", key)
    assert res.returncode == 1, res.stderr  # the broken review
    review_json = (cohort / CASE_DIRS["case-A"] / "reader1" / "review.json").read_text()
    created_day = review_json.split('"created": "')[1][:10]
    forbidden = [
        PATIENT.patient_name,
        "Doe",
        "Jane",
        PATIENT.patient_id,
        "MRN-0042",
        "MRN-0077",
        "Roe^Rick",
        OTHER_PATIENT.accession_number,
        PATIENT.patient_birth_date,
        PATIENT.accession_number,
        PATIENT.study_date,
        "2024-03-12",
        created_day,
        created_day.replace("-", ""),
        "1.2.826.0.1.3680043.8.498.424242",
        "case-A",
        str(cohort),
    ]
    key_bytes = key.read_bytes().strip()
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    assert len(files) >= 3 + 4  # three tables + four cached reviews
    for path in files:
        data = path.read_bytes()
        for text in forbidden:
            assert text.encode() not in data, f"{path.name} holds {text!r}"
        assert key_bytes not in data, f"{path.name} holds the key"
    vessels = pd.read_csv(out_dir / "t.csv")
    cases = pd.read_csv(out_dir / "t_cases.csv")
    # pseudonyms are consistent: both readers of a case share case and patient pseudonyms
    assert vessels.case_id.nunique() == 2 and vessels.patient_id.nunique() == 2
    assert set(vessels.case_id.str[:2]) == {"C-"}
    per_case = cases.groupby("case_id").agg({"reader": "nunique", "study_date": "nunique"})
    assert per_case.reader.tolist() == [2, 2]
    assert per_case.study_date.tolist() == [1, 1]  # same shifted date for both readers
    assert cases.accession_number.isna().all()
    errors = pd.read_csv(out_dir / "t_errors.csv")
    assert len(errors) == 1 and errors.review_folder.iloc[0].startswith("R-")
    # agreement works on the de-identified table: readers still pair up per case
    res_agr = compute_agreement(vessels)
    grade = [r for r in res_agr.stats if r["measure"] == "grade"][0]
    assert (grade["readers"], grade["n"]) == ("R1 vs R2", 4)
    # a second run with the same key gives the same pseudonyms (stable across runs)
    again = nvcview(cohort, *args, "--force", "--deidentify", "--key-file", key)
    assert again.returncode == 1, again.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out_dir / "t.csv"), vessels)


def test_key_file_inside_output_folder_is_refused(cohort, tmp_path):
    out = tmp_path / "export" / "t.csv"
    res = nvcview(
        cohort, "--out", out, "--stored", "--deidentify", "--key-file", out.parent / "k.key"
    )
    assert res.returncode == 2
    assert "k.key: the key file must be kept out of the output folder" in res.stderr
    assert not (out.parent / "k.key").exists() and not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "t.xlsx"], "t.xlsx: output must end in .csv or .parquet"),
        (["--out", "t.csv", "--deidentify"], "--deidentify needs --key-file"),
        (["--out", "t.csv", "--workers", "0"], "--workers must be at least 1"),
        (["--out", "t.csv", "--key-file", "k.key"], "--key-file is only used with --deidentify"),
    ],
)
def test_bad_arguments_exit_2(cohort, tmp_path, capsys, args, message):
    # in-process (the same main() as the console script) to keep the suite fast
    argv = [str(tmp_path / a) if a.startswith(("t.", "k.")) else a for a in args]
    assert main(["batch", str(cohort), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("nvcview batch: error:")
    assert "Traceback" not in err


def test_missing_root_and_empty_root_exit_2(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "t.csv")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "t.csv")]) == 2
    assert "no review folder (review.json) found" in capsys.readouterr().err
