"""The one world-space sampler: values of a volume at points given in patient LPS mm.

Every place that reads a volume at positions of another grid (display grids,
carrying a label map onto another series) goes through :func:`sample_lps` (scattered
points) or :func:`sample_grid` (a whole regular grid, e.g. a display box), so
interpolation order, outside value and the index <-> LPS mapping are chosen once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from nvcview.io.image import lps_to_index

__all__ = ["sample_grid", "sample_lps"]


def sample_lps(
    array: npt.ArrayLike,
    affine: npt.ArrayLike,
    points_lps: npt.ArrayLike,
    *,
    order: int = 1,
    cval: float = 0.0,
) -> np.ndarray:
    """Sample a volume at (..., 3) LPS mm points.

    Parameters
    ----------
    array : array-like
        The volume (three spatial axes).
    affine : (4, 4) array-like
        Its array index -> LPS mm mapping.
    points_lps : (..., 3) array-like
        Where to sample, patient LPS mm.
    order : int
        Spline order: 0 nearest neighbour (label maps), 1 trilinear (images).
    cval : float
        Value of points outside the volume.

    Returns
    -------
    ndarray
        Shape ``points_lps.shape[:-1]``; the array's dtype for ``order == 0``,
        else float (at least float32).
    """
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        return sample_lps(arr.view(np.uint8), affine, points_lps, order=order, cval=cval) > (
            0 if order == 0 else 0.5
        )
    pts = np.asarray(points_lps, dtype=np.float64)
    idx = lps_to_index(np.asarray(affine, dtype=np.float64), pts.reshape(-1, 3))
    out_dtype = arr.dtype if order == 0 else np.result_type(arr.dtype, np.float32)
    vals = ndimage.map_coordinates(
        arr, idx.T, order=order, mode="constant", cval=cval, output=out_dtype
    )
    return vals.reshape(pts.shape[:-1])


def sample_grid(
    array: npt.ArrayLike,
    affine: npt.ArrayLike,
    grid_affine: npt.ArrayLike,
    shape: tuple[int, ...],
    *,
    order: int = 1,
    cval: float = 0.0,
) -> np.ndarray:
    """Sample a volume on a regular grid given by its own index -> LPS affine.

    The same values as :func:`sample_lps` at the grid's voxel centres, without
    building the (..., 3) point array: the grid index -> source index map is one
    affine, applied on the fly by ``scipy.ndimage.affine_transform`` (about ten
    times faster on a 512 x 512 plane, and no coordinate memory).

    Parameters
    ----------
    array : array-like
        The volume (three spatial axes).
    affine : (4, 4) array-like
        Its array index -> LPS mm mapping.
    grid_affine : (4, 4) array-like
        Index of the grid to fill -> LPS mm (any rotation, scale or shear).
    shape : tuple of int
        Shape of the grid to fill (three axes).
    order : int
        Spline order: 0 nearest neighbour (label maps), 1 trilinear (images).
    cval : float
        Value of grid points outside the volume.

    Returns
    -------
    ndarray
        ``shape``; the array's dtype for ``order == 0``, else float (at least float32).
    """
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        out = sample_grid(arr.view(np.uint8), affine, grid_affine, shape, order=order, cval=cval)
        return out > (0 if order == 0 else 0.5)
    m = np.linalg.inv(np.asarray(affine, dtype=np.float64)) @ np.asarray(grid_affine, float)
    out_dtype = arr.dtype if order == 0 else np.result_type(arr.dtype, np.float32)
    return ndimage.affine_transform(
        arr,
        m[:3, :3],
        offset=m[:3, 3],
        output_shape=tuple(int(n) for n in shape[:3]),
        order=order,
        mode="constant",
        cval=cval,
        output=out_dtype,
    )
