"""Exact geometry of polylines and tubes in patient LPS mm.

A tube is the union of all spheres of one radius centred on a polyline (a swept
sphere). The gap between two such tubes is therefore exactly the minimum
distance between their centreline polylines minus both radii, and the minimum
distance between polylines is the minimum over all segment pairs, which
:func:`segment_segment_closest` computes in closed form.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def unit(v: np.ndarray) -> np.ndarray:
    """Normalise vectors along the last axis."""
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.any(n == 0):
        raise ValueError("cannot normalise a zero vector")
    return v / n


def perp(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Component of ``v`` perpendicular to the unit vector ``axis``, normalised."""
    v = np.asarray(v, dtype=np.float64)
    return unit(v - np.dot(v, axis) * axis)


def rotation_matrix(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """3x3 rotation by ``angle_deg`` degrees about ``axis`` (right-hand rule)."""
    k = unit(np.asarray(axis, dtype=np.float64))
    a = np.radians(angle_deg)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * (kx @ kx)


def arc_lengths(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length (mm) at each vertex of an (N, 3) polyline, starting at 0."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def resample(points: np.ndarray, step_mm: float) -> np.ndarray:
    """Resample a polyline at (nearly) uniform arc-length steps, keeping both ends."""
    s = arc_lengths(points)
    n = max(2, int(np.ceil(s[-1] / step_mm)) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, k]) for k in range(3)], axis=1)


def hermite(
    p0: np.ndarray, t0: np.ndarray, p1: np.ndarray, t1: np.ndarray, n: int = 400
) -> np.ndarray:
    """Cubic Hermite curve from ``p0`` (unit tangent ``t0``) to ``p1`` (tangent ``t1``).

    Tangents are scaled by the chord length, which gives a fair curve.
    Returns (n, 3) points in the frame of the inputs (LPS mm).
    """
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    chord = float(np.linalg.norm(p1 - p0))
    m0, m1 = unit(t0) * chord, unit(t1) * chord
    t = np.linspace(0.0, 1.0, n)[:, None]
    h00 = 2 * t**3 - 3 * t**2 + 1
    h10 = t**3 - 2 * t**2 + t
    h01 = -2 * t**3 + 3 * t**2
    h11 = t**3 - t**2
    return h00 * p0 + h10 * m0 + h01 * p1 + h11 * m1


