"""Number formatting shared by the HTML and PDF reports (one rounding rule)."""

from __future__ import annotations

from nvcview.measure.uncertainty import interval_text

DASH = "\u2014"


def mm(value: float | None, digits: int = 1) -> str:
    """A length in mm, e.g. "2.1 mm"; a dash when not measured."""
    return DASH if value is None else f"{value:.{digits}f} mm"


def deg(value: float | None) -> str:
    """An angle in degrees, e.g. "88°"."""
    return DASH if value is None else f"{value:.0f}\u00b0"


def gap(row: dict) -> str:
    """The gap with its resolution limit, e.g. "0.0 mm (res. 0.5 mm)"."""
    return f"{mm(row['gap_mm'])} (res. {mm(row['resolution_mm'])})"


def gap_interval(row: dict) -> str:
    """The gap's uncertainty interval, e.g. "0.00-0.45 mm" (the true gap lies in it).

    From ``gap_low_mm`` / ``gap_high_mm`` (:mod:`nvcview.measure.uncertainty`);
    a dash when the engine gave none (e.g. measurements stored by an older version).
    """
    text = interval_text(row.get("gap_low_mm"), row.get("gap_high_mm"))
    return DASH if text is None else f"{text} mm"


def rdp(value: float | None) -> str:
    """Signed arc length from the RDP as words: "2.1 mm medial" / "lateral"."""
    if value is None:
        return DASH
    if abs(value) < 0.05:
        return "at the RDP"
    return f"{abs(value):.1f} mm {'medial' if value < 0 else 'lateral'}"


def grade(row: dict) -> str:
    """The grade, with the engine's suggestion when the reader's differs."""
    text = row["grade"]
    if row.get("grade_differs"):
        text += f" (suggested: {row['suggested_grade']})"
    elif not row.get("reader_grade"):
        text += " (suggested)"
    return text


def voxel(size: list[float] | None) -> str:
    """Voxel size "0.5 x 0.5 x 0.5 mm"."""
    if not size:
        return DASH
    return " \u00d7 ".join(f"{v:.2f}".rstrip("0").rstrip(".") for v in size) + " mm"


def text(value) -> str:
    """Any optional text, a dash when empty."""
    return DASH if value in (None, "") else str(value)


def far_line(rows: list[dict], near_mm: float | None = None) -> str:
    """One line naming the vessels measured but not near the nerve."""
    items = ", ".join(
        f"{r.get('vessel_label_text', r['vessel_name'])} {mm(r['gap_mm'])}" for r in rows
    )
    limit = f" (gap > {mm(near_mm)})" if near_mm is not None else ""
    return f"Further vessels, not near the nerve{limit}: {items}."


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date(value: str | None) -> str:
    """A DICOM DA ("20240105") or ISO date as "5 Jan 2024"; the text itself if unparsable."""
    if not value:
        return DASH
    v = str(value).strip()
    digits = v.replace("-", "")[:8]
    if len(digits) == 8 and digits.isdigit():
        y, m, d = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
        if 1 <= m <= 12 and 1 <= d <= 31:
            return f"{d} {_MONTHS[m - 1]} {y}"
    return v


def datetime(value: str | None) -> str:
    """An ISO 8601 time stamp as "5 Jan 2024 10:15 UTC" (UTC when it carries an offset)."""
    import datetime as _dt

    if not value:
        return DASH
    try:
        t = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return date(value)
    if t.tzinfo is not None:
        t = t.astimezone(_dt.UTC)
        return f"{date(t.date().isoformat())} {t:%H:%M} UTC"
    return f"{date(t.date().isoformat())} {t:%H:%M}"


def indentation(row: dict) -> str:
    """The indentation depth where the report shows one (gap zero, beyond the resolution)."""
    return mm(row.get("indentation_shown_mm"))


def yes_no(value: bool | None) -> str:
    return DASH if value is None else ("yes" if value else "no")


def person_name(value: str | None) -> str:
    """A DICOM PN ("Family^Given^Middle") as "Family, Given Middle"."""
    if not value:
        return DASH
    parts = [p for p in str(value).split("^") if p]
    if len(parts) <= 1:
        return parts[0] if parts else DASH
    return f"{parts[0]}, {' '.join(parts[1:])}"
