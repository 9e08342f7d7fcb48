"""The review writer on an oblique (resampled) labels layer keeps the label map intact."""

from __future__ import annotations

import numpy as np
from napari_nvcview._sample_data import phantom_session
from napari_nvcview._writer import write_review
from napari_nvcview.layers import labels_layer

from nvcview.review.store import load_labels, load_review


def test_review_writer_on_oblique_labels_touches_only_the_edit(tmp_path):
    from nvcview_sample import make_phantom

    s = phantom_session(phantom=make_phantom(oblique=True))
    before = s.labels.copy()
    data, kw, _ = labels_layer(
        s.labels, s.reference.affine, s.structures, extra_meta={"session": s}
    )
    assert kw["metadata"]["nvcview"]["grid"].oblique
    data = np.array(data)
    aica = next(x.label for x in s.structures if x.vessel_type == "AICA")
    data[data == aica] = 0  # the reader erased the AICA in the viewer
    out = write_review(str(tmp_path / "rev"), data, kw)
    saved = load_labels(load_review(out[0]), out[0]).array
    # erased as far as the display shows it (a source voxel no display voxel samples
    # keeps its label, as with the widget's brush: nearest-neighbour both ways)
    assert (saved == aica).sum() < 0.1 * (before == aica).sum()
    # every other structure is saved voxel for voxel (no nearest-neighbour round trip)
    keep = before != aica
    assert np.array_equal(saved[keep], before[keep])


def test_nifti_writer_on_oblique_labels_keeps_the_label_map(tmp_path):
    from napari_nvcview._writer import write_labels
    from nvcview_sample import make_phantom

    from nvcview.io.nifti import read_nifti

    s = phantom_session(phantom=make_phantom(oblique=True))
    data, kw, _ = labels_layer(
        s.labels, s.reference.affine, s.structures, extra_meta={"session": s}
    )
    out = write_labels(str(tmp_path / "labels.nii.gz"), np.array(data), kw)
    img = read_nifti(out[0])
    assert np.allclose(img.affine, s.reference.affine, atol=1e-4)
    assert np.array_equal(img.array, s.labels)


def _erase(layer, label: int) -> None:
    """Erase one structure with the labels layer's own API (what the eraser tool calls)."""
    mask = np.asarray(layer.data) == label
    layer.data_setitem(np.nonzero(mask), 0)


def test_file_save_through_the_writer_stores_fresh_measurements(
    make_napari_viewer, sample_study, tmp_path
):
    """File > Save (the npe2 'nvcview review folder' writer) after erasing a vessel."""
    import subprocess
    import sys

    import pandas as pd

    paths, _ = sample_study
    viewer = make_napari_viewer()
    layers = viewer.open(str(paths.review_dir), plugin="nvcview")
    labels = next(lyr for lyr in layers if lyr.__class__.__name__ == "Labels")
    session = labels.metadata["nvcview"]["session"]
    stored = {m.vessel_type for m in load_review(paths.review_dir).measurements}
    assert "AICA" in stored
    session.measure()  # the case was measured once before the edit (a widget, a script)
    aica = next(x.label for x in session.structures if x.vessel_type == "AICA")
    _erase(labels, aica)
    out = tmp_path / "cohort" / "case1" / "dr-x"
    viewer.layers.selection = {labels}
    # what File > Save Selected Layers does with the "nvcview review folder" filter chosen
    from napari.plugins import _npe2

    _, writers = _npe2.file_extensions_string_for_layers([labels])
    writer = next(w for w in writers if w.display_name == "nvcview review folder")
    viewer.layers.save(str(out), selected=True, _writer=writer)
    saved = load_review(out)
    assert "AICA" not in {m.vessel_type for m in saved.measurements}
    assert {m.vessel_type for m in saved.measurements} == stored - {"AICA"}
    # what the cohort table reports from the stored measurements
    table = tmp_path / "t.csv"
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "batch", str(tmp_path / "cohort"), "--out", str(table),
         "--stored"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "AICA" not in set(pd.read_csv(table).vessel_type)
