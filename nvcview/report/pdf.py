"""PDF report with reportlab (A4): the blocks of :func:`nvcview.report.layout.report_blocks`,
the same words, columns and order as the HTML report.

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
from nvcview.report.content import KeyImage, ReportModel
from nvcview.report.layout import Block, report_blocks

#: Text of the running page footer (the only PDF text that is not in the HTML; the
#: HTML-PDF comparison test removes footer lines starting with it).
PAGE_FOOTER = "nvcview report"

PAGE_W, PAGE_H = A4
MARGIN = 14 * MM


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=15, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, spaceBefore=8),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9.5, leading=12),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontSize=7.5, leading=9),
        "cell": ParagraphStyle("c", parent=base["BodyText"], fontSize=7.2, leading=8.6),
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


def _cell(text: str, style) -> Paragraph:
    return Paragraph("<br/>".join(escape(line) for line in str(text).split("\n")), style)


def _column_widths(block: Block, style, width: float) -> list[float]:
    """Column widths: each at least its longest word (no word is split), the rest
    shared in proportion to the block's relative widths."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pad = 6.5  # left + right padding, points
    n = len(block.rows[0])
    need = [
        max(
            stringWidth(w, style.fontName, style.fontSize) + pad
            for r in block.rows
            for w in (str(r[i]).split() or [""])
        )
        for i in range(n)
    ]
    rel = block.widths or [1.0] * n
    widths = [w * width / sum(rel) for w in rel]
    for _ in range(n):  # raise the narrow ones, take it from the others in proportion
        short = [i for i in range(n) if widths[i] < need[i]]
        if not short:
            break
        extra = sum(need[i] - widths[i] for i in short)
        for i in short:
            widths[i] = need[i]
        spare = [i for i in range(n) if i not in short]
        total = sum(widths[i] - need[i] for i in spare if widths[i] > need[i])
        if total <= 0:
            break
        for i in spare:
            if widths[i] > need[i]:
                widths[i] -= extra * (widths[i] - need[i]) / total
    return widths


def _table(block: Block, st: dict, width: float, keyvalue: bool = False) -> Table:
    rows = [[_cell(c, st["cell"]) for c in r] for r in block.rows]
    if keyvalue:
        widths = [48 * MM, width - 48 * MM]
    else:
        widths = _column_widths(block, st["cell"], width)
    t = Table(rows, colWidths=widths, repeatRows=0 if keyvalue else 1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if keyvalue:
        style.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")))
    else:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")))
        for i, c in enumerate(block.colors, start=1):
            if c:
                style.append(("LINEBEFORE", (0, i), (0, i), 4, colors.HexColor(c)))
    t.setStyle(TableStyle(style))
    return t


def _figures(block: Block, st: dict, width: float) -> list:
    out: list = []
    half = (width - 6 * MM) / 2
    pending: list[tuple[KeyImage, str]] = []

    def flush() -> None:
        if not pending:
            return
        cells = [
            [_image(k.png, half) for k, _ in pending],
            [_p(c, st["small"]) for _, c in pending],
        ]
        if len(pending) == 1:
            cells = [row + [""] for row in cells]
        it = Table(cells, colWidths=[half + 3 * MM] * 2)
        it.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        out.append(KeepTogether([it, Spacer(1, 3 * MM)]))
        pending.clear()

    for k, caption in zip(block.images, block.captions, strict=True):
        if k.wide:  # wide images (reformats) get the full width
            flush()
            w = min(width, 150 * MM)
            img = _image(k.png, w)
            if img.drawHeight > PAGE_H * 0.6:
                img = _image(k.png, w * PAGE_H * 0.6 / img.drawHeight)
            out.append(KeepTogether([img, _p(caption, st["small"]), Spacer(1, 3 * MM)]))
            continue
        pending.append((k, caption))
        if len(pending) == 2:
            flush()
    flush()
    return out


def build_pdf(model: ReportModel) -> bytes:
    """Render the report to PDF bytes (the blocks of :func:`.layout.report_blocks`)."""
    st = _styles()
    h = model.header
    width = PAGE_W - 2 * MARGIN
    story: list = []
    heading: list = []
    for b in report_blocks(model):
        if b.kind == "h2":
            heading = [_p(b.text, st["h2"])]  # kept with what follows
            continue
        flow: list
        if b.kind == "title":
            flow = [_p(b.text, st["title"])]
        elif b.kind == "alert":
            flow = [_p(b.text, st["draft"])]
        elif b.kind == "conclusion":
            flow = [_p(b.text, st["concl"])]
        elif b.kind == "para":
            flow = [_p(b.text, st["body"])]
        elif b.kind == "note":
            flow = [_p(b.text, st["small"])]
        elif b.kind in ("keyvalue", "table"):
            flow = [_table(b, st, width, keyvalue=b.kind == "keyvalue")]
        elif b.kind == "bullets":
            flow = [_p(f"\u2022 {line}", st["body"]) for line in b.items]
        elif b.kind == "figures":
            flow = _figures(b, st, width)
        else:  # pragma: no cover - a block kind added without a renderer
            raise ValueError(f"unknown report block {b.kind!r}")
        if heading:
            story.append(KeepTogether([*heading, flow[0]]))
            story += flow[1:]
            heading = []
        else:
            story += flow
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
    doc.footer_text = f"{PAGE_FOOTER} · case {h['case']} · {h['status']}"
    doc.build(story, onFirstPage=_on_page, onLaterPages=_on_page)
    return buf.getvalue()


def write_pdf(model: ReportModel, path: str | os.PathLike) -> Path:
    """Write the PDF report atomically; returns the path."""
    path = Path(path)
    data = build_pdf(model)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
