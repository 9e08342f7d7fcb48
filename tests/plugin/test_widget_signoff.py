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
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
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
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


def _copy(paths, name):
    import shutil

    folder = paths.review_dir.parent / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    return folder


@pytest.mark.gui
def test_sign_off_reopen_edit_export(make_napari_viewer, qtbot, sample_study, tmp_path):
    import json

    from napari_nvcview.layers import LABELS_NAME

    paths, truth_doc = sample_study
    folder = _copy(paths, "review_reopen")
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(folder) is not None, widget.last_error
    widget.reader_edit.setText("dr-a")
    widget.reader_edit.editingFinished.emit()
    widget.final_check.click()  # Mark final
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert load_review(folder).status == "final", widget.last_error
    assert widget.reopen_button.isEnabled()
    assert not viewer.layers[LABELS_NAME].editable  # no brush on a signed review

    # edits of the signed review are refused visibly, and nothing claims "Saved"
    widget.place_landmark("RDP", np.array([4.0, 5.0, 6.0]))
    assert "signed off" in widget.status.text() and "Saved" not in widget.status.text()
    assert widget.session.review.landmarks["RDP"] != [4.0, 5.0, 6.0]
    # the signed review reports as it is
    out = widget.export_report(tmp_path / "signed")
    assert {"json", "html", "pdf", "sr"} <= set(out), widget.last_error
    assert load_review(folder).status == "final"

    # Reopen (a logged action), edit, the edit is saved, and the report has it
    widget.reopen_button.click()
    assert not widget.final_check.isChecked() and viewer.layers[LABELS_NAME].editable
    assert load_review(folder).status == "draft"
    audit = [json.loads(x) for x in (folder / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["action"] == "reopen" and audit[-1]["actor"] == "dr-a"
    widget.impression_edit.setPlainText("AICA contact at the AS, reopened")
    assert widget.save() is not None, widget.last_error
    assert "Saved" in widget.status.text()
    assert load_review(folder).impression == "AICA contact at the AS, reopened"
    out = widget.export_report(tmp_path / "reopened")
    assert "json" in out, widget.last_error
    report = json.loads(out["json"].read_text())
    assert "reopened" in json.dumps(report)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
