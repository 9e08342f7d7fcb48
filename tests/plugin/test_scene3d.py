"""The 3D scene in napari: layers, heat map, camera presets on rendered pixels, edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from napari_nvcview.scene3d import PAIRS_NAME, scene3d_for, show_scene3d

from nvcview.display import lps_to_world
from nvcview.io.image import make_volume
from nvcview.measure import measure_case
from nvcview.scene import view
from nvcview.structures import Structure

SHOTS = Path("/tmp/nvcview-shots")


def _balls():
    """An AICA ball on the patient's left and a vein ball on the right (table colours)."""
    shape = (40, 60, 30)
    aff = np.eye(4)
    aff[:3, :3] = np.diag([0.8, 0.8, 0.8])
    aff[:3, 3] = -np.array(shape) * 0.4
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    xyz = idx @ aff[:3, :3].T + aff[:3, 3]
    lab = np.zeros(shape, np.uint8)
    lab[np.linalg.norm(xyz - [9, 0, 0], axis=-1) < 4] = 1
    lab[np.linalg.norm(xyz - [-9, 0, 0], axis=-1) < 4] = 2
    structures = [
        Structure(1, "left ball (AICA)", "vessel", vessel_type="AICA"),
        Structure(2, "right ball (vein)", "vessel", vessel_type="vein"),
    ]
    return make_volume(lab, aff), structures


def _centroid_x(shot: np.ndarray, colour: str) -> float:
    from nvcview.structures import VESSEL_COLORS

    rgb = shot[..., :3].astype(float)
    want = np.asarray(VESSEL_COLORS["AICA" if colour == "red" else "vein"])
    want = want / np.linalg.norm(want)
    norm = np.linalg.norm(rgb, axis=-1) + 1e-9
    mask = (norm > 80) & ((rgb @ want) / norm > 0.99)  # the table colour, shaded
    cols = np.nonzero(mask)[1]
    assert len(cols) > 100, f"no {colour} pixels"
    return float(cols.mean())


@pytest.mark.gui
def test_anterior_view_shows_the_left_structure_on_the_screen_right(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(800, 600)
    labels, structures = _balls()
    ctl = show_scene3d(viewer, labels, structures, view_name="A")
    shot = viewer.screenshot(canvas_only=True)
    # anterior view: the patient's left (AICA ball) on the screen's right of the right one
    assert _centroid_x(shot, "red") > _centroid_x(shot, "blue") + 50
    ctl.set_view("P")
    shot = viewer.screenshot(canvas_only=True)
    assert _centroid_x(shot, "red") + 50 < _centroid_x(shot, "blue")
    cam = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    assert cam.orientation[0] == "away" and viewer.dims.ndisplay == 3


@pytest.mark.gui
def test_sample_case_in_3d(make_napari_viewer):
    from nvcview_sample import make_phantom

    p = make_phantom(gap_mm=0.5)
    ms = measure_case(p.labels, p.structures, p.landmarks, p.centreline)
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1000, 750)
    ctl = show_scene3d(viewer, p.labels, p.structures, ms, side="left", landmarks=p.landmarks)
    surfaces = [ly for ly in viewer.layers if type(ly).__name__ == "Surface"]
    assert len(surfaces) == len(p.structures)
    nerve = next(ly for ly in surfaces if "gap to nearest vessel" in ly.name)
    assert nerve.colormap.name == "plasma" and nerve.colorbar.visible
    assert abs(float(np.min(nerve.data[2])) - min(m.gap_mm for m in ms)) <= 0.01
    # the closest-point pair of the AICA contact, in world (S, P, L) mm
    aica = next(m for m in ms if m.vessel_type == "AICA")
    vec = viewer.layers[PAIRS_NAME].data
    starts = vec[:, 0]
    assert np.min(np.linalg.norm(starts - lps_to_world(aica.nerve_point_lps), axis=1)) < 1e-6
    # retrosigmoid preset: the camera looks along the preset's direction
    cam = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    want = lps_to_world(view("retrosigmoid", "left").sight)
    np.testing.assert_allclose(np.asarray(cam.view_direction), want, atol=1e-6)
    SHOTS.mkdir(exist_ok=True)
    shot = viewer.screenshot(str(SHOTS / "scene3d-retrosigmoid.png"), canvas_only=False)
    assert shot[..., :3].std() > 10, "blank 3D screenshot"
    assert ctl.scene is not None and ctl.scene.side == "left"
    # the TOF as a maximum intensity projection in the same world
    from napari_nvcview.layers import image_layer

    data, kw, _ = image_layer(p.tof, "TOF")
    tof = viewer.add_image(data, **kw)
    ctl.set_mip(tof)
    assert tof.rendering == "mip"


@pytest.mark.gui
def test_an_edit_resends_only_the_edited_surface(make_napari_viewer):
    from nvcview_sample import make_phantom

    p = make_phantom()
    arr = np.asarray(p.labels.array).copy()
    labels = make_volume(arr, p.labels.affine)
    viewer = make_napari_viewer(show=False)
    ctl = show_scene3d(viewer, labels, p.structures, view_name=None)
    events: dict[str, int] = {}
    for ly in viewer.layers:
        if type(ly).__name__ == "Surface":
            ly.events.data.connect(lambda e, n=ly.name: events.__setitem__(n, events.get(n, 0) + 1))
    pica = next(s for s in p.structures if s.vessel_type == "PICA")
    i, j, k = np.argwhere(arr == pica.label)[0]
    block = arr[i : i + 3, j : j + 3, k : k + 3]
    block[block == 0] = pica.label
    ctl.update(labels, p.structures)
    changed = set(events)
    assert any("PICA" in n for n in changed)
    assert ctl.builder.last_meshed == [pica.label]
    # the nerve's heat map depends on every vessel: it is the only other layer re-sent
    assert all("PICA" in n or "gap to nearest vessel" in n for n in changed), changed
    assert scene3d_for(viewer) is ctl
