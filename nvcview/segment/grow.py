"""Seed region growing for vessels (bright in TOF) and nerves (dark in T2).

Pure functions on arrays and index -> LPS affines; seeds are LPS mm. Every
grow is bounded by a ball of ``radius_mm`` around the seed, so a leak through a
touching structure cannot run over the whole volume, and every threshold is a
parameter with a documented default derived from the image near the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.io.image import index_to_lps, lps_to_index


@dataclass
class GrowResult:
    """Outcome of a seed grow.

    Attributes
    ----------
    mask : ndarray of bool
        Grown region on the source grid.
    threshold : float
        Intensity threshold that was used.
    seed_index : tuple of int
        Voxel the grow started from (after snapping to the local extremum).
    n_voxels : int
        Size of the region.
    volume_mm3 : float
        Size of the region in mm^3.
    """

    mask: np.ndarray
    threshold: float
    seed_index: tuple[int, int, int]
    n_voxels: int
    volume_mm3: float


def _ball_box(
    shape: tuple[int, ...], affine: np.ndarray, seed_lps: np.ndarray, radius_mm: float
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Bounding box (slices) of the ball and the ball mask inside it."""
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    centre = lps_to_index(affine, seed_lps)
    half = np.ceil(radius_mm / spacing).astype(int) + 1
    lo = np.maximum(np.floor(centre).astype(int) - half, 0)
    hi = np.minimum(np.ceil(centre).astype(int) + half + 1, np.asarray(shape[:3]))
    if np.any(hi <= lo):
        raise InputError(f"seed at LPS {np.round(seed_lps, 1).tolist()} mm lies outside the volume")
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    idx = np.stack(grids, axis=-1).astype(float)
    lps = index_to_lps(affine, idx)
    ball = np.linalg.norm(lps - np.asarray(seed_lps, float), axis=-1) <= radius_mm
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    return box, ball


def _snap_seed(
    array: np.ndarray, affine: np.ndarray, seed_lps: np.ndarray, snap_mm: float, bright: bool
) -> tuple[int, int, int]:
    """Voxel of the brightest (or darkest) value within ``snap_mm`` of the seed."""
    box, ball = _ball_box(array.shape, affine, seed_lps, max(snap_mm, 1e-6))
    sub = np.asarray(array[box], dtype=np.float64)
    if not ball.any():
        # the seed is between voxel centres closer than snap_mm: use the nearest voxel
        ijk = np.round(lps_to_index(affine, seed_lps)).astype(int)
        ijk = np.clip(ijk, 0, np.asarray(array.shape[:3]) - 1)
        return tuple(int(v) for v in ijk)  # type: ignore[return-value]
    vals = np.where(ball, sub, -np.inf if bright else np.inf)
    flat = int(np.argmax(vals) if bright else np.argmin(vals))
    local = np.unravel_index(flat, sub.shape)
    return tuple(int(s.start + v) for s, v in zip(box, local, strict=True))  # type: ignore[return-value]


def _grow(
    array: np.ndarray,
    affine: np.ndarray,
    seed_lps: np.ndarray,
    radius_mm: float,
    inside: np.ndarray,
    box: tuple[slice, ...],
    ball: np.ndarray,
    seed_idx: tuple[int, int, int],
    threshold: float,
    connectivity: int,
) -> GrowResult:
    cand = inside & ball
    local_seed = tuple(i - s.start for i, s in zip(seed_idx, box, strict=True))
    if not cand[local_seed]:
        raise InputError(
            f"seed at LPS {np.round(seed_lps, 1).tolist()} mm is not inside the structure "
            f"(value {float(array[seed_idx]):.1f} vs threshold {threshold:.1f}); click on it"
        )
    structure = ndimage.generate_binary_structure(3, connectivity)
    lab, _ = ndimage.label(cand, structure=structure)
    region = lab == lab[local_seed]
    mask = np.zeros(array.shape[:3], dtype=bool)
    mask[box] = region
    n = int(region.sum())
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    return GrowResult(mask, float(threshold), seed_idx, n, n * voxel_mm3)


