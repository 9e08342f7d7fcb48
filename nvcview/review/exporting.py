"""Export a review for 3D Slicer and ITK-SNAP: label map, colour tables, markups.

The exported folder opens directly in both tools: the NIfTI label map (RAS on
disk, placed by its sform/qform), ``labels.ctbl`` (Slicer colour table),
``labels.label`` (ITK-SNAP label description), ``landmarks.mrk.json`` and
``nerve.mrk.json`` (Slicer markups, LPS). The same files import back with
:func:`nvcview.review.importing.review_from_labelmap`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nvcview.fsutil import atomic_path
from nvcview.review.colortable import write_itksnap, write_slicer_ctbl
from nvcview.review.model import Review
from nvcview.review.slicer import export_review_markups


def export_for_tools(
    review: Review, folder: str | os.PathLike, out_dir: str | os.PathLike
) -> dict[str, Path]:
    """Write the review's label map, tables and markups into ``out_dir``.

    Parameters
    ----------
    review : Review
        The review (loaded from ``folder``).
    folder : path-like
        The review folder holding its label map.
    out_dir : path-like
        Output folder (created). Existing files of the same names are replaced
        atomically.

    Returns
    -------
    dict
        ``{"labels", "ctbl", "itksnap", "landmarks", "nerve"}`` -> paths written
        (markups only when the review has landmarks / a nerve path).
    """
    from nvcview.review.store import load_labels

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    load_labels(review, folder)  # refuse a missing or misaligned label map up front
    src = Path(folder) / review.labelmap_path
    written: dict[str, Path] = {}
    dest = out / Path(review.labelmap_path).name
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    written["labels"] = dest
    written["ctbl"] = write_slicer_ctbl(review.structures, out / "labels.ctbl")
    written["itksnap"] = write_itksnap(review.structures, out / "labels.label")
    for p in export_review_markups(review, out):
        written["landmarks" if p.name.startswith("landmarks") else "nerve"] = p
    return written
