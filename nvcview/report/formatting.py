"""Number formatting shared by the HTML and PDF reports (one rounding rule)."""

from __future__ import annotations

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


def rdp(value: float | None) -> str:
    """Signed arc length from the RDP as words: "2.1 mm medial" / "lateral"."""
    if value is None:
        return DASH
    if abs(value) < 0.05:
        return "at RDP"
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


def grade_with_depth(row: dict) -> str:
    """Grade text, with the indentation depth when the grade is indentation."""
    text = grade(row)
    depth = row.get("indentation_depth_mm")
    if row["grade"] == "indentation" and depth is not None:
        text += f", depth {mm(depth)}"
    return text


def far_line(rows: list[dict], near_mm: float | None = None) -> str:
    """One line naming the vessels measured but not near the nerve."""
    items = ", ".join(f"{r['vessel_name']} {mm(r['gap_mm'])}" for r in rows)
    limit = f" (gap > {mm(near_mm)})" if near_mm is not None else ""
    return f"Further vessels, not near the nerve{limit}: {items}."
