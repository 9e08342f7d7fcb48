"""The one grid-equality rule: when a label map lies on a series' grid.

Two grids (affine index -> LPS mm + shape) are the same when their shapes are
equal and every voxel centre of one lies within :data:`GRID_TOL_VOXELS` of the
smallest voxel size of the same voxel of the other (checked at the 8 corners;
the affines are linear). That accepts float32 NIfTI headers and the rounding of
other tools (a label map shifted 0.003 mm on 0.4 mm voxels, 0.0075 voxel) and
refuses a shift or a different spacing. It is the rule the review store applies
when it loads and saves label maps (``nvcview measure``, ``report``, ``batch``),
and the viewer applies the same one.

Same voxels stored in another axis order (Slicer / ITK-SNAP NIfTI) are
re-indexed, never resampled, by :func:`nvcview.io.grids.conform_to`.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import numpy.typing as npt

from nvcview.io.image import Image
from nvcview.review.store import GRID_TOL_VOXELS, _grid_mismatch

__all__ = ["GRID_TOL_VOXELS", "grid_mismatch", "same_grid"]


def grid_mismatch(
    affine: npt.ArrayLike,
    shape: tuple[int, ...],
    ref_affine: npt.ArrayLike,
    ref_shape: tuple[int, ...],
) -> str | None:
    """Why a grid differs from a reference grid (one readable phrase), or None when equal.

    Parameters
    ----------
    affine, ref_affine : (4, 4) array-like
        Index -> LPS mm of the grid and of the reference grid.
    shape, ref_shape : tuple of int
        Their array shapes (the first three axes are spatial).
    """
    shape3 = tuple(int(s) for s in tuple(shape)[:3])
    ref3 = tuple(int(s) for s in tuple(ref_shape)[:3])
    return _grid_mismatch(
        np.asarray(affine, dtype=np.float64), shape3, np.asarray(ref_affine, np.float64), ref3
    )


def _grid(obj: Image | hd.Volume) -> tuple[np.ndarray, tuple[int, ...]]:
    vol = obj.volume if isinstance(obj, Image) else obj
    return np.asarray(vol.affine, dtype=np.float64), tuple(int(s) for s in vol.spatial_shape)


def same_grid(a: Image | hd.Volume, b: Image | hd.Volume) -> bool:
    """True when two volumes lie on the same grid by :func:`grid_mismatch` (same axis order)."""
    (aa, sa), (ab, sb) = _grid(a), _grid(b)
    return grid_mismatch(aa, sa, ab, sb) is None
