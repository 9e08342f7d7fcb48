"""The Segment panel driven by clicks on the sample study (Xvfb, napari).

Each test opens its own copy of the sample review; tools run synchronously
(``background_tools = False``) so nothing races the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME
from napari_nvcview.segment_panel import PREVIEW_NAME
from qtpy.QtCore import QPoint, Qt

from nvcview.io.image import index_to_lps
from nvcview.structures import VESSEL_COLORS

from .conftest import click_world, lps_world

SHOTS = Path("/tmp/nvcview-shots")


def _open_copy(make_napari_viewer, sample_study, name: str):
    paths, truth = sample_study
    dst = paths.review_dir.parent / f"review-segment-{name}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(paths.review_dir, dst)
    viewer = make_napari_viewer(show=True)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review")
    viewer.window.resize(1400, 900)
    widget.background_tools = False
    session = widget.open_path(dst)
    assert session is not None, widget.last_error
    widget.tabs.setCurrentWidget(widget.segment_panel)
    return viewer, widget, session, truth


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _row_of(panel, label: int) -> int:
    t = panel.structure_table
    return next(i for i in range(t.rowCount()) if t.item(i, 0).text() == str(label))


def _delete(qtbot, panel, label: int) -> None:
    t = panel.structure_table
    item = t.item(_row_of(panel, label), 1)
    qtbot.mouseClick(t.viewport(), Qt.MouseButton.LeftButton, pos=t.visualItemRect(item).center())
    assert panel.selected_label() == label
    _click(qtbot, next(b for b in panel.findChildren(type(panel.undo_button))
                       if b.text() == "Delete selected"))  # fmt: skip


def _vessel(session, vtype: str):
    return next(s for s in session.structures if s.kind == "vessel" and s.vessel_type == vtype)


def _seed(truth, vtype: str) -> np.ndarray:
    return np.asarray(next(v for v in truth["vessels"] if v["vessel_type"] == vtype)[
        "vessel_axis_point_lps"], float)  # fmt: skip


def _tick(qtbot, box, on: bool) -> None:
    """Click a check box (as a reader would) until it reads ``on``."""
    if box.isChecked() != on:
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked() == on


def _grow_by_click(qtbot, viewer, widget, vtype: str, seed_lps) -> None:
    panel = widget.segment_panel
    panel.vessel_type_combo.setCurrentText(vtype)
    _click(qtbot, panel.grow_button)
    assert widget.mode == "vessel"
    click_world(viewer, lps_world(seed_lps))


def _rows(widget, qtbot) -> list[dict[str, str]]:
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    return widget.measurement_rows()


@pytest.mark.gui
def test_seed_grow_row_undo_redo_and_the_mode_disarms(
    make_napari_viewer, qtbot, sample_study, tmp_path
):
    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "grow")
    panel = widget.segment_panel
    truth_aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
    _delete(qtbot, panel, _vessel(s, "AICA").label)
    assert "AICA" not in [r["type"] for r in _rows(widget, qtbot)]
    without = s.labels.copy()
    # preview is on by default; one-click grow: untick it
    assert panel.preview_check.isChecked()
    _tick(qtbot, panel.preview_check, False)

    _grow_by_click(qtbot, viewer, widget, "AICA", truth_aica["vessel_axis_point_lps"])
    aica = _vessel(s, "AICA")
    assert widget.mode == "off"  # one seed, one grow
    row = next(r for r in _rows(widget, qtbot) if r["type"] == "AICA")
    gap, res = float(row["gap mm"]), float(row["res. mm"])
    assert abs(gap - truth_aica["gap_mm"]) <= max(0.25, 0.6 * res), (gap, truth_aica["gap_mm"])
    grown = s.labels.copy()
    # the grow took only free voxels: every other structure keeps all of its voxels
    others = (without > 0) & (without != aica.label)
    assert np.array_equal(grown[others], without[others])
    # the next click (mode disarmed) grows nothing
    n = len(s.structures)
    click_world(viewer, lps_world(_seed(truth, "PICA")))
    assert len(s.structures) == n and np.array_equal(s.labels, grown)

    # the legend and the grown vessel, for the eye
    viewer.dims.set_point(0, truth_aica["vessel_axis_point_lps"][2])
    SHOTS.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(tmp_path / "segment-panel.png"), canvas_only=False)
    shutil.copy(tmp_path / "segment-panel.png", SHOTS / "segment-panel.png")

    assert panel.undo_button.text() == "Undo grow AICA"
    _click(qtbot, panel.undo_button)
    assert np.array_equal(s.labels, without)
    assert "AICA" not in [panel.structure_table.item(i, 3).text()
                          for i in range(panel.structure_table.rowCount())]  # fmt: skip
    # redo with the keyboard, as a reader would (Ctrl+Shift+Z on the canvas)
    canvas = viewer.window._qt_viewer.canvas._scene_canvas.native
    canvas.setFocus()
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(canvas, Qt.Key.Key_Z, mods)
    assert np.array_equal(s.labels, grown)
    assert _vessel(s, "AICA").label == aica.label
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(s.labels, without)


@pytest.mark.gui
def test_a_second_grow_does_not_take_the_first_vessels_voxels(
    make_napari_viewer, qtbot, sample_study
):
    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "second")
    panel = widget.segment_panel
    aff = s.reference.affine
    # the basilar's seed: its own voxel nearest its centre (its point nearest the nerve
    # lies at the vertebral confluence, labelled VA)
    pts = index_to_lps(aff, np.argwhere(s.labels == _vessel(s, "basilar").label))
    basilar_seed = pts[np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1))]
    truth_aica = s.labels == _vessel(s, "AICA").label
    for vtype in ("AICA", "basilar"):
        _delete(qtbot, panel, _vessel(s, vtype).label)
    _tick(qtbot, panel.preview_check, False)  # one-click grows
    # a length limit keeps the AICA grow out of its parent basilar
    panel.length_spin.setValue(12.0)
    _grow_by_click(qtbot, viewer, widget, "AICA", _seed(truth, "AICA"))
    aica = s.labels == _vessel(s, "AICA").label
    assert aica.sum() > 30 and (aica & truth_aica).sum() > 0.85 * aica.sum()
    panel.length_spin.setValue(0.0)  # no limit
    _grow_by_click(qtbot, viewer, widget, "basilar", basilar_seed)
    basilar = s.labels == _vessel(s, "basilar").label
    assert basilar.sum() > 30, widget.last_error
    assert np.array_equal(s.labels == _vessel(s, "AICA").label, aica)  # not one voxel taken
    assert not (basilar & aica).any()


@pytest.mark.gui
def test_preview_cancel_leaves_labels_and_accept_adds(make_napari_viewer, qtbot, sample_study):
    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "preview")
    panel = widget.segment_panel
    _delete(qtbot, panel, _vessel(s, "AICA").label)
    before = s.labels.copy()
    n = len(s.structures)
    assert panel.preview_check.isChecked()  # the default: preview before adding
    _grow_by_click(qtbot, viewer, widget, "AICA", _seed(truth, "AICA"))
    assert PREVIEW_NAME in viewer.layers and panel.pending is not None
    n_preview = int(panel.pending[2].sum())
    assert n_preview > 30 and np.array_equal(s.labels, before) and len(s.structures) == n
    _click(qtbot, panel.cancel_button)
    assert PREVIEW_NAME not in viewer.layers and panel.pending is None
    assert np.array_equal(s.labels, before) and len(s.structures) == n

    _grow_by_click(qtbot, viewer, widget, "AICA", _seed(truth, "AICA"))
    panel.fraction_spin.setValue(0.8)  # a higher threshold: a thinner vessel
    _click(qtbot, panel.repreview_button)
    assert 0 < int(panel.pending[2].sum()) < n_preview
    assert np.array_equal(s.labels, before)
    _click(qtbot, panel.accept_button)
    assert PREVIEW_NAME not in viewer.layers
    assert (s.labels == _vessel(s, "AICA").label).sum() > 0 and len(s.structures) == n + 1


@pytest.mark.gui
def test_scissors_keep_the_clicked_island(make_napari_viewer, qtbot, sample_study):
    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "scissors")
    panel = widget.segment_panel
    aff = s.reference.affine
    # the vessel running most in the axial plane (an axial cut line crosses it)
    best = None
    for st in (x for x in s.structures if x.kind == "vessel"):
        pts = index_to_lps(aff, np.argwhere(s.labels == st.label))
        c = pts.mean(axis=0)
        axis = np.linalg.svd(pts - c, full_matrices=False)[2][0]
        if best is None or abs(axis[2]) < abs(best[2][2]):
            best = (st, pts, axis)
    st, pts, axis = best
    mid = pts[np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1))]
    along = np.array([axis[0], axis[1], 0.0]) / np.linalg.norm(axis[:2])
    across = np.array([-along[1], along[0], 0.0])
    keep = pts[np.argmin(np.linalg.norm(pts - (mid + 3.0 * along), axis=1))]
    n0 = int((s.labels == st.label).sum())
    _click(qtbot, panel.scissors_button)
    for p in (mid - 6 * across, mid + 6 * across, keep):
        assert widget.mode == "scissors"
        click_world(viewer, lps_world(p))
    assert widget.mode == "off", widget.last_error  # disarmed after the cut
    left = index_to_lps(aff, np.argwhere(s.labels == st.label))
    assert 0 < len(left) < n0, widget.last_error
    side = (left - mid) @ along
    assert side.min() > -1.0  # nothing kept beyond the cut
    assert (((pts - mid) @ along) < -1.5).any()  # there was vessel beyond it
    _click(qtbot, panel.undo_button)
    assert int((s.labels == st.label).sum()) == n0


@pytest.mark.gui
def test_nerve_from_landmarks_and_the_coverage_warning(make_napari_viewer, qtbot, sample_study):
    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "nerve")
    panel = widget.segment_panel
    nerve = next(x for x in s.structures if x.kind == "nerve" and x.nerve == "VII")
    truth_nerve = s.labels == nerve.label
    _click(qtbot, panel.cn7_button)
    got = s.labels == nerve.label
    dice = 2 * (got & truth_nerve).sum() / (got.sum() + truth_nerve.sum())
    assert dice > 0.75, dice
    assert panel.undo_button.text() == "Undo segment CN VII"
    _rows(widget, qtbot)
    assert panel.coverage_warning == "" and panel.coverage_label.isHidden()

    # erase the nerve around the RExP with the brush: the warning names the segment
    layer = viewer.layers[LABELS_NAME]
    layer.n_edit_dimensions = 3
    layer.brush_size = 14
    layer.mode = "erase"
    layer.paint(layer.world_to_data(lps_world(truth["landmarks"]["RExP"])), 0)
    qtbot.waitUntil(lambda: "(RExP)" in panel.coverage_warning, timeout=120_000)
    assert not panel.coverage_label.isHidden()
    assert "does not cover" in panel.coverage_warning
    _click(qtbot, panel.undo_button)  # the erase
    _rows(widget, qtbot)
    assert panel.coverage_warning == ""


@pytest.mark.gui
def test_add_structure_colour_legend_and_no_orphan_paint(make_napari_viewer, qtbot, sample_study):
    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "add")
    panel = widget.segment_panel
    n = panel.structure_table.rowCount()
    panel.add_kind.setCurrentText("vessel")
    panel.add_type.setCurrentText("vein")
    qtbot.keyClicks(panel.add_name, "left petrosal vein")
    _click(qtbot, panel.add_button)
    assert panel.structure_table.rowCount() == n + 1
    label, name, rgb = panel.legend()[-1]
    assert name == "left petrosal vein"
    # the sample has a vein already (the vein colour): the new one gets its own
    new = s.structure(label)
    old_vein = next(x for x in s.structures if x.vessel_type == "vein" and x.label != label)
    assert old_vein.color == VESSEL_COLORS["vein"] and new.color != old_vein.color
    assert rgb == tuple(int(round(255 * c)) for c in new.color)
    layer = viewer.layers[LABELS_NAME]
    assert np.allclose(layer.colormap.map(label)[:3], new.color, atol=1e-3)
    assert layer.selected_label == label  # the brush paints the new structure

    # painting a value with no structure is taken back, and the panel asks what it is
    before = s.labels.copy()
    layer.n_edit_dimensions = 3
    layer.brush_size = 4
    layer.mode = "paint"
    layer.selected_label = 77
    layer.paint(layer.world_to_data(lps_world(truth["landmarks"]["IAC"])), 77)
    qtbot.waitUntil(
        lambda: "label 77 has no structure" in widget.last_error.lower(), timeout=120_000
    )
    assert np.array_equal(s.labels, before) and not (np.asarray(layer.data) == 77).any()
    assert panel.add_label.value() == 77 and s.orphan_labels() == []


@pytest.mark.gui
def test_dragging_a_landmark_is_one_undo_step_and_the_measurement_follows(
    make_napari_viewer, qtbot, sample_study
):
    from napari_nvcview.layers import LANDMARKS_NAME

    from .conftest import _canvas_widget, _world_to_canvas, drag_canvas

    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "landmark")
    panel = widget.segment_panel
    aica = _vessel(s, "AICA").label

    def dist_from_rdp() -> float:
        return next(m.dist_from_rdp_mm for m in s.measure() if m.vessel_label == aica)

    rdp0 = list(s.review.landmarks["RDP"])
    d0 = dist_from_rdp()
    lm = viewer.layers[LANDMARKS_NAME]
    viewer.layers.selection.active = lm
    lm.mode = "select"
    world = lps_world(rdp0)
    for d in (d for d in range(3) if d not in viewer.dims.displayed):
        viewer.dims.set_point(d, world[d])
    canvas = _canvas_widget(viewer)
    x, y = (int(round(v)) for v in _world_to_canvas(viewer, canvas, world))
    n_before = len(s.history._done)
    drag_canvas(viewer, (x, y), (x + 40, y))  # five mouse moves, one drag
    moved = np.asarray(s.review.landmarks["RDP"])
    assert np.linalg.norm(moved - rdp0) > 1.0, "the drag did not move the RDP"
    assert len(s.history._done) == n_before + 1  # one step for the whole drag
    assert panel.undo_button.text() == "Undo move RDP"
    d1 = dist_from_rdp()
    assert abs(d1 - d0) > 0.3, (d0, d1)

    _click(qtbot, panel.undo_button)
    assert s.review.landmarks["RDP"] == rdp0
    names = list(lm.features["name"])
    assert np.allclose(lm.data[names.index("RDP")], lps_world(rdp0))  # the point went back
    assert dist_from_rdp() == pytest.approx(d0)
    # Ctrl+Shift+Z on the canvas redoes the move
    canvas.setFocus()
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(canvas, Qt.Key.Key_Z, mods)
    assert np.allclose(s.review.landmarks["RDP"], moved)


@pytest.mark.gui
def test_two_vessels_of_one_type_have_their_own_colour_everywhere(
    make_napari_viewer, qtbot, sample_study, tmp_path
):
    from nvcview.structures import TOF_SCREEN_COLORS, color_difference

    viewer, widget, s, truth = _open_copy(make_napari_viewer, sample_study, "colours")
    panel = widget.segment_panel
    first = _vessel(s, "AICA")
    # a second AICA grown from a click on the PICA (one-click grow, typed AICA)
    _tick(qtbot, panel.preview_check, False)
    _delete(qtbot, panel, _vessel(s, "PICA").label)
    _grow_by_click(qtbot, viewer, widget, "AICA", _seed(truth, "PICA"))
    second = [x for x in s.structures if x.vessel_type == "AICA" and x.label != first.label]
    assert len(second) == 1, widget.last_error
    second = second[0]
    assert first.color == VESSEL_COLORS["AICA"]
    assert color_difference(first.color, second.color) > 15
    assert min(color_difference(second.color, t) for t in TOF_SCREEN_COLORS) > 30
    layer = viewer.layers[LABELS_NAME]
    for st in (first, second):
        # the labels layer and the legend swatch read the structure's colour
        assert np.allclose(layer.colormap.map(st.label)[:3], st.color, atol=1e-3)
        swatch = next(c for lab, _, c in panel.legend() if lab == st.label)
        assert np.allclose(np.asarray(swatch) / 255, st.color, atol=1 / 255)
    # stable across save and reopen
    folder = widget.save()
    assert folder is not None, widget.last_error
    back = widget.open_path(folder)
    assert back is not None, widget.last_error
    assert back.structure(second.label).color == pytest.approx(second.color, abs=1e-4)
    layer = viewer.layers[LABELS_NAME]
    assert np.allclose(layer.colormap.map(second.label)[:3], second.color, atol=1e-3)
    viewer.dims.set_point(0, _seed(truth, "PICA")[2])
    viewer.screenshot(str(tmp_path / "colours.png"), canvas_only=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "colours.png", SHOTS / "segment-colours.png")
