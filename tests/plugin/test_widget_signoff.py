"""Marking a review final writes the signed review; closing the viewer loses nothing."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget

from nvcview.review.store import load_review


@pytest.mark.gui
def test_mark_final_then_close_keeps_the_sign_off(make_napari_viewer, qtbot, sample_study):
    import shutil

    paths, _ = sample_study
    # a copy beside the truth review (its relative series paths still resolve)
    folder = paths.review_dir.parent / "review_final_close"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(folder) is not None, widget.last_error
    assert widget.save() is not None, widget.last_error

    widget.place_landmark("RDP", np.array([4.0, 5.0, 6.0]))
    widget.impression_edit.setPlainText("AICA contact, grade 2")
    widget.final_check.setChecked(True)  # signed off, then the viewer closed, no Save
    qtbot.waitUntil(lambda: widget.idle, timeout=10000)
    viewer.close()
    saved = load_review(folder)
    assert saved.status == "final"
    assert saved.landmarks["RDP"] == [4.0, 5.0, 6.0]
    assert saved.impression == "AICA contact, grade 2"


@pytest.mark.gui
def test_mark_final_without_folder_is_not_signed_off_silently(
    make_napari_viewer, qtbot, sample_study, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(paths.t2_dir) is not None, widget.last_error
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")  # cancelled
    widget.final_check.setChecked(True)
    assert not widget.final_check.isChecked()
    assert widget.session.review.status == "draft"
    assert "Not signed off" in widget.status.text()
    qtbot.waitUntil(lambda: widget.idle, timeout=10000)
