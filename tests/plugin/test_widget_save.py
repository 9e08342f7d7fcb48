"""A save right after an edit stores the measurements of the saved labels."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME

from nvcview.review.store import load_review


@pytest.mark.gui
def test_save_right_after_a_stroke_stores_its_measurements(
    make_napari_viewer, qtbot, tmp_path, sample_study
):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)
    assert session is not None, widget.last_error
    folder = tmp_path / "review"
    assert widget.save(folder) is not None, widget.last_error
    m = next(x for x in widget.measurements if x.vessel_type == "AICA")
    gap0 = m.gap_mm

    layer = viewer.layers[LABELS_NAME]
    layer.n_edit_dimensions = 3
    layer.brush_size = 12
    layer.mode = "erase"
    layer.paint(layer.world_to_data(np.asarray(m.vessel_point_lps)[::-1]), 0)
    widget.sync_labels_from_layer()  # what the paint event queues
    assert widget.save() is not None, widget.last_error  # before the 50 ms measurement
    stored = next(x for x in load_review(folder).measurements if x.vessel_type == "AICA")
    fresh = next(x for x in session.measure_full() if x.vessel_type == "AICA")
    assert stored.gap_mm > gap0 + 0.3
    assert stored.gap_mm == pytest.approx(fresh.gap_mm, abs=1e-6)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
