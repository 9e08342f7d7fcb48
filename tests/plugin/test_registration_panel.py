"""The Register tab driven by clicks: register a moved TOF, check, accept / undo, save, reload."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.registration_panel import CHECK_NAME
from qtpy.QtCore import Qt
from register.motion_phantoms import moved_study

from nvcview.case import CaseSession
from nvcview.case.session import MISALIGNMENT_WARN_MM
from nvcview.register import apply_to_points
from nvcview.review.store import load_review

#: a head motion between T2 and TOF of the size the issue targets
SHIFT_MM = (1.2, -0.8, 0.6)
ROTATION_DEG = (1.5, 0.0, -1.0)


@pytest.fixture(scope="module")
def study():
    return moved_study(SHIFT_MM, ROTATION_DEG, seed=3)


def _widget(make_napari_viewer, study, side: str = "left") -> ReviewWidget:
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review")
    session = CaseSession(t2=study.t2, tof=study.tof)
    session.review.side = side
    session.review.landmarks = {
        k: [float(v) for v in p] for k, p in study.phantom.landmarks.items()
    }
    widget.load_session(session)
    return widget


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _tof_layer(widget):
    return widget._find_image_layer(widget.session.tof)


def _error_at_rexp(found: np.ndarray, study) -> float:
    """Distance (mm) between where the found and the true transform put the RExP."""
    rexp = np.asarray(study.phantom.landmarks["RExP"], float)
    return float(
        np.linalg.norm(
            apply_to_points(rexp, found) - apply_to_points(rexp, study.true_moving_to_fixed)
        )
    )


@pytest.mark.gui
def test_register_accept_save_reload_keeps_the_transform(
    make_napari_viewer, qtbot, study, tmp_path
):
    widget = _widget(make_napari_viewer, study)
    panel = widget.registration_panel
    # the misalignment check on opening runs in a worker and warns (motion > 0.5 mm)
    qtbot.waitUntil(lambda: panel.misalignment_mm is not None and not panel.checking, timeout=60000)
    assert panel.misalignment_mm > MISALIGNMENT_WARN_MM
    assert "misaligned" in widget.status.text()
    before = np.array(_tof_layer(widget).data, copy=True)

    _click(qtbot, panel.register_button)
    assert panel.running and widget.progress.isVisibleTo(widget)
    qtbot.waitUntil(lambda: panel.pending is not None, timeout=120000)
    qtbot.waitUntil(lambda: not panel.running, timeout=60000)
    assert CHECK_NAME in widget.viewer.layers
    check = widget.viewer.layers[CHECK_NAME].data
    assert check.shape == widget._find_image_layer(study.t2).data.shape
    assert 0.0 <= check.min() and check.max() <= 1.0 and check.std() > 0.05
    assert widget.session.review.registrations == []  # nothing stored before Accept

    _click(qtbot, panel.accept_button)
    assert CHECK_NAME not in widget.viewer.layers
    text = widget.status.text()
    assert text.startswith("TOF registered to T2 (rigid, estimated residual ")
    assert text.endswith(" mm)") or "mm);" in text
    assert widget.session.dirty
    # the TOF is now shown on the T2's grid, through the transform
    tof = _tof_layer(widget)
    assert tof.data.shape == widget._find_image_layer(study.t2).data.shape
    assert before.shape != tof.data.shape or not np.array_equal(before, tof.data)

    widget.session.folder = tmp_path / "review"
    assert widget.save() is not None
    review = load_review(tmp_path / "review")
    reg = review.registration_for(study.tof.meta.series_uid)
    assert reg is not None and reg.method == "rigid"
    assert _error_at_rexp(reg.moving_to_fixed_lps, study) < 0.5
    # without the registration the RExP would be off by the motion itself (> 1 mm)
    assert _error_at_rexp(np.eye(4), study) > 1.0


@pytest.mark.gui
def test_undo_leaves_no_registration(make_napari_viewer, qtbot, study, tmp_path):
    widget = _widget(make_napari_viewer, study)
    widget.background_tools = True
    panel = widget.registration_panel
    qtbot.waitUntil(lambda: not panel.checking, timeout=60000)
    acquired = np.array(_tof_layer(widget).data, copy=True)

    _click(qtbot, panel.register_button)
    qtbot.waitUntil(lambda: panel.pending is not None and not panel.running, timeout=120000)
    _click(qtbot, panel.accept_button)
    assert len(widget.session.review.registrations) == 1
    _click(qtbot, panel.undo_button)
    assert widget.session.review.registrations == []
    assert widget.status.text() == "TOF not registered to T2"
    np.testing.assert_array_equal(_tof_layer(widget).data, acquired)  # shown as acquired
    assert not panel.undo_button.isEnabled()

    widget.session.folder = tmp_path / "review"
    assert widget.save() is not None
    assert load_review(tmp_path / "review").registrations == []


@pytest.mark.gui
def test_cancel_drops_the_result(make_napari_viewer, qtbot, study):
    widget = _widget(make_napari_viewer, study)
    panel = widget.registration_panel
    qtbot.waitUntil(lambda: not panel.checking, timeout=60000)
    _click(qtbot, panel.register_button)
    ended: list[bool] = []
    panel.worker.finished.connect(lambda: ended.append(True))
    _click(qtbot, panel.cancel_button)
    assert not panel.running and "cancelled" in widget.status.text()
    # the thread finishes on its own; its result must not be shown
    qtbot.waitUntil(lambda: bool(ended), timeout=120000)
    assert panel.pending is None
    assert CHECK_NAME not in widget.viewer.layers
    assert widget.session.review.registrations == []
