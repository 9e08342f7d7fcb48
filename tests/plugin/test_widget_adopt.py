"""A T2 opened after work on a TOF-only case keeps that work."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget

from nvcview.case import CaseSession


def test_add_t2_carries_tof_labels_onto_the_t2_grid(minicase):
    s = CaseSession(tof=minicase.tof)
    st, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    s.set_landmark("RExP", minicase.nerve_start)
    on_tof = s.labels_image()
    s.add_t2(minicase.t2)
    assert s.reference is minicase.t2
    assert s.labels.shape == minicase.t2.array.shape
    assert s.review.landmarks["RExP"] == list(minicase.nerve_start)
    # the vessel is where it was, in LPS: its centre of mass within a voxel
    from nvcview.io.image import index_to_lps

    def centre(img_affine, mask):
        return index_to_lps(img_affine, np.argwhere(mask)).mean(axis=0)

    a = centre(on_tof.affine, on_tof.array == st.label)
    b = centre(minicase.t2.affine, s.labels == st.label)
    assert np.linalg.norm(a - b) < 0.6


@pytest.mark.gui
def test_t2_dropped_after_tof_work_keeps_the_review(make_napari_viewer, qtbot, sample_study):
    import json

    paths, _ = sample_study
    truth = json.loads(paths.truth.read_text())
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.open_path(paths.tof_dir) is not None, widget.last_error
    aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
    assert widget.grow_vessel(np.asarray(aica["vessel_axis_point_lps"]), "AICA", background=False)
    widget.place_landmark("RExP", np.asarray(truth["landmarks"]["RExP"]))
    widget.reader_edit.setText("dr-x")
    widget._on_case_fields()

    viewer.open(str(paths.t2_dir), plugin="nvcview")  # the T2 arrives
    s = widget.session
    assert s.t2 is not None and s.labels.shape == s.t2.array.shape
    assert [x.vessel_type for x in s.structures] == ["AICA"]
    assert (s.labels == s.structures[0].label).sum() > 50
    assert "RExP" in s.review.landmarks and s.review.reader == "dr-x"
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.mark.gui
def test_grow_finishing_after_the_t2_arrived_is_dropped_quietly(
    make_napari_viewer, qtbot, sample_study
):
    import json

    from qtpy.QtCore import QThreadPool

    from nvcview.io import load

    paths, _ = sample_study
    truth = json.loads(paths.truth.read_text())
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    s = widget.open_path(paths.tof_dir)
    assert s is not None, widget.last_error
    aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
    assert widget.grow_vessel(np.asarray(aica["vessel_axis_point_lps"]), "AICA") is not None
    QThreadPool.globalInstance().waitForDone(20000)  # grown on the TOF grid, not yet shown
    s.add_t2(load(paths.t2_dir))  # the reference grid changes before the result lands
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert s.structures == []
    assert "again" in widget.last_error
