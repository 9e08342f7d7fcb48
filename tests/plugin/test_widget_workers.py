"""Worker-thread tools report their errors in the status line, never as a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget


@pytest.mark.gui
def test_background_grow_in_csf_reports_without_raising(make_napari_viewer, qtbot, sample_study):
    """A seed click in plain CSF (worker thread, the default) is a status message,
    not an exception re-raised into napari's console."""
    paths, truth_doc = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)
    assert session is not None, widget.last_error
    n_structures = len(session.structures)
    csf = np.asarray(truth_doc["landmarks"]["RDP"]) + [3.0, 3.0, 0.0]
    assert widget.grow_vessel(csf, "PICA") is not None  # the worker
    qtbot.waitUntil(lambda: widget.idle, timeout=10000)
    assert "no bright vessel" in widget.last_error
    assert len(session.structures) == n_structures
