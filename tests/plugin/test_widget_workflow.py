"""The review workflow driven as a reader would, on the phantom study (Xvfb, napari)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import CONTACT_NAME, LABELS_NAME, LANDMARKS_NAME, camera

from nvcview.review.store import load_review
from nvcview.structures import VESSEL_COLORS

from .conftest import click_world, drag_canvas, lps_world

SHOTS = Path("/tmp/nvcview-shots")


def _dock(viewer) -> ReviewWidget:
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review")
    viewer.window.resize(1400, 900)
    return widget


def _shot(viewer, tmp_path: Path, name: str) -> np.ndarray:
    img = viewer.screenshot(str(tmp_path / name), canvas_only=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / name, SHOTS / name)
    return img


@pytest.mark.gui
def test_review_workflow_open_annotate_measure_save_reopen(
    make_napari_viewer, qtbot, sample_study, tmp_path
):
    paths, truth = sample_study
    aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")

    viewer = make_napari_viewer(show=True)
    widget = _dock(viewer)
    # 1. open the study folder (DICOM T2 + TOF) through the plugin's reader
    viewer.open(str(paths.out_dir), plugin="nvcview")
    assert widget.session is not None
    assert widget.session.t2 is not None and widget.session.tof is not None
    tof_layer = widget._image_layers("TOF")[0]
    assert tof_layer.blending == "additive"
    widget.side_combo.setCurrentText("left")
    widget.reader_edit.setText("dr-test")
    widget.reader_edit.editingFinished.emit()
    viewer.reset_view()
    qtbot.wait(50)
    assert _shot(viewer, tmp_path, "step1-open.png")[..., :3].max() > 0

    # 2. landmarks: click them on their axial slices
    widget.set_mode("landmark")
    for name in ("RExP", "RDP", "IAC"):
        widget.landmark_combo.setCurrentText(name)
        click_world(viewer, lps_world(truth["landmarks"][name]))
    got = widget.session.review.landmarks
    assert set(got) == {"RExP", "RDP", "IAC"}
    for name in got:
        # in-plane error below a pixel of the screen; through-plane: half a slice (0.5 mm)
        err = np.abs(np.asarray(got[name]) - truth["landmarks"][name])
        assert err[:2].max() < 0.15 and err[2] <= 0.26, (name, err)
    assert widget.landmark_table.rowCount() == 3
    # a drag in landmark mode pans the view and places nothing
    widget.landmark_combo.setCurrentText("flocculus")
    drag_canvas(viewer, (300, 300), (360, 330))
    assert set(widget.session.review.landmarks) == {"RExP", "RDP", "IAC"}
    assert len(viewer.layers[LANDMARKS_NAME].data) == 3
    widget.tabs.setCurrentIndex(1)
    viewer.dims.set_point(0, truth["landmarks"]["RDP"][2])
    _shot(viewer, tmp_path, "step2-landmarks.png")

    # 3. facial nerve: trace the centreline with clicks, make CN VII from it
    widget.set_mode("path")
    cl = np.asarray(truth["centreline_lps"])
    for i in np.linspace(0, len(cl) - 1, 10).astype(int):
        click_world(viewer, lps_world(cl[i]))
    assert len(widget.session.review.nerve_path_lps) == 10
    widget.tube_radius.setValue(truth["nerves"]["VII"]["radius_mm"])
    widget.nerve_from_path()
    widget.tabs.setCurrentIndex(2)
    _shot(viewer, tmp_path, "step3-nerve.png")

    # 4. vessel: click a seed on the AICA in TOF, grow it as AICA
    widget.segment_panel.preview_check.setChecked(False)  # one-click grow (preview is on)
    widget.set_mode("vessel")
    widget.vessel_type_combo.setCurrentText("AICA")
    widget.vessel_radius.setValue(8.0)
    click_world(viewer, lps_world(aica["vessel_axis_point_lps"]))
    assert widget.background_tools  # the grow runs in a worker thread
    qtbot.waitUntil(lambda: widget.busy == 0, timeout=120_000)
    vessels = [s for s in widget.session.structures if s.kind == "vessel"]
    assert [v.vessel_type for v in vessels] == ["AICA"], widget.last_error
    labels_layer = viewer.layers[LABELS_NAME]
    assert np.allclose(labels_layer.colormap.map(vessels[0].label)[:3], VESSEL_COLORS["AICA"])

    # 5. the live table refreshes after the edit (debounced): one row, the truth gap
    qtbot.waitUntil(lambda: widget.measure_table.rowCount() == 1, timeout=120_000)
    row = widget.measurement_rows()[0]
    assert row["type"] == "AICA"
    gap, res = float(row["gap mm"]), float(row["res. mm"])
    assert abs(gap - aica["gap_mm"]) <= max(0.25, 0.6 * res), (gap, aica["gap_mm"])
    # the table shows where the true gap lies (the engine's interval), and how it was
    # derived on hover; the phantom's truth is inside it
    low, high = (float(x) for x in row["interval mm"].split("-"))
    assert low <= gap <= high and low <= aica["gap_mm"] <= high, (row, aica["gap_mm"])
    cell = widget.measure_table.item(0, list(widget.measurement_rows()[0]).index("interval mm"))
    assert widget.measurements[0].uncertainty_method in cell.toolTip()
    assert row["segment"] == truth["conflict"]["segment"]
    vec = viewer.layers[CONTACT_NAME].data
    assert vec.shape == (1, 2, 3)
    assert abs(np.linalg.norm(vec[0, 1]) - gap) < 0.05  # the drawn line is the gap
    widget.measure_table.cellClicked.emit(0, 0)  # clicking the row centres the views
    m = widget.measurements[0]
    mid = lps_world((np.asarray(m.nerve_point_lps) + np.asarray(m.vessel_point_lps)) / 2)
    assert np.allclose(viewer.dims.point, mid, atol=0.5)
    assert np.allclose(camera(viewer).center[-2:], mid[1:], atol=0.01)
    # the three planes through the contact are rendered (worker thread) in the tab
    qtbot.waitUntil(lambda: widget.busy == 0, timeout=120_000)
    for name in ("axial", "coronal", "nerve"):
        pix = widget.plane_views[name].pixmap()
        assert pix is not None and not pix.isNull() and pix.width() > 100, name
    widget.tabs.setCurrentIndex(4)  # Measure tab, for the screenshot
    img = _shot(viewer, tmp_path, "step5-measured.png")
    assert img[..., :3].max() > 0
    # the vessel, its gap, interval and suggested grade are read without scrolling
    t = widget.measure_table
    last = list(widget.measurement_rows()[0]).index("suggested")
    right = t.columnViewportPosition(last) + t.columnWidth(last)
    assert 0 < right <= t.viewport().width(), (right, t.viewport().width())

    # 6. reader's call and impression, then save (autosave target) and mark final
    widget.measure_table.setCurrentCell(0, 0)
    widget.grade_combo.setCurrentText("contact")
    widget.confidence_combo.setCurrentText("high")
    widget.comment_edit.setText("AICA loop at the AS")
    widget._record_selected_call()
    widget.impression_edit.setPlainText("AICA near CN VII at the attached segment.")
    widget.va_combo.setCurrentText("right")
    # picking the vessel in the structure table makes it the brush label
    row = [
        widget.structure_table.item(i, 0).text() for i in range(widget.structure_table.rowCount())
    ]
    widget.structure_table.cellClicked.emit(row.index(str(vessels[0].label)), 0)
    assert labels_layer.selected_label == vessels[0].label
    folder = tmp_path / "review-dr-test"
    assert widget.save(folder) is not None, widget.last_error
    saved = load_review(folder)
    assert saved.reader == "dr-test" and saved.side == "left" and saved.va_dominance == "right"
    assert saved.call_for(vessels[0].label).grade == "contact"
    assert len(saved.measurements) == 1

    # 7. reopen in a fresh viewer: the same review comes back
    viewer2 = make_napari_viewer(show=True)
    widget2 = _dock(viewer2)
    viewer2.open(str(folder), plugin="nvcview")
    s1, s2 = widget.session, widget2.session
    assert s2 is not None and s2 is not s1
    assert np.array_equal(s2.labels, s1.labels)
    assert [x.to_dict() for x in s2.structures] == [x.to_dict() for x in s1.structures]
    for name, p in s1.review.landmarks.items():
        assert np.allclose(s2.review.landmarks[name], p)
    assert np.allclose(s2.review.nerve_path_lps, s1.review.nerve_path_lps)
    assert s2.review.impression == s1.review.impression
    assert widget2.reader_edit.text() == "dr-test" and widget2.va_combo.currentText() == "right"
    assert widget2.measurement_rows() == widget.measurement_rows()
    assert len(viewer2.layers[LANDMARKS_NAME].data) == 3
    # one labels layer, the widget's, showing the reopened label map
    assert [lyr.name for lyr in viewer2.layers if lyr._type_string == "labels"] == [LABELS_NAME]
    assert viewer2.layers[LABELS_NAME].data.max() == max(x.label for x in s2.structures)
    order = [lyr.name for lyr in viewer2.layers]
    assert order[2] == LABELS_NAME and order.index(CONTACT_NAME) > 2  # T2, TOF, labels, marks
    _shot(viewer2, tmp_path, "step7-reopened.png")
    qtbot.waitUntil(lambda: widget.idle and widget2.idle, timeout=120_000)
