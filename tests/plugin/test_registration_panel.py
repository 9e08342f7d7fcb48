"""The Register tab driven by clicks on a realistic study whose patient moved.

Register, check (checkerboard / edge overlay / flicker), accept / undo, cancel; the
seed grow of the AICA on the TOF through the accepted transform; the display resample
after Accept (progress, cancel). The alignment check on opening a study, the force
option and a contrast T1 as the moving series are in test_registration_panel_open.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.registration_panel import CHECK_NAME
from nvcview_sample import make_phantom
from nvcview_sample.geometry import rotation_matrix
from qtpy.QtCore import Qt, QThreadPool

from nvcview.case import CaseSession
from nvcview.register import apply_to_points
from nvcview.review.store import load_review

from .conftest import click_world, lps_world

SEED = 3
GAP_MM = 1.0
#: the head moved between T2 and TOF: 1.2 mm towards the nerve plus 1.5 degrees
SHIFT_MM = 1.2
ROTATION_DEG = 1.5


@pytest.fixture(scope="module")
def moved():
    """(phantom with a moved TOF, true TOF -> T2 map, AICA truth).

    The shift points from the AICA towards the facial nerve, so a TOF overlaid by
    its DICOM geometry alone shows the AICA touching the nerve (1 mm gap in truth).
    """
    clean = make_phantom(seed=SEED, gap_mm=GAP_MM)
    aica = next(v for v in clean.truth["vessels"] if v["vessel_type"] == "AICA")
    towards_vessel = np.subtract(aica["vessel_axis_point_lps"], aica["nerve_axis_point_lps"])
    towards_vessel /= np.linalg.norm(towards_vessel)
    centre = np.asarray(clean.landmarks["RExP"], float)
    tof_to_t2 = np.eye(4)
    tof_to_t2[:3, :3] = rotation_matrix(np.array([0.3, 1.0, 0.2]), ROTATION_DEG)
    tof_to_t2[:3, 3] = centre - tof_to_t2[:3, :3] @ centre + SHIFT_MM * towards_vessel
    ph = make_phantom(seed=SEED, gap_mm=GAP_MM, realistic=True, motion=tof_to_t2)
    return ph, np.asarray(ph.truth["motion"]["tof_to_t2_lps"]), aica


@pytest.fixture
def gated_resample(monkeypatch):
    """Hold the display resample (the one with progress) at a gate until the test opens it.

    Cancel and a stale result are then tested while the worker certainly runs, on
    any machine load. The gate opens at teardown whatever happened.
    """
    import napari_nvcview.registration_panel as rp

    gate = threading.Event()
    real = rp.resample_to

    def held(*args, **kwargs):
        if kwargs.get("progress") is not None:  # not the region resample of Register
            gate.wait(120)
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "resample_to", held)
    yield gate
    gate.set()


def _session(ph, with_tof: bool = True) -> CaseSession:
    """A case of the phantom (T2, TOF, the facial nerve), as a reader would start it."""
    session = CaseSession(t2=ph.t2, tof=ph.tof if with_tof else None)
    session.review.side = "left"
    session.review.landmarks = {k: [float(v) for v in p] for k, p in ph.landmarks.items()}
    nerve = next(s for s in ph.structures if s.kind == "nerve" and s.nerve == "VII")
    session.add_structure(ph.labels.array == nerve.label, "facial nerve", "nerve", nerve="VII")
    session.dirty = False
    return session


def _widget(make_napari_viewer, ph, show: bool = False) -> ReviewWidget:
    viewer = make_napari_viewer(show=show)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review")
    widget.load_session(_session(ph))
    widget.reader_edit.setText("dr-reg")
    widget.reader_edit.editingFinished.emit()
    return widget


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _tof_layer(widget):
    return widget._find_image_layer(widget.session.tof)


def _t2_layer(widget):
    return widget._find_image_layer(widget.session.t2)


def _register(qtbot, widget) -> None:
    panel = widget.registration_panel
    _click(qtbot, panel.register_button)
    assert panel.running and widget.progress.isVisibleTo(widget)
    assert panel.progress.isVisibleTo(panel)
    qtbot.waitUntil(lambda: not panel.running, timeout=180000)
    assert panel.pending is not None, widget.last_error


def _grow_aica(qtbot, widget, aica) -> float | None:
    """Grow the AICA from a click on its axis (T2 frame) in the viewer; its gap (mm)."""
    widget.vessel_type_combo.setCurrentText("AICA")
    widget.vessel_radius.setValue(8.0)
    widget.segment_panel.fraction_spin.setValue(0.3)
    widget.segment_panel.preview_check.setChecked(False)  # one-click grow (preview is on)
    widget.set_mode("vessel")
    click_world(widget.viewer, lps_world(aica["vessel_axis_point_lps"]))
    qtbot.waitUntil(lambda: widget.busy == 0, timeout=120_000)
    rows = [m for m in widget.session.measure() if m.vessel_type == "AICA"]
    return rows[0].gap_mm if rows else None


def _error_at_rexp(found: np.ndarray, truth: np.ndarray, ph) -> float:
    rexp = np.asarray(ph.landmarks["RExP"], float)
    return float(np.linalg.norm(apply_to_points(rexp, found) - apply_to_points(rexp, truth)))


@pytest.mark.gui
def test_register_check_accept_then_the_aica_grow_gives_the_true_gap(
    make_napari_viewer, qtbot, moved, tmp_path
):
    ph, truth, aica = moved
    widget = _widget(make_napari_viewer, ph, show=True)
    panel = widget.registration_panel
    acquired_shape = _tof_layer(widget).data.shape

    _register(qtbot, widget)
    # the check view: a checkerboard of T2 and the registered TOF on the T2 grid,
    # over the CPA region the registration was made in
    check, t2_layer = widget.viewer.layers[CHECK_NAME], _t2_layer(widget)
    np.testing.assert_allclose(check.scale, t2_layer.scale)
    assert all(c <= t for c, t in zip(check.data.shape, t2_layer.data.shape, strict=True))
    assert (np.asarray(check.data.shape) * np.asarray(check.scale)).min() > 15.0  # mm
    assert 0.0 <= check.data.min() and check.data.max() <= 1.0 and check.data.std() > 0.05
    widget.viewer.dims.set_point(0, float(ph.landmarks["RExP"][2]))
    widget.viewer.screenshot(str(tmp_path / "register-checkerboard.png"), canvas_only=False)
    board = np.array(check.data, copy=True)
    panel.view_combo.setCurrentText("edge overlay")
    edges = widget.viewer.layers[CHECK_NAME]
    assert set(np.unique(edges.data)) <= {0.0, 1.0} and 0 < edges.data.mean() < 0.5
    assert edges.blending == "additive"
    panel.view_combo.setCurrentText("flicker")
    flick = widget.viewer.layers[CHECK_NAME]
    assert not np.array_equal(flick.data, board) and panel._flicker.isActive()
    panel.flick()
    assert not widget.viewer.layers[CHECK_NAME].visible  # the T2 alone
    panel.flick()
    assert widget.viewer.layers[CHECK_NAME].visible  # the registered TOF over it
    assert widget.session.review.registrations == []  # nothing stored before Accept

    _click(qtbot, panel.accept_button)
    assert CHECK_NAME not in widget.viewer.layers and not panel._flicker.isActive()
    # the TOF is resampled onto the T2 for display in a worker, with progress
    assert panel.showing and panel.progress.isVisibleTo(panel) and widget.busy > 0
    qtbot.waitUntil(lambda: not panel.showing, timeout=180_000)
    assert widget.status.text().startswith("TOF registered to T2 (rigid, estimated residual ")
    reg = widget.session.tof_registration
    assert reg is not None and reg.method == "rigid" and reg.who == "dr-reg"
    assert reg.metric == "MattesMutualInformation" and reg.when
    assert _error_at_rexp(reg.moving_to_fixed_lps, truth, ph) < 0.3
    # the TOF is shown through the transform, on the T2's grid
    assert _tof_layer(widget).data.shape == _t2_layer(widget).data.shape != acquired_shape

    # a seed clicked on the AICA (T2 frame) grows on the TOF through the transform
    gap = _grow_aica(qtbot, widget, aica)
    assert gap is not None, widget.last_error
    assert abs(gap - aica["gap_mm"]) <= 0.3, (gap, aica["gap_mm"])

    widget.session.folder = tmp_path / "review"
    assert widget.save() is not None
    stored = load_review(tmp_path / "review").registration_for(ph.tof.meta.series_uid)
    assert stored is not None and stored.who == "dr-reg"
    np.testing.assert_allclose(stored.moving_to_fixed_lps, reg.moving_to_fixed_lps, atol=1e-9)


@pytest.mark.gui
def test_without_registration_the_aica_grow_is_off(make_napari_viewer, qtbot, moved):
    ph, _, aica = moved
    widget = _widget(make_napari_viewer, ph, show=True)
    assert widget.session.tof_registration is None
    gap = _grow_aica(qtbot, widget, aica)
    # overlaid by DICOM geometry the moved AICA touches the nerve (or the seed misses it)
    assert gap is None or abs(gap - aica["gap_mm"]) > 0.5, gap


@pytest.mark.gui
def test_undo_leaves_no_registration_and_the_tof_as_acquired(
    make_napari_viewer, qtbot, moved, tmp_path
):
    ph, _, _ = moved
    widget = _widget(make_napari_viewer, ph)
    widget.background_tools = False  # the registration runs in the GUI thread
    panel = widget.registration_panel
    acquired = np.array(_tof_layer(widget).data, copy=True)
    _click(qtbot, panel.register_button)
    assert panel.pending is not None, widget.last_error
    _click(qtbot, panel.undo_button)  # discard the result not accepted yet
    assert panel.pending is None and CHECK_NAME not in widget.viewer.layers
    assert widget.session.review.registrations == []

    _click(qtbot, panel.register_button)
    _click(qtbot, panel.accept_button)
    assert len(widget.session.review.registrations) == 1 and widget.session.dirty
    _click(qtbot, panel.undo_button)  # remove the stored registration
    assert widget.session.review.registrations == []
    assert widget.status.text() == "TOF not registered to T2"
    np.testing.assert_array_equal(_tof_layer(widget).data, acquired)  # shown as acquired
    assert not panel.undo_button.isEnabled()
    widget.session.folder = tmp_path / "review"
    assert widget.save() is not None
    assert load_review(tmp_path / "review").registrations == []


@pytest.mark.gui
def test_cancel_stops_the_registration_and_drops_its_result(make_napari_viewer, qtbot, moved):
    ph, _, _ = moved
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    _click(qtbot, panel.register_button)
    assert panel.cancel_button.isEnabled()
    _click(qtbot, panel.cancel_button)
    assert not panel.running and "cancelled" in widget.status.text()
    assert widget.busy == 0 and not panel.progress.isVisibleTo(panel)
    # the optimiser stops at its next iteration; wait for the thread, then check
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=120_000)
    qtbot.wait(10)  # deliver the worker's queued signals
    assert panel.pending is None and CHECK_NAME not in widget.viewer.layers
    assert widget.session.review.registrations == []
    assert panel.register_button.isEnabled()


@pytest.mark.gui
def test_cancel_during_the_display_resample_keeps_the_tof_as_acquired(
    make_napari_viewer, qtbot, moved, gated_resample
):
    ph, truth, _ = moved
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    acquired = np.array(_tof_layer(widget).data, copy=True)
    _register(qtbot, widget)
    _click(qtbot, panel.accept_button)
    assert panel.showing and panel.cancel_button.isEnabled()
    assert panel.progress.isVisibleTo(panel)
    job = panel._show_job
    _click(qtbot, panel.cancel_button)  # the worker waits at the gate: still running
    gated_resample.set()
    assert not panel.showing and widget.busy == 0 and not panel.progress.isVisibleTo(panel)
    assert "shown as acquired" in widget.status.text()
    job.done.wait(120)  # the thread stops at its next slab
    qtbot.waitUntil(lambda: job.ended, timeout=120_000)  # its signals were delivered
    # the registration stays stored (grows go through it); the display is as acquired
    assert widget.session.tof_registration is not None
    np.testing.assert_array_equal(_tof_layer(widget).data, acquired)
    assert panel.show_button.isEnabled()
    _click(qtbot, panel.show_button)  # try again, to the end this time (the gate is open)
    qtbot.waitUntil(lambda: not panel.showing, timeout=180_000)
    assert _tof_layer(widget).data.shape == _t2_layer(widget).data.shape
    assert not panel.show_button.isEnabled()


@pytest.mark.gui
def test_a_stale_display_resample_is_dropped(make_napari_viewer, qtbot, moved, gated_resample):
    """Undo while the TOF is resampled for display: the late result is not shown."""
    ph, _, _ = moved
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    acquired = np.array(_tof_layer(widget).data, copy=True)
    _register(qtbot, widget)
    _click(qtbot, panel.accept_button)
    job = panel._show_job
    assert job is not None
    # Undo is not offered while it runs; a registration removed behind the panel's
    # back (another front end of the same case) makes its result stale
    assert not panel.undo_button.isEnabled()
    widget.session.set_registration(None)
    gated_resample.set()
    qtbot.waitUntil(lambda: job.ended, timeout=180_000)
    assert widget.session.cached_on_reference(widget.session.tof) is None
    np.testing.assert_array_equal(_tof_layer(widget).data, acquired)
