"""Report model, conclusion sentence, JSON schema, HTML and PDF content."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest

from nvcview.errors import SchemaError
from nvcview.report.conclusion import conclusion_text
from nvcview.report.content import build_report
from nvcview.report.html import render_html
from nvcview.report.json_report import report_document, validate_report
from nvcview.report.pdf import build_pdf

from .conftest import measurements


def _row(**kw) -> dict:
    row = {
        "vessel_type": "AICA",
        "grade": "contact",
        "gap_mm": 0.0,
        "segment": "AS",
        "dist_from_rdp_mm": -2.14,
        "multiplicity": "single",
        "indentation_depth_mm": None,
    }
    row.update(kw)
    return row


def test_conclusion_names_side_vessel_segment_rdp_and_grade():
    text = conclusion_text([_row(grade="indentation", indentation_shown_mm=0.62)], "left")
    assert text == (
        "Left AICA contacts the left facial nerve at the attached segment, 2.1 mm medial to "
        "the root detachment point (RDP), with indentation (0.6 mm)."
    )
    lateral = conclusion_text(
        [_row(vessel_type="VA", dist_from_rdp_mm=3.0, segment="proximal cisternal")], "right"
    )
    assert lateral.startswith(
        "Right vertebral artery contacts the right facial nerve at the proximal"
    )
    assert "3.0 mm lateral to the root detachment point (RDP)" in lateral


def test_conclusion_without_contact_names_the_nearest_vessel():
    text = conclusion_text(
        [_row(grade="none", gap_mm=1.26), _row(vessel_type="PICA", grade="none", gap_mm=3.0)],
        "right",
    )
    assert text.startswith("No neurovascular contact of the right facial nerve")
    assert "right AICA" in text and "1.3 mm" in text


def test_conclusion_multiple_and_tandem():
    rows = [_row(), _row(vessel_type="PICA", grade="deviation", gap_mm=0.0, deviation_mm=1.5)]
    text = conclusion_text(rows, "left")
    # the most severe first
    assert text.startswith("Left PICA contacts")
    assert "with deviation of the nerve (1.5 mm)" in text
    assert "2 vessels contact the nerve (multiple)" in text
    tandem = conclusion_text([_row(multiplicity="tandem")], "left")
    assert "tandem" in tandem


def test_report_document_validates_and_schema_rejects_bad_documents(synth_case):
    review = synth_case["review"]
    model = build_report(review, measurements())
    doc = report_document(model)
    assert doc["schema_version"] == 1
    aica = next(v for v in doc["vessels"] if v["vessel_label"] == 3)
    assert aica["reader_grade"] == "indentation" and aica["confidence"] == "high"
    assert doc["header"]["patient"]["id"] == review.patient.patient_id
    bad = copy.deepcopy(doc)
    bad["vessels"][0]["grade"] = "severe"
    with pytest.raises(SchemaError, match="vessels/0/grade"):
        validate_report(bad)
    newer = dict(doc, schema_version=2)
    with pytest.raises(SchemaError, match="version 2"):
        validate_report(newer)


def test_reader_call_wins_over_a_grade_stored_with_old_measurements(synth_case):
    # `report --stored`: measurements saved before the reader changed the call
    stored = measurements()
    stored[0].reader_grade = "contact"
    doc = report_document(build_report(synth_case["review"], stored))
    aica = next(v for v in doc["vessels"] if v["vessel_label"] == 3)
    assert aica["reader_grade"] == "indentation"  # the call in review.json, as batch does
    assert aica["grade"] == "indentation"


def test_html_and_pdf_carry_the_same_numbers(synth_case, tmp_path):
    review = synth_case["review"]
    ms = measurements()
    model = build_report(review, ms)
    html = render_html(model)
    for m in ms:
        row = re.search(rf'<tr class="vessel" data-label="{m.vessel_label}" ([^>]*)>', html)
        assert row, m.vessel_label
        assert f'data-gap-mm="{m.gap_mm}"' in row.group(1)
        assert f"{m.gap_mm:.1f} mm (res. {m.resolution_mm:.1f} mm)" in html
        assert f"{abs(m.dist_from_rdp_mm):.1f} mm medial" in html
    assert model.conclusion in html
    assert "asymptomatic" in html and "judgement" in html
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(build_pdf(model))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    squashed = " ".join(text.split())
    for m in ms:
        assert f"{m.gap_mm:.1f} mm" in squashed
    assert "Left AICA contacts the left facial nerve" in squashed
    assert "asymptomatic" in squashed


def test_far_vessels_leave_the_table_and_free_text_is_escaped(synth_case):
    import dataclasses

    ms = measurements()
    ms[1] = dataclasses.replace(ms[1], near=False)
    review = dataclasses.replace(synth_case["review"], impression="<script>alert(1)</script>")
    model = build_report(review, ms)
    assert [v["vessel_label"] for v in model.near_vessels()] == [3]
    html = render_html(model)
    table = html[html.index('id="vessels"') : html.index("</table>", html.index('id="vessels"'))]
    assert 'data-label="4"' not in table
    far = re.search(r'<p id="far-symptomatic">([^<]*)</p>', html).group(1)
    assert f"left VA {ms[1].gap_mm:.1f} mm" in far and "gap &gt; 5.0 mm" in far
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_far_vessel_the_reader_graded_as_a_conflict_stays_in_the_table(synth_case):
    import dataclasses

    from nvcview.review.model import ReaderCall

    ms = measurements()
    ms[1] = dataclasses.replace(ms[1], near=False)  # the engine: beyond near_mm
    calls = [*synth_case["review"].calls, ReaderCall(4, "contact", "low")]
    model = build_report(dataclasses.replace(synth_case["review"], calls=calls), ms)
    assert "vertebral artery contacts" in model.conclusion  # named in the conclusion ...
    assert 4 in [v["vessel_label"] for v in model.near_vessels()]  # ... so in the table
    assert 4 not in [v["vessel_label"] for v in model.far_vessels()]


# --- registration sentence (issue 14) ---------------------------------------------------


def _pdf_text(data: bytes, tmp_path) -> str:
    pdf = tmp_path / "reg.pdf"
    pdf.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(out.split())


def _sr_texts(ds) -> list[tuple[str, str]]:
    out = []

    def walk(items):
        for it in items:
            if it.ValueType == "TEXT":
                out.append((it.ConceptNameCodeSequence[0].CodeValue, it.TextValue))
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(ds.ContentSequence)
    return out


def test_report_says_tof_not_registered_when_overlaid_by_dicom_geometry(synth_case, tmp_path):
    review = synth_case["review"]
    assert review.registrations == []
    model = build_report(review, measurements())
    doc = report_document(model)
    (reg,) = doc["header"]["registrations"]
    sentence = "TOF not registered to T2 (overlaid by the DICOM geometry)"
    assert reg["text"] == sentence and reg["registered"] is False and reg["method"] is None
    assert reg["moving_series_uid"] == synth_case["tof_uid"]
    assert reg["fixed_series_uid"] == synth_case["t2_uid"]
    assert sentence in render_html(model)
    assert sentence in _pdf_text(build_pdf(model), tmp_path)


def test_report_states_rigid_registration_residual_and_warnings_in_every_format(
    synth_case, tmp_path
):
    import dataclasses
    import json

    import numpy as np
    import pydicom

    from nvcview.register import Registration
    from nvcview.report import write_reports

    t = np.eye(4)
    t[:3, 3] = [0.4, -0.2, 0.1]
    warning = (
        "the TOF has a different frame of reference "
        f"({synth_case['tof_uid']}) than the T2: the DICOM geometry cannot be trusted"
    )
    reg = Registration(
        t,
        residual_mm=0.123,
        method="rigid",
        moving_series_uid=synth_case["tof_uid"],
        fixed_series_uid=synth_case["t2_uid"],
        warnings=(warning,),
    )
    review = dataclasses.replace(synth_case["review"], registrations=[reg])
    sentence = "TOF registered to T2 (rigid, estimated residual 0.12 mm)"
    model = build_report(review, measurements())
    assert sentence in render_html(model) and warning in render_html(model)
    text = _pdf_text(build_pdf(model), tmp_path)
    assert sentence in text and "different frame of reference" in text
    written = write_reports(
        review,
        synth_case["folder"],
        tmp_path / "out",
        formats=("json", "sr"),
        deidentify=True,
    )
    doc = json.loads(written["json"].read_text())
    (row,) = doc["header"]["registrations"]
    assert row["text"] == sentence and row["registered"] is True
    assert row["residual_mm"] == pytest.approx(0.123)
    assert row["moving_series_uid"] is None and row["fixed_series_uid"] is None
    (w,) = row["warnings"]
    assert "different frame of reference" in w and synth_case["tof_uid"] not in w
    sr = pydicom.dcmread(written["sr"])
    texts = _sr_texts(sr)
    assert ("NVC067", sentence) in texts
    assert any(c == "NVC068" and "different frame of reference" in v for c, v in texts)
    raw = written["sr"].read_bytes() + written["json"].read_bytes()
    for uid in (synth_case["tof_uid"], synth_case["t2_uid"]):
        assert uid.encode() not in raw
