"""The one vessel-type table: schema enum, report codes and names, colours agree with it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from nvcview.structures import (
    ARTERIES,
    BRAINSTEM_COLOR,
    NERVE_COLORS,
    OTHER_COLOR,
    VESSEL_COLORS,
    VESSEL_TABLE,
    VESSEL_TYPES,
    Structure,
)

ROOT = Path(__file__).resolve().parents[1]
#: the TOF overlay (napari colormap "red", additive) and its blend with bright T2: magenta
TOF_COLORS = {"TOF red": (1.0, 0.0, 0.0), "TOF on T2 (magenta)": (1.0, 0.0, 1.0)}


def _lab(rgb) -> np.ndarray:
    return rgb2lab(np.asarray(rgb, float).reshape(1, 1, 3))[0, 0]


def _schema_enum(path: Path) -> set:
    doc = json.loads(path.read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "vessel_type" in node and isinstance(node["vessel_type"], dict):
                if "enum" in node["vessel_type"]:
                    found.append(set(node["vessel_type"]["enum"]) - {None})
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert found, f"{path}: no vessel_type enum"
    return set.union(*found)


def test_review_schemas_list_exactly_the_table():
    for path in (ROOT / "nvcview/review/review.schema.json", ROOT / "docs/review-schema.json"):
        assert _schema_enum(path) == set(VESSEL_TYPES), path


def test_report_codes_and_names_agree_with_the_table():
    """Every row's SR code is a real one: standard codes as pydicom's dictionary spells
    them, private ones listed (and documented) with the same meaning; the SR writer and
    reader use the row's code, and reports the row's phrase."""
    from pydicom.sr.codedict import codes as dicom_codes

    from nvcview.report import codes
    from nvcview.report.conclusion import VESSEL_NAMES
    from nvcview.report.sr_read import _VESSELS

    sct: dict[str, set[str]] = {}
    for name in dicom_codes.SCT.dir():
        code = getattr(dicom_codes.SCT, name)
        sct.setdefault(code.value, set()).add(code.meaning)
    report_doc = (ROOT / "docs/report.md").read_text(encoding="utf-8")
    for v in VESSEL_TABLE:
        value, scheme, meaning = v.code
        if scheme == "SCT":
            assert meaning in sct.get(value, ()), f"{v.name}: SCT {value} is not '{meaning}'"
        else:
            assert scheme == codes.PRIVATE_SCHEME, v.name
            assert codes.PRIVATE_CODES[value] == meaning, v.name
            assert f"| `{value}` | {meaning} |" in report_doc, f"{value} not in docs/report.md"
        c = codes.VESSEL_CODES[v.name]
        assert (c.value, c.scheme_designator, c.meaning) == v.code, v.name
        assert VESSEL_NAMES[v.name] == v.phrase, v.name
        st = Structure(label=1, name=v.name, kind="vessel", vessel_type=v.name)
        assert codes.structure_code(st).value == value
        # the SR reader gives the type back ("unknown" shares the generic vessel code)
        back = _VESSELS[(value, scheme)]
        assert back == v.name or (v.name == "unknown" and back == "other"), v.name
    # no two named types share a code: only "unknown" falls back to the generic one
    named = [v.code[:2] for v in VESSEL_TABLE if v.name != "unknown"]
    assert len(set(named)) == len(named)
    assert set(codes.VESSEL_CODES) == set(VESSEL_TYPES)
    assert set(ARTERIES) == {"AICA", "PICA", "VA", "basilar"}


def test_every_structure_has_its_own_colour_far_from_the_tof_overlay():
    colours = {
        **{f"vessel {k}": v for k, v in VESSEL_COLORS.items()},
        **{f"nerve {k}": v for k, v in NERVE_COLORS.items()},
        "brainstem": BRAINSTEM_COLOR,
        "other": OTHER_COLOR,
    }
    # distinct from each other: CIEDE2000 colour difference above 15
    for (a, ca), (b, cb) in itertools.combinations(colours.items(), 2):
        d = float(deltaE_ciede2000(_lab(ca), _lab(cb)))
        assert d > 15, f"{a} and {b} look alike (dE {d:.1f})"
    # far from what the TOF overlay paints: above 30
    for name, c in colours.items():
        for what, t in TOF_COLORS.items():
            d = float(deltaE_ciede2000(_lab(c), _lab(t)))
            assert d > 30, f"{name} is close to the {what} (dE {d:.1f})"


def test_each_structure_gets_its_own_colour_stable_through_the_review_row():
    from nvcview.structures import TOF_SCREEN_COLORS, assign_colors, color_difference

    rows = [Structure(label=1, name="facial nerve", kind="nerve", nerve="VII")]
    rows += [Structure(label=k, name=f"AICA {k}", kind="vessel", vessel_type="AICA")
             for k in range(4, 10)]  # fmt: skip
    rows.append(Structure(label=12, name="other", kind="vessel", vessel_type="other"))
    rows.append(Structure(label=13, name="other 2", kind="vessel", vessel_type="other"))
    assign_colors(rows)
    # the first of a type keeps the type's colour; the others get their own, stored
    assert rows[1].color == VESSEL_COLORS["AICA"] and rows[1].display_color is None
    assert rows[0].color == NERVE_COLORS["VII"]
    assert all(r.display_color is not None for r in rows[2:7])
    for a, b in itertools.combinations(rows, 2):
        d = color_difference(a.color, b.color)
        assert d > 15, f"{a.name} and {b.name} look alike (dE {d:.1f})"
    for r in rows:
        assert min(color_difference(r.color, t) for t in TOF_SCREEN_COLORS) > 30, r.name
    # stored in the review row and read back as is; assigning again changes nothing
    back = [Structure.from_dict(json.loads(json.dumps(r.to_dict()))) for r in rows]
    assert [b.color for b in back] == [pytest.approx(r.color, abs=1e-4) for r in rows]
    again = [r.color for r in assign_colors(back)]
    assert again == [b.color for b in back]
    assert "display_color" not in rows[1].to_dict()  # a type colour is not stored
    # deterministic: the same table gives the same colours
    fresh = [Structure(r.label, r.name, r.kind, r.vessel_type, r.nerve) for r in rows]
    assert [r.color for r in assign_colors(fresh)] == [r.color for r in rows]
