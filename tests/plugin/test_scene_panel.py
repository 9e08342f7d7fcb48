"""The review widget's 3D panel driven by clicks on the phantom review (Xvfb, napari)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME
from napari_nvcview.scene3d import PAIRS_NAME, scene3d_for
from qtpy.QtCore import Qt

from nvcview.display import lps_to_world
from nvcview.scene import view

SHOTS = Path("/tmp/nvcview-shots")


def _surfaces(viewer) -> dict[int, object]:
    return {
        ly.metadata["nvcview"]["label"]: ly
        for ly in viewer.layers
        if type(ly).__name__ == "Surface" and ly.visible
    }


def _camera(viewer):
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def _nerve_pixels(viewer, nerve) -> tuple[int, int, int]:
    """Pixels the nerve's surface draws: (all, near-contact hues, far hues).

    Compares the canvas with the nerve shown and hidden (its colour bar off);
    the heat map (plasma, 0-3 mm) is red-orange near the contact (red above
    1.5 x green, redder than the AICA's orange) and yellow away from it.
    """
    nerve.colorbar.visible = False  # its legend has the same hues
    shown = viewer.screenshot(canvas_only=True)[..., :3].astype(float)
    nerve.visible = False
    hidden = viewer.screenshot(canvas_only=True)[..., :3].astype(float)
    nerve.visible = nerve.colorbar.visible = True
    changed = np.abs(shown - hidden).sum(-1) > 30
    r, g, b = shown[..., 0], shown[..., 1], shown[..., 2]
    near = changed & (r > 40) & (r > 1.5 * g)  # red-orange: the low gaps
    far = changed & (r > 40) & (g > 0.9 * r) & (b < 0.5 * g)  # yellow: 3 mm and more
    return int(changed.sum()), int(near.sum()), int(far.sum())


@pytest.mark.gui
def test_3d_toggle_presets_and_edit_update(make_napari_viewer, qtbot, sample_study, tmp_path):
    paths, truth = sample_study
    viewer = make_napari_viewer(show=True)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review")
    viewer.window.resize(1400, 900)
    # a copy beside the study (series paths are relative): the widget autosaves into it
    folder = paths.review_dir.parent / "review_scene_panel"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    session = widget.open_path(folder)
    assert session is not None, widget.last_error
    widget.side_combo.setCurrentText("left")
    assert session.review.side == "left"
    panel = widget.scene_panel
    assert not panel.preset_buttons["retrosigmoid"].isEnabled()

    # 3D view: one smooth surface per structure, the 2D label voxels hidden
    qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
    assert viewer.dims.ndisplay == 3
    surfaces = _surfaces(viewer)
    assert set(surfaces) == {s.label for s in session.structures}
    assert not viewer.layers[LABELS_NAME].visible
    nerve = next(ly for ly in surfaces.values() if "gap to nearest vessel" in ly.name)
    gaps = [m.gap_mm for m in session.measurements]
    assert abs(float(np.min(nerve.data[2])) - min(gaps)) <= 0.01

    # presets: A looks along +A (posterior-wards sight = -P), retrosigmoid for the left side
    qtbot.mouseClick(panel.preset_buttons["A"], Qt.MouseButton.LeftButton)
    cam = _camera(viewer)
    want_a = lps_to_world(view("A").sight)
    assert np.allclose(cam.view_direction, want_a / np.linalg.norm(want_a), atol=1e-3)
    qtbot.mouseClick(panel.preset_buttons["retrosigmoid"], Qt.MouseButton.LeftButton)
    want = lps_to_world(view("retrosigmoid", "left").sight)
    assert np.allclose(cam.view_direction, want / np.linalg.norm(want), atol=1e-3)
    assert not np.allclose(cam.view_direction, want_a / np.linalg.norm(want_a), atol=1e-2)
    focus = lps_to_world(scene3d_for(viewer).scene.focus_lps())
    assert np.allclose(cam.center, focus, atol=1e-6)

    qtbot.wait(100)
    img = viewer.screenshot(str(tmp_path / "scene-panel-3d.png"), canvas_only=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "scene-panel-3d.png", SHOTS / "scene-panel-3d.png")
    canvas = viewer.screenshot(canvas_only=True)
    assert canvas[..., :3].std() > 5  # not blank
    drawn, near, far = _nerve_pixels(viewer, nerve)
    assert drawn > 2000 and near > 30 and far > 1000, (drawn, near, far)
    assert img.shape[0] > canvas.shape[0]

    # TOF MIP on and off
    tof = widget._image_layers("TOF")[0]
    panel.mip_check.setChecked(True)
    assert tof.visible and tof.rendering == "mip"
    panel.mip_check.setChecked(False)
    assert not tof.visible

    # erase the AICA as the reader does (Vessels tab: select its row, delete)
    aica = next(s for s in session.structures if s.vessel_type == "AICA")
    others = {lab: ly for lab, ly in surfaces.items() if lab != aica.label}
    resent: list[int] = []
    for lab, ly in others.items():
        ly.events.data.connect(lambda _e, lab=lab: resent.append(lab))
    row = next(
        r
        for r in range(widget.structure_table.rowCount())
        if widget.structure_table.item(r, 0).text() == str(aica.label)
    )
    widget.structure_table.setCurrentCell(row, 0)
    widget._delete_selected_structure()
    qtbot.waitUntil(lambda: widget.idle and aica.label not in _surfaces(viewer), timeout=120_000)
    assert session.measured_fresh
    after = _surfaces(viewer)
    assert set(after) == {s.label for s in session.structures} == set(others)
    assert aica.label not in scene3d_for(viewer).builder.last_meshed
    # unchanged structures were not re-meshed nor re-sent (same layers, no data event);
    # only the nerve's heat map changed (its nearest vessel is gone: the gap grew)
    meshed = set(scene3d_for(viewer).builder.last_meshed)
    nerve_label = next(lab for lab, ly in after.items() if ly is nerve)
    unchanged = [lab for lab in others if lab not in meshed and lab != nerve_label]
    assert unchanged and all(after[lab] is others[lab] for lab in others)
    assert not set(resent) & set(unchanged), (resent, meshed)
    assert nerve_label in resent and nerve_label not in meshed
    assert float(np.min(nerve.data[2])) > min(gaps) + 0.1
    pairs = viewer.layers[PAIRS_NAME].data
    assert len(pairs) == len(scene3d_for(viewer).scene.shown_pairs())

    # back to 2D: surfaces hidden, slices back
    qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
    assert viewer.dims.ndisplay == 2
    assert not _surfaces(viewer)
    assert viewer.layers[LABELS_NAME].visible
    assert not panel.preset_buttons["A"].isEnabled()
