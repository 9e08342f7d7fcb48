"""Edits after the first save: brush, landmark drag, autosave, final, report export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME, LANDMARKS_NAME

from nvcview.review.store import load_labels, load_review


def _aica_gap(widget) -> float:
    return next(float(r["gap mm"]) for r in widget.measurement_rows() if r["type"] == "AICA")


@pytest.mark.gui
def test_brush_drag_autosave_final_export(make_napari_viewer, qtbot, tmp_path, sample_study):
    paths, truth_doc = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)  # the ground-truth review on disk
    assert session is not None, widget.last_error
    truth_labels = session.labels.copy()
    widget.reader_edit.setText("dr-b")
    folder = tmp_path / "review"
    assert widget.save(folder) is not None, widget.last_error
    first = json.loads((folder / "review.json").read_text())
    gap0 = _aica_gap(widget)
    truth = next(v for v in truth_doc["vessels"] if v["vessel_type"] == "AICA")
    assert abs(gap0 - truth["gap_mm"]) <= 0.3

    # deleted helper layers come back when needed
    viewer.layers.remove(LANDMARKS_NAME)
    viewer.layers.remove(LABELS_NAME)
    widget.place_landmark("RExP", np.asarray(truth_doc["landmarks"]["RExP"]))
    assert len(viewer.layers[LANDMARKS_NAME].data) == 3
    session.events.labels.emit(box=None)  # what every core edit (grow, tube, delete) emits
    assert viewer.layers[LABELS_NAME].data.max() == max(x.label for x in session.structures)

    # landmarks are placed on 2D slices only: a 3D click is refused
    viewer.dims.ndisplay = 3
    widget.set_mode("landmark")
    widget.landmark_combo.setCurrentText("flocculus")
    widget._on_click(viewer, np.zeros(3))
    assert "2D" in widget.last_error and "flocculus" not in session.review.landmarks
    viewer.dims.ndisplay = 2
    widget.set_mode("off")

    # a seed in plain CSF grows nothing and says why
    n_structures = len(session.structures)
    csf = np.asarray(truth_doc["landmarks"]["RDP"]) + [3.0, 3.0, 0.0]
    assert widget.grow_vessel(csf, "PICA", background=False) is None
    assert "no vessel" in widget.last_error  # grow_vessels: nothing above the local threshold
    assert len(session.structures) == n_structures

    # brush: erase the AICA around its closest point (3D brush) -> the gap grows
    layer = viewer.layers[LABELS_NAME]
    m = next(x for x in widget.measurements if x.vessel_type == "AICA")
    world = np.asarray(m.vessel_point_lps)[::-1]
    coord = layer.world_to_data(world)
    layer.n_edit_dimensions = 3
    layer.brush_size = 12
    layer.mode = "erase"
    layer.paint(coord, 0)
    assert (session.labels == m.vessel_label).sum() < (truth_labels == m.vessel_label).sum()
    qtbot.waitUntil(lambda: _aica_gap(widget) > gap0 + 0.3, timeout=120_000)

    # autosave after the edit: the labels on disk follow the brush
    def saved_labels_changed() -> bool:
        r = load_review(folder)
        return r.modified != first["modified"] and np.array_equal(
            load_labels(r, folder).array, session.labels
        )

    qtbot.waitUntil(saved_labels_changed, timeout=120_000)

    # moving a landmark in its points layer (a drag) moves it in the review
    lm = viewer.layers[LANDMARKS_NAME]
    names = list(lm.features["name"])
    i = names.index("RDP")
    moved = lm.data.copy()
    moved[i, 2] += 1.0  # 1 mm towards the patient's left
    lm.data = moved
    rdp_x = truth_doc["landmarks"]["RDP"][0] + 1.0
    assert np.isclose(session.review.landmarks["RDP"][0], rdp_x)
    assert widget.landmark_table.item(i, 1).text() == f"{rdp_x:.1f}"

    # report export (JSON + HTML) from the widget
    out = widget.export_report(tmp_path / "report", formats=("json", "html"))
    assert {"json", "html"} <= set(out), widget.last_error
    assert out["json"].stat().st_size > 0 and out["html"].stat().st_size > 0
    assert "AICA" in out["html"].read_text(encoding="utf-8")

    # final: saved as final, later saves refused (and autosave stops)
    widget.final_check.setChecked(True)  # signing off saves the final review
    assert load_review(folder).status == "final", widget.last_error
    widget.impression_edit.setPlainText("changed after sign-off")
    assert widget.save() is None
    assert "final" in widget.last_error
    assert load_review(folder).impression != "changed after sign-off"
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
