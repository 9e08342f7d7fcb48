"""Local shape at a contact: crossing angle, vessel diameter, side of the nerve,
indentation depth and deviation of the nerve course.

All positions patient LPS mm, lengths mm, angles degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from nvcview.measure.centreline import Centreline
from nvcview.measure.labelmap import LabelGrid
from nvcview.measure.surface import antialiased_field, curvature_shift
from nvcview.types import Box

#: Patient directions in LPS.
SUPERIOR = np.array([0.0, 0.0, 1.0])
ANTERIOR = np.array([0.0, -1.0, 0.0])
#: A chord whose point lies outside the nerve is taken through the nerve's run nearest
#: the point within this distance (mm): a vessel that dents the nerve past its
#: centreline leaves the centreline point in the vessel.
ANCHOR_MM = 1.0
#: A contact with fewer than two measurable stations on one side (at an end of the
#: nerve) is fitted from the other side alone when it has at least this many.
ONE_SIDED_MIN_STATIONS = 4


@dataclass
class VesselLocal:
    """A vessel around its contact point.

    Attributes
    ----------
    centre : numpy.ndarray
        (3,) centroid of the vessel's cross-section through the contact, LPS mm.
    axis : numpy.ndarray or None
        (3,) unit local direction of the vessel (principal axis), LPS.
    diameter_mm : float or None
        Equivalent-circle diameter of the cross-section, mm.
    """

    centre: np.ndarray
    axis: np.ndarray | None
    diameter_mm: float | None


def _voxels_near(grid: LabelGrid, label: int, box: Box, point: np.ndarray, radius_mm: float):
    """LPS centres of the voxels of ``label`` within ``radius_mm`` of ``point``."""
    centre_idx = grid.to_index(point[None])[0]
    reach = radius_mm / grid.spacing_mm + 1
    lo = np.maximum([s.start for s in box], np.floor(centre_idx - reach).astype(int))
    hi = np.minimum([s.stop for s in box], np.ceil(centre_idx + reach).astype(int) + 1)
    if np.any(hi <= lo):
        return np.empty((0, 3))
    win = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    xyz = grid.to_lps(np.argwhere(grid.array[win] == label) + lo)
    return xyz[np.linalg.norm(xyz - point, axis=1) <= radius_mm]


def principal_axis(xyz: np.ndarray) -> np.ndarray | None:
    """Unit direction of largest spread of (N, 3) points, or None when too few."""
    if len(xyz) < 4:
        return None
    c = xyz - xyz.mean(axis=0)
    w, v = np.linalg.eigh(c.T @ c)
    return v[:, -1]


def vessel_local(
    grid: LabelGrid,
    label: int,
    box: Box,
    point_lps: np.ndarray,
    radius_mm: float = 4.0,
    slab_mm: float = 1.0,
) -> VesselLocal:
    """Axis, centre and diameter of a vessel around a point of its surface.

    The axis is the principal direction of the vessel voxels within a sphere
    around the point (grown once to 2.5 diameters for large vessels). The
    diameter is that of the circle with the area of the cross-section: vessel
    volume in a slab ``slab_mm`` thick, perpendicular to the axis through the
    point, divided by the slab thickness.
    """
    point = np.asarray(point_lps, dtype=np.float64)
    voxvol = abs(float(np.linalg.det(grid.linear)))
    axis, diameter, centre = None, None, point
    for _ in range(2):
        xyz = _voxels_near(grid, label, box, point, radius_mm)
        axis = principal_axis(xyz)
        if axis is None:
            break
        along = (xyz - point) @ axis
        in_slab = np.abs(along) <= slab_mm / 2
        if not in_slab.any():
            break
        area = in_slab.sum() * voxvol / slab_mm
        diameter = 2.0 * float(np.sqrt(area / np.pi))
        centre = xyz[in_slab].mean(axis=0)
        if radius_mm >= 2.5 * diameter:
            break
        radius_mm = 2.5 * diameter
    return VesselLocal(centre=centre, axis=axis, diameter_mm=diameter)


def crossing_angle_deg(t_nerve: np.ndarray, t_vessel: np.ndarray) -> float:
    """Acute angle between two directions, degrees in [0, 90]."""
    c = abs(float(np.dot(t_nerve, t_vessel)))
    c /= float(np.linalg.norm(t_nerve) * np.linalg.norm(t_vessel))
    return float(np.degrees(np.arccos(min(1.0, c))))


def perpendicular_frame(tangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Superior and anterior unit vectors made perpendicular to a nerve direction (LPS).

    When the nerve runs (nearly) superior-inferior, superior is replaced by
    the lateral direction (the nerve's own axis cannot be a side).
    """
    t = tangent / np.linalg.norm(tangent)
    sup = SUPERIOR - np.dot(SUPERIOR, t) * t
    if np.linalg.norm(sup) < 0.3:
        sup = np.array([1.0, 0.0, 0.0]) - t[0] * t
    sup /= np.linalg.norm(sup)
    ant = ANTERIOR - np.dot(ANTERIOR, t) * t - np.dot(ANTERIOR, sup) * sup
    if np.linalg.norm(ant) < 1e-6:
        ant = np.cross(t, sup)
    ant /= np.linalg.norm(ant)
    return sup, ant


