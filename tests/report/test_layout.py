"""One layout for HTML and PDF: same words, columns and order; wording rules."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from nvcview.report import layout
from nvcview.report.content import GRADE_SCALE, build_report
from nvcview.report.html import render_html
from nvcview.report.pdf import PAGE_FOOTER, build_pdf

from .conftest import measurements


class _Text(HTMLParser):
    """Visible text of an HTML document (no head, style or script)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0
        self.headings: list[str] = []
        self._h2: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "style", "script"):
            self.skip += 1
        if tag == "h2":
            self._h2 = []
        if tag == "br":
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("head", "style", "script"):
            self.skip -= 1
        if tag == "h2" and self._h2 is not None:
            self.headings.append(" ".join("".join(self._h2).split()))
            self._h2 = None
        if tag in ("td", "th", "p", "li", "figcaption", "h1", "h2", "br", "tr"):
            self.parts.append(" ")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)
            if self._h2 is not None:
                self._h2.append(data)


def html_text(html: str) -> tuple[str, list[str]]:
    p = _Text()
    p.feed(html)
    return " ".join("".join(p.parts).split()), p.headings


def pdf_text(pdf: Path) -> str:
    raw = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = [
        line
        for line in raw.splitlines()
        if not line.startswith(PAGE_FOOTER) and not re.fullmatch(r"page \d+", line.strip())
    ]
    # list bullets are drawn as text in the PDF and by CSS (<li>) in the HTML
    return " ".join(w for w in " ".join(lines).split() if w != "\u2022")


def _compare(html: str, pdf_path: Path) -> tuple[str, str, list[str]]:
    htext, headings = html_text(html)
    ptext = pdf_text(pdf_path)
    return htext, ptext, headings


def test_html_and_pdf_have_the_same_words_columns_and_order(bilateral_report):
    out = bilateral_report["out"]
    htext, ptext, headings = _compare((out / "report.html").read_text(), out / "report.pdf")
    # the same words, as many times each
    hw, pw = Counter(htext.split()), Counter(ptext.split())
    assert hw == pw, (hw - pw, pw - hw)
    # the same order of sections and of the vessel table columns
    assert headings[:3] == [
        "Conclusion",
        "Symptomatic side: left facial nerve",
        "Other side, as control: right facial nerve",
    ]
    for text in (htext, ptext):
        pos = [text.index(h) for h in headings]
        assert pos == sorted(pos), headings
    columns = [c.heading for c in layout.COLUMNS]
    assert "Indentation" in columns and "Crossing angle" in columns
    hcols = htext.index(" ".join(columns))  # the header row, in order, in the HTML
    assert hcols > 0


def test_a_column_added_in_one_place_appears_in_both(synth_case, tmp_path, monkeypatch):
    extra = layout.Column("extra", "Extra", lambda r: f"{r['gap_mm']:.1f}-9.9 mm", 14)
    monkeypatch.setattr(layout, "COLUMNS", (*layout.COLUMNS, extra))
    model = build_report(synth_case["review"], measurements())
    html = render_html(model)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(build_pdf(model))
    htext, ptext, _ = _compare(html, pdf)
    for text in (htext, ptext):
        assert "Extra" in text and "0.0-9.9 mm" in text


def test_indentation_shown_only_at_zero_gap_beyond_the_resolution_limit(synth_case):
    review = dataclasses.replace(synth_case["review"], calls=[])  # no reader grade
    base = measurements()[0]  # gap 0, resolution 0.5

    def row(**kw):
        m = dataclasses.replace(base, suggested_grade="indentation", **kw)
        model = build_report(review, [m])
        return model.vessels[0], model.conclusion, render_html(model)

    shown, concl, html = row(indentation_depth_mm=0.8)
    assert shown["indentation_shown_mm"] == 0.8 and shown["grade"] == "indentation"
    assert "with indentation (0.8 mm)" in concl
    assert "<td>0.8 mm</td>" in html
    for kw in ({"indentation_depth_mm": 0.4}, {"indentation_depth_mm": 0.8, "gap_mm": 0.1}):
        hidden, concl, html = row(**kw)  # below one voxel, or CSF between them
        assert hidden["indentation_shown_mm"] is None
        assert hidden["grade"] == "contact" and hidden["engine_suggested_grade"] == "indentation"
        assert "without deforming it" in concl and "indentation (" not in concl
        assert "0.8 mm</td>" not in html and "0.4 mm</td>" not in html


def test_wording_dates_grade_scale_and_vessel_names(synth_case):
    model = build_report(synth_case["review"], measurements())
    text, _ = html_text(render_html(model))
    assert model.conclusion.startswith("Left AICA contacts the left facial nerve")
    assert "root exit point (RExP)" in text and "root detachment point (RDP)" in text
    assert "born 12 Mar 1947" in text and "5 Jan 2024" in text and "19470312" not in text
    assert "female" in text and "Zzyzxa, Quetzalina" in text
    assert "AICA AICA" not in text and "VA VA" not in text
    assert "Grades follow the nvcview conflict grade" in text
    for grade, definition in GRADE_SCALE:
        assert f"{grade} {definition}" in text
    assert "medial = toward the brainstem" in text


def test_gap_uncertainty_interval_column_in_html_and_pdf(synth_case, tmp_path):
    ms = measurements()
    ms[0] = dataclasses.replace(
        ms[0], gap_mm=0.12, gap_low_mm=0.0, gap_high_mm=0.45, uncertainty_method="voxel"
    )
    ms[1] = dataclasses.replace(ms[1], gap_low_mm=None, gap_high_mm=None)
    model = build_report(synth_case["review"], ms)
    html = render_html(model)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(build_pdf(model))
    htext, ptext, _ = _compare(html, pdf)
    assert "Gap interval" in htext and "0.00-0.45 mm" in htext
    assert "interval" in ptext and "0.00-0.45" in ptext  # the PDF cell may wrap before "mm"
    table = next(
        b for b in layout.report_blocks(model) if b.kind == "table" and "Gap interval" in b.rows[0]
    )
    col = [c.key for c in layout.COLUMNS].index("gap_interval")
    cells = {r[0]: r[col] for r in table.rows[1:]}
    assert any(c == "0.00-0.45 mm" for c in cells.values())
    assert any(c == layout.fmt.DASH for c in cells.values())  # no interval estimated
    aica = next(v for v in model.to_dict()["vessels"] if v["vessel_label"] == 3)
    assert (aica["gap_low_mm"], aica["gap_high_mm"]) == (0.0, 0.45)
