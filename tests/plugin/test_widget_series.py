"""Switching the reference series in the series picker keeps the review."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import image_layer

from nvcview.case import CaseSession
from nvcview.errors import InputError
from nvcview.io.image import index_to_lps


def _centre(affine, mask):
    return index_to_lps(affine, np.argwhere(mask)).mean(axis=0)


def test_set_series_carries_labels_onto_the_new_reference(minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    st, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_call(st.label, grade="contact")
    before = _centre(minicase.t2.affine, s.labels == st.label)
    # the TOF becomes the reference (no T2 chosen)
    assert s.set_series(None, minicase.tof) is True
    assert s.reference is minicase.tof
    assert s.labels.shape == minicase.tof.array.shape
    assert np.linalg.norm(_centre(minicase.tof.affine, s.labels == st.label) - before) < 0.6
    assert s.review.landmarks["RExP"] == list(minicase.nerve_start)
    assert [c.grade for c in s.review.calls] == ["contact"] and s.structures == [st]
    # nothing to carry the labels onto: refused, the session unchanged
    with pytest.raises(InputError):
        s.set_series(None, None)
    assert s.tof is minicase.tof and (s.labels == st.label).any()


@pytest.mark.gui
def test_use_these_series_keeps_and_autosaves_the_review(
    make_napari_viewer, qtbot, minicase, tmp_path
):
    from nvcview.review.store import load_review

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    for img, role in ((minicase.t2, "T2"), (minicase.tof, "TOF")):
        data, kw, _ = image_layer(img, role)
        viewer.add_image(data, **kw)
    s = widget.session
    assert s.t2 is minicase.t2 and s.tof is minicase.tof
    st = widget.grow_vessel(minicase.vessel_seed, "AICA", background=False)
    assert st, widget.last_error
    label = s.structures[0].label
    widget.place_landmark("RExP", minicase.nerve_start)
    widget.record_call(label, "contact", None, "")
    folder = tmp_path / "review"
    assert widget.save(folder) is not None, widget.last_error

    # the reader picks no T2: the TOF becomes the reference
    widget.t2_combo.setCurrentText("")
    widget.use_selected_series()
    s = widget.session
    assert s.reference is minicase.tof
    assert [x.vessel_type for x in s.structures] == ["AICA"]
    assert (s.labels == label).sum() > 20
    assert s.review.landmarks["RExP"] == list(minicase.nerve_start)
    assert [c.grade for c in s.review.calls] == ["contact"]
    assert "resampled" in widget.status.text()
    layer = widget._layer("nvcview labels")
    assert (np.asarray(layer.data) == label).any()

    # the autosave keeps the review (not an empty one)
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    saved = load_review(folder)
    assert [x.vessel_type for x in saved.structures] == ["AICA"]
    assert "RExP" in saved.landmarks and [c.grade for c in saved.calls] == ["contact"]
    assert saved.reference_series_uid == minicase.tof.meta.series_uid
