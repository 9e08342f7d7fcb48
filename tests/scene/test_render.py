"""Headless renderer and the 3D key image: orientation, content by colour, no display."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvcview.io.image import make_volume
from nvcview.measure import measure_case
from nvcview.scene import build_scene, key_image, rasterise, view
from nvcview.structures import Structure

ROOT = Path(__file__).resolve().parents[2]


def _two_balls():
    """A ball on the patient's left (+x, label 1) and one on the right (label 2), LPS mm."""
    shape = (50, 50, 30)
    aff = np.eye(4)
    aff[:3, :3] = np.diag([0.8, 0.8, 0.8])
    aff[:3, 3] = -np.array(shape) * 0.4
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    xyz = idx @ aff[:3, :3].T + aff[:3, 3]
    lab = np.zeros(shape, np.uint8)
    lab[np.linalg.norm(xyz - [10, 0, 0], axis=-1) < 4] = 1
    lab[np.linalg.norm(xyz - [-10, 0, 0], axis=-1) < 4] = 2
    lab[np.linalg.norm(xyz - [0, 0, 8], axis=-1) < 2.5] = 3  # superior marker
    structures = [
        Structure(1, "left ball", "other"),
        Structure(2, "right ball", "other"),
        Structure(3, "top ball", "other"),
    ]
    return make_volume(lab, aff), structures


def _centroid(ids: np.ndarray, label: int) -> np.ndarray:
    rows, cols = np.nonzero(ids == label)
    assert len(rows) > 50, f"label {label} not visible"
    return np.array([cols.mean(), rows.mean()])


@pytest.mark.parametrize(
    "name,left_on_right", [("A", True), ("P", False), ("S", False), ("I", True)]
)
def test_left_structure_side_on_screen(name, left_on_right):
    labels, structures = _two_balls()
    scene = build_scene(labels, structures)
    r = rasterise(scene, view(name), np.zeros(3), 40.0, (200, 160))
    left, right = _centroid(r.ids, 1), _centroid(r.ids, 2)
    assert (left[0] > right[0]) == left_on_right
    if name in ("A", "P"):
        assert _centroid(r.ids, 3)[1] < left[1]  # superior up


def test_left_facial_nerve_on_the_screen_right_in_the_anterior_view(sample_phantom):
    p = sample_phantom
    scene = build_scene(p.labels, p.structures)
    nerve = next(s for s in p.structures if s.nerve == "VII")
    brainstem = next(s for s in p.structures if s.kind == "brainstem")
    r = rasterise(scene, view("A"), scene.surface(brainstem.label).verts.mean(0), 70, (300, 300))
    assert _centroid(r.ids, nerve.label)[0] > _centroid(r.ids, brainstem.label)[0]
    # the projection agrees with the pixels
    c = r.project(scene.surface(nerve.label).verts).mean(axis=0)
    assert abs(c[0] - _centroid(r.ids, nerve.label)[0]) < 25


def _panel(img: np.ndarray) -> np.ndarray:
    return img[:, : int(img.shape[1] * 0.74)].astype(float) / 255


def test_key_image_shows_the_nerve_and_the_offending_vessel(sample_phantom):
    p = sample_phantom
    ms = measure_case(p.labels, p.structures, p.landmarks, p.centreline)
    scene = build_scene(p.labels, p.structures, ms, side="left", landmarks=p.landmarks)
    assert scene.offending_pair().vessel_name == "left AICA"
    img = key_image(scene)
    assert img.dtype == np.uint8 and img.shape == (700, 900, 3)
    assert img.std() > 20, "blank image"
    px = _panel(img)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    # AICA: its table colour, shaded (same hue: direction of the RGB vector)
    from nvcview.structures import VESSEL_COLORS

    want = np.asarray(VESSEL_COLORS["AICA"]) / np.linalg.norm(VESSEL_COLORS["AICA"])
    norm = np.linalg.norm(px, axis=-1) + 1e-9
    aica = (r > 0.3) & ((px @ want) / norm > 0.995)
    # facial nerve far from vessels: the heat map's yellow end (plasma ~ 0.94, 0.98, 0.13)
    yellow = (r > 0.45) & (g > 0.45) & (b < 0.35 * g) & (np.abs(r - g) < 0.25)
    # the closest-point line: bright green (0, 1, 0.4)
    green = (g > 0.7) & (r < 0.3) & (b < 0.6) & (b > 0.15)
    assert aica.sum() > 500, aica.sum()
    assert yellow.sum() > 500, yellow.sum()
    assert green.sum() > 15, green.sum()


def test_key_image_renders_without_a_display(tmp_path):
    """The report path: no DISPLAY, no Qt, no GL; a PNG comes out."""
    script = f"""
import sys
from nvcview_sample import make_phantom
from nvcview.measure import measure_case
from nvcview.scene import build_scene, write_key_image
p = make_phantom()
ms = measure_case(p.labels, p.structures, p.landmarks, p.centreline)
scene = build_scene(p.labels, p.structures, ms, side="left", landmarks=p.landmarks)
write_key_image(scene, {str(tmp_path / "key.png")!r})
bad = [m for m in sys.modules if m.split(".")[0] in ("PyQt6", "PyQt5", "vispy", "napari", "OpenGL")]
print(bad)
"""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "sample_data"), env.get("PYTHONPATH", "")]
    )
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().replace("'", '"')) == []
    from matplotlib import image as mpimg

    img = mpimg.imread(tmp_path / "key.png")
    assert img.shape[:2] == (700, 900) and img[..., :3].std() > 0.05
