"""Table layout: documented columns, dtypes, CSV/Parquet round trips, output names."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from nvcview.batch.table import (
    CASE_COLUMNS,
    ERROR_COLUMNS,
    VESSEL_COLUMNS,
    make_frame,
    output_paths,
    read_table,
    write_table,
)
from nvcview.errors import InputError

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch.md"


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("Vessel table", VESSEL_COLUMNS),
        ("Case table", CASE_COLUMNS),
        ("Errors table", ERROR_COLUMNS),
    ],
)
def test_every_column_is_in_the_column_dictionary(name, columns):
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"### {name}")[1].split("\n### ")[0].split("\n## ")[0]
    documented = set(re.findall(r"`([a-z0-9_]+)`", section))
    missing = [c for c in columns if c not in documented]
    assert not missing, f"{DOC.name}, section {name!r}: columns not documented: {missing}"


def test_units_are_in_the_names():
    for columns in (VESSEL_COLUMNS, CASE_COLUMNS):
        for col, dtype in columns.items():
            if dtype == "Float64":
                assert col.endswith(("_mm", "_deg")), f"float column {col} has no unit suffix"


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_round_trip_keeps_values_and_missing(tmp_path, ext):
    rows = [
        {"case_id": "c1", "reader": "A", "vessel_label": 4, "gap_mm": 0.25, "contact": True},
        {"case_id": "c1", "reader": "B", "vessel_label": 4, "gap_mm": None, "contact": None},
    ]
    frame = make_frame(rows, VESSEL_COLUMNS)
    assert list(frame.columns) == list(VESSEL_COLUMNS)
    path = write_table(frame, tmp_path / f"t{ext}")
    back = read_table(path)
    assert list(back.columns) == list(VESSEL_COLUMNS)
    assert back.gap_mm.iloc[0] == 0.25 and pd.isna(back.gap_mm.iloc[1])
    assert int(back.vessel_label.iloc[1]) == 4
    assert not list(tmp_path.glob(".tmp-*"))  # atomic write left nothing behind


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_round_trip_keeps_text_identifiers_as_text(tmp_path, ext):
    # case "007" and case "7" are two cases (agreement groups by case_id)
    rows = [
        {"case_id": "007", "reader": "01", "vessel_label": 4, "segment": "AS"},
        {"case_id": "7", "reader": "NA", "vessel_label": 4, "segment": "AS"},
    ]
    back = read_table(write_table(make_frame(rows, VESSEL_COLUMNS), tmp_path / f"t{ext}"))
    assert back.case_id.tolist() == ["007", "7"]
    assert back.reader.tolist() == ["01", "NA"]


def test_empty_tables_keep_their_columns(tmp_path):
    path = write_table(make_frame([], ERROR_COLUMNS), tmp_path / "e.parquet")
    back = pd.read_parquet(path)
    assert list(back.columns) == list(ERROR_COLUMNS) and back.empty


def test_undocumented_column_is_refused():
    with pytest.raises(ValueError, match=r"undocumented columns \['shoe_size'\]"):
        make_frame([{"case_id": "c", "shoe_size": 42}], VESSEL_COLUMNS)


def test_output_names(tmp_path):
    paths = output_paths(tmp_path / "cohort.parquet")
    assert paths["cases"].name == "cohort_cases.parquet"
    assert paths["errors"].name == "cohort_errors.parquet"
    assert paths["cache"].name == "cohort_cache"
    with pytest.raises(InputError, match=r"cohort.xlsx: output must end in .csv or .parquet"):
        output_paths(tmp_path / "cohort.xlsx")
    with pytest.raises(InputError, match=r"nothing.csv: no such file"):
        read_table(tmp_path / "nothing.csv")


def test_every_measurement_field_has_a_column():
    from dataclasses import fields

    from nvcview.measure.records import VesselMeasurement

    missing = []
    for f in fields(VesselMeasurement):
        if f.name.endswith("_lps"):
            stem = f.name[: -len("_lps")]
            wanted = [f"{stem}_{axis}_lps_mm" for axis in "xyz"]
        else:
            wanted = [f.name]
        missing += [c for c in wanted if c not in VESSEL_COLUMNS]
    assert not missing, f"VesselMeasurement fields without a batch column: {missing}"


def test_batch_run_writes_the_gap_uncertainty_interval(tmp_path):
    import dataclasses
    import subprocess
    import sys

    from nvcview.review.store import load_labels, load_review, save_review
    from tests.batch.cohort import write_review

    folder = write_review(tmp_path / "root" / "case-1" / "reader1", case_id="c1", reader="R1")
    review = load_review(folder)
    ms = [
        dataclasses.replace(
            m, gap_low_mm=0.0, gap_high_mm=0.45, uncertainty_method="voxel 0.50 mm along the gap"
        )
        if m.vessel_label == 2
        else m
        for m in review.measurements
    ]
    save_review(
        dataclasses.replace(review, measurements=ms), folder, labels=load_labels(review, folder)
    )
    out = tmp_path / "out" / "vessels.csv"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "batch",
            str(tmp_path / "root"),
            "--out",
            str(out),
            "--stored",
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    vessels = read_table(out)
    assert {"gap_low_mm", "gap_high_mm", "uncertainty_method"} <= set(vessels.columns)
    aica = vessels[vessels.vessel_label == 2].iloc[0]
    assert (aica.gap_low_mm, aica.gap_high_mm) == pytest.approx((0.0, 0.45))
    assert aica.uncertainty_method == "voxel 0.50 mm along the gap"
    pica = vessels[vessels.vessel_label == 3].iloc[0]
    assert pd.isna(pica.gap_low_mm) and pd.isna(pica.gap_high_mm)  # none stored: empty
