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
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert "no vessel" in widget.last_error  # grow_vessels: nothing above the local threshold
    assert len(session.structures) == n_structures


class _FakeWorker:
    """Stands in for napari's worker: the test decides when it 'finishes' (no thread race)."""

    def __init__(self, fn, *args, **_kwargs):
        from qtpy.QtCore import QObject, Signal

        class Signals(QObject):
            returned = Signal(object)
            errored = Signal(object)
            finished = Signal()

        self._signals = Signals()
        self.returned = self._signals.returned
        self.errored = self._signals.errored
        self.finished = self._signals.finished
        self.fn, self.args = fn, args

    def start(self):
        pass


@pytest.mark.gui
def test_measurement_finishing_after_the_widget_closed_is_ignored(
    make_napari_viewer, qtbot, sample_study, monkeypatch
):
    import napari.qt.threading as nqt
    from qtpy.QtWidgets import QApplication

    paths, _ = sample_study
    started = []

    def function_worker(fn, *args, **kwargs):
        started.append(_FakeWorker(fn, *args, **kwargs))
        return started[-1]

    # the widget makes its workers as napari.qt.threading.FunctionWorker (no status-bar task)
    monkeypatch.setattr(nqt, "FunctionWorker", function_worker)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    import shutil

    folder = paths.review_dir.parent / "review_late_worker"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    session = widget.open_path(folder)
    assert session is not None, widget.last_error
    widget.place_landmark("RDP", np.asarray(session.review.landmarks["RDP"]) + 0.5)
    before = len(started)  # opening may start the Register tab's alignment check
    widget.measure_in_background()  # an edit's measurement, still running ...
    (worker,) = started[before:]
    result = worker.fn(*worker.args)
    # ... when the widget is closed and its Qt children deleted
    widget.close()
    widget.deleteLater()
    QApplication.processEvents()
    from qtpy.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    worker.returned.emit(result)  # the late result: dropped, no 'has been deleted' error
    worker.finished.emit()
    QApplication.processEvents()
    # (pytest-qt fails the test on any exception raised in a Qt slot)
    # the pending edit was saved when the widget closed, with its own measurements
    from nvcview.review.store import load_review

    assert load_review(folder).landmarks["RDP"] == session.review.landmarks["RDP"]
