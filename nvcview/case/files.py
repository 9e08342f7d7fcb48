"""Label map files of a case, and which series belong to one study."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume

__all__ = ["same_study", "save_label_map"]


def save_label_map(array: npt.ArrayLike, affine: npt.ArrayLike, path: str | os.PathLike) -> Path:
    """Write a label map (smallest unsigned type that holds it) to NIfTI, atomically.

    Parameters
    ----------
    array : array-like
        Integer label map (0 = background).
    affine : (4, 4) array-like
        Index -> LPS mm (converted to RAS on disk by :func:`nvcview.io.nifti.write_nifti`).
    path : path-like
        ``.nii`` / ``.nii.gz`` file.
    """
    from nvcview.io.nifti import write_nifti

    arr = np.asarray(array)
    top = int(arr.max()) if arr.size else 0
    if arr.size and int(arr.min()) < 0:
        raise InputError(f"{path}: label map holds negative labels")
    if top > 65535:
        raise InputError(f"{path}: label map holds label {top} > 65535")
    arr = arr.astype(np.uint8 if top < 256 else np.uint16)
    return Path(write_nifti(make_volume(arr, np.asarray(affine, dtype=np.float64)), path))


def same_study(a: Image, b: Image) -> bool:
    """True when two series belong to one study: the same frame of reference, or the
    same StudyInstanceUID (NIfTI files carry neither: then False)."""
    fa, fb = a.meta.frame_of_reference_uid, b.meta.frame_of_reference_uid
    if fa and fb:
        return fa == fb
    sa, sb = a.meta.study_uid, b.meta.study_uid
    return bool(sa) and sa == sb
