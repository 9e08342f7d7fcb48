"""``nvcview scene`` driven as a user would, through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "sample_data"), env.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        [sys.executable, "-m", "nvcview", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def sample_review(tmp_path_factory) -> Path:
    from nvcview_sample import write_sample

    out = tmp_path_factory.mktemp("sample")
    write_sample(out, gap_mm=0.5)
    return out / "review"


def test_scene_writes_meshes_json_and_key_image(sample_review, tmp_path):
    out = tmp_path / "models"
    res = _run("scene", str(sample_review), "--out", str(out), "--image")
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / "scene.json").read_text())
    assert doc["coordinate_system"] == "LPS" and doc["units"] == "mm"
    for mesh in doc["meshes"]:
        for fmt in ("obj", "stl"):
            assert (out / mesh["files"][fmt]).is_file()
    assert (out / "scene.glb").is_file() and (out / "key_3d_retrosigmoid.png").is_file()
    # the heat map minimum is the gap `nvcview measure` reports
    meas = _run("measure", str(sample_review), "--json")
    assert meas.returncode == 0, meas.stderr
    gaps = [c["gap_mm"] for c in json.loads(meas.stdout)["contacts"]]
    assert abs(doc["gap_map"]["min_mm"] - min(gaps)) <= 0.01
    assert "closest vessel: left AICA" in res.stdout


def test_meshes_reload_at_the_label_maps_position(sample_review, tmp_path):
    """Without Slicer: OBJ vertices through the label map's inverse affine land inside
    its voxel-corner box, and each mesh's bounds are within a voxel of its label's."""
    from nvcview.review.store import load_labels, load_review

    out = tmp_path / "m"
    assert _run("scene", str(sample_review), "--out", str(out), "--format", "obj").returncode == 0
    review = load_review(sample_review)
    labels = load_labels(review, sample_review)
    arr = np.asarray(labels.array)
    inv = np.linalg.inv(labels.affine)
    one_voxel = np.abs(labels.affine[:3, :3]).sum(axis=1)
    doc = json.loads((out / "scene.json").read_text())
    assert not list(out.glob("*.stl")) and not (out / "scene.glb").exists()
    for mesh in doc["meshes"]:
        obj = trimesh.load(out / mesh["files"]["obj"], process=False)
        ijk = obj.vertices @ inv[:3, :3].T + inv[:3, 3]
        assert ijk.min() >= -0.5 - 1e-4 and np.all(ijk.max(0) <= np.array(arr.shape) - 0.5 + 1e-4)
        centres = np.argwhere(arr == mesh["label"]) @ labels.affine[:3, :3].T
        centres = centres + labels.affine[:3, 3]
        box = np.stack([centres.min(0), centres.max(0)])
        assert np.all(np.abs(obj.bounds - box) <= one_voxel), mesh["name"]


def test_bad_input_is_one_clear_line(tmp_path):
    res = _run("scene", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
    assert "missing: no such review" in res.stderr
    (tmp_path / "notreview").mkdir()
    res = _run("scene", str(tmp_path / "notreview"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "notreview" in res.stderr


def test_unknown_format_is_refused_before_any_work(sample_review, tmp_path):
    res = _run("scene", str(sample_review), "--out", str(tmp_path / "o"), "--format", "obj,ply")
    assert res.returncode == 2 and "unknown mesh format 'ply'" in res.stderr
    assert not (tmp_path / "o").exists()


def _imported_modules(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the CLI under ``-X importtime``: the result and the modules imported.

    A refused import (``sys.modules[name] = None``) is listed by ``-X importtime``
    too, as a bare name: a package counts as imported when one of its submodules is.
    """
    res = _run_python("-X", "importtime", "-m", "nvcview", *args)
    names = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return res, names


def _packages(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names if "." in n} | {n for n in names if n != "pydicom"}


def _run_python(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "sample_data"), env.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_scene_imports_only_what_the_formats_asked_need(sample_review, tmp_path):
    gui = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide6", "vispy", "magicgui", "npe2"}
    # highdicom: the label map is read straight into the engine's LabelGrid (no
    # highdicom.Volume); trimesh: the GLB is written with numpy + json; matplotlib:
    # the gap colours come from nvcview.scene.colormap; pydicom: nibabel is imported
    # with its optional pydicom import refused (scene_cmd._import_nibabel_without_pydicom)
    unused = {"SimpleITK", "pandas", "dask", "reportlab", "jinja2", "highdicom", "trimesh"}
    unused |= {"matplotlib", "pydicom", "networkx"}
    for fmt, out in (("obj,stl", "a"), ("glb,obj,stl", "b")):
        res, names = _imported_modules(
            "scene", str(sample_review), "--out", str(tmp_path / out), "--format", fmt
        )
        assert res.returncode == 0, res.stderr[-2000:]
        assert (tmp_path / out / "scene.json").is_file()
        bad = _packages(names) & (gui | unused)
        assert not bad, (fmt, sorted(bad))
    # nor the case session, the series resolver or the segmentation tools
    assert "nvcview.case.measurement" in names
    assert not {"nvcview.case.session", "nvcview.case.resolve", "nvcview.segment"} & names


def test_nibabel_without_pydicom_leaves_pydicom_importable(sample_review):
    """The refusal lasts for nibabel's import only, and the label map reads the same."""
    code = (
        "import sys\n"
        "from nvcview.cli.scene_cmd import _import_nibabel_without_pydicom\n"
        "_import_nibabel_without_pydicom()\n"
        "assert 'nibabel' in sys.modules and 'pydicom' not in sys.modules\n"
        "from nvcview.review.store import load_label_grid, load_review\n"
        "r = load_review(sys.argv[1]); g = load_label_grid(r, sys.argv[1])\n"
        "import pydicom\n"
        "print(pydicom.Dataset.__name__, g.array.shape, int(g.array.sum()), g.affine.sum())\n"
    )
    res = _run_python("-c", code, str(sample_review))
    assert res.returncode == 0, res.stderr[-2000:]
    from nvcview.review.store import load_label_grid, load_review

    g = load_label_grid(load_review(sample_review), sample_review)
    assert res.stdout.split()[0] == "Dataset"
    assert res.stdout.strip() == f"Dataset {g.array.shape} {int(g.array.sum())} {g.affine.sum()}"