def tangent_at(points: np.ndarray, arc_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit tangent of a polyline at arc length ``arc_mm`` from its start."""
    s = arc_lengths(points)
    if not 0.0 <= arc_mm <= s[-1]:
        raise ValueError(f"arc length {arc_mm:.3f} mm outside the polyline (0..{s[-1]:.3f} mm)")
    i = int(np.clip(np.searchsorted(s, arc_mm, side="right") - 1, 0, len(s) - 2))
    f = (arc_mm - s[i]) / (s[i + 1] - s[i])
    p = points[i] + f * (points[i + 1] - points[i])
    return p, unit(points[i + 1] - points[i])


def segment_segment_closest(
    p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closest points between segment pairs [p1, q1] and [p2, q2] (broadcast over (..., 3)).

    Closed form (Ericson, Real-Time Collision Detection, 5.1.9); segments of zero
    length are allowed.

    Returns
    -------
    dist, s, t, c1, c2
        Distance (mm), parameters in [0, 1] on each segment and the closest points.
    """
    d1 = q1 - p1
    d2 = q2 - p2
    r = p1 - p2
    a = np.einsum("...k,...k->...", d1, d1)
    e = np.einsum("...k,...k->...", d2, d2)
    f = np.einsum("...k,...k->...", d2, r)
    c = np.einsum("...k,...k->...", d1, r)
    b = np.einsum("...k,...k->...", d1, d2)
    denom = a * e - b * b
    eps = 1e-15
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(
            denom > eps, np.clip((b * f - c * e) / np.where(denom > eps, denom, 1), 0, 1), 0.0
        )
        t = np.where(e > eps, (b * s + f) / np.where(e > eps, e, 1), 0.0)
        s_lo = np.where(a > eps, np.clip(-c / np.where(a > eps, a, 1), 0, 1), 0.0)
        s_hi = np.where(a > eps, np.clip((b - c) / np.where(a > eps, a, 1), 0, 1), 0.0)
    s = np.where(t < 0, s_lo, np.where(t > 1, s_hi, s))
    t = np.clip(t, 0, 1)
    c1 = p1 + s[..., None] * d1
    c2 = p2 + t[..., None] * d2
    return np.linalg.norm(c1 - c2, axis=-1), s, t, c1, c2


def polyline_closest(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact minimum distance between two polylines and where it is reached.

    Parameters
    ----------
    a, b : (N, 3), (M, 3) ndarray
        Polyline vertices, LPS mm.

    Returns
    -------
    dict
        ``distance`` (mm), ``point_a``, ``point_b`` (LPS mm), ``arc_a``, ``arc_b``
        (arc length from each polyline's first vertex, mm).
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    # prune with a KD-tree on vertices: only segment pairs near the best vertex pair matter
    tree = cKDTree(b)
    dv, _ = tree.query(a)
    # the nearer end of each closest segment lies within half a segment of the
    # closest point, so every candidate vertex is within this bound
    bound = (
        float(dv.min())
        + np.linalg.norm(np.diff(a, axis=0), axis=1).max()
        + np.linalg.norm(np.diff(b, axis=0), axis=1).max()
    )
    ia = np.flatnonzero(dv <= bound)
    ia = np.unique(np.clip(np.concatenate([ia - 1, ia]), 0, len(a) - 2))
    near_b = tree.query_ball_point(a[ia], bound)
    jb = np.unique(np.concatenate([np.asarray(j, dtype=int) for j in near_b]))
    jb = np.unique(np.clip(np.concatenate([jb - 1, jb]), 0, len(b) - 2))
    P1, Q1 = a[ia][:, None, :], a[ia + 1][:, None, :]
    P2, Q2 = b[jb][None, :, :], b[jb + 1][None, :, :]
    dist, s, t, c1, c2 = segment_segment_closest(P1, Q1, P2, Q2)
    k = np.unravel_index(int(np.argmin(dist)), dist.shape)
    sa, sb = arc_lengths(a), arc_lengths(b)
    i, j = ia[k[0]], jb[k[1]]
    return {
        "distance": float(dist[k]),
        "point_a": c1[k],
        "point_b": c2[k],
        "arc_a": float(sa[i] + s[k] * (sa[i + 1] - sa[i])),
        "arc_b": float(sb[j] + t[k] * (sb[j + 1] - sb[j])),
    }


def point_polyline_distance(
    points: np.ndarray, line: np.ndarray, tree: cKDTree | None = None, upper_mm: float = np.inf
) -> np.ndarray:
    """Distance (mm) from (P, 3) points to a densely sampled polyline.

    The nearest vertex is found with a KD-tree, then the exact distance to the two
    segments around it is taken (exact for points closer than the local radius of
    curvature, which holds near a tube). Points farther than ``upper_mm`` get inf.
    """
    if tree is None:
        tree = cKDTree(line)
    d, idx = tree.query(points, distance_upper_bound=upper_mm)
    out = np.full(len(points), np.inf)
    ok = np.isfinite(d)
    if not np.any(ok):
        return out
    p = points[ok]
    i = idx[ok]
    best = d[ok]
    for lo in (i - 1, i):
        lo = np.clip(lo, 0, len(line) - 2)
        a, b = line[lo], line[lo + 1]
        ab = b - a
        t = np.clip(np.einsum("ij,ij->i", p - a, ab) / np.einsum("ij,ij->i", ab, ab), 0, 1)
        diff = p - (a + t[:, None] * ab)
        dd = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        best = np.minimum(best, dd)
    out[ok] = best
    return out


def spline_through(points: np.ndarray, step_mm: float = 0.1) -> np.ndarray:
    """Smooth curve through control points (chord-length cubic spline), resampled.

    Parameters
    ----------
    points : (K, 3) ndarray
        Control points, LPS mm (K >= 3).
    step_mm : float
        Arc-length step of the returned polyline.
    """
    from scipy.interpolate import CubicSpline

    points = np.asarray(points, float)
    u = arc_lengths(points)
    cs = CubicSpline(u, points, axis=0, bc_type="natural")
    dense = cs(np.linspace(0.0, u[-1], max(50, int(u[-1] / step_mm) * 4)))
    return resample(dense, step_mm)
