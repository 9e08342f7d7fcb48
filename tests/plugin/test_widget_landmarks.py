"""A point added with the landmarks layer's own tool does not move a landmark."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LANDMARKS_NAME


@pytest.mark.gui
def test_point_added_by_the_layer_tool_leaves_the_landmarks(make_napari_viewer, sample_study):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)
    assert session is not None, widget.last_error
    before = {k: list(v) for k, v in session.review.landmarks.items()}
    lm = viewer.layers[LANDMARKS_NAME]
    lm.add(np.array([[0.0, 0.0, 0.0]]))  # the points layer's "add points" tool
    assert session.review.landmarks == before
    assert len(lm.data) == len(before)
    # a drag afterwards still moves the dragged landmark only
    names = list(lm.features["name"])
    moved = lm.data.copy()
    moved[names.index("RExP"), 2] += 1.0
    lm.data = moved
    assert np.isclose(session.review.landmarks["RExP"][0], before["RExP"][0] + 1.0)
    assert session.review.landmarks["IAC"] == before["IAC"]
