"""Undoing a brush stroke (Ctrl+Z in the labels layer) is an edit like the stroke."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME

from nvcview.review.store import load_labels, load_review


def _aica_gap(widget) -> float:
    return next(float(r["gap mm"]) for r in widget.measurement_rows() if r["type"] == "AICA")


@pytest.mark.gui
def test_undo_of_a_stroke_remeasures_and_autosaves(
    make_napari_viewer, qtbot, tmp_path, sample_study
):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)
    assert session is not None, widget.last_error
    truth = session.labels.copy()
    folder = tmp_path / "review"
    assert widget.save(folder) is not None, widget.last_error
    gap0 = _aica_gap(widget)

    layer = viewer.layers[LABELS_NAME]
    m = next(x for x in widget.measurements if x.vessel_type == "AICA")
    layer.n_edit_dimensions = 3
    layer.brush_size = 12
    layer.mode = "erase"
    layer.paint(layer.world_to_data(np.asarray(m.vessel_point_lps)[::-1]), 0)
    qtbot.waitUntil(lambda: _aica_gap(widget) > gap0 + 0.3, timeout=120_000)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert not np.array_equal(load_labels(load_review(folder), folder).array, truth)

    layer.undo()  # what Ctrl+Z does
    assert np.array_equal(session.labels, truth)
    qtbot.waitUntil(lambda: abs(_aica_gap(widget) - gap0) < 1e-6, timeout=120_000)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert np.array_equal(load_labels(load_review(folder), folder).array, truth)


@pytest.mark.gui
def test_a_stroke_is_measured_at_once_from_a_snapshot_of_its_box(
    make_napari_viewer, qtbot, sample_study, monkeypatch
):
    """A brush stroke starts its measurement when it is synced (no debounce wait), in a
    plain worker (no task in napari's status bar, whose every update repaints the whole
    window), and the worker's snapshot of the label map is not found by a whole-map
    scan but from the edit boxes; the table then shows what a fresh measurement gives."""
    import shutil

    import napari.qt.threading as nqt

    import nvcview.case.session as session_module

    paths, _ = sample_study
    folder = paths.review_dir.parent / "review_stroke_at_once"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.autosave_check.setChecked(False)
    session = widget.open_path(folder)
    assert session is not None, widget.last_error
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)

    made: list = []
    real_worker = nqt.FunctionWorker

    def function_worker(fn, *args, **kwargs):
        made.append(fn)
        return real_worker(fn, *args, **kwargs)

    def no_create_worker(*_a, **_k):
        raise AssertionError("create_worker registers a status-bar task: not for the widget")

    monkeypatch.setattr(nqt, "FunctionWorker", function_worker)
    monkeypatch.setattr(nqt, "create_worker", no_create_worker)
    scans: list[int] = []  # whole-map scans for a labelled box in the session
    real_scan = session_module.nonzero_box

    def scan_spy(array):
        if np.shape(array) == session.labels.shape:
            scans.append(1)
        return real_scan(array)

    monkeypatch.setattr(session_module, "nonzero_box", scan_spy)

    layer = viewer.layers[LABELS_NAME]
    layer.n_edit_dimensions = 3
    layer.brush_size = 4
    aica = next(m for m in widget.measurements if m.vessel_type == "AICA")
    label = next(s.label for s in session.structures if s.vessel_type == "AICA")
    where = np.asarray(aica.vessel_point_lps)
    for k, value in enumerate((0, label, 0)):  # erase at the contact, paint back, erase
        version = session.version
        layer.paint(layer.world_to_data(where[::-1]), value)
        widget.sync_pending_stroke()  # what the queued callback of napari's paint event does
        assert session.version > version
        assert made and made[-1].__self__.version == session.version  # measuring already
        assert not widget._measure_timer.isActive()
        qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
        if k > 0:  # the first snapshot scans the map once; later ones use the edit boxes
            assert not scans, "a stroke's snapshot scanned the whole label map"
        scans.clear()
        fresh = {m.vessel_name: m.gap_mm for m in session.measure_full()}
        shown = {r["vessel"]: float(r["gap mm"]) for r in widget.measurement_rows()}
        assert shown == {name: round(gap, 2) for name, gap in fresh.items()}
    assert fresh[aica.vessel_name] > aica.gap_mm + 0.3  # the erased contact really moved
