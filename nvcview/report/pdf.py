"""PDF report with reportlab (A4), the same content as the HTML report.

Document metadata (title, author, subject) never carries patient identifiers;
in de-identified reports the case is named only by its pseudonym.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm as MM
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from nvcview.fsutil import atomic_path
from nvcview.report import formatting as fmt
from nvcview.report.content import ReportModel

PAGE_W, PAGE_H = A4
MARGIN = 14 * MM


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=15, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, spaceBefore=8),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9.5, leading=12),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontSize=7.5, leading=9),
        "cell": ParagraphStyle("c", parent=base["BodyText"], fontSize=7.5, leading=9),
        "concl": ParagraphStyle(
            "k",
            parent=base["BodyText"],
            fontSize=11.5,
            leading=15,
            fontName="Helvetica-Bold",
            backColor=colors.HexColor("#fff6d6"),
            borderColor=colors.HexColor("#d9a400"),
            borderWidth=1,
            borderPadding=6,
            spaceBefore=4,
            spaceAfter=8,
        ),
        "draft": ParagraphStyle("d", parent=base["BodyText"], textColor=colors.red),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _on_page(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.setFillColor(colors.grey)
    canvas.drawString(MARGIN, 8 * MM, doc.footer_text)
    canvas.drawRightString(PAGE_W - MARGIN, 8 * MM, f"page {doc.page}")
    canvas.restoreState()


def _image(png: bytes, width: float) -> Image:
    from nvcview.report.keyimages import _png_size

    w, h = _png_size(png)
    return Image(io.BytesIO(png), width=width, height=width * h / w)


def build_pdf(model: ReportModel) -> bytes:
    """Render the report to PDF bytes."""
    st = _styles()
    h = model.header
    story = [_p("Neurovascular conflict of the facial nerve: MRI report", st["title"])]
    if h["status"] != "final":
        story.append(_p("DRAFT: not signed off by the reader.", st["draft"]))
    case = h["case"] + (" (de-identified)" if h["deidentified"] else "")
    rows = [["Case", case]]
    if h.get("patient"):
        p = h["patient"]
        rows.append(["Patient", f"{p['name']} · ID {p['id']} · born {p['birth_date']}"])
        rows.append(
            [
                "Accession · study date",
                f"{fmt.text(p['accession_number'])} · {fmt.text(p['study_date'])}",
            ]
        )
    series = "<br/>".join(
        escape(
            f"{s['role']}: {fmt.text(s['description'])} ({fmt.text(s['sequence'])}), "
            f"voxel {fmt.voxel(s['voxel_size_mm'])}"
        )
        for s in model.series
    )
    rows += [
        ["Side of symptoms", fmt.text(h["side"])],
        ["Series", Paragraph(series or fmt.DASH, st["cell"])],
        ["T2 + TOF fusion", "yes" if h["fusion_used"] else "no"],
        ["Vertebral artery dominance", fmt.text(h.get("va_dominance"))],
        ["Reader · status", f"{fmt.text(h['reader'])} · {h['status']}"],
        ["Review date · generated", f"{fmt.text(h.get('review_modified'))} · {h['generated']}"],
        ["Software", f"nvcview {h['software_version']}"],
    ]
    rows = [
        [_p(a, st["cell"]), b if isinstance(b, Paragraph) else _p(b, st["cell"])] for a, b in rows
    ]
    t = Table(rows, colWidths=[48 * MM, PAGE_W - 2 * MARGIN - 48 * MM])
    t.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [t, _p("Conclusion", st["h2"]), _p(model.conclusion, st["concl"])]
    if model.impression:
        story.append(_p(f"Reader's impression: {model.impression}", st["body"]))
    story.append(_p("Vessels near the facial nerve", st["h2"]))
    head = [
        "Vessel",
        "Gap",
        "Segment",
        "From RDP",
        "Grade",
        "Angle",
        "Side",
        "Diam.",
        "CN VIII",
        "Mult.",
        "Conf.",
    ]
    vrows = [[_p(x, st["cell"]) for x in head]]
    near, far = model.near_vessels(), model.far_vessels()
    for v in near:
        vrows.append(
            [
                _p(f"{v['vessel_name']} ({v['vessel_type']})", st["cell"]),
                _p(fmt.gap(v), st["cell"]),
                _p(fmt.text(v.get("segment_name")), st["cell"]),
                _p(fmt.rdp(v.get("dist_from_rdp_mm")), st["cell"]),
                _p(fmt.grade_with_depth(v), st["cell"]),
                _p(fmt.deg(v.get("crossing_angle_deg")), st["cell"]),
                _p(fmt.text(v.get("side_of_nerve")), st["cell"]),
                _p(fmt.mm(v.get("vessel_diameter_mm")), st["cell"]),
                _p(fmt.text(v.get("relation_to_cn8")), st["cell"]),
                _p(fmt.text(v.get("multiplicity")), st["cell"]),
                _p(fmt.text(v.get("confidence")), st["cell"]),
            ]
        )
    widths = [24, 19, 22, 15, 26, 13, 15, 12, 17, 13, 12]
    scale = (PAGE_W - 2 * MARGIN) / (sum(widths) * MM)
    vt = Table(vrows, colWidths=[w * MM * scale for w in widths], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for i, v in enumerate(near, start=1):
        style.append(("LINEBEFORE", (0, i), (0, i), 4, colors.HexColor(v["color"])))
    vt.setStyle(TableStyle(style))
    story.append(vt)
    if far:
        story.append(_p(fmt.far_line(far, model.settings.get("near_mm")), st["body"]))
    lm = "; ".join(f"{k} ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f})" for k, p in model.landmarks.items())
    story.append(
        _p(
            "Gap: minimum surface-to-surface distance (res. = voxel size along the gap; a "
            "smaller gap cannot be told from contact). From RDP: arc length along the nerve "
            f"from the root detachment point. Landmarks (patient LPS mm): {lm or fmt.DASH}.",
            st["small"],
        )
    )
    limits = [_p("Limits", st["h2"])]
    limits += [_p(f"\u2022 {line}", st["body"]) for line in model.limits]
    story.append(KeepTogether(limits))
    if model.key_images:
        heading = [_p("Key images", st["h2"])]
        slices = [k for k in model.key_images if k.kind != "nerve"]
        half = (PAGE_W - 2 * MARGIN - 6 * MM) / 2
        for i in range(0, len(slices), 2):
            pair = slices[i : i + 2]
            cells = [
                [_image(k.png, half) for k in pair],
                [_p(f"{k.title}. {k.caption}", st["small"]) for k in pair],
            ]
            if len(pair) == 1:
                cells = [row + [""] for row in cells]
            it = Table(cells, colWidths=[half + 3 * MM] * 2)
            it.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(KeepTogether([*heading, it, Spacer(1, 4 * MM)]))
            heading = []
        for k in model.key_images:
            if k.kind == "nerve":
                width = min(PAGE_W - 2 * MARGIN, 150 * MM)
                img = _image(k.png, width)
                if img.drawHeight > PAGE_H * 0.7:
                    img = _image(k.png, width * PAGE_H * 0.7 / img.drawHeight)
                story.append(
                    KeepTogether([*heading, img, _p(f"{k.title}. {k.caption}", st["small"])])
                )
                heading = []
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * MM,
        title=f"nvcview report {h['case']}",
        author=f"nvcview {h['software_version']}",
        subject="Neurovascular conflict of the facial nerve",
        creator=f"nvcview {h['software_version']}",
    )
    doc.footer_text = (
        f"nvcview {h['software_version']} · case {h['case']} · {h['status']} · "
        "supports, does not replace, the surgeon's judgement"
    )
    doc.build(story, onFirstPage=_on_page, onLaterPages=_on_page)
    return buf.getvalue()


def write_pdf(model: ReportModel, path: str | os.PathLike) -> Path:
    """Write the PDF report atomically; returns the path."""
    path = Path(path)
    data = build_pdf(model)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
