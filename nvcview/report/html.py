"""Self-contained HTML report (jinja2; images embedded as base64; prints on A4).

The words, columns and order come from :func:`nvcview.report.layout.report_blocks`,
shared with the PDF; the template only styles them.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import jinja2

from nvcview.fsutil import atomic_write_text
from nvcview.report.content import ReportModel
from nvcview.report.layout import report_blocks


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("nvcview.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(model: ReportModel) -> str:
    """The report as one HTML document with every image embedded."""
    b64 = {k.key: base64.b64encode(k.png).decode("ascii") for k in model.key_images}
    return (
        _env()
        .get_template("report.html.j2")
        .render(h=model.header, blocks=report_blocks(model), b64=b64)
    )


def write_html(model: ReportModel, path: str | os.PathLike) -> Path:
    """Write the HTML report atomically; returns the path."""
    path = Path(path)
    atomic_write_text(path, render_html(model))
    return path
