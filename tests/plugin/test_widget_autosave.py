"""Autosave lands in the folder of the review being edited, never in another one."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget

from nvcview.review.store import load_review


def _copy_review(paths, name: str):
    """A copy of the truth review beside it (its relative series paths still resolve)."""
    dst = paths.review_dir.parent / name
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(paths.review_dir, dst)
    return dst


@pytest.mark.gui
def test_review_opened_by_reader_autosaves_into_its_own_folder(
    make_napari_viewer, qtbot, sample_study
):
    paths, _ = sample_study
    a, b = _copy_review(paths, "review_a_reader"), _copy_review(paths, "review_b_reader")
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(a) is not None, widget.last_error
    widget.reader_edit.setText("dr-a")
    assert widget.save() is not None, widget.last_error

    # File > Open of another review (napari's reader, not the widget's button)
    viewer.open(str(b), plugin="nvcview")
    assert widget.session.review.reader == "truth"
    assert widget.review_folder == b
    widget.place_landmark("RExP", np.array([1.0, 2.0, 3.0]))
    qtbot.waitUntil(lambda: load_review(b).landmarks["RExP"] == [1.0, 2.0, 3.0], timeout=120_000)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    # review A is untouched: still dr-a's, with its own landmark
    ra = load_review(a)
    assert ra.reader == "dr-a"
    assert ra.landmarks["RExP"] != [1.0, 2.0, 3.0]


@pytest.mark.gui
def test_pending_autosave_is_not_lost_when_leaving_the_case(
    make_napari_viewer, qtbot, sample_study
):
    paths, _ = sample_study
    c, d = _copy_review(paths, "review_c_leave"), _copy_review(paths, "review_d_leave")
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(c) is not None, widget.last_error
    assert widget.save() is not None, widget.last_error

    # an edit, then another review opened before the 1.5 s autosave fired
    widget.place_landmark("RExP", np.array([1.0, 2.0, 3.0]))
    assert widget.open_path(d) is not None, widget.last_error
    assert load_review(c).landmarks["RExP"] == [1.0, 2.0, 3.0]

    # an edit, then the viewer closed right away
    widget.place_landmark("RDP", np.array([4.0, 5.0, 6.0]))
    viewer.close()
    assert load_review(d).landmarks["RDP"] == [4.0, 5.0, 6.0]