def grow_vessel(
    array: np.ndarray,
    affine: np.ndarray,
    seed_lps: np.ndarray,
    *,
    radius_mm: float = 12.0,
    threshold: float | None = None,
    fraction: float = 0.5,
    snap_mm: float = 1.0,
    connectivity: int = 1,
    min_contrast: float = 4.0,
    background_mm: float = 6.0,
) -> GrowResult:
    """Grow a bright vessel in a TOF angiogram from a seed.

    Voxels brighter than ``threshold``, connected to the seed and within
    ``radius_mm`` of it.

    Parameters
    ----------
    array : ndarray
        TOF intensities (three spatial axes).
    affine : (4, 4) ndarray
        Index -> LPS mm.
    seed_lps : (3,) array_like
        Seed position, LPS mm (where the user clicked).
    radius_mm : float
        Radius of the ball the region is confined to, mm.
    threshold : float, optional
        Absolute intensity threshold. Default: halfway between the background
        (median intensity in the ball) and the brightest value near the seed,
        ``bg + fraction * (peak - bg)``.
    fraction : float
        Position of the default threshold between background and peak (0-1).
    snap_mm : float
        The seed moves to the brightest voxel within this distance (mm), so a
        click near the lumen centre is enough.
    connectivity : int
        1 = faces (6-neighbours), 2 = edges, 3 = corners.
    min_contrast : float
        With the default threshold, the peak near the seed must stand this many
        robust standard deviations (1.4826 x MAD of the ball) above the
        background, else there is no vessel at the seed (a click in plain tissue
        would otherwise grow noise).
    background_mm : float
        The background statistics come from a ball of at least this radius (mm),
        whatever ``radius_mm``: a small grow radius inside a large vessel would
        otherwise see only vessel around the seed and refuse it.

    Returns
    -------
    GrowResult

    Raises
    ------
    InputError
        Seed outside the volume, or not on a vessel brighter than the threshold.
    """
    array = np.asarray(array)
    affine = np.asarray(affine, float)
    seed_lps = np.asarray(seed_lps, float)
    box, ball = _ball_box(array.shape, affine, seed_lps, radius_mm)
    seed_idx = _snap_seed(array, affine, seed_lps, snap_mm, bright=True)
    sub = np.asarray(array[box], dtype=np.float64)
    if threshold is None:
        peak = float(array[seed_idx])
        values = sub[ball]
        if background_mm > radius_mm:
            bbox, bball = _ball_box(array.shape, affine, seed_lps, background_mm)
            values = np.asarray(array[bbox], dtype=np.float64)[bball]
        bg = float(np.median(values))
        sigma = 1.4826 * float(np.median(np.abs(values - bg)))
        if peak - bg < min_contrast * max(sigma, 1e-9):
            raise InputError(
                f"no bright vessel at LPS {np.round(seed_lps, 1).tolist()} mm (peak {peak:.0f} "
                f"vs background {bg:.0f} +- {sigma:.0f}); click inside a vessel in the TOF"
            )
        threshold = bg + fraction * (peak - bg)
    return _grow(
        array, affine, seed_lps, radius_mm, sub >= threshold, box, ball, seed_idx,
        threshold, connectivity,
    )  # fmt: skip


def grow_nerve(
    array: np.ndarray,
    affine: np.ndarray,
    seed_lps: np.ndarray,
    *,
    radius_mm: float = 8.0,
    threshold: float | None = None,
    fraction: float = 0.5,
    csf_percentile: float = 90.0,
    snap_mm: float = 0.6,
    connectivity: int = 1,
    within: np.ndarray | None = None,
) -> GrowResult:
    """Grow a dark nerve surrounded by bright CSF in a heavily T2-weighted volume.

    Voxels darker than ``threshold``, connected to the seed and within
    ``radius_mm`` of it (the cistern bounds the grow; keep the radius short of
    the brainstem, which is also darker than CSF).

    Parameters
    ----------
    array : ndarray
        T2 intensities.
    affine : (4, 4) ndarray
        Index -> LPS mm.
    seed_lps : (3,) array_like
        Seed on the nerve, LPS mm.
    radius_mm : float
        Radius of the bounding ball, mm.
    threshold : float, optional
        Absolute threshold. Default ``nerve + fraction * (csf - nerve)`` with
        ``nerve`` the darkest value near the seed and ``csf`` the
        ``csf_percentile`` percentile in the ball.
    fraction : float
        Position of the default threshold between nerve and CSF (0-1).
    csf_percentile : float
        Percentile of the intensities in the ball taken as the CSF level.
    snap_mm : float
        The seed moves to the darkest voxel within this distance (mm).
    connectivity : int
        1 = faces, 2 = edges, 3 = corners.
    within : ndarray of bool, optional
        Only voxels inside this mask (same grid) may join, e.g. a tube around
        the traced centreline: along the attached segment the nerve lies on the
        pons, which is also darker than CSF, and intensity alone cannot part them.

    Returns
    -------
    GrowResult
    """
    array = np.asarray(array)
    affine = np.asarray(affine, float)
    seed_lps = np.asarray(seed_lps, float)
    box, ball = _ball_box(array.shape, affine, seed_lps, radius_mm)
    seed_idx = _snap_seed(array, affine, seed_lps, snap_mm, bright=False)
    sub = np.asarray(array[box], dtype=np.float64)
    if threshold is None:
        dark = float(array[seed_idx])
        csf = float(np.percentile(sub[ball], csf_percentile))
        threshold = dark + fraction * (csf - dark)
    inside = sub <= threshold
    if within is not None:
        within = np.asarray(within, bool)
        if within.shape != array.shape[:3]:
            raise InputError(
                f"'within' mask shape {within.shape} is not the volume's {array.shape}"
            )
        inside &= within[box]
    return _grow(
        array, affine, seed_lps, radius_mm, inside, box, ball, seed_idx,
        threshold, connectivity,
    )  # fmt: skip


