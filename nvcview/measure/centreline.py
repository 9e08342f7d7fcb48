"""Nerve centreline: a polyline in patient LPS mm from the RExP towards the IAC.

Gives arc length along the nerve (projection of a point onto the polyline),
the local direction, and derives a centreline from the nerve label when the
reader drew none (geodesic distance inside the mask from the RExP, centroids
of equal-distance shells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.graph import MCP_Geometric

from nvcview.errors import InputError
from nvcview.measure.labelmap import LabelGrid
from nvcview.types import Box


@dataclass
class Centreline:
    """A polyline in LPS mm with cumulative arc length.

    Attributes
    ----------
    points : numpy.ndarray
        (N, 3) vertices, LPS mm, ordered from the brainstem (RExP) outward.
    """

    points: np.ndarray

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2:
            raise InputError(f"nerve centreline must be (N >= 2, 3) LPS mm, got {pts.shape}")
        keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9])
        pts = pts[keep]
        if len(pts) < 2:
            raise InputError("nerve centreline has fewer than two distinct points")
        self.points = pts
        self.cumulative = np.concatenate(
            [[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
        )

    @property
    def length_mm(self) -> float:
        """Total arc length, mm."""
        return float(self.cumulative[-1])

    def project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Closest point on the polyline to each point.

        Parameters
        ----------
        xyz : numpy.ndarray
            (3,) or (P, 3) LPS mm.

        Returns
        -------
        s : numpy.ndarray
            (P,) arc length of the foot point from the first vertex, mm.
        foot : numpy.ndarray
            (P, 3) foot points, LPS mm.
        dist : numpy.ndarray
            (P,) distance from each point to the polyline, mm.
        """
        p = np.atleast_2d(np.asarray(xyz, dtype=np.float64))
        a = self.points[:-1]
        d = np.diff(self.points, axis=0)
        dd = np.einsum("ij,ij->i", d, d)
        t = np.clip(((p[:, None, :] - a[None]) * d[None]).sum(-1) / dd[None], 0.0, 1.0)
        foot = a[None] + t[..., None] * d[None]
        dist = np.linalg.norm(p[:, None, :] - foot, axis=-1)
        j = np.argmin(dist, axis=1)
        rows = np.arange(len(p))
        s = self.cumulative[j] + t[rows, j] * np.sqrt(dd[j])
        return s, foot[rows, j], dist[rows, j]

    def point_at(self, s: float | np.ndarray) -> np.ndarray:
        """Point(s) at arc length ``s`` (mm, clipped to the polyline), LPS mm."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length_mm)
        return np.stack([np.interp(s, self.cumulative, self.points[:, i]) for i in range(3)], -1)

    def tangent_at(self, s: float, half_window_mm: float = 1.5) -> np.ndarray:
        """Unit direction of the nerve (towards the IAC) around arc length ``s``, LPS."""
        return self.tangents_at(np.array([float(s)]), half_window_mm)[0]

    def tangents_at(self, s: np.ndarray, half_window_mm: float = 1.5) -> np.ndarray:
        """:meth:`tangent_at` for an array of arc lengths (mm): (K, 3) unit vectors, LPS."""
        s = np.asarray(s, dtype=np.float64)
        lo = np.maximum(0.0, s - half_window_mm)
        hi = np.minimum(self.length_mm, s + half_window_mm)
        short = hi - lo < 1e-6
        lo, hi = np.where(short, 0.0, lo), np.where(short, self.length_mm, hi)
        t = self.point_at(hi) - self.point_at(lo)
        return t / np.linalg.norm(t, axis=-1, keepdims=True)


def derive_centreline(
    grid: LabelGrid,
    label: int,
    box: Box,
    start_lps: np.ndarray | None = None,
    end_lps: np.ndarray | None = None,
    step_mm: float = 0.5,
) -> Centreline:
    """Centreline of a tubular label from one end to the other.

    Geodesic (in-mask) distance from the voxel nearest ``start_lps`` (the RExP),
    or from the far end of the mask when no start is given, is binned in shells
    of ``step_mm``; the shells' centroids form the polyline. When ``end_lps`` (the
    IAC) is given and lies nearer the first point than the last, the polyline is
    reversed so that it always runs RExP -> IAC.

    Parameters
    ----------
    grid : LabelGrid
        Label map (index -> LPS affine).
    label : int
        The nerve's label.
    box : tuple of slice
        Its bounding box.
    start_lps, end_lps : numpy.ndarray, optional
        (3,) RExP and IAC landmarks, LPS mm.
    step_mm : float
        Shell width, mm.

    Returns
    -------
    Centreline
        Starting at ``start_lps`` when given.
    """
    margin = 1
    shape = grid.array.shape
    lo = np.array([max(0, s.start - margin) for s in box])
    hi = np.array([min(n, s.stop + margin) for s, n in zip(box, shape, strict=True)])
    win = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    mask = grid.array[win] == label
    # keep the largest connected piece
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if n > 1:
        sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
        mask = lab == (1 + int(np.argmax(sizes)))
    ijk = np.argwhere(mask)
    xyz = grid.to_lps(ijk + lo)
    costs = np.where(mask, 1.0, np.inf)
    sampling = tuple(float(s) for s in grid.spacing_mm)
    if start_lps is not None:
        seed = int(np.argmin(np.linalg.norm(xyz - np.asarray(start_lps), axis=1)))
    else:  # double sweep: farthest voxel from an arbitrary one is an end
        dist0 = _geodesic(costs, ijk[0], sampling)
        seed = int(np.argmax(np.where(np.isfinite(dist0[tuple(ijk.T)]), dist0[tuple(ijk.T)], -1)))
    geo = _geodesic(costs, ijk[seed], sampling)[tuple(ijk.T)]
    ok = np.isfinite(geo)
    xyz, geo = xyz[ok], geo[ok]
    bins = np.floor(geo / step_mm).astype(int)
    counts = np.bincount(bins)
    sums = np.stack([np.bincount(bins, weights=xyz[:, i]) for i in range(3)], -1)
    keep = counts > 0
    if start_lps is not None:
        # shells within a nerve radius of the seed are caps, not cross-sections:
        # their centroids zig-zag off the axis; the RExP itself starts the line
        radius = float(np.sqrt(len(xyz) * abs(np.linalg.det(grid.linear)) / np.pi / geo.max()))
        keep &= np.arange(len(counts)) * step_mm >= 1.5 * radius
    pts = sums[keep] / counts[keep, None]
    if len(pts) >= 5:  # remove voxel jitter (which would add arc length); ends kept
        inner = ndimage.gaussian_filter1d(pts, sigma=1.0, axis=0, mode="nearest")
        pts = np.vstack([pts[:1], inner[1:-1], pts[-1:]])
    if start_lps is not None:
        pts = np.vstack([np.asarray(start_lps, float)[None], pts])
    elif end_lps is not None and np.linalg.norm(pts[0] - end_lps) < np.linalg.norm(
        pts[-1] - end_lps
    ):
        pts = pts[::-1]
    if len(pts) < 2:
        raise InputError(f"{grid.source}: nerve label {label} is too small to trace a centreline")
    return Centreline(pts)


def _geodesic(costs: np.ndarray, seed: np.ndarray, sampling: tuple[float, ...]) -> np.ndarray:
    mcp = MCP_Geometric(costs, sampling=sampling)
    dist, _ = mcp.find_costs([tuple(int(v) for v in seed)])
    return dist
