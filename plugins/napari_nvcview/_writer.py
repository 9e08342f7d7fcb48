"""npe2 writer: a labels layer to NIfTI (RAS on disk, readable by 3D Slicer / ITK-SNAP)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_nvcview.layers import labels_from_layer
from nvcview.io.image import make_volume
from nvcview.io.nifti import write_nifti


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write a labels layer to ``path`` (``.nii`` / ``.nii.gz``) on its source grid.

    A layer made by nvcview goes back to the grid of its reference series exactly;
    any other labels layer is written on its display grid (its scale and translate).
    """
    arr, affine = labels_from_layer(
        np.asarray(data), meta.get("metadata", {}), meta.get("scale", (1, 1, 1)),
        meta.get("translate", (0, 0, 0)),
    )  # fmt: skip
    top = int(arr.max()) if arr.size else 0
    arr = arr.astype(np.uint8 if top < 256 else np.uint16)
    return [str(write_nifti(make_volume(arr, affine), path))]
