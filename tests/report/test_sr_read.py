"""Reading an nvcview SR back: `nvcview measure SR --json` and dsrdump."""

from __future__ import annotations

import json
import subprocess
import sys

import pydicom
import pytest

from nvcview.report.sides import measure_control
from nvcview.review.measuring import contact_rows
from nvcview.review.store import load_labels, load_review


def _measure(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", "measure", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _same(sr_rows: list[dict], rows: list[dict]) -> None:
    assert [r["vessel_label"] for r in sorted(sr_rows, key=lambda r: r["vessel_label"])] == [
        r["vessel_label"] for r in sorted(rows, key=lambda r: r["vessel_label"])
    ]
    by_label = {r["vessel_label"]: r for r in sr_rows}
    for want in rows:
        got = by_label[want["vessel_label"]]
        assert set(got) == set(want)
        for k, v in want.items():
            if isinstance(v, float):
                assert got[k] == pytest.approx(v, abs=0.01), k
            elif isinstance(v, list):
                assert got[k] == pytest.approx(v, abs=0.01), k
            else:
                assert got[k] == v, k


def test_review_to_sr_to_json_round_trip_within_a_hundredth_mm(bilateral_report):
    sr = bilateral_report["out"] / "report-sr.dcm"
    res = _measure(str(sr), "--json")
    assert res.returncode == 0, res.stderr
    from_sr = json.loads(res.stdout)
    res = _measure(str(bilateral_report["folder"]), "--json")
    assert res.returncode == 0, res.stderr
    from_review = json.loads(res.stdout)
    for k in ("review_id", "case_id", "reader", "side", "units"):
        assert from_sr[k] == from_review[k], k
    # the gap's uncertainty interval survives review -> SR -> JSON (compared by _same)
    assert all(
        isinstance(r["gap_low_mm"], float) and r["gap_high_mm"] >= r["gap_low_mm"]
        for r in from_review["contacts"]
    )
    _same(from_sr["contacts"], from_review["contacts"])
    # the control side, measured directly
    review = load_review(bilateral_report["folder"])
    control = measure_control(review, load_labels(review, bilateral_report["folder"]))
    assert from_sr["contralateral"]["side"] == "right"
    _same(from_sr["contralateral"]["contacts"], contact_rows(control))


def test_sr_table_output_and_dsrdump_show_the_fields(bilateral_report):
    sr = bilateral_report["out"] / "report-sr.dcm"
    res = _measure(str(sr))
    assert res.returncode == 0, res.stderr
    assert "left AICA" in res.stdout and "other side as control: right" in res.stdout
    dump = subprocess.run(["dsrdump", "+Pl", str(sr)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    text = dump.stdout
    doc = json.loads((bilateral_report["out"] / "report.json").read_text())
    assert f'TEXT:(,,"Conclusion")="{doc["conclusion"]}"' in text
    for phrase in (
        'NUM:(,,"Distance from RDP along nerve; negative = medial (brainstem)")',
        'CODE:(,,"Side of the nerve the vessel comes from")=(264217000,SCT,"Superior")',
        'TEXT:(,,"Relation to the vestibulocochlear nerve")',
        'CODE:(,,"Vessel multiplicity")',
        'CODE:(,,"Reader confidence")=(NVC048,99NVCVIEW,"High confidence")',
        'CODE:(,,"Vertebral artery dominance")=(24028007,SCT,"Right")',
        'CODE:(,,"Side of symptoms")=(7771000,SCT,"Left")',
        'SCOORD3D:(,,"Closest points: nerve surface, then vessel surface")=(POLYLINE',
        'TEXT:(,,"Overall impression")',
        'TEXT:(,,"Approach anatomy")="petrosal vein: of surgical note',
    ):
        assert phrase in text, phrase


def test_an_sr_not_written_by_nvcview_is_refused_in_one_line(bilateral_report, tmp_path):
    ds = pydicom.dcmread(bilateral_report["out"] / "report-sr.dcm")
    ds.Manufacturer = "Other Vendor"
    for item in ds.ContentSequence:
        if item.get("TextValue") == "nvcview":
            item.TextValue = "other"
    foreign = tmp_path / "foreign-sr.dcm"
    ds.save_as(foreign)
    res = _measure(str(foreign), "--json")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "not written by nvcview" in lines[0] and "foreign-sr.dcm" in lines[0]
