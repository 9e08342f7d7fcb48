"""The review widget's Register tab: a moving series onto the T2, checked, accepted or undone.

A thin view of :mod:`nvcview.register` and the registration state of
:class:`nvcview.case.CaseSession` (``set_registration``, ``series_registration``,
``series_on_reference``, ``keep_on_reference``, ``alignment``, ``set_alignment``):

- **The alignment check** (:func:`nvcview.register.check.check_alignment`) starts by
  itself when a case with a T2 and a TOF is shown (and no registration of the TOF is
  stored), in a worker thread keyed by the case: a result for another case (or
  another T2 / TOF pair) is dropped; the worker is cancelled and waited for when the
  case changes and when the widget or the viewer's window closes, so no check
  outlives the case it was started for. The result is stored on the case
  (``CaseSession.set_alignment``, ``alignment`` event) and shown on the widget's
  alignment line (:attr:`RegistrationPanel.banner`, under the status line) and in
  this tab. A study with one series runs nothing.
- **Moving series**: the TOF or another series of the study (a contrast T1), never
  the reference T2. The review stores one registration per moving series.
- **Register** runs :func:`nvcview.register.register_series` (and the check image
  over the registration's region) in a napari worker thread; the progress bar
  follows the resolution levels and **Cancel** stops the optimiser and drops the
  result. **Force** lets a transform beyond 10 mm / 10 degrees (or one that did not
  converge) through, with a warning; the stored record says ``forced`` and why.
- The result is shown for checking as a ``registration check`` layer on the T2 grid
  over the region: a checkerboard, the moving series' edges over the T2, or a flicker
  (:mod:`nvcview.register.check`).
- **Accept** stores the Registration (method, metric, who, when, forced, warnings),
  then the moving series is resampled onto the T2 grid for display in a worker
  (progress shown; **Cancel** stops it and the series stays shown as acquired; a
  result for a replaced or removed registration is dropped). Seed grows on the TOF go
  through the stored transform whatever is displayed (the session's
  ``tof_to_reference_lps``). **Undo** discards a result not accepted yet, or removes
  the stored registration and shows the series as acquired.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

# bound at import: the panel's jobs are its own (a test replacing napari's
# FunctionWorker for the widget's measurement does not capture them). Made directly,
# not through create_worker: that registers a status-bar task whose every update
# repaints the whole window (the widget's _worker says more)
from napari.qt.threading import FunctionWorker
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from nvcview.case import CaseSession
from nvcview.display import to_display
from nvcview.io.image import Image, make_volume
from nvcview.register import (
    Registration,
    RegistrationCancelledError,
    checkerboard,
    describe_registration,
    edge_overlay,
    register_series,
    resample_to,
)
from nvcview.register.check import AlignmentCheck, check_alignment, normalised
from nvcview.register.region import cropped
from nvcview.register.rigid import MAX_ROTATION_DEG, MAX_SHIFT_MM

from .layers import META_KEY

if TYPE_CHECKING:
    from ._widget import ReviewWidget

log = logging.getLogger(__name__)

#: name of the layer showing a registration result for checking
CHECK_NAME = "registration check"
CHECK_VIEWS = ("checkerboard", "edge overlay", "flicker")
#: flicker period (ms): the registered moving series is shown, then hidden, over the T2
FLICKER_MS = 600
#: how long (s) the GUI waits for a cancelled worker to stop (it stops at the
#: optimiser's next iteration or the resample's next slab: well under a second)
STOP_WAIT_S = 30.0
FORCE_WARNING = (
    f"Force is on: a transform that moves the CPA region by more than {MAX_SHIFT_MM:g} mm "
    f"or rotates it by more than {MAX_ROTATION_DEG:g} degrees, or one that did not "
    "converge, will be offered for Accept. Such motion is implausible between two series "
    "of one visit: check it carefully; the review records it as forced."
)


class _Job:
    """One background job of the panel: its case, a cancel flag and a done flag.

    ``done`` is set by the worker thread when the job's function returns or raises,
    so the GUI can wait for the thread deterministically (:meth:`stop`).
    """

    def __init__(self, case: CaseSession, what: str, key: Any = None) -> None:
        self.case = case
        self.what = what
        self.key = key
        self.cancel = threading.Event()
        self.started = threading.Event()  # a pool thread took the job (set by the worker)
        self.done = threading.Event()
        self.ended = False  # the worker's finished signal arrived (GUI thread)
        self.counted = False  # holds one of the widget's busy counts
        self.progress: tuple[float, str] = (0.0, what)  # written by the worker thread

    def body(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        def run() -> Any:
            self.started.set()
            try:
                if self.cancel.is_set():  # stopped while it waited for a pool thread
                    raise RegistrationCancelledError(f"{self.what}: cancelled before it started")
                return fn(*args, **kwargs)
            finally:
                self.done.set()

        return run

    def report(self, frac: float, text: str) -> None:  # worker thread: store only
        self.progress = (float(frac), text)

    def stop(self, wait_s: float = STOP_WAIT_S) -> bool:
        """Cancel, then wait (up to ``wait_s``) for the thread; True when it has stopped."""
        self.cancel.set()
        if not self.started.is_set():
            # still queued (the thread pool is busy, or the worker was never started): it
            # ends at once if a thread ever takes it (see body), so there is nothing to wait for
            return True
        stopped = self.done.wait(wait_s)
        if not stopped:
            log.warning("%s: the worker did not stop within %.0f s", self.what, wait_s)
        return stopped


class _SeriesCombo(QComboBox):
    """The moving-series picker: lists the study's series as they are when opened."""

    def __init__(self, refresh: Callable[[], None]) -> None:
        super().__init__()
        self._refresh = refresh

    def showPopup(self) -> None:  # noqa: N802 (Qt override)
        self._refresh()
        super().showPopup()


