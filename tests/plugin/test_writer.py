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