def tube_mask(
    shape: tuple[int, ...], affine: np.ndarray, points_lps: np.ndarray, radius_mm: float
) -> np.ndarray:
    """Voxels within ``radius_mm`` of a polyline (e.g. a traced nerve centreline).

    Parameters
    ----------
    shape : tuple of int
        Target grid shape.
    affine : (4, 4) ndarray
        Target index -> LPS mm.
    points_lps : (N, 3) array_like
        Polyline vertices, LPS mm (N >= 1).
    radius_mm : float
        Tube radius, mm.

    Returns
    -------
    ndarray of bool
    """
    pts = np.asarray(points_lps, float).reshape(-1, 3)
    if len(pts) == 0:
        raise InputError("a tube needs at least one centreline point")
    affine = np.asarray(affine, float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    idx = lps_to_index(affine, pts)
    pad = np.ceil(radius_mm / spacing).astype(int) + 1
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + pad + 1, np.asarray(shape[:3]))
    mask = np.zeros(tuple(int(s) for s in shape[:3]), dtype=bool)
    if np.any(hi <= lo):
        return mask
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    p = index_to_lps(affine, np.stack(grids, axis=-1).reshape(-1, 3))
    best = np.full(len(p), np.inf)
    segs = [(pts[i], pts[i + 1]) for i in range(len(pts) - 1)] or [(pts[0], pts[0])]
    for a, b in segs:
        ab = b - a
        denom = float(ab @ ab)
        t = np.zeros(len(p)) if denom == 0 else np.clip((p - a) @ ab / denom, 0.0, 1.0)
        d = np.linalg.norm(p - (a + t[:, None] * ab), axis=1)
        best = np.minimum(best, d)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    mask[box] = (best <= radius_mm).reshape(tuple(int(b - a) for a, b in zip(lo, hi, strict=True)))
    return mask


def resample_mask(
    mask: np.ndarray,
    src_affine: np.ndarray,
    dst_shape: tuple[int, ...],
    dst_affine: np.ndarray,
) -> np.ndarray:
    """Carry a mask from one grid onto another of the same frame of reference.

    Used to put a vessel grown in the TOF grid into the label map, which is
    aligned to the T2. Linear interpolation of the 0/1 mask, kept where >= 0.5;
    only the bounding box of the mask is visited.

    Parameters
    ----------
    mask : ndarray of bool
        Mask on the source grid.
    src_affine, dst_affine : (4, 4) ndarray
        Index -> LPS mm of the source and target grids.
    dst_shape : tuple of int
        Target grid shape.

    Returns
    -------
    ndarray of bool
        Mask on the target grid.
    """
    mask = np.asarray(mask, bool)
    src_affine = np.asarray(src_affine, float)
    dst_affine = np.asarray(dst_affine, float)
    out = np.zeros(tuple(int(s) for s in dst_shape[:3]), dtype=bool)
    nz = np.argwhere(mask)
    if len(nz) == 0:
        return out
    lo_s, hi_s = nz.min(axis=0) - 1, nz.max(axis=0) + 1
    corners = np.array(
        [
            [a, b, c]
            for a in (lo_s[0], hi_s[0])
            for b in (lo_s[1], hi_s[1])
            for c in (lo_s[2], hi_s[2])
        ],
        float,
    )
    lps = index_to_lps(src_affine, corners)
    d = lps_to_index(dst_affine, lps)
    lo = np.maximum(np.floor(d.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(d.max(axis=0)).astype(int) + 2, np.asarray(out.shape))
    if np.any(hi <= lo):
        return out
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    idx = np.stack(grids, axis=-1).reshape(-1, 3).astype(float)
    src = lps_to_index(src_affine, index_to_lps(dst_affine, idx))
    # interpolate in the mask's (padded) box only: a float copy of the whole source
    # grid (44 M voxels for a 512 x 512 x 170 TOF) took a second per grow
    c_lo = np.maximum(nz.min(axis=0) - 1, 0)
    c_hi = np.minimum(nz.max(axis=0) + 2, np.asarray(mask.shape))
    crop = mask[tuple(slice(int(a), int(b)) for a, b in zip(c_lo, c_hi, strict=True))]
    vals = ndimage.map_coordinates(
        crop.astype(np.float32), (src - c_lo).T, order=1, mode="constant"
    )
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    out[box] = (vals >= 0.5).reshape(tuple(int(b - a) for a, b in zip(lo, hi, strict=True)))
    return out
