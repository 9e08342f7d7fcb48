"""Both sides in one report: symptomatic first, the other side as control."""

from __future__ import annotations

import json

import highdicom as hd
import pytest

from nvcview.report import codes as C

from .conftest import CONTROL_GAP, SPACING


def test_report_gives_the_symptomatic_side_first_and_the_other_as_control(bilateral_report):
    out = bilateral_report["out"]
    doc = json.loads((out / "report.json").read_text())
    assert doc["header"]["side"] == "left"
    assert [v["vessel_name"] for v in doc["vessels"]] == ["left AICA"]
    control = doc["contralateral"]
    assert control["side"] == "right" and control["reviewed"]
    (pica,) = control["vessels"]
    assert pica["vessel_name"] == "right PICA" and pica["grade"] == "none"
    assert pica["gap_mm"] == pytest.approx(CONTROL_GAP, abs=SPACING / 2)
    assert control["conclusion"].startswith("No neurovascular contact of the right facial nerve")
    html = (out / "report.html").read_text()
    first = html.index("Symptomatic side: left facial nerve")
    second = html.index("Other side, as control: right facial nerve")
    assert first < second
    assert first < html.index('data-label="3"') < second < html.index('data-label="6"')
    # control key images, after the symptomatic ones
    keys = [k["key"] for k in doc["key_images"]]
    roles = [k["side_role"] for k in doc["key_images"]]
    assert "control-nerve-reformat" in keys and "vessel6-contact" in keys
    assert roles == sorted(roles, key=lambda r: r != "symptomatic")
    for k in doc["key_images"]:
        assert (out / k["file"]).is_file()


def test_reader_findings_are_in_the_report_in_plain_words(bilateral_report):
    out = bilateral_report["out"]
    doc = json.loads((out / "report.json").read_text())
    f = doc["reader_findings"]
    assert f["overall_impression"] == "nvc_likely"
    causes = {c["key"]: c for c in f["other_causes"]}
    assert causes["cpa_mass"]["status_text"] == "none seen"
    assert causes["brainstem_lesion"]["name"] == "brainstem lesion or demyelination"
    approach = {c["key"]: c for c in f["approach_anatomy"]}
    assert approach["flocculus"]["status_text"] == "not assessed"
    html = (out / "report.html").read_text()
    assert "Approach anatomy: lower cranial nerves (IX-XI)" in html
    assert "large, crosses the approach" in html
    assert "neurovascular compression likely responsible for the symptoms" in html
    assert "nvc_likely" not in html and "none_seen" not in html  # no raw codes


def test_sr_holds_both_sides_with_their_laterality(bilateral_report):
    sr = hd.sr.srread(bilateral_report["out"] / "report-sr.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    by_name = {g.tracking_identifier.split(": ")[-1]: g for g in groups}
    assert set(by_name) == {"left AICA", "right PICA"}
    for name, side, role in (("left AICA", C.LEFT, "NVC057"), ("right PICA", C.RIGHT, "NVC058")):
        g = by_name[name]
        assert g.finding_sites[0].laterality.value == side.value
        roles = [
            e.value.value
            for e in g.get_qualitative_evaluations()
            if e.name.value == C.SIDE_ROLE.value
        ]
        assert roles == [role]


def test_the_control_side_is_measured_with_the_same_surface_method(bilateral_case, tmp_path):
    import dataclasses

    from nvcview.report import write_reports
    from nvcview.review.store import load_review

    review = load_review(bilateral_case["folder"])
    review.settings = dataclasses.replace(review.settings, surface_method="image-edge")
    out = write_reports(review, bilateral_case["folder"], tmp_path / "out", formats=("json",))
    doc = json.loads(out["json"].read_text())
    (pica,) = doc["contralateral"]["vessels"]
    # the control side reads the same T2 edge as the symptomatic side, not the labels alone
    assert "surface image-edge" in pica["uncertainty_method"], pica["uncertainty_method"]
    assert all("surface image-edge" in v["uncertainty_method"] for v in doc["vessels"])
    assert pica["gap_mm"] == pytest.approx(CONTROL_GAP, abs=SPACING / 2)
