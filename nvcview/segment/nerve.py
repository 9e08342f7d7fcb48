"""Facial nerve (and CN VIII) from landmarks on a heavily T2-weighted volume.

The reader gives the RExP, the RDP and the IAC porus (and any centreline clicks
between them). The nerve is the dark cord in bright CSF joining them:

1. A brainstem (and bone) estimate: the dark part of the region opened with a
   ball of ``opening_mm`` (thin cords such as nerves and vessels vanish, the pons
   stays), or the brainstem label when the review has one. Nothing of the nerve
   may enter it, so along the attached segment the nerve stops at the pons
   surface instead of flowing into the (also dark) pons.
2. The centreline: minimal paths between consecutive points through a cost that
   is low on dark voxels and high in CSF, outside the brainstem and the
   forbidden area (already labelled vessels), smoothed.
3. The mask: voxels within ``radius_max_mm`` of the centreline darker than the
   half-way level between the nerve (sampled along the centreline) and the
   local CSF, connected to the centreline. The radius therefore comes from the
   image; it is reported per centreline point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from scipy.spatial import cKDTree

from nvcview.errors import InputError
from nvcview.io.image import index_to_lps, lps_to_index
from nvcview.segment.vessel import _box_affine, _size, noise_sigma
from nvcview.segment.vesselness import grid_spacing, region_box

#: the CSF level of the brainstem estimate is the brightest (smoothed) value within this
#: distance, mm: wide enough to reach CSF from deep inside the pons
CSF_WINDOW_MM = 12.0


@dataclass
class NerveResult:
    """Outcome of :func:`segment_nerve`.

    Attributes
    ----------
    mask : ndarray of bool
        Nerve voxels on the image grid.
    centreline_lps : (N, 3) ndarray
        Smoothed centreline from the first to the last given point, LPS mm.
    radius_mm : (N,) ndarray
        Nerve radius at each centreline point from the mask (largest inscribed
        distance within one voxel of the point), mm.
    brainstem : ndarray of bool
        The brainstem/bone area the nerve was kept out of (image grid).
    box : tuple of slice
        Region the work was done in.
    """

    mask: np.ndarray
    centreline_lps: np.ndarray
    radius_mm: np.ndarray
    brainstem: np.ndarray
    box: tuple[slice, ...]


def _ellipsoid(radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    half = np.maximum(np.floor(radius_mm / spacing).astype(int), 1)
    g = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)],
                    indexing="ij")  # fmt: skip
    return np.sqrt(sum(x**2 for x in g)) <= radius_mm


def estimate_brainstem(
    smoothed: np.ndarray, csf: np.ndarray, nerve_level: float, spacing: np.ndarray,
    opening_mm: float = 1.5,
) -> np.ndarray:  # fmt: skip
    """Dark tissue (brainstem, bone, parenchyma) without thin cords, on a region.

    ``smoothed`` is the smoothed T2, ``csf`` the local CSF level; a voxel is dark
    below the half-way level; the opening by a ball of ``opening_mm`` removes
    nerves and vessels (radius < ``opening_mm``).
    """
    dark = smoothed < 0.5 * (csf + nerve_level)
    return ndimage.binary_opening(dark, structure=_ellipsoid(opening_mm, spacing))


def brainstem_estimate(
    t2: np.ndarray,
    affine: np.ndarray,
    points_lps: np.ndarray,
    *,
    nerve_points_lps: np.ndarray,
    margin_mm: float = 8.0,
    smooth_mm: float = 0.2,
    opening_mm: float = 1.5,
) -> np.ndarray:
    """Brainstem (and bone) estimate on the whole grid, computed around some points.

    The nerve level is sampled at ``nerve_points_lps`` (the landmarks); see
    :func:`estimate_brainstem`. Used to keep every structure of a study out of the pons.
    """
    t2 = np.asarray(t2)
    affine = np.asarray(affine, float)
    spacing = grid_spacing(affine)
    pts = np.asarray(points_lps, float).reshape(-1, 3)
    box = region_box(t2.shape, affine, pts, margin_mm)
    baff = _box_affine(affine, box)
    sub = np.asarray(t2[box], np.float32)
    sm = ndimage.gaussian_filter(sub, smooth_mm / spacing, mode="nearest")
    broad = ndimage.gaussian_filter(sub, 0.8 / spacing, mode="nearest")
    csf = ndimage.maximum_filter(broad, size=_size(CSF_WINDOW_MM, spacing))
    idx = lps_to_index(baff, np.asarray(nerve_points_lps, float).reshape(-1, 3))
    level = float(np.median(ndimage.map_coordinates(sm, idx.T, order=1, mode="nearest")))
    out = np.zeros(t2.shape[:3], bool)
    out[box] = estimate_brainstem(sm, csf, level, spacing, opening_mm)
    return out


def _smooth_path(pts: np.ndarray, window_mm: float, step_mm: float = 0.25) -> np.ndarray:
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return pts[:1]
    t = np.linspace(0, s[-1], max(2, int(np.ceil(s[-1] / step_mm)) + 1))
    p = np.stack([np.interp(t, s, pts[:, k]) for k in range(3)], 1)
    w = max(1, int(round(window_mm / step_mm)))
    out = p.copy()
    for k in range(3):
        pad = np.pad(p[:, k], w, mode="reflect", reflect_type="odd")
        out[:, k] = np.convolve(pad, np.ones(2 * w + 1) / (2 * w + 1), mode="same")[w:-w]
    out[0], out[-1] = p[0], p[-1]
    return out


def segment_nerve(
    t2: np.ndarray,
    affine: np.ndarray,
    points_lps: ArrayLike,
    *,
    allowed: np.ndarray | None = None,
    brainstem: np.ndarray | None = None,
    radius_max_mm: float = 1.6,
    fraction: float = 0.5,
    smooth_mm: float = 0.2,
    margin_mm: float = 5.0,
    opening_mm: float = 1.5,
    path_smooth_mm: float = 1.0,
) -> NerveResult:
    """Segment a cranial nerve (dark in CSF) along landmarks on a T2 volume.

    Parameters
    ----------
    t2 : ndarray
        Heavily T2-weighted intensities (CSF bright).
    affine : (4, 4) ndarray
        Index -> LPS mm.
    points_lps : sequence of (3,)
        Points along the nerve in order, LPS mm: for VII the RExP, any centreline
        clicks, the RDP and the IAC porus; for VIII its root and porus.
    allowed : ndarray of bool, optional
        Editable area (same grid): e.g. ``labels == 0`` so labelled vessels stay theirs.
    brainstem : ndarray of bool, optional
        Brainstem label (same grid); default: estimated from the image.
    radius_max_mm : float
        No nerve voxel lies farther than this from the centreline, mm.
    fraction : float
        Threshold position between the nerve level (0) and the CSF level (1).
    smooth_mm : float
        Gaussian sigma of the light smoothing, mm.
    margin_mm : float
        Region margin around the points, mm.
    opening_mm : float
        Ball radius of the brainstem estimate's opening, mm.
    path_smooth_mm : float
        Half-window of the centreline smoothing, mm.

    Returns
    -------
    NerveResult

    Raises
    ------
    InputError
        Fewer than two points, points outside the volume, or no dark path joins them.
    """
    t2 = np.asarray(t2)
    affine = np.asarray(affine, float)
    pts = np.asarray(points_lps, float).reshape(-1, 3)
    if len(pts) < 2:
        raise InputError("a nerve needs at least two points (e.g. RExP and IAC)")
    spacing = grid_spacing(affine)
    box = region_box(t2.shape, affine, pts, margin_mm)
    baff = _box_affine(affine, box)
    sub = np.asarray(t2[box], np.float32)
    sm = ndimage.gaussian_filter(sub, smooth_mm / spacing, mode="nearest")
    broad = ndimage.gaussian_filter(sub, 0.8 / spacing, mode="nearest")
    csf = ndimage.maximum_filter(broad, size=_size(3.0, spacing))
    idx_pts = lps_to_index(baff, pts)
    if np.any(idx_pts < -0.5) or np.any(idx_pts > np.asarray(sub.shape) - 0.5):
        raise InputError("a nerve point lies outside the T2 volume")
    vals = ndimage.map_coordinates(sm, idx_pts.T, order=1, mode="nearest")
    nerve_level = float(np.median(vals))
    sigma = noise_sigma(sub)
    if float(np.median(csf)) - nerve_level < 5 * sigma:
        raise InputError(
            "the nerve points do not lie on a dark cord in bright CSF (check the landmarks "
            "and that the series is the heavily T2-weighted one)"
        )
    if brainstem is None:
        wide = ndimage.maximum_filter(broad, size=_size(CSF_WINDOW_MM, spacing))
        bs = estimate_brainstem(sm, wide, nerve_level, spacing, opening_mm)
    else:
        bs = np.asarray(brainstem, bool)[box]
    ok = ~bs
    if allowed is not None:
        ok &= np.asarray(allowed, bool)[box]
    # --- centreline: minimal dark path through the waypoints
    dark = np.clip((csf - sm) / np.maximum(csf - nerve_level, 1e-6), 0.0, 1.0)
    cost = np.where(ok, 0.02 + (1.0 - dark) ** 2, np.inf)
    from skimage.graph import MCP_Geometric

    path_idx: list[np.ndarray] = []
    for a, b in zip(idx_pts[:-1], idx_pts[1:], strict=True):
        ia = tuple(int(v) for v in np.clip(np.rint(a), 0, np.asarray(sub.shape) - 1))
        ib = tuple(int(v) for v in np.clip(np.rint(b), 0, np.asarray(sub.shape) - 1))
        c = cost.copy()
        c[ia] = c[ib] = 0.02  # a landmark on the brainstem surface must stay reachable
        mcp = MCP_Geometric(c, fully_connected=True, sampling=tuple(float(s) for s in spacing))
        dist, _ = mcp.find_costs([ia], [ib])
        if not np.isfinite(dist[ib]):
            raise InputError(
                "no path along the nerve joins two of its points outside the brainstem and "
                "the labelled structures"
            )
        tr = np.asarray(mcp.traceback(ib), float)
        path_idx.append(tr if not path_idx else tr[1:])
    raw = index_to_lps(baff, np.concatenate(path_idx))
    raw[0], raw[-1] = pts[0], pts[-1]
    centre = _smooth_path(raw, path_smooth_mm)
    # --- mask: darker than half-way between the nerve (along the path) and local CSF
    shape = sub.shape
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    lps = index_to_lps(baff, grid)
    tree = cKDTree(centre)
    d, near = tree.query(lps, distance_upper_bound=radius_max_mm)
    tube = np.isfinite(d).reshape(shape)
    c_idx = lps_to_index(baff, centre)
    level_c = ndimage.map_coordinates(sm, c_idx.T, order=1, mode="nearest")
    level_c = ndimage.median_filter(level_c, size=min(len(level_c), 9), mode="nearest")
    flat = np.full(len(lps), np.nan)
    flat[np.isfinite(d)] = level_c[near[np.isfinite(d)]]
    nerve_at = flat.reshape(shape)
    thr = nerve_at + fraction * (csf - nerve_at)
    inside = tube & ok & (sm <= np.where(tube, thr, -np.inf))
    lab, n = ndimage.label(inside, structure=ndimage.generate_binary_structure(3, 1))
    ci = np.clip(np.rint(c_idx).astype(int), 0, np.asarray(shape) - 1)
    hit = np.unique(lab[ci[:, 0], ci[:, 1], ci[:, 2]])
    hit = hit[hit > 0]
    inside = np.isin(lab, hit)
    mask = np.zeros(t2.shape[:3], bool)
    mask[box] = inside
    full_bs = np.zeros(t2.shape[:3], bool)
    full_bs[box] = bs
    edt = ndimage.distance_transform_edt(inside, sampling=spacing)
    r = ndimage.maximum_filter(edt, size=3)
    radius = ndimage.map_coordinates(r, c_idx.T, order=0, mode="nearest")
    return NerveResult(mask, centre, radius.astype(float), full_bs, box)