def side_of_nerve(tangent: np.ndarray, toward_vessel: np.ndarray) -> str | None:
    """Side of the nerve the vessel lies on: anterior, posterior, superior or inferior.

    Parameters
    ----------
    tangent : numpy.ndarray
        (3,) nerve direction at the contact (LPS).
    toward_vessel : numpy.ndarray
        (3,) vector from the nerve centreline to the vessel's centre (LPS mm).

    Notes
    -----
    The vector's part perpendicular to the nerve is compared with the patient's
    superior and anterior directions made perpendicular to the nerve; the
    larger component names the side.
    """
    t = tangent / np.linalg.norm(tangent)
    w = toward_vessel - np.dot(toward_vessel, t) * t
    if np.linalg.norm(w) < 1e-6:
        return None
    sup, ant = perpendicular_frame(t)
    a, s = float(np.dot(w, ant)), float(np.dot(w, sup))
    if abs(s) >= abs(a):
        return "superior" if s > 0 else "inferior"
    return "anterior" if a > 0 else "posterior"


@dataclass
class NerveGeometry:
    """The nerve's anti-aliased mask seen from its centreline.

    Attributes
    ----------
    centreline : Centreline
        RExP -> IAC, LPS mm.
    grid : LabelGrid
        The label map (for the index <-> LPS mapping).
    field : numpy.ndarray
        Anti-aliased nerve mask in a window of the label map (inside > 0.5).
    start : numpy.ndarray
        (3,) array index of the window's first voxel.
    sigma_vox : tuple of float or None
        The Gaussian blur of ``field`` (voxels per array axis). When given, chord ends
        are corrected for the blur's curvature shift of the 0.5 level
        (:func:`nvcview.measure.surface.curvature_shift`): a convex wall reads too far
        in, the concave floor of a dent too far out, so uncorrected chords read a dent
        about 0.1-0.2 mm shallower than it is.
    """

    centreline: Centreline
    grid: LabelGrid
    field: np.ndarray
    start: np.ndarray
    sigma_vox: tuple[float, float, float] | None = None

    @classmethod
    def build(
        cls,
        grid: LabelGrid,
        label: int,
        box: Box,
        centreline: Centreline,
        sigma_vox: tuple[float, float, float],
    ) -> NerveGeometry:
        """Anti-alias the nerve mask inside its box (plus a margin)."""
        margin = 3 + int(np.ceil(3 * max(sigma_vox)))
        lo = np.array([max(0, s.start - margin) for s in box])
        hi = np.array([min(n, s.stop + margin) for s, n in zip(box, grid.array.shape, strict=True)])
        win = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        fld = antialiased_field(grid.array[win] == label, sigma_vox)
        a, b, c = (float(v) for v in np.broadcast_to(np.asarray(sigma_vox, float), (3,)))
        sv = (a, b, c)
        return cls(centreline=centreline, grid=grid, field=fld, start=lo, sigma_vox=sv)

    def chord_ends(
        self, point: np.ndarray, direction: np.ndarray, reach_mm: float = 4.0
    ) -> tuple[float, float] | None:
        """Where the line ``point + lam * direction`` leaves the nerve on either side.

        Returns ``(lam_lo, lam_hi)`` in mm (``lam_lo < lam_hi``): the contiguous run
        inside the nerve surface (anti-aliased mask above 0.5) that contains ``point``
        (``lam_lo < 0 < lam_hi``) or, when ``point`` lies outside, the run nearest it
        within :data:`ANCHOR_MM` (a dent deeper than the centreline); located to 0.02
        mm; None when there is none or the run leaves the reach (not a cross-section).
        """
        return self.chord_ends_many(point[None], direction[None], reach_mm)[0]

    def chord_ends_many(
        self, points: np.ndarray, directions: np.ndarray, reach_mm: float = 4.0
    ) -> list[tuple[float, float] | None]:
        """:meth:`chord_ends` for (K, 3) points and (K, 3) unit directions (LPS mm) at
        once: one interpolation of the field for every line."""
        step = 0.02
        lam = np.arange(-reach_mm, reach_mm + step / 2, step)
        pts = points[:, None, :] + lam[None, :, None] * directions[:, None, :]
        idx = self.grid.to_index(pts.reshape(-1, 3)) - self.start
        vals = ndimage.map_coordinates(self.field, idx.T, order=1, mode="constant", cval=0.0)
        vals = vals.reshape(len(points), len(lam))
        n = len(lam)
        mid = n // 2
        # every line at once: the run inside (> 0.5) through the middle sample or, when
        # that sample is just outside (a dent reaching past the centreline), through the
        # nearest inside sample within ``ANCHOR_MM``; its first outside sample either side
        inside = vals > 0.5
        at = np.arange(n)[None, :]
        off = np.where(inside, np.abs(at - mid), n)
        centre = np.argmin(off, axis=1)
        near = off[np.arange(len(points)), centre] <= int(round(ANCHOR_MM / step))
        centre = centre[:, None]
        outside = ~inside
        hi = np.where(outside & (at >= centre), at, n - 1).min(axis=1)
        lo = np.where(outside & (at <= centre), at, 0).max(axis=1)
        ok = near & (hi != n - 1) & (lo != 0)
        rows = np.arange(len(points))
        lo_in, hi_in = np.minimum(lo + 1, n - 1), np.maximum(hi - 1, 0)

        def cross(i_in: np.ndarray, i_out: np.ndarray) -> np.ndarray:
            """Where the field crosses 0.5 between two samples (linear), lam in mm."""
            a, b = vals[rows, i_in], vals[rows, i_out]
            with np.errstate(divide="ignore", invalid="ignore"):  # rows not ok: unused
                return lam[i_in] + (lam[i_out] - lam[i_in]) * (a - 0.5) / (a - b)

        lam_lo, lam_hi = cross(lo_in, lo), cross(hi_in, hi)
        if self.sigma_vox is not None and ok.any():
            lam_lo[ok], lam_hi[ok] = self._unblurred(
                points[ok], directions[ok], lam_lo[ok], lam_hi[ok]
            )
        return [
            (float(x), float(y)) if good else None
            for x, y, good in zip(lam_lo, lam_hi, ok, strict=True)
        ]

    def _unblurred(
        self, points: np.ndarray, directions: np.ndarray, lam_lo: np.ndarray, lam_hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chord ends (mm along each line) moved by the blur's curvature shift of the 0.5
        level at them, outward where the wall is convex, inward on a concave floor."""
        assert self.sigma_vox is not None
        ends = np.concatenate(
            [points + lam_lo[:, None] * directions, points + lam_hi[:, None] * directions]
        )
        idx = self.grid.to_index(ends) - self.start
        shift, normal, _ = curvature_shift(self.field, idx, self.grid, self.sigma_vox)
        k = len(points)
        # the shift is along the wall's normal: along the line it is shift / |cos|
        # (at most twice the shift: grazing lines keep the first-order estimate bounded)
        cos = np.abs(np.einsum("ij,ij->i", normal, np.concatenate([directions, directions])))
        along = shift / np.maximum(cos, 0.5)
        return lam_lo - along[:k], lam_hi + along[k:]

    def chord_mm(
        self, point: np.ndarray, direction: np.ndarray, reach_mm: float = 4.0
    ) -> float | None:
        """Length of the nerve's chord through ``point`` along ``direction`` (mm)."""
        ends = self.chord_ends(point, direction, reach_mm)
        return None if ends is None else ends[1] - ends[0]

    def _perp_dirs(self, s: np.ndarray, toward: np.ndarray) -> np.ndarray:
        """:meth:`_perp_dir` at several arc lengths: (K, 3), NaN rows where undefined."""
        t = self.centreline.tangents_at(s)
        d = toward[None] - (t @ toward)[:, None] * t
        n = np.linalg.norm(d, axis=1, keepdims=True)
        return np.where(n > 1e-6, d / np.maximum(n, 1e-300), np.nan)

    def _perp_dir(self, s: float, toward: np.ndarray) -> np.ndarray | None:
        t = self.centreline.tangent_at(s)
        d = toward - np.dot(toward, t) * t
        n = np.linalg.norm(d)
        return d / n if n > 1e-6 else None

    def course(
        self,
        s: float,
        toward: np.ndarray,
        exclusion_mm: float = 2.5,
        window_mm: float = 7.0,
        step_mm: float = 0.5,
        search_mm: float = 1.0,
    ) -> NerveCourse | None:
        """The nerve at a contact against its own course and calibre fitted through it.

        At stations along the centreline (``step_mm`` apart, from ``exclusion_mm``
        to ``window_mm`` of arc on either side of ``s``) the nerve's chord is taken
        along the direction towards the vessel made perpendicular to the local
        tangent: its length (calibre) and its far end (the nerve surface on the
        side away from the vessel, LPS mm). A quadratic in arc length through the
        stations gives the expected calibre and the expected far surface at the
        contact: smooth curvature of an undeformed nerve is followed, a local dent
        or displacement is not. The calibre at the contact is the least chord within
        ``search_mm`` of arc of it (the bottom of a dent). Chords do not depend on where the centreline runs
        inside the nerve, so a drawn and a derived centreline give the same answer.

        Returns
        -------
        NerveCourse or None
            None when the contact chord is not measurable, or fewer than two stations
            on one side and fewer than :data:`ONE_SIDED_MIN_STATIONS` on the other (with
            one side only, the calibre is that side's mean and the far surface is
            continued straight).
        """
        cl = self.centreline
        d0 = self._perp_dir(s, toward)
        if d0 is None:
            return None
        here = self.chord_ends(cl.point_at(s), d0)
        if here is None:
            return None
        # the deepest point of a dent lies within ``search_mm`` of the contact point
        # (the contact is located on the vessel's side, a dent spreads under it)
        least = here[1] - here[0]
        # every chord of the search and of the stations in one interpolation
        offsets = np.arange(exclusion_mm, window_mm + 1e-9, step_mm)
        cand_x = np.concatenate(
            [np.arange(s - search_mm, s + search_mm + 1e-9, 0.25), s - offsets, s + offsets]
        )
        cand_kind = np.concatenate(
            [np.zeros(len(cand_x) - 2 * len(offsets), int), -np.ones_like(offsets, int)]
            + [np.ones_like(offsets, int)]
        )
        inside = (cand_x >= 0.0) & (cand_x <= cl.length_mm)
        cand_x, cand_kind = cand_x[inside], cand_kind[inside]
        dirs = self._perp_dirs(cand_x, toward)
        ok = np.isfinite(dirs[:, 0])
        ok &= (cand_kind == 0) | (dirs @ d0 >= 0.5)
        xs = [float(x) for x in cand_x[ok]]
        ds = list(dirs[ok])
        kinds = [int(k) for k in cand_kind[ok]]
        if not xs:
            return None
        pts = cl.point_at(np.array(xs))
        chords = self.chord_ends_many(pts, np.array(ds))
        sides: dict[int, list[tuple[float, float, np.ndarray]]] = {-1: [], 1: []}
        for xi, d, kind, p, ends in zip(xs, ds, kinds, pts, chords, strict=True):
            if ends is None:
                continue
            if kind == 0:
                least = min(least, ends[1] - ends[0])
            else:
                sides[kind].append((xi - s, ends[1] - ends[0], p + ends[0] * d))
        n_lo, n_hi = len(sides[-1]), len(sides[1])
        if n_lo >= 2 and n_hi >= 2:  # both sides: a quadratic through the contact
            rows = sides[-1] + sides[1]
            degree_calibre = degree_far = 2
        elif max(n_lo, n_hi) >= ONE_SIDED_MIN_STATIONS:
            # a contact at an end of the traced nerve (at the RExP the brainstem is on
            # one side): the calibre as the mean of the other side, the far surface
            # continued straight from it
            rows = sides[-1] if n_lo > n_hi else sides[1]
            degree_calibre, degree_far = 0, 1
        else:
            return None
        x = np.array([r[0] for r in rows])
        powers = np.stack([np.ones_like(x), x, x * x], axis=1)
        calibre_fit, *_ = np.linalg.lstsq(
            powers[:, : degree_calibre + 1], np.array([r[1] for r in rows]), rcond=None
        )
        far_fit, *_ = np.linalg.lstsq(
            powers[:, : degree_far + 1], np.stack([r[2] for r in rows]), rcond=None
        )
        p = cl.point_at(s)
        return NerveCourse(
            calibre_mm=least,
            expected_calibre_mm=float(calibre_fit[0]),
            far_lps=p + here[0] * d0,
            expected_far_lps=np.asarray(far_fit[0]),
            direction=d0,
        )

    def indentation_mm(self, s: float, toward: np.ndarray, **kw) -> float | None:
        """Loss of calibre towards the vessel against the fitted calibre (mm, >= 0)."""
        c = self.course(s, toward, **kw)
        return None if c is None else c.indentation_mm

    def deviation_mm(self, s: float, toward: np.ndarray, **kw) -> float | None:
        """Displacement away from the vessel against the fitted course (mm, >= 0)."""
        c = self.course(s, toward, **kw)
        return None if c is None else c.deviation_mm


@dataclass
class NerveCourse:
    """The nerve at a contact and what its own course and calibre predict there.

    Attributes
    ----------
    calibre_mm, expected_calibre_mm : float
        Chord of the nerve towards the vessel at the contact, and the value fitted
        through the stations either side (mm).
    far_lps, expected_far_lps : numpy.ndarray
        The nerve surface on the side away from the vessel at the contact, and
        where the fitted course puts it (LPS mm).
    direction : numpy.ndarray
        Unit direction towards the vessel, perpendicular to the nerve (LPS).
    """

    calibre_mm: float
    expected_calibre_mm: float
    far_lps: np.ndarray
    expected_far_lps: np.ndarray
    direction: np.ndarray

    @property
    def indentation_mm(self) -> float:
        """Calibre lost at the contact (mm, >= 0)."""
        return max(0.0, self.expected_calibre_mm - self.calibre_mm)

    @property
    def deviation_mm(self) -> float:
        """How far the far surface moved away from the vessel (mm, >= 0): the whole
        nerve was pushed, not dented."""
        return max(0.0, float(np.dot(self.expected_far_lps - self.far_lps, self.direction)))


def segment_crosses_label(
    grid: LabelGrid, p: np.ndarray, q: np.ndarray, label: int, n: int = 21
) -> bool:
    """True when the straight segment p-q (LPS mm) passes through voxels of ``label``."""
    pts = np.linspace(np.asarray(p, float), np.asarray(q, float), n)[1:-1]
    idx = np.rint(grid.to_index(pts)).astype(int)
    ok = np.all((idx >= 0) & (idx < grid.array.shape), axis=1)
    return bool(np.any(grid.array[tuple(idx[ok].T)] == label))
