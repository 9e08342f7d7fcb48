"""The review widget's Register tab: TOF onto T2, checked by eye, accepted or undone.

A thin view of :mod:`nvcview.register` and the registration methods of
:class:`nvcview.case.CaseSession` (``set_registration``, ``tof_registration``,
``tof_on_reference``, ``misalignment_warning``):

- **Register** runs :func:`nvcview.register.register_series` (then the resampling of
  the TOF onto the T2 grid and the check image) in a napari worker thread; the
  panel's progress bar follows the resolution levels (the core's ``progress``
  callback) and **Cancel** stops the optimiser (the core's ``cancel`` callback) and
  drops the result. A result for another case is dropped too.
- The result is shown for checking as a ``registration check`` layer on the T2 grid:
  a checkerboard of T2 and the registered TOF, the registered TOF's edges over the
  T2, or the registered TOF flickering over the T2 (:mod:`nvcview.register.check`).
- **Accept** stores the Registration in the case's review (method, metric, who, when)
  and shows the TOF through it (:meth:`CaseSession.tof_on_reference`: the TOF
  resampled onto the T2 grid; a rotated layer affine cannot be sliced by napari).
  Seed grows on the TOF go through the same stored transform (the session's
  ``vessel_mask``). **Undo** discards a result not accepted yet, or removes the
  stored registration and shows the TOF as acquired.
- **Check alignment** runs the quick misalignment estimate
  (:func:`nvcview.register.estimate_misalignment`). It also starts by itself when
  the Register tab is shown for a case not checked yet, never merely because a
  case was opened: no background work races the reader's (or a test's) next steps,
  and a late result for another case is dropped.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from nvcview.case import CaseSession
from nvcview.display import to_display
from nvcview.io.image import Image
from nvcview.register import (
    Registration,
    checkerboard,
    describe_registration,
    edge_overlay,
    estimate_misalignment,
    register_series,
    resample_to,
)
from nvcview.register.check import normalised, region_pair

from .layers import META_KEY

if TYPE_CHECKING:
    from ._widget import ReviewWidget

#: name of the layer showing a registration result for checking
CHECK_NAME = "registration check"
CHECK_VIEWS = ("checkerboard", "edge overlay", "flicker")
#: flicker period (ms): the registered TOF is shown, then hidden, over the T2
FLICKER_MS = 600


def check_array(
    t2: Image, tof_on_t2: Image, view: str, region_lps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The check image over the registration's region of the T2 grid, and its affine.

    Core arrays (see :mod:`nvcview.register.check`) on the T2 voxels covering the
    CPA region the registration was made in (cheap on real-size series).
    """
    t2_box, tof_box = region_pair(t2, tof_on_t2, region_lps)
    if view == "edge overlay":
        return edge_overlay(tof_box).astype(np.float32), t2_box.affine
    if view == "flicker":
        return normalised(tof_box.array).astype(np.float32), t2_box.affine
    return checkerboard(t2_box, tof_box), t2_box.affine


def register_job(
    t2: Image,
    tof: Image,
    landmarks: dict[str, np.ndarray],
    side: str | None,
    view: str,
    progress: Any = None,
    cancel: Any = None,
) -> tuple[Registration, Image, tuple[np.ndarray, np.ndarray]]:
    """Worker body: register, resample the TOF onto the T2 grid, build the check image."""
    reg = register_series(
        t2, tof, landmarks=landmarks or None, side=side, progress=progress, cancel=cancel
    )
    on_t2 = resample_to(tof, t2, reg.moving_to_fixed_lps, order=1)
    return reg, on_t2, check_array(t2, on_t2, view, reg.region_lps)


def misalignment_job(
    t2: Image, tof: Image, landmarks: dict[str, np.ndarray], side: str | None
) -> float:
    """Worker body: the quick misalignment estimate (mm) in the CPA region."""
    return estimate_misalignment(t2, tof, landmarks=landmarks or None, side=side)


