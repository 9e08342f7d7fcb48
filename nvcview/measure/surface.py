"""Sub-voxel surfaces of labelled structures and the gap between two of them.

Method (all distances in patient LPS mm, never voxels):

1. Coarse pass: boundary voxel centres of both labels (inside their cached
   bounding boxes) to LPS, nearest-neighbour distances with ``cKDTree``. This
   finds the region where the two structures come closest (error < 1 voxel).
2. Fine pass, in a small window around that region only: each binary mask is
   anti-aliased with a Gaussian (``sigma_mm`` = 0.35 mm, at least 0.6 voxel
   along each axis, enough to remove the staircase) and its 0.5 level set
   is extracted with ``skimage.measure.marching_cubes``; vertices are mapped to
   LPS through the affine, so oblique and anisotropic grids need no special case.
   The smoothing moves curved surfaces inwards by ``1/2 tr(P Sigma P K)``
   (:func:`curvature_shift`).
3. Exact point-to-triangle distances (both directions) between the two meshes
   give the gap and the closest point on each surface; with method "corrected"
   (the default; "gaussian" is the earlier engine) the two points then move
   outward by the mean shrinkage of their surface within one voxel: the gap is
   stationary at its minimum, so this equals correcting every vertex
   (:func:`correct_curvature`, used by the 3D scene) to first order. Where the labels have
   face-adjacent voxels (no background voxel between them) or one surface dips
   inside the other structure the two touch: gap 0. The contact is located at the
   minimum of a quadratic fitted to the gap over the valley floor.

The resolution of a gap is the voxel size along the gap direction ``u``,
``1 / |A^-1 u|`` with ``A`` the 3x3 index -> LPS matrix: the radius of the
voxel ellipsoid in that direction (the spacing itself along an array axis).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.edge import EdgeWindow, edge_blur_vox
from nvcview.measure.labelmap import (
    Box,
    LabelGrid,
    as_label_grid,
    label_boxes,
    require_label,
)
from nvcview.measure.records import SURFACE_METHODS, MeasureSettings
from nvcview.measure.triangles import closest_point_on_triangles, vertex_faces
from nvcview.measure.uncertainty import gap_interval

if TYPE_CHECKING:  # highdicom costs ~0.5 s to import: only type hints use it here
    import highdicom as hd

#: Default anti-aliasing of binary masks before marching cubes: Gaussian sigma in mm,
#: and its minimum in voxels along each array axis.
DEFAULT_SIGMA_MM = 0.35
DEFAULT_MIN_SIGMA_VOX = 0.6
#: Surface estimators: "corrected" (default: Gaussian anti-aliasing with the curvature
#: shrinkage of the 0.5 level set undone per vertex; face-adjacent voxels touch) and
#: "gaussian" (the engine before issue 18: 0.3 mm / 0.5 voxel Gaussian, gap = argmin;
#: reads curved surfaces about 0.1 mm too far apart; kept as the benchmark baseline)
#: and "antialias" (ITK's constrained anti-aliasing, :func:`whitaker_field`; compared
#: in benchmarks/bench_capsules.py, not better on the capsules and 1.7x slower).
#: the "gaussian" method's own smoothing
GAUSSIAN_SIGMA_MM = 0.3
GAUSSIAN_MIN_SIGMA_VOX = 0.5
#: ITK AntiAliasBinaryImageFilter ("antialias" method): its default RMS change at
#: which it stops (converging further, RMS 0.02, shrinks convex shapes: the least
#: curved surface inside the constraints lies on their inner side) and an iteration cap.
ANTIALIAS_RMS = 0.07
ANTIALIAS_ITERATIONS = 1000
#: Curvature correction: at most this curvature (1/mm) is undone (radius 0.5 mm), and
#: the per-vertex shift is averaged over this many rings of neighbouring faces.
MAX_CURVATURE_PER_MM = 2.0
SHIFT_SMOOTHING_RINGS = 2
#: Numerical tolerance (mm): face-adjacent masks give smoothed surfaces that meet
#: at the shared voxel face up to float rounding; such gaps are contact (gap 0).
TOUCH_TOL_MM = 0.01
#: The contact location comes from the surface patch whose gap is within this many
#: largest voxel spacings of the minimum (a quadratic fitted over it).
PATCH_TOL_VOX = 1.0
#: Work caps per direction: exact distances near the minimum, and valley samples.
MAX_EXACT = 1500
MAX_VALLEY = 250
#: Per-point answers a table keeps (:meth:`Mesh.closest`, boundary distances; about
#: 150 bytes each): the table is emptied past this many points
MEMO_POINTS = 50_000


@dataclass
class GapResult:
    """Minimum surface-to-surface gap between two labelled structures.

    Attributes
    ----------
    gap_mm : float
        Minimum distance between the two surfaces, mm (0 when they touch).
    point_a_lps, point_b_lps : numpy.ndarray
        Closest point on surface a and on surface b, (3,) patient LPS mm.
    resolution_mm : float
        Voxel size along the gap direction, mm: gaps below it cannot be told
        from contact.
    touching : bool
        True when the surfaces touch or interpenetrate (gap 0).
    patch_a_lps, patch_b_lps : numpy.ndarray or None
        Centre of the contact on each surface (LPS mm): the minimum of a quadratic
        fitted to the gap where it is within one voxel of its minimum (or the
        centre of the region where the surfaces touch).
        Use it to locate the contact along the nerve; defaults to the closest points.
    """

    gap_mm: float
    point_a_lps: np.ndarray
    point_b_lps: np.ndarray
    resolution_mm: float
    touching: bool = False
    patch_a_lps: np.ndarray | None = None
    patch_b_lps: np.ndarray | None = None
    #: index-space window the fine pass worked in, and the coarse reach (mm): voxels
    #: of either structure outside the window and farther than ``reach_mm`` from the
    #: other cannot change the result (used to keep cached results across edits)
    window: Box | None = field(default=None, repr=False)
    reach_mm: float | None = field(default=None, repr=False)
    #: uncertainty interval (mm) under the default settings; :class:`CaseMeasurer`
    #: and ``nvcview distance`` recompute it with theirs (:func:`with_interval`)
    gap_low_mm: float | None = None
    gap_high_mm: float | None = None
    uncertainty_method: str | None = None
    #: labels touching by face-adjacent voxels: the largest spacing across their shared
    #: faces, mm (the widest CSF gap they can hide; the touching interval's top)
    shut_span_mm: float | None = None

    def __post_init__(self) -> None:
        if self.gap_low_mm is None or self.gap_high_mm is None:
            self.with_interval(None)
        if self.patch_a_lps is None:
            self.patch_a_lps = np.asarray(self.point_a_lps, dtype=np.float64)
        if self.patch_b_lps is None:
            self.patch_b_lps = np.asarray(self.point_b_lps, dtype=np.float64)

    def with_interval(self, settings: MeasureSettings | None) -> GapResult:
        """Fill ``gap_low_mm`` / ``gap_high_mm`` / ``uncertainty_method`` (mm) under
        ``settings`` (defaults when None); returns self."""
        iv = gap_interval(
            self.gap_mm, self.resolution_mm, self.touching, settings, self.shut_span_mm
        )
        self.gap_low_mm, self.gap_high_mm = iv.gap_low_mm, iv.gap_high_mm
        self.uncertainty_method = iv.method
        return self

    @property
    def direction_lps(self) -> np.ndarray | None:
        """Unit vector from point a to point b (LPS), None when they coincide."""
        d = np.asarray(self.point_b_lps) - np.asarray(self.point_a_lps)
        n = float(np.linalg.norm(d))
        return d / n if n > 1e-9 else None


@dataclass
class Mesh:
    """A triangle mesh in patient LPS mm.

    Attributes
    ----------
    verts : numpy.ndarray
        (N, 3) vertices, LPS mm.
    faces : numpy.ndarray
        (M, 3) vertex indices.
    normals : numpy.ndarray
        (N, 3) unit outward normals, LPS.
    """

    verts: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    _tree: cKDTree | None = field(default=None, repr=False)
    _adj: np.ndarray | None = field(default=None, repr=False)
    #: longest edge (mm), computed once (reset where the vertices move)
    _edge: float | None = field(default=None, repr=False)
    #: per-point answers of :meth:`closest` and :meth:`nearest_vertex` (see ``_table``)
    _memo: dict | None = field(default=None, repr=False)

    @property
    def tree(self) -> cKDTree:
        """KD-tree of the vertices (built once)."""
        if self._tree is None:
            self._tree = cKDTree(self.verts)
        return self._tree

    @property
    def adjacency(self) -> np.ndarray:
        """Faces incident to each vertex, padded with -1."""
        if self._adj is None:
            self._adj = vertex_faces(self.faces, len(self.verts))
        return self._adj

    def _table(self, what: tuple) -> dict:
        """The per-point answers kept for one kind of query (``what``) on this mesh.

        Each answer depends only on the point and the mesh (its vertices, faces and
        KD-tree), never on the other points of a batch, so it is kept by the point's
        bytes: a cached mesh (an unchanged structure, :class:`SurfaceCache`) is asked
        again about mostly the same points after an edit of the other structure. The
        tables are dropped when the vertices, faces or tree are replaced (e.g.
        :func:`correct_curvature`), and emptied past :data:`MEMO_POINTS` points.
        """
        tree = self.tree
        memo = self._memo
        if (
            memo is None
            or memo["tree"] is not tree
            or memo["verts"] is not self.verts
            or memo["faces"] is not self.faces
        ):
            memo = self._memo = {"tree": tree, "verts": self.verts, "faces": self.faces}
        return cast(dict, memo.setdefault(what, {}))

    def _memoised(
        self,
        what: tuple,
        points: np.ndarray,
        compute: Callable[[np.ndarray], tuple[np.ndarray, ...]],
    ) -> tuple[np.ndarray, ...]:
        """``compute(points)`` row by row, from the table ``what`` where a row was
        asked before (bit-identical: each row's answer depends on that row only)."""
        return _rows_memoised(self._table(what), points, compute)

    def nearest_vertex(self, points: np.ndarray, upper_bound: float = np.inf) -> np.ndarray:
        """Distance (mm) from each point to the nearest vertex, ``inf`` beyond
        ``upper_bound`` (``cKDTree.query``; answers kept per point, see :meth:`_table`)."""
        bound = float(upper_bound)

        def compute(p: np.ndarray) -> tuple[np.ndarray]:
            if not np.isfinite(bound):
                return (self.tree.query(p)[0],)
            return (self.tree.query(p, distance_upper_bound=bound)[0],)

        return self._memoised(("nearest", bound), points, compute)[0]

    def closest(self, points: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Exact distance from each point to the mesh (near its ``k`` nearest vertices).

        Answers are kept per point (:meth:`_table`): asking again costs a lookup.

        Returns
        -------
        dist : numpy.ndarray
            (P,) distances, mm.
        foot : numpy.ndarray
            (P, 3) closest points on the mesh, LPS mm.
        """
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        d, foot = self._memoised(("closest", int(k)), points, lambda p: self._closest(p, k))
        return d, foot

    def _closest(self, points: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`closest` computed (no table)."""
        k = int(min(k, len(self.verts)))
        _, nn = self.tree.query(points, k=k)
        nn = nn.reshape(len(points), k)
        tri = self.adjacency[nn].reshape(len(points), -1)  # (P, k*deg), -1 padded
        # each (point, face) once: neighbouring vertices share faces
        valid = tri >= 0
        rows = np.broadcast_to(np.arange(len(points))[:, None], tri.shape)[valid]
        key = np.sort(rows * len(self.faces) + tri[valid])
        key = key[np.r_[True, key[1:] != key[:-1]]]
        rows, face = key // len(self.faces), key % len(self.faces)
        t = self.faces[face]
        a, b, c = (self.verts[t[:, i]] for i in range(3))
        foot = closest_point_on_triangles(points[rows], a, b, c)
        d = np.linalg.norm(foot - points[rows], axis=-1)
        # the nearest face of each point: rows are sorted, take each run's minimum
        best = np.lexsort((d, rows))
        first = best[np.flatnonzero(np.r_[True, rows[best][1:] != rows[best][:-1]])]
        return d[first], foot[first]


def _rows_memoised(
    table: dict,
    points: np.ndarray,
    compute: Callable[[np.ndarray], tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, ...]:
    """``compute(points)`` for (P, 3) points, each row's answer taken from ``table``
    (point bytes -> row of kept answers) when that point was asked before.

    Only for queries whose answer for a row depends on that row alone (KD-tree
    queries, :meth:`Mesh.closest`): the result is then bit-identical to
    ``compute(points)``. ``table`` is a dict with "index" and "values"; it is
    emptied past :data:`MEMO_POINTS` points.
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    if len(points) == 0:
        return compute(points)
    if len(table.setdefault("index", {})) > MEMO_POINTS:
        table["index"], table["values"] = {}, []
    index: dict[bytes, int] = table["index"]
    values: list[np.ndarray] = table.setdefault("values", [])
    keys = cast(
        list[bytes],
        points.view(np.dtype((np.void, points.dtype.itemsize * 3))).ravel().tolist(),
    )
    if not index:  # nothing asked yet (a new mesh or tree): all computed, all kept
        got = compute(points)
        table["values"] = [np.array(g) for g in got]
        index.update(zip(keys, range(len(keys)), strict=True))
        return got
    at = np.fromiter(map(index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
    miss = np.flatnonzero(at < 0)
    if len(miss):
        got = compute(points[miss])
        base = len(values[0])
        table["values"] = values = [
            np.concatenate([v, g]) for v, g in zip(values, got, strict=True)
        ]
        index.update(
            zip([keys[i] for i in miss.tolist()], range(base, base + len(miss)), strict=True)
        )
        at[miss] = np.arange(base, base + len(miss))
    return tuple(v[at] for v in values)


class SurfaceCache:
    """Per-structure pieces of :func:`gap_between_labels` kept between calls.

    Boundary voxels (with their KD-tree) and smoothed fields with their meshes are
    stored under the label, its box or window, the smoothing and a digest of the
    label's voxels in its box (``digests``, kept current by the caller, e.g.
    :class:`~nvcview.measure.CaseMeasurer`), so a piece is reused only while the
    structure is unchanged; at most ``size`` pieces are kept (least recently used
    dropped first). A label without a digest is never cached.
    """

    def __init__(self, digests: Mapping[int, bytes], size: int = 64) -> None:
        self.digests = digests
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, label: int, where: tuple, make: Callable[[], Any]) -> Any:
        """The piece for ``label`` at ``where`` (any hashable key), made when missing."""
        digest = self.digests.get(int(label))
        if digest is None:
            return make()
        key = (int(label), digest, where)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def drop(self, labels: set[int] | None = None) -> None:
        """Forget the pieces of ``labels`` (every piece when None)."""
        if labels is None:
            self._items.clear()
            return
        for key in [k for k in self._items if k[0] in labels]:
            del self._items[key]


#: a structure's field, mesh, curvature field and blur (see gap_between_labels)
_Surface = tuple[np.ndarray, Mesh | None, np.ndarray, float | tuple[float, ...]]


def _box_key(box: Box) -> tuple[int, ...]:
    return tuple(int(v) for s in box for v in (s.start, s.stop))


def resolution_along(linear: np.ndarray, direction: np.ndarray) -> float:
    """Voxel size along a direction, mm.

    Parameters
    ----------
    linear : numpy.ndarray
        3x3 index -> LPS mm matrix (columns are the voxel edge vectors).
    direction : numpy.ndarray
        (3,) direction in LPS (need not be unit).

    Returns
    -------
    float
        ``1 / |linear^-1 u|`` for the unit vector ``u``: the spacing of an array
        axis when ``u`` runs along it, in between otherwise.
    """
    u = np.asarray(direction, dtype=np.float64)
    u = u / np.linalg.norm(u)
    return float(1.0 / np.linalg.norm(np.linalg.solve(linear, u)))


def smoothing_sigma_vox(
    spacing_mm: np.ndarray,
    sigma_mm: float = DEFAULT_SIGMA_MM,
    min_sigma_vox: float = DEFAULT_MIN_SIGMA_VOX,
) -> tuple[float, float, float]:
    """Per-axis Gaussian sigma in voxels: ``sigma_mm`` in mm, at least ``min_sigma_vox``."""
    sp = np.asarray(spacing_mm, dtype=np.float64)
    a, b, c = (float(v) for v in np.maximum(min_sigma_vox, sigma_mm / sp))
    return a, b, c


def antialiased_field(mask: np.ndarray, sigma_vox: float | tuple[float, ...]) -> np.ndarray:
    """Gaussian-smoothed float32 copy of a binary mask (0.5 level = sub-voxel boundary)."""
    f = mask.astype(np.float32)
    if np.any(np.asarray(sigma_vox) > 0):
        sm = ndimage.gaussian_filter(f, sigma_vox, mode="nearest", truncate=3.0)
        if sm.max() > 0.5:  # tiny structures vanish when smoothed: keep them binary
            return sm
    return f


def whitaker_field(mask: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Constrained anti-aliasing of a binary mask (Whitaker 2000), as a 0.5-level field.

    ITK's AntiAliasBinaryImageFilter (SimpleITK) minimises the curvature of a level
    set kept inside the voxels' constraints (each voxel stays on its side); its zero
    level is returned shifted to 0.5 (inside > 0.5), so that the rest of the engine
    treats it like :func:`antialiased_field`. The spacing (mm) is the array axes';
    curvature in the rotated patient frame is the same, so the direction is not
    needed. The "antialias" surface method (benchmark comparison only:
    ``benchmarks/bench_capsules.py``; see docs/architecture.md, Gaps, for why it is not
    the default).
    """
    import SimpleITK as sitk  # only this comparison method needs it

    img = sitk.GetImageFromArray(np.ascontiguousarray(mask.astype(np.uint8).transpose(2, 1, 0)))
    img.SetSpacing(tuple(float(v) for v in spacing_mm))
    f = sitk.AntiAliasBinaryImageFilter()
    f.SetMaximumRMSError(ANTIALIAS_RMS)
    f.SetNumberOfIterations(ANTIALIAS_ITERATIONS)
    out = sitk.GetArrayFromImage(f.Execute(img)).transpose(2, 1, 0)
    return (0.5 + out).astype(np.float32)


def mesh_from_field(
    fld: np.ndarray, start: np.ndarray, grid: LabelGrid, level: float = 0.5
) -> Mesh | None:
    """Marching-cubes surface of ``fld`` at ``level``, mapped to LPS mm.

    Parameters
    ----------
    fld : numpy.ndarray
        3D field of a window of the label map (inside > level).
    start : numpy.ndarray
        (3,) index of the window's first voxel in the full array.
    grid : LabelGrid
        Gives the index -> LPS affine.
    """
    if fld.max() <= level or fld.min() >= level or min(fld.shape) < 2:
        return None
    verts, faces, normals, _ = marching_cubes(fld, level=level, allow_degenerate=False)
    if len(faces) == 0:
        return None
    verts_lps = grid.to_lps(verts + start)
    # gradient covectors map with the inverse transpose; 'descent' normals point outward
    n = normals @ np.linalg.inv(grid.linear)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return Mesh(verts=verts_lps, faces=faces.astype(np.int64), normals=n)


def _stencil() -> tuple[np.ndarray, dict[tuple[int, ...], int]]:
    """Index offsets for first and second central differences: the centre, +-1 and
    +-2 along each axis, and +-1 along two axes at once."""
    rows: list[np.ndarray] = [np.zeros(3)]
    keys: dict[tuple[int, ...], int] = {}
    for i in range(3):
        for k in (1, -1, 2, -2):
            keys[(i, k)] = len(rows)
            rows.append(k * np.eye(3)[i])
        for j in range(i + 1, 3):
            for a in (1, -1):
                for b in (1, -1):
                    keys[(i, a, j, b)] = len(rows)
                    rows.append(a * np.eye(3)[i] + b * np.eye(3)[j])
    return np.array(rows), keys


_STENCIL, _STENCIL_INDEX = _stencil()


def curvature_shift(
    fld: np.ndarray, idx: np.ndarray, grid: LabelGrid, sigma_vox: float | tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Inward shift (mm) of the smoothed field's 0.5 level at points, from its curvature.

    Parameters
    ----------
    fld : numpy.ndarray
        The Gaussian-smoothed mask (window of the label map).
    idx : numpy.ndarray
        (N, 3) points as fractional indices of ``fld``.
    grid : LabelGrid
        Index -> LPS mapping.
    sigma_vox : float or tuple
        The smoothing, voxels per axis.

    Returns
    -------
    shift : numpy.ndarray
        (N,) ``1/2 tr(P Sigma P K)`` in mm (positive where the surface is convex),
        capped at ``cap``.
    normal : numpy.ndarray
        (N, 3) unit normals pointing inward (the field rises into the structure), LPS.
    cap : float
        The cap, mm (curvature :data:`MAX_CURVATURE_PER_MM`).
    """
    sv = np.broadcast_to(np.asarray(sigma_vox, dtype=np.float64), (3,))
    lin = grid.linear
    inv = grid.inverse[:3, :3]
    # central differences of the trilinearly interpolated field at the vertices, one
    # interpolation for every stencil point: the same numbers as differencing the grid
    # (np.gradient twice: spacing 2 on the diagonal) and interpolating the result
    samples = ndimage.map_coordinates(
        fld,
        (idx[None] + _STENCIL[:, None, :]).reshape(-1, 3).T,
        order=1,
        mode="nearest",
        output=np.float64,
    ).reshape(len(_STENCIL), len(idx))
    at = _STENCIL_INDEX
    g_idx = np.stack([(samples[at[(i, 1)]] - samples[at[(i, -1)]]) / 2 for i in range(3)], 1)
    h_idx = np.zeros((len(idx), 3, 3))
    for i in range(3):
        h_idx[:, i, i] = (samples[at[(i, 2)]] - 2 * samples[0] + samples[at[(i, -2)]]) / 4
        for j in range(i + 1, 3):
            h = (
                samples[at[(i, 1, j, 1)]]
                - samples[at[(i, 1, j, -1)]]
                - samples[at[(i, -1, j, 1)]]
                + samples[at[(i, -1, j, -1)]]
            ) / 4
            h_idx[:, i, j] = h_idx[:, j, i] = h
    grad = g_idx @ inv  # index -> LPS: covector transforms with the inverse
    hess = np.einsum("ik,nij,jl->nkl", inv, h_idx, inv)
    cov = lin @ np.diag(sv**2) @ lin.T  # the blur's covariance in LPS mm^2
    gn = np.linalg.norm(grad, axis=1) + 1e-12
    n = grad / gn[:, None]  # points inward (the field rises into the structure)
    proj = np.eye(3)[None] - n[:, :, None] * n[:, None, :]
    psp = np.matmul(np.matmul(proj, cov), proj)  # P Sigma P, (n, 3, 3)
    shift = -np.einsum("nij,nji->n", psp, hess) / (2 * gn)
    cap = 0.5 * float(np.trace(cov)) * MAX_CURVATURE_PER_MM
    return np.clip(shift, -cap, cap), n, cap


def correct_curvature(
    mesh: Mesh,
    fld: np.ndarray,
    start: np.ndarray,
    grid: LabelGrid,
    sigma_vox,
    only: np.ndarray | None = None,
) -> Mesh:
    """Undo the shrinkage that Gaussian anti-aliasing gives curved surfaces (in place).

    Blurring a binary mask with covariance ``Sigma`` (LPS mm^2) moves its 0.5 level
    set inwards by ``1/2 tr(P Sigma P K)`` to first order (``P`` the tangent-plane
    projector, ``K`` the surface's curvature tensor, 1/mm): for a tube of radius
    ``R`` and isotropic ``sigma`` that is ``sigma^2 / (2 R)``, 0.06 mm for a 1 mm
    nerve at 0.35 mm. ``K`` is read from the blurred field itself (Hessian
    projected on the tangent plane over the gradient), the shift is capped at
    :data:`MAX_CURVATURE_PER_MM`, averaged over :data:`SHIFT_SMOOTHING_RINGS`
    rings of neighbours, and each vertex moved outward along its normal.
    ``only`` (boolean per vertex) restricts the work to the vertices that can be
    nearest to the other surface; the others keep their place.
    """
    sel = np.ones(len(mesh.verts), bool) if only is None else np.asarray(only, bool)
    if not sel.any() or min(fld.shape) < 3:
        return mesh
    shift, n, cap = curvature_shift(fld, grid.to_index(mesh.verts[sel]) - start, grid, sigma_vox)
    full = np.full(len(mesh.verts), np.nan)
    full[sel] = shift
    adj = mesh.adjacency
    for _ in range(SHIFT_SMOOTHING_RINGS):  # NaN (not computed) neighbours left out
        fv = full[mesh.faces]
        fok = ~np.isnan(fv)
        cnt = fok.sum(axis=1)
        per_face = np.where(
            cnt > 0, np.where(fok, fv, 0.0).sum(axis=1) / np.maximum(cnt, 1), np.nan
        )
        vals = np.where(adj >= 0, per_face[np.maximum(adj, 0)], np.nan)
        ok = ~np.isnan(vals)
        sm = np.where(ok, vals, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
        full = np.where(sel, sm, np.nan)
    normals = np.zeros_like(mesh.verts)
    normals[sel] = n
    mesh.verts = mesh.verts - normals * np.nan_to_num(full)[:, None]
    mesh._tree = None
    mesh._edge = None
    return mesh


def face_adjacent(grid: LabelGrid, window: Box, label_a: int, label_b: int) -> np.ndarray:
    """Index-space midpoints (N, 3) of voxel faces shared by ``label_a`` and ``label_b``.

    Voxels of the two labels that share a face leave no background (CSF) voxel
    between the structures: they touch.
    """
    sub = grid.array[window]
    lo = np.array([s.start for s in window], dtype=np.float64)
    a, b = sub == label_a, sub == label_b
    out = []
    for ax in range(3):
        lead = [slice(None)] * 3
        trail = [slice(None)] * 3
        lead[ax], trail[ax] = slice(0, -1), slice(1, None)
        hit = (a[tuple(lead)] & b[tuple(trail)]) | (b[tuple(lead)] & a[tuple(trail)])
        ijk = np.argwhere(hit).astype(np.float64)
        ijk[:, ax] += 0.5
        out.append(ijk)
    return np.concatenate(out) + lo


def shared_span_mm(grid: LabelGrid, faces: np.ndarray) -> float:
    """Largest voxel spacing (mm) across shared faces (:func:`face_adjacent` midpoints:
    the half-integer index is the axis the face is across)."""
    across = np.abs(faces - np.round(faces)) > 0.25
    axes = np.flatnonzero(across.any(axis=0))
    return float(grid.spacing_mm[axes].max()) if len(axes) else float(grid.spacing_mm.max())


def boundary_points(grid: LabelGrid, label: int, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the boundary voxels of ``label`` (6-connected) in its box.

    Returns
    -------
    ijk : numpy.ndarray
        (N, 3) integer indices in the full array.
    xyz : numpy.ndarray
        (N, 3) LPS mm.
    """
    mask = grid.array[box] == label
    inner = ndimage.binary_erosion(mask, border_value=0)
    ijk = np.argwhere(mask & ~inner) + np.array([s.start for s in box])
    return ijk, grid.to_lps(ijk)


def boundary_tree(
    grid: LabelGrid, label: int, box: Box, cache: SurfaceCache | None = None
) -> tuple[np.ndarray, np.ndarray, cKDTree]:
    """:func:`boundary_points` of ``label`` in ``box`` and a KD-tree of their LPS
    positions (from ``cache`` when the label is unchanged)."""

    def make() -> tuple[np.ndarray, np.ndarray, cKDTree]:
        ijk, xyz = boundary_points(grid, label, box)
        return ijk, xyz, cKDTree(xyz)

    return make() if cache is None else cache.get(label, ("boundary", _box_key(box)), make)


def _boundary_distance(
    cache: SurfaceCache | None, label: int, box: Box, tree: cKDTree, points: np.ndarray
) -> np.ndarray:
    """Distance (mm) from each point to the nearest boundary voxel centre of ``label``
    (its :func:`boundary_tree`), answers kept per point with the label's cached tree."""

    def compute(p: np.ndarray) -> tuple[np.ndarray]:
        return (tree.query(p)[0],)

    if cache is None:
        return compute(points)[0]
    table = cache.get(label, ("boundary-distance", _box_key(box)), dict)
    return _rows_memoised(table, points, compute)[0]


def _has_answers(cache: SurfaceCache | None, label: int, box: Box) -> bool:
    """Whether distances to ``label``'s boundary voxels were kept from an earlier call."""
    if cache is None or int(label) not in cache.digests:
        return False
    return bool(cache.get(label, ("boundary-distance", _box_key(box)), dict).get("index"))


def _within(tree: cKDTree, points: np.ndarray, bound_mm: float) -> np.ndarray:
    """Nearest distances (mm) up to ``bound_mm`` (inclusive, with a rounding margin);
    ``inf`` beyond. The same values as a full query where finite."""
    return cast(
        np.ndarray, tree.query(points, distance_upper_bound=bound_mm * (1 + 1e-9) + 1e-9)[0]
    )


def _window_around(grid: LabelGrid, ijk: np.ndarray, margin: np.ndarray) -> tuple[Box, np.ndarray]:
    lo = np.clip(ijk.min(axis=0) - margin, 0, grid.array.shape)
    hi = np.clip(ijk.max(axis=0) + 1 + margin, 0, grid.array.shape)
    box = cast(Box, tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True)))
    return box, lo


def gap_between_labels(
    grid: LabelGrid,
    label_a: int,
    label_b: int,
    box_a: Box,
    box_b: Box,
    sigma_vox: float | tuple[float, ...] | None = None,
    method: str = "corrected",
    *,
    locate: bool = True,
    cache: SurfaceCache | None = None,
    image: np.ndarray | None = None,
) -> GapResult:
    """Gap between two labels whose bounding boxes are known (see module docstring).

    Parameters
    ----------
    grid : LabelGrid
        The label map.
    label_a, label_b : int
        Distinct label values, both present.
    box_a, box_b : tuple of slice
        Their bounding boxes (index space).
    sigma_vox : float or tuple, optional
        Anti-aliasing of the binary masks, voxels per axis (default
        :func:`smoothing_sigma_vox` of the grid for the method).
    method : str
        One of :data:`SURFACE_METHODS`: "corrected" (default) or "gaussian" (the
        estimator before issue 18, kept as a baseline).
    locate : bool
        False when only the gap value (and a point on each side) is wanted, not the
        contact's location on the surfaces: labels with face-adjacent voxels then
        read 0 at the centre of their shared faces without building any surface.
    cache : SurfaceCache, optional
        Reuse boundary voxels, fields and meshes of structures unchanged since an
        earlier call (the result is the same as without it).
    image : numpy.ndarray, optional
        With method "image-edge" (required there): the image the labels came from,
        on the label map's grid (same shape); each surface is placed at the
        half-way intensity within one voxel of the binary one
        (:func:`nvcview.measure.edge.image_edge_field`).

    Returns
    -------
    GapResult
        Gap in mm, closest points in LPS mm (a on ``label_a``, b on ``label_b``).
    """
    if method not in SURFACE_METHODS:
        raise InputError(f"surface method must be one of {SURFACE_METHODS}, got {method!r}")
    edge = method == "image-edge"
    corrected = method in ("corrected", "image-edge")
    if edge and (image is None or np.shape(image) != grid.array.shape):
        got = "none" if image is None else "x".join(str(n) for n in np.shape(image))
        raise InputError(
            f"{grid.source}: surface method 'image-edge' needs the image on the label "
            f"map's grid ({'x'.join(str(n) for n in grid.array.shape)}), got {got}"
        )
    if sigma_vox is None:
        sigma_vox = (
            smoothing_sigma_vox(grid.spacing_mm)
            if corrected
            else smoothing_sigma_vox(grid.spacing_mm, GAUSSIAN_SIGMA_MM, GAUSSIAN_MIN_SIGMA_VOX)
        )
    ijk_a, xyz_a, tree_a = boundary_tree(grid, label_a, box_a, cache)
    ijk_b, xyz_b, tree_b = boundary_tree(grid, label_b, box_b, cache)
    slack = 2.0 * float(grid.spacing_mm.max())
    # both directions' least distance is the same pair's: one side is asked in full (the
    # one whose answers are kept from an earlier call, if any), the other only within
    # that least distance + slack (beyond it: inf, never near; the same values within)
    if _has_answers(cache, label_b, box_b) or not _has_answers(cache, label_a, box_a):
        da = _boundary_distance(cache, label_b, box_b, tree_b, xyz_a)
        db = _within(tree_a, xyz_b, float(da.min()) + slack)
    else:
        db = _boundary_distance(cache, label_a, box_a, tree_a, xyz_b)
        da = _within(tree_b, xyz_a, float(db.min()) + slack)
    coarse = float(min(da.min(), db.min()))
    near = np.concatenate([ijk_a[da <= coarse + slack], ijk_b[db <= coarse + slack]])
    margin = 3 + np.ceil(3 * np.broadcast_to(sigma_vox, (3,))).astype(int)
    window, start = _window_around(grid, near, margin)
    sub = grid.array[window]
    img = np.asarray(image[window], dtype=np.float32) if edge and image is not None else None
    # a one-slice label map has no surface across the slice: repeat the slice once on
    # either side so that marching cubes finds the in-plane outlines (points snapped back)
    thin = np.array(sub.shape) < 2
    if thin.any():
        pad = [(1, 1) if t else (0, 0) for t in thin]
        sub = np.pad(sub, pad, mode="edge")
        img = None if img is None else np.pad(img, pad, mode="edge")
        start = start - thin.astype(int)
    # face-adjacent voxels have centres one spacing apart: farther labels have none
    # (every method but the pre-issue-18 baseline calls face-adjacent voxels contact)
    may_share = method != "gaussian" and coarse <= float(grid.spacing_mm.max()) * (1 + 1e-9)
    shared = face_adjacent(grid, window, label_a, label_b) if may_share else np.empty((0, 3))
    if len(shared) and not locate:  # touching: gap 0 whatever the surfaces
        res = _touching(grid, None, None, grid.to_lps(shared))
        res.shut_span_mm = shared_span_mm(grid, shared)
        res.window, res.reach_mm = window, coarse + slack
        return res.with_interval(_named(method))
    where: tuple = (_box_key(window), tuple(thin.tolist()), tuple(np.broadcast_to(sigma_vox, (3,))))
    if edge:  # an edge field also depends on the image and on the other labels nearby
        where = (*where, "image-edge", id(image), hashlib.blake2b(sub.tobytes()).digest())

    edges = EdgeWindow(sub, img, grid.spacing_mm) if img is not None else None

    def surface(label: int) -> _Surface:
        """The label's field, its 0.5-level mesh, the field its curvature is read from
        (the anti-aliased mask: smooth, whatever the method) and the blur (voxels per
        axis) whose curvature shrinkage is undone."""

        def make() -> _Surface:
            if method == "antialias":
                fld = whitaker_field(sub == label, grid.spacing_mm)
                return fld, mesh_from_field(fld, start, grid), fld, sigma_vox
            fld = antialiased_field(sub == label, sigma_vox)
            if edges is None:
                return fld, mesh_from_field(fld, start, grid), fld, sigma_vox
            efld = edges.field(label, fld)
            if efld is fld:  # no contrast in the image: the binary estimate
                return fld, mesh_from_field(fld, start, grid), fld, sigma_vox
            return efld, mesh_from_field(efld, start, grid), fld, edge_blur_vox(grid.spacing_mm)

        return make() if cache is None else cache.get(label, ("surface", where), make)

    fa, mesh_a, ka, blur_a = surface(label_a)
    fb, mesh_b, kb, blur_b = surface(label_b)
    if mesh_a is None or mesh_b is None:  # degenerate: fall back to voxel centres
        ia, ib = np.argmin(da), int(tree_b.query(xyz_a[np.argmin(da)])[1])
        pa, pb = xyz_a[ia], xyz_b[ib]
        res = _result(grid, pa, pb, None)
        if len(shared):
            res = _touching(grid, mesh_a, mesh_b, grid.to_lps(shared))
            res.shut_span_mm = shared_span_mm(grid, shared)
    else:
        hmax = float(grid.spacing_mm.max())
        res = _mesh_gap(grid, mesh_a, mesh_b, fa, fb, start, locate, coarse + 6 * hmax)
        if len(shared) and not res.touching:
            # face-adjacent voxels: no CSF between them, they touch; the contact is
            # located as for a gap (valley of the surface distance), not at the
            # centre of the shared faces (which quantisation scatters)
            res.gap_mm, res.touching = 0.0, True
        if len(shared) and res.touching:
            res.shut_span_mm = shared_span_mm(grid, shared)
        elif corrected and not res.touching:
            _undo_shrinkage(grid, res, mesh_a, mesh_b, ka, kb, start, (blur_a, blur_b))
    if thin.any():
        for name in ("point_a_lps", "point_b_lps", "patch_a_lps", "patch_b_lps"):
            idx = grid.to_index(np.asarray(getattr(res, name))[None])[0]
            idx[thin] = 0.0
            setattr(res, name, grid.to_lps(idx[None])[0])
    res.window = window
    res.reach_mm = coarse + slack
    return res.with_interval(_named(method))


def _named(method: str) -> MeasureSettings | None:
    """Default settings naming a surface method other than the default (its interval
    text says which estimator made the gap)."""
    return None if method == "corrected" else MeasureSettings(surface_method=method)


def _undo_shrinkage(
    grid: LabelGrid,
    res: GapResult,
    mesh_a: Mesh,
    mesh_b: Mesh,
    fa: np.ndarray,
    fb: np.ndarray,
    start: np.ndarray,
    sigmas: tuple[float | tuple[float, ...], float | tuple[float, ...]],
) -> None:
    """Correct a gap measured between smoothed surfaces for their curvature shrinkage
    (in place): each closest point moves outward by the mean shift of the surface
    within one voxel of it. At a minimum of the gap the distance is stationary, so
    moving the two points along the gap changes it by the shifts to first order.
    ``sigmas``: the blur (voxels per axis) behind surface a and behind surface b."""
    pa, pb = np.asarray(res.point_a_lps), np.asarray(res.point_b_lps)
    d = pb - pa
    gap = float(np.linalg.norm(d))
    if gap <= 0:
        return
    u = d / gap
    rho = float(grid.spacing_mm.max())
    shifts = []
    for mesh, fld, p, sv in ((mesh_a, fa, pa, sigmas[0]), (mesh_b, fb, pb, sigmas[1])):
        near = mesh.tree.query_ball_point(p, rho)
        if not near:
            near = [int(mesh.tree.query(p)[1])]
        sh, _, _ = curvature_shift(fld, grid.to_index(mesh.verts[near]) - start, grid, sv)
        shifts.append(float(np.mean(sh)))
    new = gap - shifts[0] - shifts[1]
    pa2, pb2 = pa + shifts[0] * u, pb - shifts[1] * u
    if new < TOUCH_TOL_MM:
        mid = (pa2 + pb2) / 2
        res.gap_mm, res.touching = 0.0, True
        res.point_a_lps, res.point_b_lps = mid, mid.copy()
    else:
        res.gap_mm = new
        res.point_a_lps, res.point_b_lps = pa2, pb2
    if res.patch_a_lps is not None and res.patch_b_lps is not None:
        res.patch_a_lps = np.asarray(res.patch_a_lps) + shifts[0] * u
        res.patch_b_lps = np.asarray(res.patch_b_lps) - shifts[1] * u


def _touching(
    grid: LabelGrid, mesh_a: Mesh | None, mesh_b: Mesh | None, patch: np.ndarray
) -> GapResult:
    """Gap 0 at the centre of a contact patch (LPS mm); points snapped onto the meshes."""
    centre = patch.mean(axis=0)
    pa = mesh_a.verts[mesh_a.tree.query(centre)[1]] if mesh_a is not None else centre
    pb = mesh_b.verts[mesh_b.tree.query(centre)[1]] if mesh_b is not None else centre
    if mesh_a is not None:
        normal = mesh_a.normals[mesh_a.tree.query(centre)[1]]
        res = resolution_along(grid.linear, normal)
    else:
        res = float(grid.spacing_mm.max())
    return GapResult(0.0, np.asarray(pa, float), np.asarray(pb, float), res, touching=True)


def _mesh_gap(
    grid: LabelGrid,
    mesh_a: Mesh,
    mesh_b: Mesh,
    fa: np.ndarray,
    fb: np.ndarray,
    start: np.ndarray,
    locate: bool = True,
    bound_mm: float = np.inf,
) -> GapResult:
    """Gap between two meshes (see the module docstring); ``locate=False`` skips
    locating the contact patch (only the gap and the closest points). ``bound_mm``:
    a likely upper bound on the candidates' vertex distances (mm) that speeds the
    search (a wrong one only costs a second, full search)."""
    # touching: a vertex of one smoothed surface lies inside the other structure
    ia = grid.to_index(mesh_a.verts) - start
    ib = grid.to_index(mesh_b.verts) - start
    a_in_b = ndimage.map_coordinates(fb, ia.T, order=1, mode="nearest") > 0.5
    b_in_a = ndimage.map_coordinates(fa, ib.T, order=1, mode="nearest") > 0.5
    if a_in_b.any() or b_in_a.any():
        patch = np.concatenate([mesh_a.verts[a_in_b], mesh_b.verts[b_in_a]])
        centre = patch.mean(axis=0)
        pa = mesh_a.verts[mesh_a.tree.query(centre)[1]]
        pb = mesh_b.verts[mesh_b.tree.query(centre)[1]]
        normal = mesh_a.normals[mesh_a.tree.query(centre)[1]]
        return GapResult(0.0, pa, pb, resolution_along(grid.linear, normal), touching=True)
    tol = PATCH_TOL_VOX * float(grid.spacing_mm.max())
    pairs = []  # (distance, point on a, point on b) for every candidate
    for src, dst, flip in ((mesh_a, mesh_b, False), (mesh_b, mesh_a, True)):
        edge = _max_edge(dst)
        # vertices farther than the bound cannot be candidates (inf); the full query
        # is made when the bound would cut into the candidates
        dv = dst.nearest_vertex(src.verts, bound_mm)
        if not np.isfinite(dv).any() or dv.min() + edge + tol >= bound_mm:
            dv = dst.nearest_vertex(src.verts)
        # exact distances where the minimum can be, plus a thinned sample of the
        # valley floor for the fit: every point of a triangle lies within
        # edge / sqrt(3) of one of its vertices, so the vertex nearest the minimum's
        # foot point is at most that much farther than the minimum itself
        order = np.argsort(dv, kind="stable")
        dv_sorted = dv[order]
        n_min = int(np.searchsorted(dv_sorted, dv_sorted[0] + edge / np.sqrt(3), side="right"))
        n_valley = int(np.searchsorted(dv_sorted, dv_sorted[0] + edge + tol, side="right"))
        sure = order[: min(n_min, MAX_EXACT)]
        if not locate and len(sure) > 64:  # the minimum only: bound it by a few first
            d_first, _ = dst.closest(src.verts[sure[:64]])
            cut = float(d_first.min()) + edge / np.sqrt(3)
            sure = sure[: max(64, int(np.searchsorted(dv_sorted, cut, side="right")))]
        rest = order[len(sure) : n_valley] if locate else order[:0]
        if len(rest) > MAX_VALLEY:
            rest = rest[:: int(np.ceil(len(rest) / MAX_VALLEY))]
        cand = np.concatenate([sure, rest])
        d, foot = dst.closest(src.verts[cand])
        p = src.verts[cand]
        pairs.append((d, foot, p) if flip else (d, p, foot))
    d = np.concatenate([x[0] for x in pairs])
    on_a = np.concatenate([x[1] for x in pairs])
    on_b = np.concatenate([x[2] for x in pairs])
    j = int(np.argmin(d))
    res = _result(grid, on_a[j], on_b[j], mesh_a)
    if not locate:
        return res
    # the minimum of a shallow valley is located poorly by its argmin; a quadratic
    # fitted to the gap over the valley floor places the contact stably
    near = d <= d[j] + tol
    res.patch_a_lps = _valley_centre(mesh_a, on_a[near], d[near], on_a[j], on_b[j] - on_a[j])
    res.patch_b_lps = _valley_centre(mesh_b, on_b[near], d[near], on_b[j], on_a[j] - on_b[j])
    return res


def _valley_fit(
    pts: np.ndarray, d: np.ndarray, best: np.ndarray, normal: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Minimum of a quadratic fitted to gap ``d`` (mm) over surface points ``pts`` (LPS).

    The quadratic is in two coordinates across ``normal`` (the gap direction at the
    argmin ``best``). Returns the minimum's position (LPS, in the plane through
    ``best``) and value (mm), or None when the fit has no interior minimum (too
    few points, or a valley without a lowest point, e.g. a vessel along the nerve).
    """
    n = normal / (np.linalg.norm(normal) + 1e-12)
    if len(pts) < 12 or np.linalg.norm(normal) <= 1e-9:
        return None
    helper = np.eye(3)[int(np.argmin(np.abs(n)))]
    u = np.cross(n, helper)
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    x, y = (pts - best) @ u, (pts - best) @ v
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    c, *_ = np.linalg.lstsq(design, d, rcond=None)
    hess = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
    if not np.all(np.linalg.eigvalsh(hess) > 1e-3):
        return None
    xy = np.linalg.solve(hess, -c[1:3])
    if xy[0] ** 2 > (x**2).max() or xy[1] ** 2 > (y**2).max():
        return None
    value = c[0] + c[1] * xy[0] + c[2] * xy[1] + c[3] * xy[0] ** 2
    value += c[4] * xy[0] * xy[1] + c[5] * xy[1] ** 2
    return best + xy[0] * u + xy[1] * v, float(value)


def _valley_centre(
    mesh: Mesh, pts: np.ndarray, d: np.ndarray, best: np.ndarray, normal: np.ndarray
) -> np.ndarray:
    """Point of ``mesh`` under the minimum of a quadratic fitted to gap ``d`` over ``pts``.

    Falls back to the centre of ``pts`` when the fit has no interior minimum
    (e.g. a vessel running along the nerve: a valley without a lowest point).
    """
    fit = _valley_fit(pts, d, best, normal)
    centre = pts.mean(axis=0) if fit is None else fit[0]
    return mesh.closest(centre)[1][0]


def _max_edge(mesh: Mesh) -> float:
    if mesh._edge is None:
        v = mesh.verts[mesh.faces]
        mesh._edge = float(np.linalg.norm(v - np.roll(v, 1, axis=1), axis=-1).max())
    return mesh._edge


def _result(grid: LabelGrid, pa: np.ndarray, pb: np.ndarray, mesh_a: Mesh | None) -> GapResult:
    d = pb - pa
    gap = float(np.linalg.norm(d))
    if gap < TOUCH_TOL_MM:
        gap = 0.0
    if gap > 0:
        res = resolution_along(grid.linear, d)
    elif mesh_a is not None:
        res = resolution_along(grid.linear, mesh_a.normals[mesh_a.tree.query(pa)[1]])
    else:
        res = float(grid.spacing_mm.max())
    return GapResult(gap, np.asarray(pa, float), np.asarray(pb, float), res, touching=gap == 0)


def surface_gap(
    labels: Image | hd.Volume | LabelGrid,
    a: int,
    b: int,
    *,
    sigma_mm: float = DEFAULT_SIGMA_MM,
    min_sigma_vox: float = DEFAULT_MIN_SIGMA_VOX,
    boxes: dict[int, Box] | None = None,
    method: str = "corrected",
    image: Image | hd.Volume | np.ndarray | None = None,
) -> GapResult:
    """Minimum surface-to-surface gap between labels ``a`` and ``b`` of a label map.

    Parameters
    ----------
    labels : Image, highdicom.Volume or LabelGrid
        Integer label map; its affine maps array index to patient LPS mm (any
        orientation, oblique or anisotropic).
    a, b : int
        Label values (e.g. nerve and vessel).
    sigma_mm, min_sigma_vox : float
        Anti-aliasing of the binary masks before marching cubes: Gaussian sigma
        in mm, at least ``min_sigma_vox`` voxels along each array axis.
    boxes : dict, optional
        Cached per-label bounding boxes (:func:`label_boxes`); computed when omitted.
    method : str
        Surface estimator, one of :data:`SURFACE_METHODS` (the "gaussian" one
        uses its own 0.3 mm / 0.5 voxel smoothing and ignores ``sigma_mm``;
        "image-edge" needs ``image``).
    image : Image, highdicom.Volume or numpy.ndarray, optional
        For "image-edge": the image the labels were grown or thresholded from, on
        the label map's grid (same shape and, for an Image or Volume, the same
        affine within 1e-3 mm).

    Returns
    -------
    GapResult
        ``gap_mm`` (mm, 0 when touching), ``point_a_lps`` / ``point_b_lps`` (LPS mm),
        ``resolution_mm`` (voxel size along the gap direction, mm), and the
        uncertainty interval ``gap_low_mm`` / ``gap_high_mm`` (mm, default settings).

    Raises
    ------
    InputError
        Not a label map, a label missing or empty, or ``a == b`` (the same voxels
        cannot be both structures).
    """
    grid = as_label_grid(labels)
    a, b = int(a), int(b)
    if a == b:
        raise InputError(
            f"{grid.source}: labels overlap: structure a and b are both label {a}; "
            "give the nerve and the vessel different labels"
        )
    if boxes is None:
        boxes = label_boxes(grid.array)
    box_a = require_label(grid, boxes, a, "first")
    box_b = require_label(grid, boxes, b, "second")
    if method == "gaussian":
        sigma_mm, min_sigma_vox = GAUSSIAN_SIGMA_MM, GAUSSIAN_MIN_SIGMA_VOX
    sigma = smoothing_sigma_vox(grid.spacing_mm, sigma_mm, min_sigma_vox)
    arr = None if image is None else image_on_grid(image, grid)
    return gap_between_labels(grid, a, b, box_a, box_b, sigma_vox=sigma, method=method, image=arr)


def image_on_grid(image: Image | hd.Volume | np.ndarray, grid: LabelGrid) -> np.ndarray:
    """The voxels of ``image`` as an array on the label map's grid.

    Raises
    ------
    InputError
        The image's shape or affine (LPS mm) differs from the label map's: resample
        it onto the label grid first (the image-edge method reads voxels, not mm).
    """
    if isinstance(image, np.ndarray):
        arr, affine = image, None
    else:
        vol = image.volume if isinstance(image, Image) else image
        arr, affine = np.asarray(vol.array), np.asarray(vol.affine, dtype=np.float64)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.shape != grid.array.shape or (
        affine is not None and not np.allclose(affine, grid.affine, atol=1e-3)
    ):
        raise InputError(
            f"{grid.source}: the image for the image-edge surface is not on the label "
            "map's grid (shape or position differs); resample it onto the labels first"
        )
    return arr


def surface_gap_masks(
    mask_a: np.ndarray,
    mask_b: np.ndarray,
    affine: np.ndarray,
    *,
    sigma_mm: float = DEFAULT_SIGMA_MM,
    source: str = "masks",
) -> GapResult:
    """Gap between two boolean masks on one grid (they may overlap, e.g. two SEG segments).

    Overlapping masks touch by definition: gap 0, both points at the centre of
    the shared voxels (LPS mm).
    """
    mask_a = np.asarray(mask_a, dtype=bool)
    mask_b = np.asarray(mask_b, dtype=bool)
    if mask_a.shape != mask_b.shape or mask_a.ndim != 3:
        raise InputError(f"{source}: masks must be 3D and of one shape")
    for name, m in (("first", mask_a), ("second", mask_b)):
        if not m.any():
            raise InputError(f"{source}: {name} mask is empty")
    grid = LabelGrid(np.zeros(mask_a.shape, np.uint8), np.asarray(affine, float), source)
    both = mask_a & mask_b
    if both.any():
        centre = grid.to_lps(np.argwhere(both).mean(axis=0)[None])[0]
        return GapResult(0.0, centre, centre.copy(), float(grid.spacing_mm.max()), True)
    grid.array[mask_a] = 1
    grid.array[mask_b] = 2
    return surface_gap(grid, 1, 2, sigma_mm=sigma_mm)
