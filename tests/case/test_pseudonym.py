"""Keyed pseudonyms and per-patient date shifts."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from nvcview.batch.pseudonym import MAX_SHIFT_DAYS, Pseudonymizer, read_key_file
from nvcview.errors import InputError

KEY = b"0123456789abcdef0123456789abcdef"


def test_pseudonyms_are_stable_keyed_and_hide_the_identifier():
    p = Pseudonymizer(KEY)
    a = p.pseudonym("PAT-4711", kind="patient")
    assert a == Pseudonymizer(KEY).pseudonym("PAT-4711", kind="patient")
    assert a.startswith("P-") and len(a) == 12
    assert "4711" not in a
    assert a != p.pseudonym("PAT-4712", kind="patient")
    assert a != p.pseudonym("PAT-4711", kind="case")  # separate name spaces
    assert a != Pseudonymizer(b"another key of enough length!!").pseudonym(
        "PAT-4711", kind="patient"
    )
    assert p.pseudonym("", kind="patient") == ""


def test_date_shift_is_consistent_per_patient_and_keeps_intervals():
    p = Pseudonymizer(KEY)
    shift = p.shift_days("PAT-1")
    assert -MAX_SHIFT_DAYS <= shift <= -1
    assert shift == Pseudonymizer(KEY).shift_days("PAT-1")
    d1 = p.shift_date("20240115", "PAT-1")
    d2 = p.shift_date("20240301", "PAT-1")
    day = dt.datetime.strptime
    assert (day(d2, "%Y%m%d") - day(d1, "%Y%m%d")).days == (
        day("20240301", "%Y%m%d") - day("20240115", "%Y%m%d")
    ).days
    assert d1 != "20240115"
    iso = p.shift_date("2024-01-15T10:20:30+00:00", "PAT-1")
    assert iso.startswith(
        (dt.date(2024, 1, 15) + dt.timedelta(days=shift)).isoformat() + "T10:20:30"
    )
    assert p.shift_date("2024-01-15", "PAT-1") == day(d1, "%Y%m%d").date().isoformat()
    # not a date: dropped rather than passed through
    assert p.shift_date("last tuesday", "PAT-1") is None
    assert p.shift_date("", "PAT-1") is None


def test_dates_dropped_when_shifting_is_off():
    p = Pseudonymizer(KEY, shift_dates=False)
    assert p.shift_date("20240115", "PAT-1") is None
    assert p.fingerprint() != Pseudonymizer(KEY).fingerprint()


def test_key_file_created_private_and_reread(tmp_path):
    path = tmp_path / "keys" / "nvcview.key"
    key = read_key_file(path, create=True)
    assert len(key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_key_file(path) == key


def test_key_file_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.key: key file does not exist"):
        read_key_file(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    with pytest.raises(InputError, match="short.key: key file holds 3 bytes"):
        read_key_file(short)


def test_report_and_batch_row_of_one_patient_share_the_pseudonym(sample_study, tmp_path):
    """`nvcview report --deidentify` and `nvcview batch --deidentify` with one key."""
    import json
    import shutil
    import subprocess
    import sys

    import pandas as pd

    paths, _ = sample_study
    (tmp_path / "keys").mkdir()
    key = tmp_path / "keys" / "secret.key"
    key.write_text("k" * 40)
    root = tmp_path / "cohort"
    # the review beside its study, as write_sample leaves it (relative series paths)
    shutil.copytree(paths.out_dir, root / "patient1")

    def run(*args):
        res = subprocess.run(
            [sys.executable, "-m", "nvcview", *map(str, args)], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        return res

    review = root / "patient1" / "review"
    run("report", review, "--out", tmp_path / "rep", "--format", "json", "--deidentify",
        "--key-file", key)  # fmt: skip
    run("batch", root, "--out", tmp_path / "out" / "t.csv", "--stored", "--deidentify",
        "--key-file", key)  # fmt: skip
    in_report = json.loads((tmp_path / "rep" / "report.json").read_text())["header"]["case"]
    in_table = set(pd.read_csv(tmp_path / "out" / "t.csv").patient_id)
    assert in_report.startswith("NVC-") and in_table == {in_report}
