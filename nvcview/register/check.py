"""Arrays for checking a registration by eye (Qt-free; the viewer shows them as layers).

Both take the fixed series and the moving series already resampled onto the fixed
grid (:func:`nvcview.register.resample_to`), so every output lies on the fixed grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.io.image import Image


def _same_grid(fixed: Image, moving_on_fixed: Image) -> None:
    if fixed.array.shape != moving_on_fixed.array.shape or not np.allclose(
        fixed.affine, moving_on_fixed.affine, atol=1e-4
    ):
        raise InputError(
            "registration check: the moving series must first be resampled onto the fixed "
            "grid (resample_to)"
        )


def normalised(array: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.5) -> np.ndarray:
    """Intensities scaled to 0..1 between two percentiles (float32)."""
    a = np.asarray(array, dtype=np.float32)
    lo, hi = np.percentile(a, [low_pct, high_pct])
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
    parity = np.zeros(shape, dtype=np.int64)
    for axis in range(3):  # x, y, z of each voxel centre, separably
        coord = (
            a[axis, 0] * np.arange(shape[0])[:, None, None]
            + a[axis, 1] * np.arange(shape[1])[None, :, None]
            + a[axis, 2] * np.arange(shape[2])[None, None, :]
            + a[axis, 3]
        )
        parity += np.floor(coord / tile_mm).astype(np.int64)
    take_moving = parity % 2 == 1
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
