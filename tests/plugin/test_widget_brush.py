"""Undoing a brush stroke (Ctrl+Z in the labels layer) is an edit like the stroke."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME

from nvcview.review.store import load_labels, load_review


def _aica_gap(widget) -> float:
    return next(float(r["gap mm"]) for r in widget.measurement_rows() if r["type"] == "AICA")


@pytest.mark.gui
def test_undo_of_a_stroke_remeasures_and_autosaves(
    make_napari_viewer, qtbot, tmp_path, sample_study
):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)
    assert session is not None, widget.last_error
    truth = session.labels.copy()
    folder = tmp_path / "review"
    assert widget.save(folder) is not None, widget.last_error
    gap0 = _aica_gap(widget)

    layer = viewer.layers[LABELS_NAME]
    m = next(x for x in widget.measurements if x.vessel_type == "AICA")
    layer.n_edit_dimensions = 3
    layer.brush_size = 12
    layer.mode = "erase"
    layer.paint(layer.world_to_data(np.asarray(m.vessel_point_lps)[::-1]), 0)
    qtbot.waitUntil(lambda: _aica_gap(widget) > gap0 + 0.3, timeout=120_000)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert not np.array_equal(load_labels(load_review(folder), folder).array, truth)

    layer.undo()  # what Ctrl+Z does
    assert np.array_equal(session.labels, truth)
    qtbot.waitUntil(lambda: abs(_aica_gap(widget) - gap0) < 1e-6, timeout=120_000)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert np.array_equal(load_labels(load_review(folder), folder).array, truth)
