"""Spacing-aware multi-scale Hessian vesselness (Frangi) on a region of a volume.

scikit-image's ``frangi``/``sato`` take the Gaussian scale in voxels and treat
the grid as isotropic, so on a 0.35 x 0.35 x 0.7 mm TOF they blur twice as
much across slices and mix up tube and plate. Here every scale is a physical
standard deviation in mm: the Gaussian derivatives are taken with a per-axis
sigma of ``sigma_mm / spacing`` and rescaled to mm^-2, so the Hessian is the
physical one expressed in the grid's (orthogonal) axes. Its eigenvalues do
not depend on how the grid is rotated, so oblique series need no resampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nvcview.errors import InputError

#: default scales (Gaussian sigma, mm): cranial-nerve arteries are 0.6-1.3 mm in radius
DEFAULT_SCALES_MM = (0.4, 0.7, 1.0)


@dataclass
class Vesselness:
    """Vesselness of a region.

    Attributes
    ----------
    value : ndarray of float32
        Frangi vesselness in [0, 1] on the region (box of the source grid).
    scale_mm : ndarray of float32
        Gaussian sigma (mm) of the strongest response; a tube of radius r
        answers most at sigma ~ r / sqrt(2).
    box : tuple of slice
        Index box of the region in the source array.
    """

    value: np.ndarray
    scale_mm: np.ndarray
    box: tuple[slice, ...]


def grid_spacing(affine: np.ndarray) -> np.ndarray:
    """Voxel spacing (mm) along the three array axes of an index -> LPS affine.

    Raises
    ------
    InputError
        The grid axes are not orthogonal (a sheared grid has no per-axis spacing).
    """
    m = np.asarray(affine, float)[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    cos = (m.T @ m) / np.outer(spacing, spacing)
    if np.max(np.abs(cos - np.eye(3))) > 1e-3:
        raise InputError("the volume's grid is sheared (axes not orthogonal); resample it first")
    return spacing


def symmetric_eigenvalues(
    hxx: np.ndarray,
    hyy: np.ndarray,
    hzz: np.ndarray,
    hxy: np.ndarray,
    hxz: np.ndarray,
    hyz: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues of many symmetric 3x3 matrices, closed form, sorted by magnitude.

    Returns ``(l1, l2, l3)`` with ``|l1| <= |l2| <= |l3|`` (same shape as the inputs).
    """
    q = (hxx + hyy + hzz) / 3.0
    p1 = hxy**2 + hxz**2 + hyz**2
    p2 = (hxx - q) ** 2 + (hyy - q) ** 2 + (hzz - q) ** 2 + 2.0 * p1
    p = np.sqrt(p2 / 6.0)
    safe = np.where(p > 1e-12, p, 1.0)
    b11, b22, b33 = (hxx - q) / safe, (hyy - q) / safe, (hzz - q) / safe
    b12, b13, b23 = hxy / safe, hxz / safe, hyz / safe
    det = b11 * (b22 * b33 - b23**2) - b12 * (b12 * b33 - b23 * b13) + b13 * (b12 * b23 - b22 * b13)
    r = np.clip(det / 2.0, -1.0, 1.0)
    phi = np.arccos(r) / 3.0
    e1 = q + 2.0 * p * np.cos(phi)
    e3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    e2 = 3.0 * q - e1 - e3
    # sort by magnitude with three compare-and-swaps (an argsort of the stack is slower)
    a, b, c = e1, e2, e3
    swap = np.abs(a) > np.abs(b)
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    swap = np.abs(b) > np.abs(c)
    b, c = np.where(swap, c, b), np.where(swap, b, c)
    swap = np.abs(a) > np.abs(b)
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    return a, b, c


def hessian_mm(image: np.ndarray, spacing: np.ndarray, sigma_mm: float) -> list[np.ndarray]:
    """Scale-normalised physical Hessian (sigma^2 d^2I/dx_i dx_j, grid axes, mm units).

    One Gaussian per scale (per-axis sigma ``sigma_mm / spacing``), then central
    differences in mm. Returns the six components ``[h00, h11, h22, h01, h02, h12]``.
    """
    spacing = np.asarray(spacing, float)
    sig = float(sigma_mm) / spacing
    g = ndimage.gaussian_filter(np.asarray(image, np.float32), sig, mode="nearest", truncate=3.0)
    d = [np.gradient(g, float(spacing[i]), axis=i) for i in range(3)]
    norm = float(sigma_mm) ** 2
    out = []
    for i, j in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)):
        out.append(np.gradient(d[i], float(spacing[j]), axis=j) * norm)
    return out


