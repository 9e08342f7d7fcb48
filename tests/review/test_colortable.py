"""Label tables from ITK-SNAP, Slicer, CSV, JSON and the command line."""

from __future__ import annotations

import json

import pytest

from nvcview.errors import InputError
from nvcview.review.colortable import (
    parse_structure_spec,
    read_label_table,
    structure_from_name,
    write_itksnap,
)
from nvcview.structures import Structure

ITKSNAP = """\
################################################
# ITK-SnAP Label Description File
# File format:
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
################################################
    0     0    0    0        0  0  0    "Clear Label"
    1   255  255    0        1  1  1    "Facial nerve"
    2   255    0    0        1  1  1    "Left AICA"
    3     0  255  255        1  1  0    "CN VIII"
    4   128    0  128     0.75  1  1    "vertebral artery"
    5   140  115   90        1  1  1    "Brainstem"
    6    50  100  255        1  1  1    "petrosal vein"
    7   100  100  100        1  0  0    "tumour"
"""


def _table(structures):
    return [(s.label, s.name, s.kind, s.vessel_type, s.nerve) for s in structures]


def test_itksnap_label_description(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text(ITKSNAP)
    assert _table(read_label_table(f)) == [
        (1, "Facial nerve", "nerve", None, "VII"),
        (2, "Left AICA", "vessel", "AICA", None),
        (3, "CN VIII", "nerve", None, "VIII"),
        (4, "vertebral artery", "vessel", "VA", None),
        (5, "Brainstem", "brainstem", None, None),
        (6, "petrosal vein", "vessel", "vein", None),
        (7, "tumour", "other", None, None),
    ]


def test_itksnap_round_trip(tmp_path):
    src = [
        Structure(1, "facial nerve", "nerve", nerve="VII"),
        Structure(2, "left PICA", "vessel", "PICA"),
        Structure(9, 'odd "name" vessel', "vessel", "unknown"),
    ]
    f = write_itksnap(src, tmp_path / "out.label")
    text = f.read_text()
    assert '"Clear Label"' in text and '"left PICA"' in text
    back = read_label_table(f)
    assert [(s.label, s.kind, s.vessel_type, s.nerve) for s in back] == [
        (1, "nerve", None, "VII"),
        (2, "vessel", "PICA", None),
        (9, "vessel", "unknown", None),
    ]


def test_slicer_ctbl_keeps_exact_kinds(tmp_path):
    from nvcview.review.colortable import write_slicer_ctbl

    src = [Structure(3, "loop 3", "vessel", "vein"), Structure(4, "n", "nerve", nerve="VIII")]
    back = read_label_table(write_slicer_ctbl(src, tmp_path / "t.ctbl"))
    assert _table(back) == [(3, "loop 3", "vessel", "vein", None), (4, "n", "nerve", None, "VIII")]


def test_slicer_color_table(tmp_path):
    f = tmp_path / "labels.ctbl"
    f.write_text(
        "# Color table file\n0 Background 0 0 0 0\n1 facial_nerve 255 255 0 255\n2 PICA 255 128 0 255\n"
    )
    assert _table(read_label_table(f)) == [
        (1, "facial nerve", "nerve", None, "VII"),
        (2, "PICA", "vessel", "PICA", None),
    ]


def test_csv_with_explicit_columns(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(
        "label,name,kind,vessel_type,nerve\n0,background,,,\n1,N7,nerve,,VII\n2,loop,vessel,AICA,\n"
    )
    assert _table(read_label_table(f)) == [
        (1, "N7", "nerve", None, "VII"),
        (2, "loop", "vessel", "AICA", None),
    ]


def test_json_tables(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(
        json.dumps({"1": "facial nerve", "2": {"name": "x", "kind": "vessel", "vessel_type": "VA"}})
    )
    assert _table(read_label_table(f)) == [
        (1, "facial nerve", "nerve", None, "VII"),
        (2, "x", "vessel", "VA", None),
    ]
    f.write_text(json.dumps([{"label": 3, "name": "basilar artery"}]))
    assert _table(read_label_table(f)) == [(3, "basilar artery", "vessel", "basilar", None)]


def test_command_line_spec():
    got = parse_structure_spec("1=facial nerve, 2=AICA, 3=thing:vessel:vein, 4=n:nerve:VIII")
    assert _table(got) == [
        (1, "facial nerve", "nerve", None, "VII"),
        (2, "AICA", "vessel", "AICA", None),
        (3, "thing", "vessel", "vein", None),
        (4, "n", "nerve", None, "VIII"),
    ]


def test_name_guesses():
    assert structure_from_name(1, "SCA").vessel_type == "other"
    assert structure_from_name(1, "vestibulocochlear nerve").nerve == "VIII"
    assert structure_from_name(1, "something").kind == "other"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.txt", "1 255 0 0 1 1 1\n", "line 1: expected IDX NAME R G B A.*got no name"),
        (
            "b.txt",
            '    x   255    0    0        1  1  1    "AICA"\n',
            "line 1: label 'x' is not an integer",
        ),
        ("c.csv", "id,title\n1,a\n", "needs 'label' and 'name' columns"),
        ("d.csv", "label,name,kind\n1,a,artery\n", "line 2: kind 'artery' is not one of"),
        ("e.json", "{bad", "not valid JSON"),
        ("f.json", json.dumps([{"name": "x"}]), r"entry \[0\] needs a 'label'"),
        ("g.txt", '1 0 0 0 1 1 1 "a"\n1 0 0 0 1 1 1 "b"\n', "label 1 is given twice"),
        ("h.txt", '0 0 0 0 0 0 0 "Clear Label"\n', "names no labels"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_label_table(f)
    assert str(f) in str(info.value)


def test_bad_spec():
    with pytest.raises(InputError, match="not LABEL=NAME"):
        parse_structure_spec("1 facial nerve")
    with pytest.raises(InputError, match="label must be > 0"):
        parse_structure_spec("-1=x")
