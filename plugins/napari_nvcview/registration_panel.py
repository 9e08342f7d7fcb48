"""The review widget's Register tab: TOF onto T2, checked by eye, accepted or undone.

A thin view of :mod:`nvcview.register` and :meth:`nvcview.case.CaseSession.set_registration`:

- **Register** runs :func:`nvcview.register.register_series` (and the resampling and
  check image) in a napari worker thread, with the widget's progress bar; **Cancel**
  drops the result (a result for another case is dropped too).
- The result is shown for checking as a ``registration check`` layer on the T2 grid:
  a checkerboard of T2 and the registered TOF, or the registered TOF's edges over the
  T2 (:mod:`nvcview.register.check`).
- **Accept** stores the Registration in the case's review and shows the TOF through
  it: the TOF is resampled onto the T2 grid (:func:`nvcview.register.resample_to`) and
  the TOF layer shows that array on the T2's display grid. (The layer's affine is not
  changed instead: a rotated affine cannot be sliced by napari.) **Undo** removes the
  registration (or discards a result not accepted yet) and shows the TOF as acquired.
- On opening a study with T2 and TOF, :func:`nvcview.register.estimate_misalignment`
  runs in a worker; the core's warning (:meth:`CaseSession.misalignment_warning`)
  goes to the status line.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QWidget

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

from .layers import META_KEY

if TYPE_CHECKING:
    from ._widget import ReviewWidget

#: name of the layer showing a registration result for checking
CHECK_NAME = "registration check"
CHECK_VIEWS = ("checkerboard", "edge overlay")


def _check_array(t2: Image, tof_on_t2: Image, view: str) -> np.ndarray:
    """The check image on the T2 grid (core arrays; see :mod:`nvcview.register.check`)."""
    if view == "edge overlay":
        return edge_overlay(tof_on_t2).astype(np.float32)
    return checkerboard(t2, tof_on_t2)


def register_job(
    t2: Image, tof: Image, landmarks: dict[str, np.ndarray], side: str | None, view: str
) -> tuple[Registration, Image, np.ndarray]:
    """Worker body: register, resample the TOF onto the T2 grid, build the check image."""
    reg = register_series(t2, tof, landmarks=landmarks or None, side=side)
    on_t2 = resample_to(tof, t2, reg.moving_to_fixed_lps, order=1)
    return reg, on_t2, _check_array(t2, on_t2, view)


def misalignment_job(
    t2: Image, tof: Image, landmarks: dict[str, np.ndarray], side: str | None
) -> float:
    """Worker body: the quick misalignment estimate (mm) in the CPA region."""
    return estimate_misalignment(t2, tof, landmarks=landmarks or None, side=side)


class RegistrationPanel(QWidget):
    """Register / Cancel / Accept / Undo for the case the review widget shows.

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
        self._token = 0  # bumped by Cancel and by a new case: older results are dropped
        self._counted = False  # the running registration holds one of the widget's busy counts

        form = QFormLayout(self)
        row = QHBoxLayout()
        self.register_button = QPushButton("Register TOF to T2")
        self.register_button.clicked.connect(self.register)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.register_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.view_combo = QComboBox()
        self.view_combo.addItems(list(CHECK_VIEWS))
        self.view_combo.currentTextChanged.connect(self._on_view)
        form.addRow("Check with", self.view_combo)
        row2 = QHBoxLayout()
        self.accept_button = QPushButton("Accept")
        self.accept_button.clicked.connect(self.accept)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        row2.addWidget(self.accept_button)
        row2.addWidget(self.undo_button)
        form.addRow(row2)
        self.info = QLabel("TOF not registered to T2")
        self.info.setWordWrap(True)
        form.addRow(self.info)
        self._update_buttons()

    # ----------------------------------------------------------- state
    @property
    def running(self) -> bool:
        """A registration is running (and its result will be shown)."""
        return self._counted

    def _stored(self, s: CaseSession | None) -> Registration | None:
        if s is None or s.tof is None:
            return None
        return s.review.registration_for(s.tof.meta.series_uid)

    def _update_buttons(self) -> None:
        s = self.rw.session
        ready = s is not None and s.t2 is not None and s.tof is not None and s.editable
        self.register_button.setEnabled(bool(ready) and not self.running)
        self.cancel_button.setEnabled(self.running)
        self.accept_button.setEnabled(self.pending is not None)
        self.undo_button.setEnabled(self.pending is not None or self._stored(s) is not None)
        self.info.setText(describe_registration(self._stored(s)))

    def _report(self, text: str, error: bool = False) -> None:
        self.rw._report(text, error)
        self._update_buttons()

    # ----------------------------------------------------------- a case opens
    def case_opened(self, session: CaseSession) -> None:
        """A case is shown: drop what belonged to the previous one, check the alignment.

        A stored registration is shown (the TOF through it); otherwise, with T2 and
        TOF, the misalignment estimate runs (in a worker when the widget runs its
        tools in the background).
        """
        self._token += 1
        self._stop_counting()
        self.pending = None
        self.misalignment_mm = None
        self._remove_check_layer()
        reg = self._stored(session)
        if reg is not None and session.t2 is not None and session.tof is not None:
            self._show_tof(resample_to(session.tof, session.t2, reg.moving_to_fixed_lps))
            self._report(describe_registration(reg))
            return
        self._update_buttons()
        if session.t2 is None or session.tof is None:
            return
        args = (session.t2, session.tof, session.landmarks_lps(), session.review.side or None)
        if not self.rw.background_tools:
            mm = self.rw._guard(misalignment_job, *args)
            if mm is not None:
                self._on_misalignment(mm)
            return
        from napari.qt.threading import create_worker

        # a quiet check: not one of the widget's busy counts (the reader's tools do not
        # wait for it); the panel says it is running and drops a late or failed result
        worker = create_worker(misalignment_job, *args, _start_thread=False, _ignore_errors=True)
        self.checking = True
        self.info.setText("Checking T2 / TOF alignment …")
        deliver = self.rw._deliver
        worker.returned.connect(deliver(self._on_misalignment, session))
        worker.finished.connect(deliver(self._checked))
        self.check_worker = worker
        worker.start()

    def _checked(self) -> None:
        self.checking = False
        self.check_worker = None
        self._update_buttons()

    def _on_misalignment(self, mm: float) -> None:
        s = self.rw.session
        if s is None:
            return
        self.misalignment_mm = float(mm)
        warning = s.misalignment_warning(float(mm))
        if warning is not None and self._stored(s) is None:
            self._report(warning)

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
        args = (
            s.t2,
            s.tof,
            s.landmarks_lps(),
            s.review.side or None,
            self.view_combo.currentText(),
        )
        what = "Registering TOF to T2"

        def done(out: tuple[Registration, Image, np.ndarray]) -> None:
            if token == self._token:  # not cancelled, no other registration since
                self._show_result(*out)

        if not self.rw.background_tools:
            self.rw._run(register_job, args, done, what, False)
            self._update_buttons()
            return None
        from napari.qt.threading import create_worker

        worker = create_worker(register_job, *args, _start_thread=False, _ignore_errors=True)
        self.rw._busy(+1, what)
        self._counted = True
        deliver = self.rw._deliver
        worker.returned.connect(deliver(done, s))
        worker.errored.connect(deliver(lambda exc: self._failed(token, what, exc), s))
        worker.finished.connect(deliver(lambda: self._finished(token)))
        self.worker = worker
        self._update_buttons()
        worker.start()
        return worker

    def _failed(self, token: int, what: str, exc: BaseException) -> None:
        if token == self._token:
            self.rw._worker_error(what, exc)  # a failed registration is never applied

    def _finished(self, token: int) -> None:
        if token == self._token:
            self._stop_counting()
            self.worker = None
        self._update_buttons()

    def _stop_counting(self) -> None:
        if self._counted:
            self._counted = False
            self.rw._busy(-1)

    def cancel(self) -> None:
        """Stop waiting for the running registration: its result will be ignored."""
        if not self.running:
            return
        self._token += 1
        self._stop_counting()
        self.worker = None  # the thread ends on its own; its result is dropped
        self._report("Registration cancelled: TOF left as it was.")

    # ----------------------------------------------------------- check, accept, undo
    def _show_result(self, reg: Registration, tof_on_t2: Image, check: np.ndarray) -> None:
        s = self.rw.session
        if s is None or s.t2 is None:
            return
        self.pending = (reg, tof_on_t2)
        self._show_check(check)
        self._report(
            f"Check the result ({self.view_combo.currentText()} layer), then Accept or Undo: "
            + describe_registration(reg)
        )

    def _show_check(self, check: np.ndarray) -> None:
        s = self.rw.session
        assert s is not None and s.t2 is not None
        disp, grid = to_display(check, s.t2.affine, order=1)
        edges = self.view_combo.currentText() == "edge overlay"
        kw: dict[str, Any] = {
            "name": CHECK_NAME,
            "scale": grid.scale,
            "translate": grid.translate,
            "units": "mm",
            "contrast_limits": (0.0, 1.0),
            "colormap": "green" if edges else "gray",
            "blending": "additive" if edges else "translucent_no_depth",
            "metadata": {META_KEY: {"role": "check", "grid": grid}},
        }
        self._remove_check_layer()
        self.rw.viewer.add_image(disp, **kw)

    def _on_view(self, _text: str) -> None:
        s = self.rw.session
        if self.pending is None or s is None or s.t2 is None:
            return
        self._show_check(_check_array(s.t2, self.pending[1], self.view_combo.currentText()))

    def _remove_check_layer(self) -> None:
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
        """Store the result in the review and show the TOF through it."""
        s = self.rw.session
        if self.pending is None or s is None:
            return
        reg, on_t2 = self.pending
        reg = dataclasses.replace(reg, who=self.rw._actor())
        if self.rw._guard(s.set_registration, reg) is None and self._stored(s) is not reg:
            return  # refused (signed review): the reason is on the status line
        self.pending = None
        self._remove_check_layer()
        self._show_tof(on_t2)
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
