"""Export for Slicer / ITK-SNAP and import back: the review survives the trip."""

from __future__ import annotations

import numpy as np

from nvcview.review import load_labels, load_review, save_review
from nvcview.review.colortable import read_label_table
from nvcview.review.exporting import export_for_tools
from nvcview.review.importing import review_from_labelmap


def test_export_then_import_round_trip(tmp_path, review, labels):
    save_review(review, tmp_path / "r", labels)
    written = export_for_tools(load_review(tmp_path / "r"), tmp_path / "r", tmp_path / "out")
    assert sorted(written) == ["ctbl", "itksnap", "labels", "landmarks", "nerve"]

    def table(structures):
        return [(s.label, s.kind, s.vessel_type, s.nerve) for s in structures]

    assert table(read_label_table(written["ctbl"])) == table(review.structures)
    for table_file in (written["ctbl"], written["itksnap"]):
        back, image = review_from_labelmap(
            written["labels"],
            table=table_file,
            markups=[written["landmarks"], written["nerve"]],
        )
        assert table(back.structures) == table(review.structures)
        assert back.landmarks == review.landmarks
        np.testing.assert_allclose(back.nerve_path_lps, review.nerve_path_lps)
        np.testing.assert_array_equal(image.array, labels.array)
        np.testing.assert_allclose(image.affine, labels.affine, atol=1e-5)
    # the exported ctbl lines look like Slicer's own
    line = next(ln for ln in written["ctbl"].read_text().splitlines() if ln.startswith("1 "))
    assert line.split()[:2] == ["1", "facial_nerve"] and len(line.split()) == 6
    np.testing.assert_array_equal(
        load_labels(load_review(tmp_path / "r"), tmp_path / "r").array, labels.array
    )