def vesselness(
    array: np.ndarray,
    affine: np.ndarray,
    *,
    box: tuple[slice, ...] | None = None,
    scales_mm: tuple[float, ...] = DEFAULT_SCALES_MM,
    bright: bool = True,
    alpha: float = 0.5,
    beta: float = 0.5,
    c_fraction: float = 0.5,
) -> Vesselness:
    """Multi-scale Frangi vesselness with physical (mm) scales.

    Parameters
    ----------
    array : ndarray
        Image with three spatial axes.
    affine : (4, 4) ndarray
        Index -> LPS mm (orthogonal axes, any spacing and rotation).
    box : tuple of slice, optional
        Index box to compute on (default: the whole array); see :func:`region_box`.
    scales_mm : tuple of float
        Gaussian sigmas, mm.
    bright : bool
        True for bright tubes (TOF arteries), False for dark ones (T2 flow voids, nerves).
    alpha, beta : float
        Frangi's plate (Ra) and blob (Rb) sensitivities.
    c_fraction : float
        Structureness constant as a fraction of the largest scale-normalised Hessian
        norm over all scales (one constant, so the scales compete fairly).

    Returns
    -------
    Vesselness
    """
    spacing = grid_spacing(affine)
    if box is None:
        box = tuple(slice(0, int(s)) for s in np.asarray(array).shape[:3])
    sub = np.asarray(np.asarray(array)[box], dtype=np.float32)
    if not bright:
        sub = -sub
    best = np.zeros(sub.shape, np.float32)
    best_scale = np.zeros(sub.shape, np.float32)
    eig = []
    for s in scales_mm:
        l1, l2, l3 = symmetric_eigenvalues(*hessian_mm(sub, spacing, float(s)))
        eig.append((float(s), l1.astype(np.float32), l2.astype(np.float32), l3.astype(np.float32)))
    # one structureness constant for all scales, so responses compare across scales
    c = max(c_fraction * max(float(np.sqrt(a**2 + b**2 + d**2).max()) for _, a, b, d in eig),
            1e-12)  # fmt: skip
    for s, l1, l2, l3 in eig:
        frob2 = l1**2 + l2**2 + l3**2
        a3 = np.abs(l3) + 1e-12
        ra2 = (l2 / a3) ** 2
        rb2 = l1**2 / (np.abs(l2 * l3) + 1e-12)
        v = (
            (1.0 - np.exp(-ra2 / (2 * alpha**2)))
            * np.exp(-rb2 / (2 * beta**2))
            * (1.0 - np.exp(-frob2 / (2 * c**2)))
        )
        v = np.where((l2 < 0) & (l3 < 0), v, 0.0).astype(np.float32)
        better = v > best
        best = np.where(better, v, best)
        best_scale = np.where(better, np.float32(s), best_scale)
    top = float(best.max())
    if top > 0:
        best /= top
    return Vesselness(best, best_scale, box)


def region_box(
    shape: tuple[int, ...],
    affine: np.ndarray,
    points_lps: np.ndarray,
    margin_mm: float,
) -> tuple[slice, ...]:
    """Index box of a volume holding ``points_lps`` (LPS mm) with ``margin_mm`` around them.

    Raises
    ------
    InputError
        No part of the box lies in the volume.
    """
    from nvcview.io.image import lps_to_index

    spacing = grid_spacing(affine)
    idx = lps_to_index(np.asarray(affine, float), np.asarray(points_lps, float).reshape(-1, 3))
    pad = np.ceil(margin_mm / spacing).astype(int)
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + pad + 1, np.asarray(shape[:3]))
    if np.any(hi <= lo):
        raise InputError(
            f"points at LPS {np.round(np.asarray(points_lps).reshape(-1, 3)[0], 1).tolist()} mm "
            "lie outside the volume"
        )
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
