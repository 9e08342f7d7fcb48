"""Export report from any state the core can report on: practice case, TOF-only case."""

from __future__ import annotations

import json

import pytest
from napari_nvcview._widget import ReviewWidget


@pytest.mark.gui
def test_practice_case_exports_its_report(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open_sample("nvcview", "phantom")  # the practice case: in memory, never saved
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    out = widget.export_report(tmp_path / "report")
    assert {"json", "html", "pdf"} <= set(out), widget.last_error
    report = json.loads(out["json"].read_text())
    assert "AICA" in json.dumps(report)  # the practice case's vessels are in it
    # the DICOM SR needs the series files: said, not failed
    assert "sr" not in out and "SR" in widget.status.text()


@pytest.mark.gui
def test_tof_only_case_exports_its_report(make_napari_viewer, qtbot, sample_study, tmp_path):
    paths, truth_doc = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(paths.tof_dir)
    assert session is not None and session.t2 is None, widget.last_error
    seed = next(v for v in truth_doc["vessels"] if v["vessel_type"] == "AICA")
    widget.grow_vessel(seed["vessel_axis_point_lps"], "AICA", background=False)
    assert any(x.vessel_type == "AICA" for x in session.structures), widget.last_error
    # CN VII as a tube around a centreline traced RExP -> RDP -> IAC (no T2 to grow it in)
    for name in ("RExP", "RDP", "IAC"):
        widget.add_path_point(truth_doc["landmarks"][name])
    widget.nerve_from_path()
    assert widget.save(tmp_path / "review") is not None, widget.last_error
    assert widget.refresh_measurements(), widget.last_error
    out = widget.export_report(tmp_path / "report")
    assert {"json", "html", "pdf", "sr"} <= set(out), widget.last_error
    report = json.loads(out["json"].read_text())
    assert [s["role"] for s in report["series"]] == ["TOF"], report.keys()
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