#: lines of text the alignment labels hold (their height never changes)
ALIGNMENT_LINES = 3


def _fixed_label() -> QLabel:
    """A word-wrapped label of :data:`ALIGNMENT_LINES` lines' fixed height."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    # neither its text nor its width ask the layout for anything: a new text changes
    # no widget's geometry (no move or resize event reaches, e.g., an open combo list)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * ALIGNMENT_LINES + 4)
    return label


def _cancel_all(jobs: set[_Job]) -> None:
    """Cancel every job (the panel's Qt object is being destroyed: nobody waits)."""
    for job in list(jobs):
        job.cancel.set()


def check_array(t2_box: Image, moving_box: Image, view: str) -> tuple[np.ndarray, np.ndarray]:
    """The check image over the registration's region (T2 voxels), and its affine.

    ``t2_box`` is the T2 cropped to the region, ``moving_box`` the moving series
    resampled onto that box through the registration (see :func:`register_job`).
    """
    if view == "edge overlay":
        return edge_overlay(moving_box).astype(np.float32), t2_box.affine
    if view == "flicker":
        return normalised(moving_box.array).astype(np.float32), t2_box.affine
    return checkerboard(t2_box, moving_box), t2_box.affine


def region_box(t2: Image, region_lps: np.ndarray) -> Image:
    """The T2 cropped to the voxels covering an LPS box (the registration's region)."""
    arr, aff = cropped(t2, np.asarray(region_lps, float).reshape(2, 3))
    if min(arr.shape) < 1:
        from nvcview.errors import InputError

        raise InputError("registration check: the region lies outside the T2 series")
    return Image(volume=make_volume(arr, aff), meta=t2.meta, patient=t2.patient)


def register_job(
    t2: Image,
    moving: Image,
    landmarks: dict[str, np.ndarray],
    side: str | None,
    view: str,
    progress: Any = None,
    cancel: Any = None,
    force: bool = False,
) -> tuple[Registration, Image, Image, tuple[np.ndarray, np.ndarray]]:
    """Worker body: register, resample the moving series over the region, the check image.

    Only the region is resampled here (the check needs no more); the whole series is
    resampled for display after Accept. Returns (registration, T2 box, moving on the
    box, check image and affine).
    """
    reg = register_series(
        t2,
        moving,
        landmarks=landmarks or None,
        side=side,
        force=force,
        progress=progress,
        cancel=cancel,
    )
    t2_box = region_box(t2, reg.region_lps)
    on_box = resample_to(moving, t2_box, reg.moving_to_fixed_lps, order=1)
    return reg, t2_box, on_box, check_array(t2_box, on_box, view)


def misalignment_job(
    t2: Image, tof: Image, landmarks: dict[str, np.ndarray], side: str | None
) -> float:
    """The quick misalignment estimate (mm) in the CPA region (see :func:`check_alignment`)."""
    return check_alignment(t2, tof, landmarks=landmarks or None, side=side).misalignment_mm


class RegistrationPanel(QWidget):
    """Alignment check, Register / Cancel / check / Accept / Undo for the case shown.

    Parameters
    ----------
    review_widget : ReviewWidget
        The widget whose case (``review_widget.session``), viewer, status line and
        worker plumbing the panel uses.
    """

    def __init__(self, review_widget: ReviewWidget) -> None:
        super().__init__()
        self.rw = review_widget
        #: a result shown for checking, not accepted yet: (registration, moving series,
        #: T2 over the region, moving series resampled onto it)
        self.pending: tuple[Registration, Image, Image, Image] | None = None
        #: the last misalignment estimate (mm) of the case shown, None before / without one
        self.misalignment_mm: float | None = None
        self._case: CaseSession | None = None
        self._register_job: _Job | None = None
        self._check_job: _Job | None = None
        self._show_job: _Job | None = None
        self._moving: list[Image] = []
        #: every job ever started and not yet ended: cancelled when the Qt object dies
        self._live: set[_Job] = set()
        live = self._live
        self.destroyed.connect(lambda *_: _cancel_all(live))

        form = QFormLayout(self)
        self.moving_combo = _SeriesCombo(self.refresh_moving)
        self.moving_combo.setToolTip("The series to align onto the reference T2")
        self.moving_combo.currentIndexChanged.connect(lambda _i: self._update_buttons())
        form.addRow("Moving series", self.moving_combo)
        row = QHBoxLayout()
        self.register_button = QPushButton("Register to T2")
        self.register_button.clicked.connect(self.register)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.register_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.force_check = QCheckBox(
            f"Force (accept > {MAX_SHIFT_MM:g} mm / {MAX_ROTATION_DEG:g} degrees)"
        )
        self.force_check.toggled.connect(self._on_force)
        form.addRow(self.force_check)
        self.force_warning = QLabel(FORCE_WARNING)
        self.force_warning.setWordWrap(True)
        self.force_warning.setStyleSheet("color: #e0a000")
        self.force_warning.hide()
        form.addRow(self.force_warning)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p%")
        self.progress.hide()
        form.addRow(self.progress)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(150)
        self._progress_timer.timeout.connect(self._show_progress)
        self.view_combo = QComboBox()
        self.view_combo.addItems(list(CHECK_VIEWS))
        self.view_combo.currentTextChanged.connect(self._on_view)
        form.addRow("Check with", self.view_combo)
        self._flicker = QTimer(self)
        self._flicker.setInterval(FLICKER_MS)
        self._flicker.timeout.connect(self.flick)
        row2 = QHBoxLayout()
        self.accept_button = QPushButton("Accept")
        self.accept_button.clicked.connect(self.accept)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        self.show_button = QPushButton("Show registered")
        self.show_button.setToolTip(
            "Resample the moving series onto the T2 through its registration"
        )
        self.show_button.clicked.connect(lambda: self.show_registered())
        row2.addWidget(self.accept_button)
        row2.addWidget(self.undo_button)
        row2.addWidget(self.show_button)
        form.addRow(row2)
        self.check_button = QPushButton("Check alignment")
        self.check_button.clicked.connect(lambda: self.check_alignment())
        form.addRow(self.check_button)
        self.info = QLabel("TOF not registered to T2")
        self.info.setWordWrap(True)
        form.addRow(self.info)
        # the check's result arrives while the reader works: its labels keep a fixed
        # height, so a late result never moves the widgets under the reader's mouse
        self.alignment = _fixed_label()
        form.addRow(self.alignment)
        #: the alignment line the review widget shows under its status line
        self.banner = _fixed_label()
        self._update_buttons()

    # ----------------------------------------------------------- state
    @property
    def running(self) -> bool:
        """A registration is running (and its result will be shown)."""
        return self._register_job is not None

    @property
    def checking(self) -> bool:
        """The alignment check of the case shown is running."""
        return self._check_job is not None

    @property
    def showing(self) -> bool:
        """The moving series is being resampled onto the T2 for display."""
        return self._show_job is not None

    @property
    def check_worker(self) -> Any:
        """The running alignment check's job (None when none runs)."""
        return self._check_job

    def _ready(self, s: CaseSession | None) -> bool:
        return s is not None and s.t2 is not None and bool(self._candidates(s))

    def _candidates(self, s: CaseSession | None) -> list[tuple[str, Image]]:
        """The moving series a case offers: its TOF, then the study's other series."""
        if s is None or s.t2 is None:
            return []
        out: list[tuple[str, Image]] = []
        if s.tof is not None:
            lyr = self.rw._find_image_layer(s.tof)
            out.append((f"TOF: {lyr.name if lyr is not None else 'TOF'}", s.tof))
        tokens = self.rw._study_tokens(s)
        for lyr in self.rw.viewer.layers:
            nv = lyr.metadata.get(META_KEY, {})
            img = nv.get("image")
            if img is None or img is s.t2 or img is s.tof or nv.get("role") in ("labels", "check"):
                continue
            if any(img is o for _, o in out) or not self.rw._belongs_to(lyr, s, tokens):
                continue
            out.append((f"{nv.get('role') or 'series'}: {lyr.name}", img))
        return out

    def refresh_moving(self) -> None:
        """Fill the moving-series picker from the case shown (keeping the choice)."""
        s = self.rw.session
        current = self.moving
        items = self._candidates(s)
        self._moving = [img for _, img in items]
        self.moving_combo.blockSignals(True)
        self.moving_combo.clear()
        self.moving_combo.addItems([name for name, _ in items])
        keep = next((i for i, img in enumerate(self._moving) if img is current), 0)
        if items:
            self.moving_combo.setCurrentIndex(keep)
        self.moving_combo.blockSignals(False)
        self._update_buttons()

    @property
    def moving(self) -> Image | None:
        """The moving series chosen (None when the case offers none)."""
        i = self.moving_combo.currentIndex()
        return self._moving[i] if 0 <= i < len(self._moving) else None

    def choose_moving(self, image: Image) -> None:
        """Choose ``image`` as the moving series (as picking it in the combo box does)."""
        self.refresh_moving()
        for i, img in enumerate(self._moving):
            if img is image:
                self.moving_combo.setCurrentIndex(i)
                return
        raise ValueError("not a moving series of the case shown")

    def _role(self, image: Image | None) -> str:
        s = self.rw.session
        if image is None:
            return "TOF"
        if s is not None and image is s.tof:
            return "TOF"
        lyr = self.rw._find_image_layer(image)
        role = lyr.metadata.get(META_KEY, {}).get("role") if lyr is not None else None
        return role if role and role not in ("other",) else "series"

    def _stored(self, s: CaseSession | None, image: Image | None = None) -> Registration | None:
        if s is None:
            return None
        return s.series_registration(image if image is not None else self.moving)

    def _update_buttons(self) -> None:
        s = self.rw.session
        moving = self.moving
        ready = s is not None and s.t2 is not None and moving is not None
        editable = ready and s is not None and s.editable
        busy = self.running or self.showing
        self.register_button.setEnabled(bool(editable) and not busy)
        self.cancel_button.setEnabled(busy)
        self.accept_button.setEnabled(self.pending is not None and not busy)
        stored = self._stored(s)
        self.undo_button.setEnabled((self.pending is not None or stored is not None) and not busy)
        self.show_button.setEnabled(stored is not None and not busy and not self._shown(s))
        tof_ready = s is not None and s.t2 is not None and s.tof is not None
        self.check_button.setEnabled(tof_ready and not self.checking)
        self.info.setText(describe_registration(stored, moving=self._role(moving)))

    def _shown(self, s: CaseSession | None) -> bool:
        """The chosen moving series' layer shows it through its stored registration."""
        moving = self.moving
        lyr = None if moving is None else self.rw._find_image_layer(moving)
        if s is None or moving is None or lyr is None:
            return False
        held = s.cached_on_reference(moving)
        return held is not None and lyr.metadata.get(META_KEY, {}).get("shown") is held

    def _report(self, text: str, error: bool = False) -> None:
        self.rw._report(text, error)
        self._update_buttons()

    def _on_force(self, on: bool) -> None:
        self.force_warning.setVisible(bool(on))
        if on:
            self._report("Registration force is on: " + FORCE_WARNING)

    # ----------------------------------------------------------- jobs
    def _start(
        self,
        job: _Job,
        run: Callable[[], Any],
        returned: Callable[[Any], None],
        errored: Callable[[BaseException], None],
        *,
        count: bool,
    ) -> Any:
        """Start ``run`` in a napari worker for ``job``; callbacks only while it is current."""
        worker = FunctionWorker(run)
        deliver = self.rw._deliver
        self._live.add(job)
        worker.returned.connect(deliver(returned))
        worker.errored.connect(deliver(errored))
        worker.finished.connect(deliver(lambda: self._ended(job)))
        live = self._live
        worker.finished.connect(lambda: live.discard(job))
        if count:
            job.counted = True
            self.rw._busy(+1, job.what)
            self.progress.setValue(0)
            self.progress.show()
            self._progress_timer.start()
        worker.start()
        return worker

    def _current(self, job: _Job) -> bool:
        """``job`` is still the panel's running job of its kind, for the case shown."""
        return job in (self._register_job, self._check_job, self._show_job) and (
            self.rw.session is job.case
        )

    def _release(self, job: _Job) -> None:
        """Forget ``job`` (GUI thread): its busy count, the progress bar, its slot."""
        if job.counted:
            job.counted = False
            self.rw._busy(-1)
        for name in ("_register_job", "_check_job", "_show_job"):
            if getattr(self, name) is job:
                setattr(self, name, None)
        if self._register_job is None and self._show_job is None:
            self._progress_timer.stop()
            self.progress.hide()

    def _ended(self, job: _Job) -> None:
        job.ended = True
        self._release(job)
        self._update_buttons()

    def _stop(self, job: _Job | None, wait: bool = True) -> None:
        """Cancel ``job`` (its result is dropped) and wait for its thread to stop."""
        if job is None:
            return
        self._release(job)
        if wait:
            job.stop()
        else:
            job.cancel.set()

    def shutdown(self) -> None:
        """The widget or its window closes: stop every job of the panel and wait for it."""
        for job in (self._register_job, self._check_job, self._show_job):
            self._stop(job)
        for job in list(self._live):
            job.stop()
        self._flicker.stop()
        self._progress_timer.stop()

    def _show_progress(self) -> None:
        job = self._register_job or self._show_job
        if job is None:
            return
        frac, text = job.progress
        self.progress.setValue(int(round(100 * frac)))
        if text:
            self.progress.setToolTip(text)

    # ----------------------------------------------------------- a case opens
    def case_opened(self, session: CaseSession) -> None:
        """A case is shown: drop what belonged to the previous one; check its alignment.

        Jobs of the previous case (or of this case's previous series) are cancelled
        and waited for. A stored registration of the TOF is shown (the TOF resampled
        onto the T2 in a worker); without one, a case with a T2 and a TOF gets its
        alignment checked in a worker (once per T2 / TOF pair).
        """
        same = session is self._case
        keep_check = (
            same and self._check_job is not None and self._check_job.key == session.alignment_key()
        )
        self._stop(self._register_job)
        self._stop(self._show_job)
        if not keep_check:
            self._stop(self._check_job)
        if not same:
            self.misalignment_mm = None
            session.events.alignment.connect(self._on_alignment)
        self._case = session
        self.pending = None
        self._remove_check_layer()
        self.refresh_moving()
        self._show_alignment(session)
        stored = [img for img in self._moving if session.series_registration(img) is not None]
        for img in stored[:1]:  # the TOF first (the fusion); others with Show registered
            self.show_registered(img)
        if session.tof_registration is not None:
            self._report(describe_registration(session.tof_registration))
        if session.alignment_due and not keep_check:
            self.check_alignment()
        self._update_buttons()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        """The Register tab is shown: list the study's series as they are now."""
        super().showEvent(event)
        self.refresh_moving()

    # ----------------------------------------------------------- alignment check
    def check_alignment(self) -> Any:
        """Estimate the T2 / TOF misalignment of the case shown (worker when in background).

        Returns the job (background) or None. The result is stored on the case
        (:meth:`CaseSession.set_alignment`); a result for a case (or a T2 / TOF pair)
        no longer shown is dropped.
        """
        s = self.rw.session
        if s is None or s.t2 is None or s.tof is None:
            return None
        if self._check_job is not None:
            return self._check_job
        key = s.alignment_key()
        landmarks, side = s.landmarks_lps(), s.review.side or None
        if not self.rw.background_tools:
            out = self.rw._guard(
                check_alignment, s.t2, s.tof, landmarks=landmarks or None, side=side
            )
            if out is not None:
                s.set_alignment(out)
            return None
        job = _Job(s, "Checking T2 / TOF alignment", key)
        run = job.body(
            check_alignment,
            s.t2,
            s.tof,
            landmarks=landmarks or None,
            side=side,
            cancel=job.cancel.is_set,
        )

        def returned(out: AlignmentCheck) -> None:
            if self._current(job) and s.alignment_key() == job.key:
                s.set_alignment(out)  # -> the alignment event -> _on_alignment

        def errored(exc: BaseException) -> None:
            if self._current(job) and not job.cancel.is_set():
                self.alignment.setText(f"Alignment check failed: {exc}")

        self._check_job = job
        self.alignment.setText("Checking T2 / TOF alignment …")
        # a quiet check: not one of the widget's busy counts (the reader's tools do not
        # wait for it)
        self._start(job, run, returned, errored, count=False)
        self._update_buttons()
        return job

    def _on_alignment(self, event: Any) -> None:
        """The case stored an alignment check (its ``alignment`` event)."""
        s = self.rw.session
        if s is None or event.source is not s:
            return
        try:
            self._show_alignment(s)
        except RuntimeError as exc:  # the panel's Qt object is gone: nothing to show
            if "deleted" not in str(exc):
                raise

    def _show_alignment(self, s: CaseSession) -> None:
        """The case's alignment result on the alignment line and in the tab."""
        check = s.alignment
        if check is None:
            self.misalignment_mm = None
            text = ""
            if s.t2 is not None and s.tof is not None and s.tof_registration is None:
                text = "Alignment of T2 and TOF not checked yet."
            self.alignment.setText(text)
            self.banner.setText("")
            self.banner.setToolTip("")
            return
        self.misalignment_mm = check.misalignment_mm
        self.alignment.setText(check.message)
        text = html.escape(check.message)
        if check.misaligned:
            text = f'<span style="color: #e0a000">{text}</span>'
        self.banner.setText(text)
        self.banner.setToolTip(check.message)

    # ----------------------------------------------------------- register
    def register(self) -> Any:
        """Register the chosen moving series onto the T2 (in a worker in background mode)."""
        s = self.rw.session
        self.refresh_moving()
        moving = self.moving
        if s is None or s.t2 is None or moving is None:
            self._report("Registration needs a T2 and a moving series (TOF, T1).", error=True)
            return None
        if self.running or self.showing:
            return self._register_job
        self.pending = None
        self._remove_check_layer()
        role = self._role(moving)
        what = f"Registering {role} to T2"
        force = self.force_check.isChecked()
        args = (
            s.t2,
            moving,
            s.landmarks_lps(),
            s.review.side or None,
            self.view_combo.currentText(),
        )
        if not self.rw.background_tools:
            out = self.rw._guard(register_job, *args, force=force)
            if out is not None:
                self._show_result(moving, *out)
            self._update_buttons()
            return None
        job = _Job(s, what)
        run = job.body(register_job, *args, job.report, job.cancel.is_set, force)

        def returned(out: tuple[Registration, Image, Image, tuple[np.ndarray, np.ndarray]]) -> None:
            if self._current(job):
                self._show_result(moving, *out)

        def errored(exc: BaseException) -> None:
            if self._current(job):  # a failed registration is never applied
                self.rw._worker_error(what, exc)

        self._register_job = job
        self._start(job, run, returned, errored, count=True)
        self._update_buttons()
        return job

    def cancel(self) -> None:
        """Stop the running registration or display resample; its result is dropped."""
        if self._register_job is not None:
            self._stop(self._register_job, wait=False)  # stops at its next iteration
            self._report("Registration cancelled: the series left as it was.")
        elif self._show_job is not None:
            self._stop(self._show_job, wait=False)  # stops at its next slab
            self._report(
                "Display resample cancelled: the series is shown as acquired, not through "
                "its registration (Show registered to try again)."
            )

    # ----------------------------------------------------------- check, accept, undo
    def _show_result(
        self,
        moving: Image,
        reg: Registration,
        t2_box: Image,
        on_box: Image,
        check: tuple[np.ndarray, np.ndarray],
    ) -> None:
        s = self.rw.session
        if s is None or s.t2 is None:
            return
        self.pending = (reg, moving, t2_box, on_box)
        self._show_check(check)
        forced = " FORCED: " + "; ".join(reg.warnings) if reg.forced else ""
        self._report(
            f"Check the result ({self.view_combo.currentText()} layer), then Accept or Undo: "
            + describe_registration(reg, moving=self._role(moving))
            + forced
        )

    def _show_check(self, check: tuple[np.ndarray, np.ndarray]) -> None:
        """Show ``(array, affine)`` (the check image over the region) as the check layer."""
        disp, grid = to_display(check[0], check[1], order=1)
        view = self.view_combo.currentText()
        edges, flicker = view == "edge overlay", view == "flicker"
        kw: dict[str, Any] = {
            "name": CHECK_NAME,
            "scale": grid.scale,
            "translate": grid.translate,
            "units": "mm",
            "contrast_limits": (0.0, 1.0),
            "colormap": "green" if edges else ("magenta" if flicker else "gray"),
            "blending": "additive" if edges else "translucent_no_depth",
            "metadata": {META_KEY: {"role": "check", "grid": grid, "view": view}},
        }
        self._remove_check_layer()
        self.rw.viewer.add_image(disp, **kw)
        if flicker:
            self._flicker.start()

    def flick(self) -> None:
        """One flicker step: show or hide the registered series over the T2."""
        layers = self.rw.viewer.layers
        if CHECK_NAME in layers:
            layers[CHECK_NAME].visible = not layers[CHECK_NAME].visible
        else:
            self._flicker.stop()

    def _on_view(self, _text: str) -> None:
        if self.pending is None:
            return
        _, _, t2_box, on_box = self.pending
        self._show_check(check_array(t2_box, on_box, self.view_combo.currentText()))

    def _remove_check_layer(self) -> None:
        self._flicker.stop()
        layers = self.rw.viewer.layers
        if CHECK_NAME in layers:
            layers.remove(CHECK_NAME)

    def _show_series(self, moving: Image, image: Image) -> None:
        """Show ``image`` (``moving`` as acquired, or resampled onto the T2) in its layer."""
        lyr = self.rw._find_image_layer(moving)
        if lyr is None:
            return
        disp, grid = to_display(image.array, image.affine, order=1)
        lyr.data = disp
        lyr.scale = grid.scale
        lyr.translate = grid.translate
        lyr.metadata[META_KEY]["grid"] = grid
        lyr.metadata[META_KEY]["shown"] = image

    def accept(self) -> None:
        """Store the result in the review (who: the reader); show the series through it."""
        s = self.rw.session
        if self.pending is None or s is None:
            return
        reg, moving, _, _ = self.pending
        reg = dataclasses.replace(reg, who=self.rw._actor())
        self.rw._guard(s.set_registration, reg)
        if self._stored(s, moving) is not reg:
            self._update_buttons()
            return  # refused (signed review): the reason is on the status line
        self.pending = None
        self._remove_check_layer()
        self._report(describe_registration(reg, moving=self._role(moving)))
        self.show_registered(moving)

    def show_registered(self, moving: Image | None = None) -> Any:
        """Resample ``moving`` (default: the chosen series) onto the T2 through its registration.

        In a worker in background mode, with progress and Cancel; the result is shown
        only if the registration is still the one stored (else dropped). Returns the job.
        """
        s = self.rw.session
        moving = moving if moving is not None else self.moving
        if s is None or s.t2 is None or moving is None:
            return None
        m = s.series_to_reference_lps(moving)
        if m is None:
            return None
        held = s.cached_on_reference(moving)
        if held is not None:
            self._show_series(moving, held)
            self._update_buttons()
            return None
        self._stop(self._show_job)
        role = self._role(moving)
        if not self.rw.background_tools:
            out = self.rw._guard(s.series_on_reference, moving)
            if out is not None:
                self._show_series(moving, out)
            self._update_buttons()
            return None
        job = _Job(s, f"Showing the {role} through its registration")
        run = job.body(
            resample_to, moving, s.t2, m, order=1, progress=job.report, cancel=job.cancel.is_set
        )

        def returned(out: Image) -> None:
            # kept only while m is still the stored registration of the series
            if self._current(job) and s.keep_on_reference(moving, out, m):
                self._show_series(moving, out)
                self._report(describe_registration(s.series_registration(moving), moving=role))

        def errored(exc: BaseException) -> None:
            if self._current(job) and not job.cancel.is_set():
                self.rw._worker_error(job.what, exc)

        self._show_job = job
        self._start(job, run, returned, errored, count=True)
        self._update_buttons()
        return job

    def undo(self) -> None:
        """Discard a result not accepted yet, or remove the stored registration."""
        s = self.rw.session
        if s is None:
            return
        moving = self.moving
        if self.pending is not None:
            self.pending = None
            self._remove_check_layer()
            self._report(describe_registration(self._stored(s), moving=self._role(moving)))
            return
        if moving is None or self._stored(s) is None:
            return
        self._stop(self._show_job)
        self.rw._guard(s.set_registration, None, moving.meta.series_uid)
        if self._stored(s) is None:
            self._show_series(moving, moving)
        self._report(describe_registration(self._stored(s), moving=self._role(moving)))
