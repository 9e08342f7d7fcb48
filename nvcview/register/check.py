"""Arrays for checking a registration by eye (Qt-free; the viewer shows them as layers).

Both take the fixed series and the moving series already resampled onto the fixed
grid (:func:`nvcview.register.resample_to`), so every output lies on the fixed grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.io.grids import grid_mismatch
from nvcview.io.image import Image


def _same_grid(fixed: Image, moving_on_fixed: Image) -> None:
    why = grid_mismatch(
        moving_on_fixed.affine, moving_on_fixed.array.shape, fixed.affine, fixed.array.shape
    )
    if why is not None:
        raise InputError(
            "registration check: the moving series must first be resampled onto the fixed "
            f"grid (resample_to): {why}"
        )


#: percentiles are taken over at most about this many voxels (a regular subsample)
PERCENTILE_SAMPLES = 1_000_000


def normalised(array: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.5) -> np.ndarray:
    """Intensities scaled to 0..1 between two percentiles (float32).

    The percentiles come from a regular subsample of at most about a million voxels
    (the full sort of a 512 x 512 x 160 volume took seconds).
    """
    a = np.asarray(array, dtype=np.float32)
    step = max(1, int(np.ceil(a.size / PERCENTILE_SAMPLES)))
    lo, hi = np.percentile(a.reshape(-1)[::step], [low_pct, high_pct])
    if hi <= lo:
        return np.zeros_like(a)
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0)


def checkerboard(fixed: Image, moving_on_fixed: Image, tile_mm: float = 8.0) -> np.ndarray:
    """Fixed and moving in alternating cubes of ``tile_mm`` (LPS mm), both scaled 0..1.

    Tiles are cut in patient space (by the voxels' LPS positions), so they are cubes of
    the same size in mm on any grid. A misregistration shows as edges that jump at the
    tile borders.

    Returns
    -------
    ndarray of float32, the fixed grid's shape.
    """
    _same_grid(fixed, moving_on_fixed)
    if not tile_mm > 0:
        raise InputError(f"checkerboard tile must be a positive size in mm, not {tile_mm}")
    shape = fixed.array.shape
    a = fixed.affine
    take_moving = np.zeros(shape, dtype=bool)
    idx = [
        np.arange(shape[0])[:, None, None],
        np.arange(shape[1])[None, :, None],
        np.arange(shape[2])[None, None, :],
    ]
    for axis in range(3):  # x, y, z of each voxel centre, separably
        # only the index axes this patient axis depends on are broadcast (one for an
        # axis-aligned grid: a 1-D array, not a full volume per axis)
        coord: np.ndarray | float = float(a[axis, 3])
        for j in range(3):
            if abs(a[axis, j]) > 1e-9:
                coord = coord + a[axis, j] * idx[j]
        odd = np.floor(np.asarray(coord) / tile_mm).astype(np.int64) % 2 == 1
        take_moving ^= odd
    return np.where(take_moving, normalised(moving_on_fixed.array), normalised(fixed.array))


def edge_overlay(
    moving_on_fixed: Image, sigma_mm: float = 0.6, fraction: float = 0.25
) -> np.ndarray:
    """Boolean edges of the moving series on the fixed grid, to draw over the fixed one.

    Edges are voxels whose Gaussian gradient magnitude (``sigma_mm``, in mm along each
    axis) exceeds ``fraction`` of its 99.5th percentile.
    """
    if not sigma_mm > 0 or not 0 < fraction < 1:
        raise InputError("edge overlay: sigma_mm must be > 0 and fraction in (0, 1)")
    spacing = np.asarray(moving_on_fixed.spacing_mm)
    grad = ndimage.gaussian_gradient_magnitude(
        normalised(moving_on_fixed.array), sigma=sigma_mm / spacing
    )
    top = float(np.percentile(grad, 99.5))
    if top <= 0:
        return np.zeros(grad.shape, dtype=bool)
    return grad > fraction * top


def region_pair(fixed: Image, moving_on_fixed: Image, box_lps: np.ndarray) -> tuple[Image, Image]:
    """Both images cropped to the voxels covering an LPS box (the registration's region).

    The check views need only the CPA region the registration was made in; cropping
    first keeps them cheap on 512 x 512 x 160 series. Affines keep world positions.
    """
    from nvcview.io.image import make_volume
    from nvcview.register.region import cropped

    _same_grid(fixed, moving_on_fixed)
    out = []
    for img in (fixed, moving_on_fixed):
        arr, aff = cropped(img, np.asarray(box_lps, float).reshape(2, 3))
        if min(arr.shape) < 1:
            raise InputError("registration check: the region lies outside the fixed series")
        out.append(Image(volume=make_volume(arr, aff), meta=img.meta, patient=img.patient))
    return out[0], out[1]
