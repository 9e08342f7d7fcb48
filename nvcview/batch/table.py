"""The batch tables: column dictionaries, data frames, CSV / Parquet writers.

Three tables are written for ``--out FILE.ext``:

- ``FILE.ext``: one row per (case, reader, vessel) (:data:`VESSEL_COLUMNS`),
- ``FILE_cases.ext``: one row per (case, reader) (:data:`CASE_COLUMNS`),
- ``FILE_errors.ext``: one row per review that failed (:data:`ERROR_COLUMNS`).

Units are in the column names (``_mm``, ``_deg``); positions are patient LPS mm.
``docs/batch.md`` describes every column. Each table always has all of its
columns, in this order, with these (nullable pandas) types, even when empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from nvcview.errors import InputError
from nvcview.fsutil import atomic_path

STR, FLOAT, INT, BOOL = "string", "Float64", "Int64", "boolean"

_KEY = {
    "case_id": STR,
    "patient_id": STR,
    "reader": STR,
    "review_folder": STR,
    "side": STR,
}

VESSEL_COLUMNS: dict[str, str] = {
    **_KEY,
    "vessel_label": INT,
    "vessel_name": STR,
    "vessel_type": STR,
    "nerve_label": INT,
    "gap_mm": FLOAT,
    "gap_low_mm": FLOAT,
    "gap_high_mm": FLOAT,
    "uncertainty_method": STR,
    "nerve_coverage": STR,
    "not_assessable_segments": STR,
    "resolution_mm": FLOAT,
    "contact": BOOL,
    "near": BOOL,
    "arc_length_from_rexp_mm": FLOAT,
    "dist_from_rdp_mm": FLOAT,
    "segment": STR,
    "crossing_angle_deg": FLOAT,
    "vessel_diameter_mm": FLOAT,
    "side_of_nerve": STR,
    "indentation_depth_mm": FLOAT,
    "deviation_mm": FLOAT,
    "indentation_threshold_mm": FLOAT,
    "deviation_threshold_mm": FLOAT,
    "suggested_grade": STR,
    "reader_grade": STR,
    "grade": STR,
    "reader_confidence": STR,
    "gap_to_cn8_mm": FLOAT,
    "relation_to_cn8": STR,
    "multiplicity": STR,
    "nerve_point_x_lps_mm": FLOAT,
    "nerve_point_y_lps_mm": FLOAT,
    "nerve_point_z_lps_mm": FLOAT,
    "vessel_point_x_lps_mm": FLOAT,
    "vessel_point_y_lps_mm": FLOAT,
    "vessel_point_z_lps_mm": FLOAT,
    "notes": STR,
    "measurement_source": STR,
}

CASE_COLUMNS: dict[str, str] = {
    **_KEY,
    "review_id": STR,
    "status": STR,
    "va_dominance": STR,
    "fusion_used": BOOL,
    "n_vessels": INT,
    "n_conflicts": INT,
    "worst_grade": STR,
    "offending_vessels": STR,
    "min_gap_mm": FLOAT,
    "multiplicity": STR,
    "study_uid": STR,
    "accession_number": STR,
    "study_date": STR,
    "review_created": STR,
    "review_modified": STR,
    "t2_sequence": STR,
    "t2_voxel_i_mm": FLOAT,
    "t2_voxel_j_mm": FLOAT,
    "t2_voxel_k_mm": FLOAT,
    "tof_sequence": STR,
    "tof_voxel_i_mm": FLOAT,
    "tof_voxel_j_mm": FLOAT,
    "tof_voxel_k_mm": FLOAT,
    "labels_voxel_i_mm": FLOAT,
    "labels_voxel_j_mm": FLOAT,
    "labels_voxel_k_mm": FLOAT,
    "review_software_version": STR,
    "engine_version": STR,
    "measurement_source": STR,
}

ERROR_COLUMNS: dict[str, str] = {
    "review_folder": STR,
    "case_id": STR,
    "reader": STR,
    "stage": STR,
    "error_type": STR,
    "message": STR,
}

FORMATS = (".csv", ".parquet")


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """Paths of the three tables (and the cache folder) for ``--out FILE.ext``.

    Raises
    ------
    InputError
        The name does not end in ``.csv`` or ``.parquet``.
    """
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in FORMATS:
        raise InputError(f"{out}: output must end in .csv or .parquet")
    return {
        "vessels": out,
        "cases": out.with_name(f"{out.stem}_cases{out.suffix}"),
        "errors": out.with_name(f"{out.stem}_errors{out.suffix}"),
        "cache": out.with_name(f"{out.stem}_cache"),
    }


def make_frame(records: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """A data frame with exactly ``columns`` (in order, with their dtypes).

    Missing keys become missing values; unknown keys are an error (a column
    missing from the dictionary would go undocumented).
    """
    extra = {k for r in records for k in r} - set(columns)
    if extra:
        raise ValueError(f"batch table: undocumented columns {sorted(extra)}")
    data = {name: [r.get(name) for r in records] for name in columns}
    frame = pd.DataFrame(data, columns=list(columns))
    return frame.astype(columns)


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically as CSV (UTF-8, no index) or Parquet (pyarrow)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise InputError(f"{path}: output must end in .csv or .parquet")
    with atomic_path(path) as tmp:
        if ext == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        else:
            frame.to_parquet(tmp, engine="pyarrow", index=False)
    return path


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (CSV or Parquet).

    Raises
    ------
    InputError
        Missing file, unknown extension or unreadable content.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    ext = path.suffix.lower()
    try:
        if ext == ".csv":
            # identifiers stay text ("007" is not case 7; a reader "NA" is not missing)
            text = {
                k: STR
                for cols in (VESSEL_COLUMNS, CASE_COLUMNS, ERROR_COLUMNS)
                for k, t in cols.items()
                if t == STR
            }
            return pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
        if ext == ".parquet":
            return pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pandas/pyarrow raise many kinds
        raise InputError(f"{path}: not a readable table ({exc})") from exc
    raise InputError(f"{path}: table must end in .csv or .parquet")
