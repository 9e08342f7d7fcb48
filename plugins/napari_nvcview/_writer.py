"""npe2 writers: a labels layer to NIfTI (RAS on disk, readable by 3D Slicer / ITK-SNAP),
and the review widget's labels layer to a review folder.

Thin: the review is saved by :meth:`nvcview.case.CaseSession.save`, the one save
path (fresh measurements of the state saved, atomic, history, audit).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_nvcview.layers import META_KEY, labels_from_layer
from nvcview.case import CaseSession, save_label_map
from nvcview.display import to_display, update_from_display


def _carry_back_oblique(data: np.ndarray, nv: dict) -> np.ndarray | None:
    """The session's label map with the layer's edits, for a resampled (oblique) layer.

    Only the voxels that differ from the label map as displayed are carried back
    (a whole nearest-neighbour round trip would erode every structure). None when
    the layer is not an oblique nvcview layer of a session.
    """
    grid, session = nv.get("grid"), nv.get("session")
    if (
        grid is None
        or not grid.oblique
        or session is None
        or session.labels is None
        or data.shape != tuple(grid.shape)
    ):
        return None
    affine = np.asarray(nv["affine"], float)
    arr = np.array(session.labels, copy=True)
    shown, _ = to_display(arr, affine, order=0, grid=grid)
    update_from_display(arr, data, grid, affine, data != shown)
    return arr


def _source_labels(data: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """The layer's label map on its source grid, and that grid's index -> LPS affine."""
    nv = meta.get("metadata", {}).get(META_KEY, {})
    arr = _carry_back_oblique(data, nv)
    if arr is not None:
        return arr, np.asarray(nv["affine"], float)
    return labels_from_layer(
        data, meta.get("metadata", {}), meta.get("scale", (1, 1, 1)),
        meta.get("translate", (0, 0, 0)),
    )  # fmt: skip


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write a labels layer to ``path`` (``.nii`` / ``.nii.gz``) on its source grid.

    A layer made by nvcview goes back to the grid of its reference series exactly;
    any other labels layer is written on its display grid (its scale and translate).
    """
    arr, affine = _source_labels(np.asarray(data), meta)
    return [str(save_label_map(arr, affine, path))]


def write_review(path: str, data: Any, meta: dict) -> list[str]:
    """Save the review a labels layer belongs to into the folder ``path``.

    The layer must be the review widget's labels layer (it carries the case in
    its metadata). Edits made in the layer become edits of the case (refused on a
    signed review), then :meth:`~nvcview.case.CaseSession.save` stores the review
    with the measurements of exactly this state.
    """
    from nvcview.errors import InputError

    nv = meta.get("metadata", {}).get(META_KEY, {})
    session: CaseSession | None = nv.get("session")
    if session is None:
        raise InputError(
            f"{path}: this labels layer holds no nvcview review; save it as NIfTI instead"
        )
    arr, _ = _source_labels(np.asarray(data), meta)
    labels = session.ensure_labels()
    if arr.shape != labels.shape:
        raise InputError(f"{path}: the labels layer no longer matches its case's grid")
    if not np.array_equal(arr, labels):
        labels[...] = arr
        session.labels_edited()
    out = session.save(path)
    return [str(out.parent)]
