"""Mesh files: OBJ/STL in LPS mm for 3D Slicer, glTF binary, scene.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from nvcview.errors import InputError
from nvcview.measure import measure_case
from nvcview.scene import build_scene, gap_colors, parse_formats, write_scene
from nvcview.scene.export import LPS_TO_GLTF, file_stem


@pytest.fixture(scope="module")
def written(tmp_path_factory, sample_phantom):
    p = sample_phantom
    ms = measure_case(p.labels, p.structures, p.landmarks, p.centreline)
    scene = build_scene(p.labels, p.structures, ms, side="left")
    out = tmp_path_factory.mktemp("scene")
    return scene, ms, out, write_scene(scene, out)


def test_one_obj_and_stl_per_structure_named_after_it(written):
    scene, _, out, files = written
    names = {file_stem(s.name) for s in scene.surfaces}
    assert {f.stem for f in files["obj"]} == names == {f.stem for f in files["stl"]}
    assert "left_facial_nerve_VII" in names and "left_AICA" in names


def test_obj_and_stl_hold_lps_mm_and_say_so(written):
    scene, _, out, _ = written
    for surf in scene.surfaces:
        stem = file_stem(surf.name)
        text = (out / f"{stem}.obj").read_text()
        assert "SPACE=LPS" in text.splitlines()[1]
        obj = trimesh.load(out / f"{stem}.obj", process=False)
        np.testing.assert_allclose(obj.vertices, surf.verts, atol=1e-4)
        np.testing.assert_array_equal(obj.faces, surf.faces)
        raw = (out / f"{stem}.stl").read_bytes()
        assert b"SPACE=LPS" in raw[:80] and not raw.startswith(b"solid")
        stl = trimesh.load(out / f"{stem}.stl")
        assert stl.is_watertight and stl.volume > 0
        np.testing.assert_allclose(stl.bounds, surf.bounds_lps, atol=1e-4)


def test_glb_has_names_colours_and_the_nerve_gap_per_vertex(written):
    scene, ms, out, _ = written
    glb = trimesh.load(out / "scene.glb", process=False)
    assert set(glb.geometry) == {file_stem(s.name) for s in scene.surfaces}
    nerve = scene.nerve
    g = glb.geometry[file_stem(nerve.name)]
    np.testing.assert_allclose(g.vertices, nerve.verts, atol=1e-4)  # buffers: LPS mm
    want = np.round(gap_colors(nerve.gap_mm) * 255)
    np.testing.assert_allclose(g.visual.vertex_colors[:, :3], want, atol=1)
    aica = next(s for s in scene.surfaces if s.name == "left AICA")
    mat = glb.geometry["left_AICA"].visual.material
    np.testing.assert_allclose(np.asarray(mat.baseColorFactor[:3]) / 255, aica.color, atol=0.01)
    # the node matrix puts the head upright for glTF viewers: superior -> +Y, metres
    transform, _ = glb.graph[file_stem(nerve.name)]
    np.testing.assert_allclose(transform, LPS_TO_GLTF)
    np.testing.assert_allclose(transform @ [0, 0, 10, 1], [0, 0.01, 0, 1])
    np.testing.assert_allclose(transform @ [0, -10, 0, 1], [0, 0, 0.01, 1])  # anterior +Z
    gap = np.asarray(
        g.vertex_attributes["_gap_mm"]
        if "_gap_mm" in g.vertex_attributes
        else g.vertex_attributes["_GAP_MM"]
    ).ravel()
    assert abs(float(gap.min()) - min(m.gap_mm for m in ms)) <= 0.01


def test_scene_json_lists_meshes_colours_units_and_frame(written):
    scene, ms, out, _ = written
    doc = json.loads((out / "scene.json").read_text())
    assert doc["coordinate_system"] == "LPS" and doc["units"] == "mm"
    assert [m["name"] for m in doc["meshes"]] == [s.name for s in scene.surfaces]
    aica = next(m for m in doc["meshes"] if m["name"] == "left AICA")
    from nvcview.structures import VESSEL_COLORS

    assert aica["color_rgb"] == list(VESSEL_COLORS["AICA"])
    assert aica["files"]["obj"] == "left_AICA.obj"
    assert abs(doc["gap_map"]["min_mm"] - min(m.gap_mm for m in ms)) <= 0.01
    assert doc["gap_map"]["colormap"] == "plasma" and doc["gltf"]["file"] == "scene.glb"
    assert {p["vessel_name"] for p in doc["closest_pairs"]} == {m.vessel_name for m in ms}


def test_format_list_is_checked():
    assert parse_formats("obj, STL,gltf") == ("obj", "stl", "glb")
    with pytest.raises(InputError, match="unknown mesh format 'ply'"):
        parse_formats("obj,ply")
    with pytest.raises(InputError, match="no mesh format"):
        parse_formats(",")


def test_only_the_asked_formats_are_written(tmp_path, sample_phantom):
    p = sample_phantom
    files = write_scene(build_scene(p.labels, p.structures), tmp_path, ["stl"])
    assert set(files) == {"stl", "json"}
    assert not list(tmp_path.glob("*.obj")) and not (tmp_path / "scene.glb").exists()


def _glb(path):
    """Parse a GLB by the glTF 2.0 rules: (header length, JSON document, BIN chunk)."""
    raw = path.read_bytes()
    magic, version, length = np.frombuffer(raw[:12], dtype="<u4")
    assert raw[:4] == b"glTF" and version == 2 and length == len(raw)
    jlen, jtype = int(np.frombuffer(raw[12:16], "<u4")[0]), raw[16:20]
    assert jtype == b"JSON" and jlen % 4 == 0
    text = raw[20 : 20 + jlen]
    body = text.rstrip(b" ")  # the JSON chunk is padded with spaces to 4 bytes
    assert body.endswith(b"}") and len(text) - len(body) < 4
    doc = json.loads(text)
    at = 20 + jlen
    blen, btype = int(np.frombuffer(raw[at : at + 4], "<u4")[0]), raw[at + 4 : at + 8]
    assert btype == b"BIN\x00" and blen % 4 == 0 and at + 8 + blen == len(raw)
    return doc, raw[at + 8 :]


_DTYPES = {5126: np.float32, 5125: np.uint32, 5121: np.uint8}
_WIDTH = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}


def _accessor(doc, binary, index):
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_DTYPES[acc["componentType"]]).newbyteorder("<")
    width = _WIDTH[acc["type"]]
    start = view["byteOffset"] + acc.get("byteOffset", 0)
    assert acc["count"] * width * dtype.itemsize <= view["byteLength"]
    data = np.frombuffer(binary, dtype, acc["count"] * width, start).reshape(acc["count"], width)
    return acc, data


def test_glb_follows_the_gltf_layout_rules(written):
    """Alignment, buffer-view lengths, accessor min/max and index ranges (glTF 2.0 spec)."""
    scene, _, out, _ = written
    doc, binary = _glb(out / "scene.glb")
    assert doc["asset"]["version"] == "2.0"
    assert doc["buffers"] == [{"byteLength": len(binary)}]
    for view in doc["bufferViews"]:
        assert view["buffer"] == 0 and view["byteOffset"] % 4 == 0
        assert view["byteOffset"] + view["byteLength"] <= len(binary)
        assert view["target"] in (34962, 34963)
    ends = sorted((v["byteOffset"], v["byteOffset"] + v["byteLength"]) for v in doc["bufferViews"])
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:], strict=False))  # no overlap
    for k, acc in enumerate(doc["accessors"]):
        _, data = _accessor(doc, binary, k)
        # min / max are the stored values (float32 exactly, as the spec asks)
        assert data.min(axis=0).tolist() == acc["min"] and data.max(axis=0).tolist() == acc["max"]
    assert doc["scenes"][doc["scene"]]["nodes"] == list(range(len(doc["nodes"])))
    for node, mesh in zip(doc["nodes"], doc["meshes"], strict=True):
        assert node["mesh"] == doc["meshes"].index(mesh) and node["name"] == mesh["name"]
        (prim,) = mesh["primitives"]
        assert prim["mode"] == 4
        pos = doc["accessors"][prim["attributes"]["POSITION"]]
        assert pos["type"] == "VEC3" and pos["componentType"] == 5126
        _, idx = _accessor(doc, binary, prim["indices"])
        assert idx.size % 3 == 0 and int(idx.max()) < pos["count"]
        for name in prim["attributes"]:
            assert name in ("POSITION", "NORMAL", "COLOR_0") or name.startswith("_")
            assert doc["accessors"][prim["attributes"][name]]["count"] == pos["count"]


def test_glb_buffers_hold_the_scene(written):
    """Decoded without trimesh: names, LPS mm vertices, faces, colours, the nerve's gaps."""
    scene, ms, out, _ = written
    doc, binary = _glb(out / "scene.glb")
    by_name = {m["extras"]["name"]: m for m in doc["meshes"]}
    assert list(by_name) == [s.name for s in scene.surfaces]
    for surf in scene.surfaces:
        mesh = by_name[surf.name]
        assert mesh["name"] == file_stem(surf.name)
        (prim,) = mesh["primitives"]
        _, pos = _accessor(doc, binary, prim["attributes"]["POSITION"])
        np.testing.assert_array_equal(pos, surf.verts.astype(np.float32))
        _, nrm = _accessor(doc, binary, prim["attributes"]["NORMAL"])
        np.testing.assert_array_equal(nrm, surf.normals.astype(np.float32))
        _, idx = _accessor(doc, binary, prim["indices"])
        np.testing.assert_array_equal(idx.reshape(-1, 3), surf.faces)
        if surf.gap_mm is None:
            mat = doc["materials"][prim["material"]]
            rgba = mat["pbrMetallicRoughness"]["baseColorFactor"]
            np.testing.assert_allclose(rgba[:3], surf.color, atol=0.5 / 255)
            assert rgba[3] == 1.0 and "COLOR_0" not in prim["attributes"]
        else:
            assert "material" not in prim  # default white material x COLOR_0
            acc, col = _accessor(doc, binary, prim["attributes"]["COLOR_0"])
            assert acc["normalized"] and acc["componentType"] == 5121
            want = np.round(gap_colors(surf.gap_mm, scene.gap_range_mm) * 255)
            np.testing.assert_array_equal(col[:, :3], want)
            assert np.all(col[:, 3] == 255)
            _, gap = _accessor(doc, binary, prim["attributes"]["_GAP_MM"])
            assert abs(float(gap.min()) - min(m.gap_mm for m in ms)) <= 0.01
    for node in doc["nodes"]:
        np.testing.assert_allclose(np.reshape(node["matrix"], (4, 4)).T, LPS_TO_GLTF)
