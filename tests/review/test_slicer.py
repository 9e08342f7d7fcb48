"""3D Slicer Markups JSON: round trip, LPS and RAS files in, bad files named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.review.slicer import (
    apply_markups,
    export_review_markups,
    read_markups,
    write_markups,
)

from .conftest import make_review


def _slicer_file(path, system, points, mtype="Fiducial", **extra):
    """A file as Slicer writes it, positions given in ``system``."""
    cps = [
        {"id": str(i + 1), "label": name, "position": list(p), "positionStatus": "defined"}
        for i, (name, p) in enumerate(points.items())
    ]
    mk = {"type": mtype, "coordinateSystem": system, "controlPoints": cps, **extra}
    path.write_text(json.dumps({"@schema": "x", "markups": [mk]}))
    return path


def test_round_trip_review_markups(tmp_path):
    review = make_review()
    files = export_review_markups(review, tmp_path)
    assert [f.name for f in files] == ["landmarks.mrk.json", "nerve.mrk.json"]
    fresh = make_review(landmarks={}, nerve_path_lps=[])
    for f in files:
        apply_markups(fresh, read_markups(f))
    assert fresh.landmarks == review.landmarks
    np.testing.assert_allclose(fresh.nerve_path_lps, review.nerve_path_lps)
    doc = json.loads(files[0].read_text())
    assert doc["markups"][0]["coordinateSystem"] == "LPS"
    assert doc["markups"][0]["type"] == "Fiducial"


def test_ras_file_is_converted_to_lps(tmp_path):
    ras = {"RExP": [19.0, -18.5, 3.5], "RDP": [17.25, -19.0, 3.5]}
    m = read_markups(_slicer_file(tmp_path / "ras.mrk.json", "RAS", ras))
    np.testing.assert_allclose(m.points["RExP"], [-19.0, 18.5, 3.5])
    np.testing.assert_allclose(m.points["RDP"], [-17.25, 19.0, 3.5])


def test_lps_file_and_default_system(tmp_path):
    lps = {"RExP": [-19.0, 18.5, 3.5]}
    m = read_markups(_slicer_file(tmp_path / "lps.mrk.json", "LPS", lps))
    np.testing.assert_allclose(m.points["RExP"], lps["RExP"])
    doc = json.loads((tmp_path / "lps.mrk.json").read_text())
    del doc["markups"][0]["coordinateSystem"]  # Slicer's default is LPS
    (tmp_path / "nosys.mrk.json").write_text(json.dumps(doc))
    np.testing.assert_allclose(
        read_markups(tmp_path / "nosys.mrk.json").points["RExP"], lps["RExP"]
    )


def test_ras_curve_becomes_nerve_path(tmp_path):
    pts = {f"c{i}": [float(i), 2.0 * i, 1.0] for i in range(4)}
    f = _slicer_file(tmp_path / "nerve.mrk.json", "RAS", pts, mtype="Curve", name="facial nerve")
    review = apply_markups(make_review(nerve_path_lps=[]), read_markups(f))
    np.testing.assert_allclose(review.nerve_path_lps, [[-i, -2.0 * i, 1.0] for i in range(4)])


def test_curve_written_and_read(tmp_path):
    curve = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.5, 2.0, 3.0]])
    write_markups(tmp_path / "c.mrk.json", curve=curve, curve_name="VII")
    ((name, back),) = read_markups(tmp_path / "c.mrk.json").curves
    assert name == "VII"
    np.testing.assert_allclose(back, curve)


def test_several_curves_need_a_facial_nerve(tmp_path):
    doc = {
        "markups": [
            {
                "type": "Curve",
                "name": "AICA",
                "controlPoints": [{"position": [0, 0, 0]}, {"position": [1, 0, 0]}],
            },
            {
                "type": "Curve",
                "name": "vein",
                "controlPoints": [{"position": [0, 0, 0]}, {"position": [0, 1, 0]}],
            },
        ]
    }
    (tmp_path / "two.mrk.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="several curves.*facial nerve"):
        apply_markups(make_review(), read_markups(tmp_path / "two.mrk.json"))
    review = apply_markups(make_review(), read_markups(tmp_path / "two.mrk.json"), curve="vein")
    assert review.nerve_path_lps == [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"points": []}), "no 'markups' list"),
        (
            json.dumps(
                {"markups": [{"type": "Fiducial", "coordinateSystem": "IJK", "controlPoints": []}]}
            ),
            r"markups\[0\]: coordinateSystem 'IJK'",
        ),
        (
            json.dumps(
                {"markups": [{"type": "Fiducial", "controlPoints": [{"position": [1, 2]}]}]}
            ),
            r"markups\[0\]\.controlPoints\[0\]: position must be 3 numbers",
        ),
        (
            json.dumps(
                {"markups": [{"type": "Fiducial", "coordinateUnits": "um", "controlPoints": []}]}
            ),
            "coordinateUnits 'um'",
        ),
        (json.dumps({"markups": [{"type": "ROI", "controlPoints": []}]}), "no point list or curve"),
    ],
)
def test_bad_markups_files(tmp_path, content, message):
    f = tmp_path / "bad.mrk.json"
    f.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_markups(f)
    assert str(f) in str(info.value)


@pytest.mark.parametrize(
    ("header", "flip"),
    [
        ("# CoordinateSystem = LPS\n", [1, 1, 1]),
        ("# CoordinateSystem = RAS\n", [-1, -1, 1]),
        ("# CoordinateSystem = 1\n", [1, 1, 1]),
        ("", [-1, -1, 1]),  # old files without the header are RAS
    ],
)
def test_legacy_fcsv(tmp_path, header, flip):
    f = tmp_path / "F.fcsv"
    f.write_text(
        "# Markups fiducial file version = 4.10\n"
        + header
        + "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        + "vtkMRMLMarkupsFiducialNode_0,-19,18.5,3.5,0,0,0,1,1,1,0,RExP,,\n"
        + "vtkMRMLMarkupsFiducialNode_1,-17.25,19,3.5,0,0,0,1,1,1,0,RDP,,\n"
    )
    m = read_markups(f)
    np.testing.assert_allclose(m.points["RExP"], np.multiply([-19, 18.5, 3.5], flip))
    np.testing.assert_allclose(m.points["RDP"], np.multiply([-17.25, 19, 3.5], flip))


def test_bad_fcsv(tmp_path):
    f = tmp_path / "F.fcsv"
    f.write_text("# CoordinateSystem = IJK\n")
    with pytest.raises(InputError, match="line 1: CoordinateSystem 'IJK'"):
        read_markups(f)
    f.write_text("# columns = id,x,y,z,label\nA,1,two,3,RExP\n")
    with pytest.raises(InputError, match="line 2: needs numeric x, y, z"):
        read_markups(f)
