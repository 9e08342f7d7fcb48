"""Label maps as the engine sees them: an integer array, an index -> LPS affine, a name.

Checks that turn bad input into one clear :class:`~nvcview.errors.InputError`
(naming the file and the problem), and cached per-label bounding boxes from
``scipy.ndimage.find_objects``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
from scipy import ndimage

from nvcview.errors import GeometryError, InputError
from nvcview.io.image import Image
from nvcview.types import Box

if TYPE_CHECKING:  # highdicom costs ~0.5 s to import: never needed to read a LabelGrid
    import highdicom as hd

#: Above this label value, labels are compacted before ``find_objects`` (which
#: allocates one entry per value up to the maximum).
MAX_DENSE_LABEL = 100_000
#: An integer volume with more distinct values than this (on a subsample) and most of
#: its voxels non-zero is an image (T2, TOF), not a label map: refused.
MAX_IMAGE_LIKE_VALUES = 255


@dataclass
class LabelGrid:
    """An integer label map placed in patient space.

    Attributes
    ----------
    array : numpy.ndarray
        3D integer array; 0 is background.
    affine : numpy.ndarray
        4x4 matrix mapping array index ``(a0, a1, a2, 1)`` to LPS mm.
    source : str
        Where the map came from (file path or a description), used in messages.
    """

    array: np.ndarray
    affine: np.ndarray
    source: str = "label map"

    @property
    def linear(self) -> np.ndarray:
        """The 3x3 index -> LPS mm part of the affine (columns = voxel edge vectors, mm)."""
        return self.affine[:3, :3]

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel size along each array axis, mm."""
        return np.linalg.norm(self.linear, axis=0)

    def to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map (N, 3) array indices to (N, 3) LPS mm."""
        return np.asarray(ijk, dtype=np.float64) @ self.linear.T + self.affine[:3, 3]

    @property
    def inverse(self) -> np.ndarray:
        """The 4x4 LPS mm -> index matrix (computed once per affine)."""
        key = self.affine.tobytes()
        cached = self.__dict__.get("_inverse")
        if cached is None or cached[0] != key:
            cached = (key, np.linalg.inv(self.affine))
            self.__dict__["_inverse"] = cached
        return cast(np.ndarray, cached[1])

    def to_index(self, xyz: np.ndarray) -> np.ndarray:
        """Map (N, 3) LPS mm to fractional (N, 3) array indices."""
        inv = self.inverse
        return np.asarray(xyz, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]


def as_label_grid(labels: Image | hd.Volume | LabelGrid, source: str | None = None) -> LabelGrid:
    """Check a label map and wrap it as a :class:`LabelGrid`.

    Parameters
    ----------
    labels : Image, highdicom.Volume or LabelGrid
        Integer label map with an index -> LPS mm affine.
    source : str, optional
        Name used in error messages (defaults to the image's source path).

    Raises
    ------
    InputError
        Not 3D, or float data that is not integer-valued (not a label map).
    GeometryError
        Singular or non-finite affine.
    """
    if isinstance(labels, LabelGrid):
        return labels
    # a highdicom.Volume can only exist once highdicom is imported: no import here
    hd_module = sys.modules.get("highdicom")
    if isinstance(labels, Image):
        volume = labels.volume
        source = source or labels.meta.source_path or labels.meta.series_description
    elif hd_module is not None and isinstance(labels, hd_module.Volume):
        volume = labels
    else:
        raise InputError(
            f"{source or 'label map'}: expected an nvcview Image or highdicom.Volume, "
            f"got {type(labels).__name__}"
        )
    return label_grid(volume.array, volume.affine, source or "label map")


def label_grid(array: np.ndarray, affine: np.ndarray, source: str = "label map") -> LabelGrid:
    """Check an array and its affine as a label map and wrap them as a :class:`LabelGrid`.

    Parameters
    ----------
    array : numpy.ndarray
        3D (or 4D with one volume) label array, 0 background.
    affine : numpy.ndarray
        4x4 array index -> patient LPS mm.
    source : str
        Name used in error messages (file path or description).

    Raises
    ------
    InputError
        Not 3D, negative or non-integer values, or image-like data (not a label map).
    GeometryError
        Singular or non-finite affine.
    """
    array = np.asarray(array)
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise InputError(f"{source}: a label map must be 3D, got shape {array.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise GeometryError(f"{source}: label map affine is singular or not finite")
    array = _integer_labels(array, source)
    _refuse_image(array, source)
    return LabelGrid(array=array, affine=affine, source=source)


def _integer_labels(array: np.ndarray, source: str) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        if array.size and array.min() < 0:
            raise InputError(f"{source}: not a label map: negative values (min {int(array.min())})")
        return array
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all() or np.any(array != np.round(array)) or array.min() < 0:
            raise InputError(
                f"{source}: not a label map: {array.dtype} data with non-integer values "
                "(an image, not a segmentation?); save labels as integers"
            )
        return array.astype(np.int32)
    raise InputError(f"{source}: not a label map: unsupported data type {array.dtype}")


def _refuse_image(array: np.ndarray, source: str) -> None:
    """Raise when integer data looks like an MR image: mostly non-zero, many values."""
    step = max(1, int(round((array.size / 2_000_000) ** (1 / 3))))
    sample = array[::step, ::step, ::step]
    nonzero = np.count_nonzero(sample) / max(1, sample.size)
    if nonzero <= 0.5:
        return
    n_values = len(np.unique(sample))
    if n_values > MAX_IMAGE_LIKE_VALUES:
        raise InputError(
            f"{source}: not a label map: {n_values} distinct values and "
            f"{nonzero:.0%} of voxels non-zero (an image such as the T2 or TOF, "
            "not a segmentation?)"
        )


def _c_order_view(array: np.ndarray) -> tuple[np.ndarray, bool]:
    """A C-contiguous view of ``array`` (its transpose when Fortran-ordered), no copy when
    possible; the flag says whether the axes are reversed."""
    if array.flags.c_contiguous:
        return array, False
    if array.flags.f_contiguous:
        return array.T, True
    return np.ascontiguousarray(array), False


def _rows_nonzero(c: np.ndarray) -> np.ndarray:
    """Which first-axis slabs of a C-contiguous array hold a non-zero value (bytewise)."""
    b = c.view(np.uint8).reshape(c.shape[0], -1)
    if b.shape[1] % 8 == 0:  # eight bytes at a time: a value is non-zero iff a byte is
        b = b.view(np.uint64)
    return b.max(axis=1) > 0


def nonzero_box(array: np.ndarray) -> Box | None:
    """Index box of the non-zero (True) voxels of an array (None when all zero).

    The one bounding-box helper of nvcview (label maps, masks, edits). One pass over the array in its own memory order (C or Fortran), then only the
    slab that holds labels is scanned along the other axes.
    """
    c, reversed_ = _c_order_view(array)
    rows = np.flatnonzero(_rows_nonzero(c))
    if len(rows) == 0:
        return None
    slab = c[rows[0] : rows[-1] + 1]
    lo, hi = [int(rows[0])], [int(rows[-1]) + 1]
    for ax in range(1, c.ndim):
        other = tuple(a for a in range(c.ndim) if a != ax)
        hit = np.flatnonzero(slab.any(axis=other))
        lo.append(int(hit[0]))
        hi.append(int(hit[-1]) + 1)
    box = [slice(a, b) for a, b in zip(lo, hi, strict=True)]
    return cast(Box, tuple(box[::-1]) if reversed_ else tuple(box))


def label_boxes(array: np.ndarray) -> dict[int, Box]:
    """Bounding box of every label present (index space), whatever the array's memory order.

    The non-zero region is found in one pass in memory order (C or Fortran, as
    NIfTI files load); ``scipy.ndimage.find_objects`` then scans a C-ordered copy
    of that region only (it is slow on strided and Fortran-ordered arrays).

    Returns
    -------
    dict
        label -> tuple of three slices (array index space); absent labels are left out.
    """
    if array.size == 0:
        return {}
    if array.dtype == np.bool_:  # find_objects refuses booleans: a mask is label 1
        array = array.view(np.uint8)
    crop = nonzero_box(array)
    if crop is None:
        return {}
    sub = np.ascontiguousarray(array[crop])
    off = [s.start for s in crop]

    def shift(box: tuple[slice, ...]) -> Box:
        return tuple(slice(s.start + o, s.stop + o) for s, o in zip(box, off, strict=True))

    top = int(sub.max())
    if top > MAX_DENSE_LABEL:  # sparse huge label values: compact them first
        values, inverse = np.unique(sub, return_inverse=True)
        if values[0] != 0:  # no background: shift so every value gets an object
            values = np.concatenate([[0], values])
            inverse = inverse + 1
        objs = ndimage.find_objects(inverse.reshape(sub.shape))
        return {int(values[i + 1]): shift(s) for i, s in enumerate(objs) if s is not None}
    objs = ndimage.find_objects(sub)
    return {i + 1: shift(s) for i, s in enumerate(objs) if s is not None}


def union_box(
    boxes: Sequence[tuple[slice, ...]], shape: tuple[int, ...], margin: int | np.ndarray = 0
) -> Box:
    """Smallest box holding every box, grown by ``margin`` voxels and clipped to ``shape``."""
    margin = np.broadcast_to(np.asarray(margin, dtype=int), (3,))
    lo = np.min([[s.start for s in b] for b in boxes], axis=0) - margin
    hi = np.max([[s.stop for s in b] for b in boxes], axis=0) + margin
    lo = np.clip(lo, 0, shape)
    hi = np.clip(hi, 0, shape)
    return cast(Box, tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True)))


def require_label(grid: LabelGrid, boxes: dict[int, Box], label: int, role: str) -> Box:
    """The bounding box of ``label``, or a clear error when it has no voxels.

    Parameters
    ----------
    role : str
        What the label is meant to be ("nerve", "vessel 3"), for the message.
    """
    label = int(label)
    if label in boxes:
        return boxes[label]
    if not boxes:
        raise InputError(f"{grid.source}: label map is empty (no labelled voxels)")
    present = sorted(boxes)
    raise InputError(
        f"{grid.source}: {role} label {label} is not in the label map (empty mask); "
        f"labels present: {present}"
    )
