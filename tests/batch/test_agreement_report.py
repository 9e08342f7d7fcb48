"""``nvcview agreement`` on a small batch table whose statistics are worked out by hand."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from nvcview.batch.agreement_report import compute_agreement, primary_offenders
from nvcview.batch.table import VESSEL_COLUMNS, make_frame, write_table
from nvcview.errors import InputError

# (case, reader, vessel_label, vessel_type, grade, segment, gap_mm, dist_from_rdp_mm)
ROWS = [
    ("c1", "R1", 2, "AICA", "contact", "AS", 0.0, -2.0),
    ("c1", "R1", 3, "PICA", "none", "RExP", 3.0, -5.0),
    ("c1", "R2", 2, "AICA", "contact", "AS", 0.2, -1.5),
    ("c1", "R2", 3, "PICA", "none", "RExP", 3.1, -5.0),
    ("c2", "R1", 2, "AICA", "indentation", "RDP/TZ", 0.5, 0.5),
    ("c2", "R1", 3, "PICA", "none", "distal cisternal", 4.0, 8.0),
    ("c2", "R2", 2, "AICA", "contact", "AS", 0.4, -1.0),
    ("c2", "R2", 3, "PICA", "none", "distal cisternal", 4.2, 8.0),
    ("c3", "R1", 2, "AICA", "contact", "AS", 0.2, -3.0),
    ("c3", "R1", 3, "PICA", "none", "proximal cisternal", 1.0, 2.0),
    ("c3", "R2", 2, "AICA", "contact", "AS", 0.2, -3.0),
    ("c3", "R2", 3, "PICA", "contact", "proximal cisternal", 0.6, 2.5),
    # a case read once: left out of every statistic
    ("c4", "R1", 2, "VA", "deviation", "AS", 0.0, -1.0),
]


def table() -> pd.DataFrame:
    keys = ("case_id", "reader", "vessel_label", "vessel_type", "grade", "segment")
    records = [dict(zip(keys + ("gap_mm", "dist_from_rdp_mm"), r, strict=True)) for r in ROWS]
    return make_frame(records, VESSEL_COLUMNS)


def stat(res, measure: str, statistic: str) -> dict:
    (row,) = [r for r in res.stats if r["measure"] == measure and r["statistic"] == statistic]
    return row


def test_statistics_by_hand():
    res = compute_agreement(table())
    assert res.readers == ["R1", "R2"] and res.n_cases_multi == 3

    # grade over the 6 shared vessels: agree on c1v2, c1v3, c2v3, c3v2 -> p_o = 4/6
    # R1: contact 2, indentation 1, none 3; R2: contact 4, none 2
    # p_e = (2*4 + 1*0 + 3*2) / 36 = 14/36; kappa = (24 - 14) / (36 - 14) = 10/22
    grade = stat(res, "grade", "cohen_kappa")
    assert grade["n"] == 6
    assert grade["observed_agreement"] == pytest.approx(4 / 6)
    assert grade["expected_agreement"] == pytest.approx(14 / 36)
    assert grade["value"] == pytest.approx(10 / 22)
    # linearly weighted (|i - j| / 3 over none, contact, indentation, deviation):
    # disagreements c2v2 (indentation/contact) and c3v3 (none/contact), 1/3 each -> D_o = 1/9
    # D_e = 3/6 (4/6 * 1/3) + 2/6 (2/6 * 1/3) + 1/6 (2/6 * 2/3 + 4/6 * 1/3)
    #     = 12/108 + 4/108 + 8/108 = 2/9 -> kappa_w = 1 - (1/9) / (2/9) = 1/2
    weighted = stat(res, "grade", "cohen_kappa_linear")
    assert weighted["n"] == 6 and weighted["value"] == pytest.approx(0.5)

    # segment over vessels with a conflict for either reader: c1v2, c2v2, c3v2, c3v3
    # agree on c1v2, c3v2, c3v3 -> 3/4; R1: AS 2, RDP/TZ 1, prox 1; R2: AS 3, prox 1
    # p_e = (2*3 + 1*0 + 1*1) / 16 = 7/16; kappa = (12/16 - 7/16) / (9/16) = 5/9
    seg = stat(res, "segment", "cohen_kappa")
    assert seg["n"] == 4
    assert seg["value"] == pytest.approx(5 / 9)

    # offending vessel per case: c1 AICA/AICA, c2 AICA/AICA, c3 AICA/AICA (R2 grades both
    # vessels contact; AICA's gap 0.2 < PICA's 0.6 wins the tie): p_o = p_e = 1 -> undefined
    off = stat(res, "offending_vessel", "cohen_kappa")
    assert off["n"] == 3 and off["value"] is None and "undefined" in off["note"]

    # gap over the same 4 conflict vessels: R2 - R1 = 0.2, -0.1, 0.0, -0.4 -> bias -0.075
    ba = stat(res, "gap_mm", "bland_altman")
    assert ba["n"] == 4
    assert ba["bias"] == pytest.approx(-0.075)
    # SD: deviations 0.275, -0.025, 0.075, -0.325 -> sum sq = 0.0756+0.000625+0.005625+0.105625
    # = 0.1875 -> var = 0.0625 -> SD = 0.25; LoA = -0.075 -/+ 0.49
    assert ba["sd"] == pytest.approx(0.25)
    assert (ba["loa_low"], ba["loa_high"]) == pytest.approx((-0.565, 0.415))
    # dist_from_rdp: R1 -2, 0.5, -3, 2 ; R2 -1.5, -1, -3, 2.5 (ICC of that 4x2 table)
    # by hand: sum = -5.5, grand mean = -0.6875; row means -1.75, -0.25, -3, 2.25
    # SS_rows = 2 * (1.0625^2 + 0.4375^2 + 2.3125^2 + 2.9375^2) = 2 * 15.296875 = 30.59375
    # column means -0.625, -0.75 -> SS_cols = 4 * 2 * 0.0625^2 = 0.03125
    # SS_total = 31.96875 -> SS_err = 31.96875 - 30.59375 - 0.03125 = 1.34375
    # n - 1 = (n - 1)(k - 1) = 3, so MSR / MSE = 30.59375 / 1.34375 and
    # ICC(3,1) = (MSR - MSE) / (MSR + MSE) = (30.59375 - 1.34375) / (30.59375 + 1.34375)
    #          = 29.25 / 31.9375
    icc3 = stat(res, "dist_from_rdp_mm", "icc3_1")
    assert icc3["n"] == 4
    assert icc3["value"] == pytest.approx(29.25 / 31.9375)


def test_offender_ties_go_to_the_smaller_gap():
    rows = table()
    rows.loc[
        (rows.case_id == "c3") & (rows.reader == "R2") & (rows.vessel_label == 3), "gap_mm"
    ] = 0.1
    off = primary_offenders(rows)
    got = off.set_index(["case_id", "reader"])["offending_vessel"]
    assert got[("c3", "R2")] == "PICA" and got[("c3", "R1")] == "AICA"
    # now c3 disagrees: p_o = 2/3; R1 AICA 3/3, R2 AICA 2/3 -> p_e = 2/3 -> kappa = 0
    res = compute_agreement(rows)
    assert stat(res, "offending_vessel", "cohen_kappa")["value"] == pytest.approx(0.0)


def test_three_readers_add_fleiss_kappa():
    rows = table()
    r3 = rows[(rows.reader == "R2") & (rows.case_id != "c4")].copy()
    r3["reader"] = "R3"
    res = compute_agreement(pd.concat([rows, r3], ignore_index=True))
    assert {r["readers"] for r in res.stats if r["statistic"] == "cohen_kappa"} == {
        "R1 vs R2",
        "R1 vs R3",
        "R2 vs R3",
    }
    assert stat(res, "grade", "fleiss_kappa")["n"] == 6
    assert stat(res, "grade", "fleiss_kappa")["readers"] == "3 readers per unit"


def test_no_multi_reader_case_is_a_clear_error():
    one = table()
    one = one[one.reader == "R1"]
    with pytest.raises(InputError, match="no case was read by two or more readers"):
        compute_agreement(one)


def test_agreement_cli_writes_html_csv_and_plots(tmp_path):
    src = write_table(table(), tmp_path / "vessels.parquet")
    out = tmp_path / "agreement"
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "agreement", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    stats = pd.read_csv(out / "agreement.csv")
    grade = stats[(stats.measure == "grade") & (stats.statistic == "cohen_kappa")]
    assert grade.value.iloc[0] == pytest.approx(10 / 22)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "bland_altman_dist_from_rdp_mm_R1_vs_R2.png",
        "bland_altman_gap_mm_R1_vs_R2.png",
    ]
    for p in pngs:
        assert (out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "agreement.html").read_text()
    assert "ICC(2,1)" in html and "0.455" in html and pngs[0] in html

    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "agreement", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "other.csv: not a batch vessel table (missing columns case_id" in res.stderr
