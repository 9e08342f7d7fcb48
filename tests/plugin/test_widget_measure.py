"""The measurement table never shows another case's rows."""

from __future__ import annotations

import pytest
from napari_nvcview._widget import ReviewWidget


@pytest.mark.gui
def test_background_measurement_of_a_closed_case_is_dropped(
    make_napari_viewer, qtbot, sample_study
):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(paths.review_dir) is not None, widget.last_error
    assert widget.measurement_rows()  # the truth review has vessels

    # an edit's measurement is running when the reader opens a blank study
    widget.measure_in_background()
    blank = widget.open_path(paths.t2_dir.parent)
    assert blank is not None, widget.last_error
    assert blank.structures == []
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert widget.measurement_rows() == []
    assert widget.measurements == []
    assert len(viewer.layers["closest points"].data) == 0
