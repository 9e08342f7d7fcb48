"""Analytic solid shapes with signed distance functions, in patient LPS mm.

Negative inside, positive outside. Tubes (swept spheres along a polyline) have
exact signed distances; ellipsoids use the standard first-order approximation,
exact on the surface, which is all the renderer needs (the ground truth never
measures against an ellipsoid).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from nvcview_sample.geometry import point_polyline_distance, unit

#: a reflection matrix x -> -x (patient left <-> right)
MIRROR_X = np.diag([-1.0, 1.0, 1.0])


@dataclass
class Tube:
    """A swept sphere of radius ``radius`` (mm) along polyline ``points`` (N, 3) LPS mm."""

    points: np.ndarray
    radius: float
    _tree: cKDTree | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 3 or len(self.points) < 2:
            raise ValueError("tube centreline must be (N>=2, 3)")

    @property
    def tree(self) -> cKDTree:
        if self._tree is None:
            self._tree = cKDTree(self.points)
        return self._tree

    def bounds(self, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (lo, hi) of the solid, grown by ``margin`` mm."""
        r = self.radius + margin
        return self.points.min(axis=0) - r, self.points.max(axis=0) + r

    def sdf(self, p: np.ndarray, band: float = 1.0) -> np.ndarray:
        """Signed distance (mm) of (P, 3) points; clipped to ``radius + band`` far away."""
        p = np.asarray(p, dtype=np.float64)
        far = self.radius + band
        out = np.full(len(p), band)
        lo, hi = self.bounds(band)
        inside = np.all((p >= lo) & (p <= hi), axis=1)
        if np.any(inside):
            q = p[inside]
            if len(self.points) <= 8:  # a few segments: exact distances directly
                d = np.full(len(q), np.inf)
                for a, b in zip(self.points[:-1], self.points[1:], strict=True):
                    ab = b - a
                    t = np.clip((q - a) @ ab / (ab @ ab), 0.0, 1.0)
                    diff = q - (a + t[:, None] * ab)
                    d = np.minimum(d, np.sqrt(np.einsum("ij,ij->i", diff, diff)))
            else:
                d = point_polyline_distance(q, self.points, self.tree, upper_mm=far)
            out[inside] = np.minimum(d - self.radius, band)
        return out

    def transformed(self, m: np.ndarray) -> Tube:
        """The tube mapped by a 3x3 linear map (rotation or reflection) about the origin."""
        return Tube(self.points @ np.asarray(m).T, self.radius)


@dataclass
class Ellipsoid:
    """Axis-aligned ellipsoid: centre (3,) and semi-axes (3,) in LPS mm."""

    centre: np.ndarray
    semi_axes: np.ndarray

    def __post_init__(self) -> None:
        self.centre = np.asarray(self.centre, dtype=np.float64)
        self.semi_axes = np.asarray(self.semi_axes, dtype=np.float64)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Approximate signed distance (mm), exact on the surface (zero set)."""
        q = (np.asarray(p, dtype=np.float64) - self.centre) / self.semi_axes
        k0 = np.sqrt(np.einsum("ij,ij->i", q, q))
        q2 = q / self.semi_axes
        k1 = np.sqrt(np.einsum("ij,ij->i", q2, q2))
        with np.errstate(divide="ignore", invalid="ignore"):
            d = k0 * (k0 - 1.0) / k1
        return np.where(k1 > 0, d, -self.semi_axes.min())

    def surface_point(self, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
        """Surface point at azimuth (from +x towards +y) and elevation (towards +z), LPS mm."""
        az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
        d = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        return self.centre + self.semi_axes * d

    def normal(self, surface_point: np.ndarray) -> np.ndarray:
        """Outward unit normal at a surface point."""
        return unit((np.asarray(surface_point) - self.centre) / self.semi_axes**2)

    def mirrored(self) -> Ellipsoid:
        return Ellipsoid(self.centre @ MIRROR_X, self.semi_axes)


@dataclass
class HalfSpace:
    """Solid ``{p : (p - point) . normal <= 0}``; ``normal`` is the outward unit normal."""

    point: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        self.point = np.asarray(self.point, dtype=np.float64)
        self.normal = unit(np.asarray(self.normal, dtype=np.float64))

    def sdf(self, p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, dtype=np.float64) - self.point) @ self.normal

    def mirrored(self) -> HalfSpace:
        return HalfSpace(self.point @ MIRROR_X, self.normal @ MIRROR_X)
