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
