"""Recording a reader call from the Review tab with some fields left blank."""

from __future__ import annotations

import pytest
from napari_nvcview._widget import ReviewWidget

from nvcview.case import CaseSession


def test_set_call_blank_fields_clear_instead_of_failing():
    s = CaseSession()
    call = s.set_call(3, "contact", "", "touches the REZ")
    assert (call.grade, call.confidence, call.comment) == ("contact", None, "touches the REZ")
    call = s.set_call(3, "", "high", None)
    assert (call.grade, call.confidence, call.comment) == (None, "high", "touches the REZ")


@pytest.mark.gui
def test_record_call_with_a_grade_and_no_confidence(make_napari_viewer, sample_study):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.review_dir)
    assert session is not None, widget.last_error
    widget.measure_table.setCurrentCell(0, 0)
    label = widget.measurements[0].vessel_label
    widget.grade_combo.setCurrentText("contact")
    widget.confidence_combo.setCurrentText("")  # the reader leaves it blank
    widget.comment_edit.setText("abuts the nerve")
    widget.last_error = ""
    widget._record_selected_call()
    assert widget.last_error == ""
    call = session.review.call_for(label)
    assert call is not None and call.grade == "contact" and call.comment == "abuts the nerve"