class RegistrationPanel(QWidget):
    """Register / Cancel / check / Accept / Undo for the case the review widget shows.

    Parameters
    ----------
    review_widget : ReviewWidget
        The widget whose case (``review_widget.session``), viewer, status line and
        worker plumbing the panel uses.
    """

    def __init__(self, review_widget: ReviewWidget) -> None:
        super().__init__()
        self.rw = review_widget
        #: a result shown for checking, not accepted yet: (registration, TOF on T2)
        self.pending: tuple[Registration, Image] | None = None
        #: the last misalignment estimate (mm) of the case shown, None before / without one
        self.misalignment_mm: float | None = None
        self.worker: Any = None
        #: the misalignment check of the case shown is running
        self.checking = False
        self.check_worker: Any = None
        self._checked_case: CaseSession | None = None  # the case the check ran (runs) for
        self._check_token = 0  # bumped by each check and each new case
        self._token = 0  # bumped by Cancel and by a new case: older results are dropped
        self._counted = False  # the running registration holds one of the widget's busy counts
        self._cancel_event: threading.Event | None = None
        self._progress: tuple[float, str] = (0.0, "")  # written by the worker thread

        form = QFormLayout(self)
        row = QHBoxLayout()
        self.register_button = QPushButton("Register TOF to T2")
        self.register_button.clicked.connect(self.register)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.register_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
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
        row2.addWidget(self.accept_button)
        row2.addWidget(self.undo_button)
        form.addRow(row2)
        self.check_button = QPushButton("Check alignment")
        self.check_button.clicked.connect(lambda: self.check_alignment())
        form.addRow(self.check_button)
        self.info = QLabel("TOF not registered to T2")
        self.info.setWordWrap(True)
        form.addRow(self.info)
        self.alignment = QLabel("")
        self.alignment.setWordWrap(True)
        form.addRow(self.alignment)
        self._update_buttons()

    # ----------------------------------------------------------- state
    @property
    def running(self) -> bool:
        """A registration is running (and its result will be shown)."""
        return self._counted

    def _stored(self, s: CaseSession | None) -> Registration | None:
        return None if s is None else s.tof_registration

    def _ready(self, s: CaseSession | None) -> bool:
        return s is not None and s.t2 is not None and s.tof is not None

    def _update_buttons(self) -> None:
        s = self.rw.session
        ready = self._ready(s)
        editable = ready and s is not None and s.editable
        self.register_button.setEnabled(bool(editable) and not self.running)
        self.cancel_button.setEnabled(self.running)
        self.accept_button.setEnabled(self.pending is not None)
        self.undo_button.setEnabled(self.pending is not None or self._stored(s) is not None)
        self.check_button.setEnabled(ready and not self.checking)
        self.info.setText(describe_registration(self._stored(s)))

    def _report(self, text: str, error: bool = False) -> None:
        self.rw._report(text, error)
        self._update_buttons()

    # ----------------------------------------------------------- a case opens
    def case_opened(self, session: CaseSession) -> None:
        """A case is shown: drop what belonged to the previous one, show its registration.

        A stored registration is shown (the TOF through it). No background work
        starts here: the alignment check runs when the Register tab is shown (or
        Check alignment is pressed).
        """
        self._token += 1
        self._check_token += 1  # a check still running belongs to the previous case
        self._stop_counting()
        self.pending = None
        self.misalignment_mm = None
        self.checking = False
        self.check_worker = None
        self._checked_case = None
        self.alignment.setText("")
        self._remove_check_layer()
        reg = self._stored(session)
        if reg is not None:
            on_ref = self.rw._guard(session.tof_on_reference)
            if on_ref is not None:
                self._show_tof(on_ref)
            self._report(describe_registration(reg))
            return
        self._update_buttons()
        if self._ready(session):
            self.alignment.setText("Alignment of T2 and TOF not checked yet.")
            if self.isVisible():  # the reader is looking at this tab: check now
                self.check_alignment()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        """The Register tab is shown: check the alignment of a case not checked yet."""
        super().showEvent(event)
        s = self.rw.session
        if (
            self._ready(s)
            and self._checked_case is not s
            and self._stored(s) is None
            and not self.checking
        ):
            self.check_alignment()

    def check_alignment(self) -> Any:
        """Estimate the T2 / TOF misalignment of the case shown (worker when in background).

        Returns the worker (background) or None. The result lands in
        :attr:`misalignment_mm`, the panel and (above 0.5 mm) the status line; a
        result for a case no longer shown is dropped.
        """
        s = self.rw.session
        if not self._ready(s) or self.checking:
            return self.check_worker
        assert s is not None and s.t2 is not None and s.tof is not None
        self._checked_case = s
        self._check_token += 1
        token = self._check_token
        args = (s.t2, s.tof, s.landmarks_lps(), s.review.side or None)
        if not self.rw.background_tools:
            mm = self.rw._guard(misalignment_job, *args)
            if mm is not None:
                self._on_misalignment(s, mm)
            return None
        from napari.qt.threading import create_worker

        # a quiet check: not one of the widget's busy counts (the reader's tools do not
        # wait for it); the panel says it is running and drops a late or failed result
        worker = create_worker(misalignment_job, *args, _start_thread=False, _ignore_errors=True)
        self.checking = True
        self.alignment.setText("Checking T2 / TOF alignment …")
        deliver = self.rw._deliver
        worker.returned.connect(deliver(lambda mm: self._on_misalignment(s, mm), s))
        worker.errored.connect(deliver(lambda exc: self._check_failed(s, exc), s))
        worker.finished.connect(deliver(lambda: self._checked(token)))
        self.check_worker = worker
        self._update_buttons()
        worker.start()
        return worker

    def _checked(self, token: int) -> None:
        if token != self._check_token:
            return  # a check of a previous case (or replaced) ended
        self.checking = False
        self.check_worker = None
        self._update_buttons()

    def _check_failed(self, s: CaseSession, exc: BaseException) -> None:
        if self.rw.session is s:
            self.alignment.setText(f"Alignment check failed: {exc}")

    def _on_misalignment(self, s: CaseSession, mm: float) -> None:
        if self.rw.session is not s:
            return  # another case is shown now
        self.misalignment_mm = float(mm)
        warning = s.misalignment_warning(float(mm))
        if warning is None:
            self.alignment.setText(
                f"T2 and TOF agree within {float(mm):.1f} mm in the CPA (estimate)."
            )
            return
        self.alignment.setText(warning)
        if self._stored(s) is None and self.pending is None and not self.running:
            self._report(warning)  # not over a registration's own messages

    # ----------------------------------------------------------- register
    def register(self) -> Any:
        """Register the case's TOF onto its T2 (in a worker when the widget uses them)."""
        s = self.rw.session
        if s is None or s.t2 is None or s.tof is None:
            self._report("Registration needs a T2 and a TOF series.", error=True)
            return None
        if self.running:
            return self.worker
        self._token += 1
        token = self._token
        self.pending = None
        self._remove_check_layer()
        what = "Registering TOF to T2"
        if not self.rw.background_tools:

            def done_now(out: tuple[Registration, Image, tuple[np.ndarray, np.ndarray]]) -> None:
                self._show_result(*out)

            args = (s.t2, s.tof, s.landmarks_lps(), s.review.side or None)
            self.rw._run(
                register_job, (*args, self.view_combo.currentText()), done_now, what, False
            )
            self._update_buttons()
            return None
        from napari.qt.threading import create_worker

        cancel = threading.Event()
        self._cancel_event = cancel
        self._progress = (0.0, what)

        def progress(frac: float, text: str) -> None:  # worker thread: store only
            self._progress = (float(frac), text)

        worker = create_worker(
            register_job,
            s.t2,
            s.tof,
            s.landmarks_lps(),
            s.review.side or None,
            self.view_combo.currentText(),
            progress,
            cancel.is_set,
            _start_thread=False,
            _ignore_errors=True,
        )

        def done(out: tuple[Registration, Image, tuple[np.ndarray, np.ndarray]]) -> None:
            if token == self._token:  # not cancelled, no other registration since
                self._show_result(*out)

        self.rw._busy(+1, what)
        self._counted = True
        deliver = self.rw._deliver
        worker.returned.connect(deliver(done, s))
        worker.errored.connect(deliver(lambda exc: self._failed(token, what, exc), s))
        worker.finished.connect(deliver(lambda: self._finished(token)))
        self.worker = worker
        self.progress.setValue(0)
        self.progress.show()
        self._progress_timer.start()
        self._update_buttons()
        worker.start()
        return worker

    def _show_progress(self) -> None:
        frac, text = self._progress
        self.progress.setValue(int(round(100 * frac)))
        if text:
            self.progress.setToolTip(text)

    def _failed(self, token: int, what: str, exc: BaseException) -> None:
        if token == self._token:
            self.rw._worker_error(what, exc)  # a failed registration is never applied

    def _finished(self, token: int) -> None:
        if token == self._token:
            self._stop_counting()
            self.worker = None
        self._update_buttons()

    def _stop_counting(self) -> None:
        self._progress_timer.stop()
        self.progress.hide()
        if self._cancel_event is not None:
            self._cancel_event.set()  # a worker still running stops at its next iteration
            self._cancel_event = None
        if self._counted:
            self._counted = False
            self.rw._busy(-1)

    def cancel(self) -> None:
        """Stop the running registration: the optimiser stops, its result is ignored."""
        if not self.running:
            return
        self._token += 1
        self._stop_counting()
        self.worker = None  # the thread stops at its next iteration; its result is dropped
        self._report("Registration cancelled: TOF left as it was.")

    # ----------------------------------------------------------- check, accept, undo
    def _show_result(
        self, reg: Registration, tof_on_t2: Image, check: tuple[np.ndarray, np.ndarray]
    ) -> None:
        s = self.rw.session
        if s is None or s.t2 is None:
            return
        self.pending = (reg, tof_on_t2)
        self._show_check(check)
        self._report(
            f"Check the result ({self.view_combo.currentText()} layer), then Accept or Undo: "
            + describe_registration(reg)
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
        """One flicker step: show or hide the registered TOF over the T2."""
        layers = self.rw.viewer.layers
        if CHECK_NAME in layers:
            layers[CHECK_NAME].visible = not layers[CHECK_NAME].visible
        else:
            self._flicker.stop()

    def _on_view(self, _text: str) -> None:
        s = self.rw.session
        if self.pending is None or s is None or s.t2 is None:
            return
        reg, on_t2 = self.pending
        view = self.view_combo.currentText()
        self._show_check(check_array(s.t2, on_t2, view, reg.region_lps))

    def _remove_check_layer(self) -> None:
        self._flicker.stop()
        layers = self.rw.viewer.layers
        if CHECK_NAME in layers:
            layers.remove(CHECK_NAME)

    def _tof_layer(self) -> Any:
        s = self.rw.session
        return None if s is None or s.tof is None else self.rw._find_image_layer(s.tof)

    def _show_tof(self, image: Image) -> None:
        """Show ``image`` (the TOF as acquired, or resampled onto the T2) in the TOF layer."""
        lyr = self._tof_layer()
        if lyr is None:
            return
        disp, grid = to_display(image.array, image.affine, order=1)
        lyr.data = disp
        lyr.scale = grid.scale
        lyr.translate = grid.translate
        lyr.metadata[META_KEY]["grid"] = grid

    def accept(self) -> None:
        """Store the result in the review (who: the reader) and show the TOF through it."""
        s = self.rw.session
        if self.pending is None or s is None:
            return
        reg, on_t2 = self.pending
        reg = dataclasses.replace(reg, who=self.rw._actor())
        self.rw._guard(s.set_registration, reg, tof_on_reference=on_t2)
        if self._stored(s) is not reg:
            self._update_buttons()
            return  # refused (signed review): the reason is on the status line
        self.pending = None
        self._remove_check_layer()
        shown = s.tof_on_reference()
        if shown is not None:
            self._show_tof(shown)
        self._report(describe_registration(reg))

    def undo(self) -> None:
        """Discard a result not accepted yet, or remove the stored registration."""
        s = self.rw.session
        if s is None:
            return
        if self.pending is not None:
            self.pending = None
            self._remove_check_layer()
            self._report(describe_registration(self._stored(s)))
            return
        if self._stored(s) is None:
            return
        self.rw._guard(s.set_registration, None)
        if self._stored(s) is None and s.tof is not None:
            self._show_tof(s.tof)
        self._report(describe_registration(self._stored(s)))
