"""The Register tab beyond one registration: the alignment check when a study opens,
the force option, and a contrast T1 as the moving series (all driven by clicks).

The check runs in a worker started by opening the case; the tests wait on the
case's state (``CaseSession.alignment``), never on time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import image_layer
from napari_nvcview.registration_panel import FORCE_WARNING, _Job
from nvcview_sample import make_phantom
from nvcview_sample.geometry import rotation_matrix
from nvcview_sample.render import render
from pydicom.uid import generate_uid
from qtpy.QtCore import Qt

from nvcview.case import CaseSession
from nvcview.io.image import Image, make_volume
from nvcview.register import RegistrationCancelledError, apply_to_points
from nvcview.register.check import MISALIGNMENT_WARN_MM
from nvcview.review.store import load_review

SEED = 3


def _motion(centre: np.ndarray, shift_mm: float, rotation_deg: float) -> np.ndarray:
    """A rigid head motion about ``centre`` (LPS mm): a rotation, then a shift along L."""
    m = np.eye(4)
    m[:3, :3] = rotation_matrix(np.array([0.3, 1.0, 0.2]), rotation_deg)
    m[:3, 3] = centre - m[:3, :3] @ centre + np.array([shift_mm, 0.3 * shift_mm, 0.0])
    return m


def _study(shift_mm: float, rotation_deg: float):
    """A realistic phantom study (noise, bias, partial volume) whose TOF moved."""
    clean = make_phantom(seed=SEED, gap_mm=1.0)
    centre = np.asarray(clean.landmarks["RExP"], float)
    motion = _motion(centre, shift_mm, rotation_deg)
    ph = make_phantom(seed=SEED, gap_mm=1.0, realistic=True, motion=motion)
    return ph, np.asarray(ph.truth["motion"]["tof_to_t2_lps"])


@pytest.fixture(scope="module")
def moved():
    """1.2 mm and 1.5 degrees between T2 and TOF."""
    return _study(1.2, 1.5)


@pytest.fixture(scope="module")
def still():
    """No motion (the realistic phantom's noise and bias only)."""
    return make_phantom(seed=SEED, gap_mm=1.0, realistic=True)


@pytest.fixture(scope="module")
def far():
    """11.4 mm between T2 and TOF: beyond the 10 mm plausibility limit."""
    return _study(11.0, 0.0)


def _session(ph, with_tof: bool = True) -> CaseSession:
    session = CaseSession(t2=ph.t2, tof=ph.tof if with_tof else None)
    session.review.side = "left"
    session.review.landmarks = {k: [float(v) for v in p] for k, p in ph.landmarks.items()}
    session.dirty = False
    return session


def _widget(make_napari_viewer, ph=None) -> ReviewWidget:
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review")
    if ph is not None:
        widget.load_session(_session(ph))
    widget.reader_edit.setText("dr-reg")  # the reader types their name
    widget.reader_edit.editingFinished.emit()
    return widget


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _wait_alignment(qtbot, widget):
    session = widget.session
    qtbot.waitUntil(lambda: session.alignment is not None, timeout=120_000)
    return session.alignment


def _error_at_rexp(found: np.ndarray, truth: np.ndarray, ph) -> float:
    rexp = np.asarray(ph.landmarks["RExP"], float)
    return float(np.linalg.norm(apply_to_points(rexp, found) - apply_to_points(rexp, truth)))


# ------------------------------------------------------------ the check on opening


@pytest.mark.gui
def test_opening_a_study_checks_its_alignment_without_being_asked(
    make_napari_viewer, qtbot, moved, still
):
    ph, _ = moved
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    assert panel.checking  # started by opening the case, in a worker
    height, version = panel.banner.height(), widget.session.version
    assert widget.busy == 0  # a quiet check: the reader's tools do not wait for it
    check = _wait_alignment(qtbot, widget)
    assert check.misaligned and check.misalignment_mm > MISALIGNMENT_WARN_MM
    assert check.moving_series_uid == ph.tof.meta.series_uid
    # said without the user asking: on the alignment line under the status line, and
    # in the Register tab
    qtbot.waitUntil(lambda: not panel.checking, timeout=120_000)
    assert panel.banner.isVisibleTo(widget) and "misaligned" in panel.banner.text()
    assert "register TOF to T2" in panel.banner.text()
    assert panel.alignment.text() == panel.banner.toolTip() == check.message
    assert "misaligned" not in widget.status.text()  # the status line is the reader's
    assert widget.session.version == version  # the check is not an edit of the review
    assert panel.banner.height() == height  # a late result moves no widget

    # the same patient without motion: the check says they agree
    widget.load_session(_session(still))
    assert "misaligned" not in panel.banner.text()
    check = _wait_alignment(qtbot, widget)
    assert not check.misaligned, check.misalignment_mm
    qtbot.waitUntil(lambda: "agree within" in panel.banner.text(), timeout=120_000)


@pytest.mark.gui
def test_a_study_with_one_series_runs_no_check(make_napari_viewer, qtbot, moved):
    ph, _ = moved
    widget = _widget(make_napari_viewer)
    widget.load_session(_session(ph, with_tof=False))
    panel = widget.registration_panel
    assert panel.check_worker is None and not panel.checking
    assert widget.session.alignment is None and not widget.session.alignment_due
    assert panel.banner.text() == "" and not panel.check_button.isEnabled()
    assert not panel.register_button.isEnabled()  # nothing to register either


@pytest.mark.gui
def test_a_check_is_stopped_and_waited_for_when_the_case_changes_or_the_widget_closes(
    make_napari_viewer, qtbot, moved, still
):
    ph, _ = moved
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    first, job = widget.session, panel.check_worker
    assert job is not None
    widget.load_session(_session(still))  # another case while the check runs
    # the old check was cancelled and its thread waited for (or it was still queued for a
    # pool thread, and then it ends at once when one takes it): nothing of it runs on
    assert job.cancel.is_set() and (job.done.is_set() or not job.started.is_set())
    assert panel.check_worker is not job  # the new case has its own check
    check = _wait_alignment(qtbot, widget)
    assert first.alignment is None  # a result of the previous case is never stored
    assert check.fixed_series_uid == still.t2.meta.series_uid

    widget.load_session(_session(ph))
    job = panel.check_worker
    assert job is not None
    widget.close()  # the widget closes during the check
    assert job.cancel.is_set() and (job.done.is_set() or not job.started.is_set())
    assert panel.check_worker is None


def test_a_job_stopped_while_queued_is_not_waited_for_and_ends_at_once_when_taken():
    # on two cores the thread pool may still hold a job queued when the case changes:
    # stopping it must not wait for a thread that never ran it
    job = _Job(None, "Checking T2 / TOF alignment")  # type: ignore[arg-type]
    calls: list[int] = []
    run = job.body(lambda: calls.append(1))
    assert job.stop(wait_s=60)
    with pytest.raises(RegistrationCancelledError, match="cancelled before it started"):
        run()  # a pool thread takes it after all
    assert calls == [] and job.done.is_set()


@pytest.mark.gui
def test_the_check_button_runs_it_again(make_napari_viewer, qtbot, moved):
    ph, _ = moved
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    _wait_alignment(qtbot, widget)
    qtbot.waitUntil(lambda: panel.check_button.isEnabled(), timeout=120_000)
    widget.background_tools = False  # the check runs in the GUI thread now
    before = widget.session.alignment
    _click(qtbot, panel.check_button)
    after = widget.session.alignment
    assert after is not None and after is not before and after.misaligned


# ------------------------------------------------------------ force


@pytest.mark.gui
def test_force_lets_an_implausible_motion_through_and_the_review_records_it(
    make_napari_viewer, qtbot, far, tmp_path
):
    ph, truth = far
    widget = _widget(make_napari_viewer, ph)
    panel = widget.registration_panel
    assert not panel.force_check.isChecked() and not panel.force_warning.isVisibleTo(panel)
    _click(qtbot, panel.register_button)
    qtbot.waitUntil(lambda: not panel.running, timeout=180_000)
    assert panel.pending is None  # refused: nothing to accept
    assert "refused" in widget.last_error and "force" in widget.last_error
    assert widget.session.review.registrations == []

    panel.force_check.click()  # the box is ticked (QAbstractButton.click: as by a user)
    assert panel.force_check.isChecked() and panel.force_warning.isVisibleTo(panel)
    assert panel.force_warning.text() == FORCE_WARNING and "10 mm" in FORCE_WARNING
    _click(qtbot, panel.register_button)
    qtbot.waitUntil(lambda: not panel.running, timeout=180_000)
    assert panel.pending is not None, widget.last_error
    assert "FORCED" in widget.status.text()
    _click(qtbot, panel.accept_button)
    qtbot.waitUntil(lambda: not panel.showing, timeout=180_000)
    reg = widget.session.tof_registration
    assert reg is not None and reg.forced and reg.who == "dr-reg"
    assert any("accepted (forced)" in w for w in reg.warnings)
    assert _error_at_rexp(reg.moving_to_fixed_lps, truth, ph) < 0.5

    widget.session.folder = tmp_path / "review"
    assert widget.save() is not None
    stored = load_review(tmp_path / "review").registration_for(ph.tof.meta.series_uid)
    assert stored is not None and stored.forced
    assert any("accepted (forced)" in w for w in stored.warnings)


# ------------------------------------------------------------ a contrast T1


def _t1(ph, motion: np.ndarray) -> Image:
    """A contrast-T1-like series of the phantom's patient: inverted T2 contrast on the
    TOF's grid, acquired after ``motion`` (a new series of the same study)."""
    like_t2, _ = render(
        ph.anatomy, np.linalg.inv(motion) @ ph.tof.affine, ph.tof.array.shape, "T2", None
    )
    rng = np.random.default_rng(5)
    top = float(np.percentile(like_t2, 99.5))
    arr = np.clip(top - like_t2, 0, None) + rng.normal(0.0, 0.03 * top, like_t2.shape)
    arr = np.clip(np.rint(arr), 0, 4095).astype(np.uint16)
    meta = dataclasses.replace(
        ph.t2.meta,
        series_uid=generate_uid(),
        role="T1",
        series_description="t1_mprage_tra_gd",
        series_number=7,
    )
    vol = make_volume(arr, ph.tof.affine, ph.t2.meta.frame_of_reference_uid)
    return Image(volume=vol, meta=meta, patient=ph.t2.patient)


@pytest.mark.gui
def test_a_contrast_t1_is_registered_stored_and_shown_through_its_own_transform(
    make_napari_viewer, qtbot, still
):
    ph = still
    centre = np.asarray(ph.landmarks["RExP"], float)
    motion = _motion(centre, 1.0, 2.0)
    t1 = _t1(ph, motion)
    widget = _widget(make_napari_viewer, ph)
    data, kw, _ = image_layer(t1, "T1")
    t1_layer = widget.viewer.add_image(data, **kw)  # the study's T1, as the reader opened it
    acquired_shape = t1_layer.data.shape
    panel = widget.registration_panel
    widget.tabs.setCurrentWidget(panel)  # the reader looks at the Register tab
    panel.moving_combo.showPopup()  # and opens the moving-series list
    panel.moving_combo.hidePopup()
    names = [panel.moving_combo.itemText(i) for i in range(panel.moving_combo.count())]
    assert names[0].startswith("TOF") and any(n.startswith("T1") for n in names)
    assert not any(n.startswith("T2") for n in names)  # never the reference
    panel.moving_combo.setCurrentIndex(next(i for i, n in enumerate(names) if n.startswith("T1")))
    assert panel.moving is t1 and panel.info.text() == "T1 not registered to T2"

    _click(qtbot, panel.register_button)
    qtbot.waitUntil(lambda: not panel.running, timeout=180_000)
    assert panel.pending is not None, widget.last_error
    _click(qtbot, panel.accept_button)
    qtbot.waitUntil(lambda: not panel.showing, timeout=180_000)
    s = widget.session
    reg = s.series_registration(t1)
    assert reg is not None and reg.moving_series_uid == t1.meta.series_uid
    assert s.tof_registration is None  # the TOF (and every grow on it) is untouched
    assert _error_at_rexp(reg.moving_to_fixed_lps, np.linalg.inv(motion), ph) < 0.3
    # the T1 is shown through its transform, on the T2's grid
    t2_layer = widget._find_image_layer(s.t2)
    assert t1_layer.data.shape == t2_layer.data.shape != acquired_shape
    assert panel.info.text().startswith("T1 registered to T2 (rigid")

    panel.moving_combo.setCurrentIndex(0)  # the TOF: its own state
    assert panel.info.text() == "TOF not registered to T2"
    panel.choose_moving(t1)
    _click(qtbot, panel.undo_button)  # removes the T1's registration only
    assert s.review.registrations == [] and t1_layer.data.shape == acquired_shape
