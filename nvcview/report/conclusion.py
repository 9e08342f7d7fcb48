"""The one-line conclusion a surgeon can act on, built from the vessel rows.

Example: "Left AICA contacts the left facial nerve at the attached segment,
2.1 mm medial to the root detachment point (RDP), with indentation (0.6 mm)."
Indentation depths come from ``indentation_shown_mm`` (the report's rule: gap
zero and depth beyond the resolution limit), so the sentence and the table agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from nvcview.measure.records import GRADES
from nvcview.structures import VESSEL_PHRASES

#: Long names of the REZ segments (nvcview.measure.records.SEGMENTS).
SEGMENT_NAMES = {
    "RExP": "root exit point (RExP)",
    "AS": "attached segment",
    "RDP/TZ": "root detachment point / transition zone (RDP/TZ)",
    "proximal cisternal": "proximal cisternal segment",
    "distal cisternal": "distal cisternal segment",
}

#: Display names of vessel types (nvcview.structures.VESSEL_TYPES).
VESSEL_NAMES = VESSEL_PHRASES

GRADE_RANK = {g: i for i, g in enumerate(GRADES)}


def vessel_phrase(vessel_type: str, side: str | None) -> str:
    """Name a vessel with its side, e.g. "left AICA" ("basilar artery" has no side)."""
    name = VESSEL_NAMES.get(vessel_type, vessel_type)
    if side and vessel_type != "basilar":
        return f"{side} {name}"
    return name


def rdp_phrase(dist_from_rdp_mm: float | None) -> str:
    """Describe a signed arc length from the RDP (negative = medial, brainstem side)."""
    if dist_from_rdp_mm is None:
        return ""
    d = float(dist_from_rdp_mm)
    if abs(d) < 0.05:
        return "at the root detachment point (RDP)"
    where = "medial" if d < 0 else "lateral"
    return f"{abs(d):.1f} mm {where} to the root detachment point (RDP)"


def _grade_phrase(row: dict) -> str:
    grade = row["grade"]
    if grade == "indentation":
        depth = row.get("indentation_shown_mm")
        return "with indentation" + (f" ({depth:.1f} mm)" if depth and depth >= 0.05 else "")
    if grade == "deviation":
        dev = row.get("deviation_mm")
        return "with deviation of the nerve" + (f" ({dev:.1f} mm)" if dev and dev >= 0.05 else "")
    return "without deforming it"


def _sentence(row: dict, side: str | None, capitalise: bool) -> str:
    who = vessel_phrase(row["vessel_type"], side)
    nerve = f"the {side} facial nerve" if side else "the facial nerve"
    parts = [f"{who} contacts {nerve}"]
    if row.get("segment"):
        parts[0] += f" at the {SEGMENT_NAMES.get(row['segment'], row['segment'])}"
    where = rdp_phrase(row.get("dist_from_rdp_mm"))
    if where:
        parts.append(where)
    parts.append(_grade_phrase(row))
    text = ", ".join(parts)
    if row.get("multiplicity") == "tandem":
        text += " (tandem compression)"
    return text[0].upper() + text[1:] if capitalise else text


def not_assessable_phrase(segments: Sequence[str]) -> str:
    """Name the segments the nerve label does not cover, e.g. "attached segment (AS)"."""
    names = []
    for seg in segments:
        name = SEGMENT_NAMES.get(seg, seg)
        names.append(name if f"({seg})" in name else f"{name} ({seg})")
    return ", ".join(names)


def conclusion_text(
    rows: Sequence[dict], side: str | None, not_assessable: Sequence[str] = ()
) -> str:
    """Build the conclusion from report vessel rows (dicts of :mod:`content`).

    Parameters
    ----------
    rows : sequence of dict
        Vessel rows with at least ``vessel_type``, ``grade``, ``gap_mm``,
        ``segment``, ``dist_from_rdp_mm`` (mm, signed), ``multiplicity`` and
        ``indentation_shown_mm`` (mm, or None when not shown).
    side : str or None
        Side of the reviewed facial nerve ("left"/"right").
    not_assessable : sequence of str
        Segments the nerve label does not cover (``VesselMeasurement.
        not_assessable_segments``): no contact is ever concluded over them; the
        conclusion names them instead.

    Returns
    -------
    str
        One or two sentences; conflicts first, most severe first.
    """
    conflicts = [r for r in rows if r["grade"] != "none"]
    conflicts.sort(key=lambda r: (-GRADE_RANK.get(r["grade"], 0), r["gap_mm"]))
    nerve = f"{side} facial nerve" if side else "facial nerve"
    missing = list(not_assessable)
    them = "them" if len(missing) > 1 else "it"
    gap_note = (
        f"Not assessable: {not_assessable_phrase(missing)} -- the nerve label does not "
        f"cover {them}, so contact there cannot be excluded."
    )
    if not conflicts and missing:
        if not rows:
            return f"No vessel was marked near the segmented {nerve}. {gap_note}"
        nearest = min(rows, key=lambda r: r["gap_mm"])
        who = vessel_phrase(nearest["vessel_type"], side)
        return (
            f"No contact seen along the segmented part of the {nerve} (the nearest "
            f"vessel, the {who}, is {nearest['gap_mm']:.1f} mm away). {gap_note}"
        )
    if not conflicts:
        if not rows:
            return f"No vessel was marked near the {nerve}."
        nearest = min(rows, key=lambda r: r["gap_mm"])
        who = vessel_phrase(nearest["vessel_type"], side)
        return (
            f"No neurovascular contact of the {nerve}: the nearest vessel, the {who}, "
            f"is {nearest['gap_mm']:.1f} mm away (CSF visible between them)."
        )
    sentences = [_sentence(conflicts[0], side, True) + "."]
    for row in conflicts[1:]:
        sentences.append("Also: " + _sentence(row, side, False) + ".")
    if len(conflicts) > 1 and not any(r.get("multiplicity") == "tandem" for r in conflicts):
        sentences.append(f"{len(conflicts)} vessels contact the nerve (multiple).")
    if missing:
        sentences.append(gap_note)
    return " ".join(sentences)
