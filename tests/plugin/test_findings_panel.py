"""The reader findings panel: set by clicks, saved, reloaded, reported; off when signed."""

from __future__ import annotations

import json
import shutil

import pytest
from napari_nvcview._widget import ReviewWidget
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QPushButton

from nvcview.review.store import load_review


def _copy(paths, name):
    # a copy beside the truth review (its relative series paths still resolve)
    folder = paths.review_dir.parent / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    return folder


def _open(make_napari_viewer, folder) -> ReviewWidget:
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(folder) is not None, widget.last_error
    widget.tabs.setCurrentIndex(widget.tabs.indexOf(widget.findings_panel.parentWidget()))
    return widget


def _choose(qtbot, combo, text: str) -> None:
    """Open the combo box's list with a click and click the item ``text``."""
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=120_000)
    index = view.model().index(combo.findText(text), 0)
    view.scrollTo(index)
    # the open list ignores a release for a double-click interval after it shows
    qtbot.wait(QApplication.doubleClickInterval() + 200)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
    )
    QApplication.processEvents()
    assert combo.currentText() == text


def _button(widget, text: str) -> QPushButton:
    (b,) = [b for b in widget.findChildren(QPushButton) if b.text() == text]
    return b


@pytest.mark.gui
def test_findings_set_by_clicks_are_saved_and_reported_in_plain_words(
    make_napari_viewer, qtbot, sample_study, tmp_path, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    paths, _ = sample_study
    folder = _copy(paths, "review_findings")
    widget = _open(make_napari_viewer, folder)
    panel = widget.findings_panel
    assert panel.isEnabled()
    combo, note = panel.rows[("other_causes", "cpa_mass")]
    assert combo.currentText() == "not assessed"
    _choose(qtbot, combo, "present")
    qtbot.keyClicks(note, "3 mm nodule")
    qtbot.keyClick(note, Qt.Key.Key_Return)
    bulb, _ = panel.rows[("approach_anatomy", "jugular_bulb")]
    _choose(qtbot, bulb, "of surgical note")
    _choose(qtbot, panel.overall_combo, "another cause found")
    assert widget.session.dirty
    qtbot.mouseClick(_button(widget, "Save review"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)

    saved = load_review(folder)
    assert saved.other_causes["cpa_mass"].status == "present"
    assert saved.other_causes["cpa_mass"].comment == "3 mm nodule"
    assert saved.approach_anatomy["jugular_bulb"].status == "of_note"
    assert "epidermoid" not in saved.other_causes  # untouched: not assessed
    assert saved.overall_impression == "other_cause"

    out = tmp_path / "report"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    qtbot.mouseClick(_button(widget, "Export report…"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.idle and (out / "report.html").exists(), timeout=120_000)
    report = json.loads((out / "report.json").read_text())
    text = json.dumps(report)
    assert "another cause found" in text
    assert '"status_text": "present"' in text and "3 mm nodule" in text
    assert "of surgical note" in text
    html = (out / "report.html").read_text()
    assert "Other cause: CPA mass" in html and "another cause found" in html
    assert "Approach anatomy: jugular bulb" in html and "of surgical note" in html


@pytest.mark.gui
def test_signed_review_disables_the_findings_panel(make_napari_viewer, qtbot, sample_study):
    paths, _ = sample_study
    folder = _copy(paths, "review_findings_signed")
    widget = _open(make_napari_viewer, folder)
    panel = widget.findings_panel
    _choose(qtbot, panel.rows[("other_causes", "epidermoid")][0], "none seen")
    qtbot.mouseClick(widget.final_check, Qt.MouseButton.LeftButton)  # mark final
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert widget.session.signed and not panel.isEnabled()
    assert load_review(folder).other_causes["epidermoid"].status == "none_seen"

    # the signed review opened afresh: the panel shows its findings, disabled
    widget2 = _open(make_napari_viewer, folder)
    combo2 = widget2.findings_panel.rows[("other_causes", "epidermoid")][0]
    assert not widget2.findings_panel.isEnabled() and combo2.currentText() == "none seen"
    # reopened (a logged action): editable again
    assert widget2.reopen(reason="second look"), widget2.last_error
    assert widget2.findings_panel.isEnabled()
    qtbot.waitUntil(lambda: widget2.idle, timeout=120_000)
