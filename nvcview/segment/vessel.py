"""Vessels from seeds on a TOF angiogram, with local thresholds and branch control.

The pipeline (one function, :func:`grow_vessels`, for one seed or many):

1. A region of the TOF around the seeds (``margin_mm``) is smoothed lightly and
   its spacing-aware Hessian vesselness is computed
   (:func:`nvcview.segment.vesselness.vesselness`).
2. Local thresholds: each voxel near a vessel ridge is compared with the
   half-way level between *its own* vessel's peak (the brightest ridge value
   within ``peak_mm``) and the local background (the darkest value within
   ``background_mm``), so a bright basilar or ICA does not raise the threshold
   of a dim AICA or a distal branch. The result is a level function
   ``phi = I - T`` (>= 0 inside) on the TOF grid.
3. The allowed area (default: voxels not already labelled in the label map,
   carried onto the TOF grid) and any scissors planes are removed, and the
   island connected to each seed is kept.
4. Branch control: a geodesic distance along the vessel from each seed in which
   every mm through a vessel of another calibre costs ``1 + k |ln(r / r_seed)|``
   (``k = branch_penalty``, ``r`` the local radius from the distance map). With
   several seeds each voxel goes to the seed that reaches it first, so two
   arteries meeting at a junction part there; ``max_length_mm`` stops a grow at
   a distance along the vessel.
5. Each vessel's level function is interpolated linearly onto the reference
   (T2) grid through ``moving_to_fixed_lps`` (TOF LPS -> T2 LPS; identity when
   None), so its surface keeps the TOF's sub-voxel position.

Everything is pure: the label map is read (allowed area), never written;
commit a result with :func:`nvcview.segment.history.paint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.io.image import index_to_lps, lps_to_index
from nvcview.segment.vesselness import (
    DEFAULT_SCALES_MM,
    Vesselness,
    grid_spacing,
    region_box,
    vesselness,
)

#: default local threshold position between background and the vessel's own peak: below
#: half-max because partial volume and the light smoothing lower the peak of a vessel
#: 2-4 voxels across, which moves its half-max inside the wall (calibrated on the
#: realistic phantom: mean gap bias +0.2 mm at 0.5, +0.1 mm at 0.42; the clean
#: measurement engine itself is +0.1 mm)
DEFAULT_FRACTION = 0.42

#: a plane (point LPS mm, normal) on the reference grid's frame
Plane = tuple[ArrayLike, ArrayLike]


@dataclass
class VesselField:
    """Level function of the vessel tree in a TOF region (see the module docstring).

    Attributes
    ----------
    box : tuple of slice
        Index box of the region in the TOF array.
    affine : (4, 4) ndarray
        Index -> LPS mm of the region (box origin at index 0), TOF frame.
    level : ndarray of float32
        ``smoothed - local threshold``; >= 0 inside a vessel, < 0 outside.
    threshold : ndarray of float32
        The local threshold.
    smoothed : ndarray of float32
        The smoothed TOF.
    ridge : ndarray of bool
        Voxels with vesselness >= ``ridge_min``.
    vesselness : Vesselness
    noise_sigma : float
        Noise standard deviation of the raw TOF (robust, from neighbour differences).
    """

    box: tuple[slice, ...]
    affine: np.ndarray
    level: np.ndarray
    threshold: np.ndarray
    smoothed: np.ndarray
    ridge: np.ndarray
    vesselness: Vesselness
    noise_sigma: float

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:3, :3], axis=0)


@dataclass
class VesselGrowResult:
    """Outcome of :func:`grow_vessels`.

    Attributes
    ----------
    masks : dict
        Label -> bool mask on the reference grid.
    seed_index : dict
        Label -> voxel the seed snapped to, index in the region box ``field.box``.
    length_mm : dict
        Label -> largest geodesic distance (mm, calibre-weighted) reached from the seed.
    field : VesselField
        The level function used (reuse it for the next grow in the same region).
    tof_masks : dict
        Label -> bool mask on the TOF region box (``field.box``).
    """

    masks: dict[int, np.ndarray]
    seed_index: dict[int, tuple[int, int, int]]
    length_mm: dict[int, float]
    field: VesselField
    tof_masks: dict[int, np.ndarray] = dc_field(default_factory=dict)


def _box_affine(affine: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    out = np.array(affine, float)
    out[:3, 3] = index_to_lps(affine, np.array([s.start for s in box], float))
    return out


def _size(mm: float, spacing: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(2 * max(1, round(mm / s)) + 1) for s in spacing)  # type: ignore[return-value]


def noise_sigma(array: np.ndarray) -> float:
    """Robust noise standard deviation of an image from neighbour differences (MAD)."""
    d = np.diff(np.asarray(array, np.float32), axis=-1).ravel()
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def vessel_field(
    tof: np.ndarray,
    affine: np.ndarray,
    points_lps: np.ndarray,
    *,
    margin_mm: float = 15.0,
    fraction: float = DEFAULT_FRACTION,
    smooth_mm: float = 0.25,
    scales_mm: tuple[float, ...] = DEFAULT_SCALES_MM,
    ridge_min: float = 0.04,
    peak_mm: float = 1.6,
    background_mm: float = 2.5,
    min_contrast: float = 6.0,
    bright: bool = True,
) -> VesselField:
    """Level function of the bright vessels in a TOF region around some points.

    Parameters
    ----------
    tof : ndarray
        TOF intensities (three spatial axes).
    affine : (4, 4) ndarray
        TOF index -> LPS mm.
    points_lps : (N, 3) array_like
        Points the region must hold (seeds), TOF frame LPS mm.
    margin_mm : float
        Region margin around the points, mm.
    fraction : float
        Local threshold position between background (0) and the vessel's peak (1);
        default :data:`DEFAULT_FRACTION`.
    smooth_mm : float
        Gaussian sigma (mm) of the light smoothing before thresholding.
    scales_mm : tuple of float
        Vesselness scales (Gaussian sigma, mm).
    ridge_min : float
        Vesselness (0-1 in the region) that marks a vessel ridge.
    peak_mm : float
        A voxel's vessel peak is the brightest ridge value within this distance, mm.
    background_mm : float
        The local background is the darkest smoothed value within this distance, mm.
    min_contrast : float
        A vessel's peak must stand this many noise sigmas above the local background.
    bright : bool
        True for bright vessels (TOF arteries, veins on contrast T1); False for dark
        flow voids (veins on the T2): the region is inverted first.

    Returns
    -------
    VesselField
    """
    tof = np.asarray(tof)
    affine = np.asarray(affine, float)
    spacing = grid_spacing(affine)
    box = region_box(tof.shape, affine, points_lps, margin_mm)
    sub = np.asarray(tof[box], np.float32)
    if not bright:
        sub = np.maximum(float(np.percentile(sub, 99.5)) - sub, 0.0).astype(np.float32)
    sigma = max(noise_sigma(sub), 1e-6)
    sm = ndimage.gaussian_filter(sub, smooth_mm / spacing, mode="nearest").astype(np.float32)
    # noise of the smoothed image: a Gaussian of sigma s voxels divides white noise by
    # (2 sqrt(pi) s) per axis
    s_vox = np.maximum(smooth_mm / spacing, 0.3)
    sigma_sm = sigma / float(np.prod(np.sqrt(2.0 * np.sqrt(np.pi) * s_vox)))
    v = vesselness(sub, _box_affine(affine, box), scales_mm=scales_mm, bright=True)
    ridge = v.value >= ridge_min
    peak = ndimage.maximum_filter(np.where(ridge, sm, 0.0), size=_size(peak_mm, spacing))
    bg = ndimage.minimum_filter(sm, size=_size(background_mm, spacing)) + 2.0 * sigma_sm
    threshold = (bg + fraction * (peak - bg)).astype(np.float32)
    level = (sm - threshold).astype(np.float32)
    weak = (peak - bg) < min_contrast * sigma_sm
    level[weak] = -np.abs(level[weak]) - 1.0
    return VesselField(
        box=box,
        affine=_box_affine(affine, box),
        level=level,
        threshold=threshold,
        smoothed=sm,
        ridge=ridge,
        vesselness=v,
        noise_sigma=sigma,
    )


def _inverse(m: np.ndarray | None) -> np.ndarray:
    return np.eye(4) if m is None else np.linalg.inv(np.asarray(m, float))


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, float)
    return pts @ m[:3, :3].T + m[:3, 3]


def _allowed_on_field(
    f: VesselField,
    allowed: np.ndarray | None,
    ref_affine: np.ndarray,
    tof_to_ref: np.ndarray,
) -> np.ndarray:
    """The reference-grid allowed mask sampled (nearest) at the TOF region's voxels."""
    if allowed is None:
        return np.ones(f.level.shape, bool)
    shape = f.level.shape
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    ref_idx = lps_to_index(ref_affine, _apply(tof_to_ref, index_to_lps(f.affine, idx)))
    r = np.rint(ref_idx).astype(int)
    inside = np.all((r >= 0) & (r < np.asarray(allowed.shape)), axis=1)
    out = np.ones(len(r), bool)
    rr = r[inside]
    out[inside] = np.asarray(allowed, bool)[rr[:, 0], rr[:, 1], rr[:, 2]]
    return out.reshape(shape)


def _cut(f: VesselField, planes: Sequence[Plane], ref_to_tof: np.ndarray) -> np.ndarray:
    """Voxels of the region within half a voxel of any scissors plane (removed)."""
    cut = np.zeros(f.level.shape, bool)
    if not planes:
        return cut
    shape = f.level.shape
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    p = index_to_lps(f.affine, idx)
    half = 0.5 * float(f.spacing.max())
    for point, normal in planes:
        q = _apply(ref_to_tof, np.asarray(point, float)[None])[0]
        n = ref_to_tof[:3, :3] @ np.asarray(normal, float)
        n = n / np.linalg.norm(n)
        cut |= (np.abs((p - q) @ n) <= half).reshape(shape)
    return cut


def grow_vessels(
    tof: np.ndarray,
    tof_affine: np.ndarray,
    seeds: Mapping[int, ArrayLike],
    ref_shape: tuple[int, ...],
    ref_affine: np.ndarray,
    *,
    moving_to_fixed_lps: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    max_length_mm: float | Mapping[int, float] | None = None,
    cut_planes: Sequence[Plane] = (),
    branch_penalty: float = 8.0,
    snap_mm: float = 1.0,
    bright: bool = True,
    vessel_field_: VesselField | None = None,
    **field_kwargs: Any,
) -> VesselGrowResult:
    """Grow one or more vessels on the TOF from one seed each; masks on the reference grid.

    Parameters
    ----------
    tof : ndarray
        TOF intensities.
    tof_affine : (4, 4) ndarray
        TOF index -> LPS mm (TOF frame).
    seeds : mapping
        Label -> seed (3,) LPS mm in the *reference* (T2) frame, where the user clicked.
    ref_shape : tuple of int
        Reference (label map) grid shape.
    ref_affine : (4, 4) ndarray
        Reference index -> LPS mm.
    moving_to_fixed_lps : (4, 4) ndarray, optional
        Rigid map TOF LPS -> reference LPS from a registration; identity when None.
    allowed : ndarray of bool, optional
        Editable area on the reference grid: only these voxels may join (pass
        ``labels == 0``, or that plus the vessel's own label, to keep other structures).
    max_length_mm : float or mapping, optional
        Stop each grow at this calibre-weighted geodesic distance from its seed, mm
        (one value or label -> value).
    cut_planes : sequence of (point, normal)
        Scissors: voxels within half a voxel of each plane (reference LPS mm) are
        removed before the island under the seed is kept.
    branch_penalty : float
        ``k`` of the calibre cost ``1 + k |ln(r / r_seed)|`` (0 = plain geodesic).
    snap_mm : float
        A seed moves to the brightest vessel voxel within this distance, mm.
    bright : bool
        True for bright vessels (TOF); False for flow voids (veins on the T2: then
        pass the T2 as both the image and the reference, and keep the nerve and the
        brainstem out of ``allowed``).
    vessel_field_ : VesselField, optional
        A field from an earlier call holding every seed (skips step 1-2).
    **field_kwargs
        Passed to :func:`vessel_field` (``margin_mm``, ``fraction``, ...).

    Returns
    -------
    VesselGrowResult

    Raises
    ------
    InputError
        A seed outside the volume or on no vessel, or a seed in a forbidden area.
    """
    if not seeds:
        raise InputError("grow_vessels needs at least one seed")
    tof = np.asarray(tof)
    tof_affine = np.asarray(tof_affine, float)
    ref_affine = np.asarray(ref_affine, float)
    ref_to_tof = _inverse(moving_to_fixed_lps)
    tof_to_ref = np.eye(4) if moving_to_fixed_lps is None else np.asarray(moving_to_fixed_lps)
    labels = list(seeds)
    seeds_tof = {k: _apply(ref_to_tof, np.asarray(seeds[k], float)[None])[0] for k in labels}
    f = vessel_field_ or vessel_field(
        tof, tof_affine, np.array(list(seeds_tof.values())), bright=bright, **field_kwargs
    )
    spacing = f.spacing
    ok = _allowed_on_field(f, allowed, ref_affine, tof_to_ref)
    cand = (f.level >= 0) & ok & ~_cut(f, cut_planes, ref_to_tof)
    structure = ndimage.generate_binary_structure(3, 3)
    comp, _ = ndimage.label(cand, structure=structure)
    seed_idx: dict[int, tuple[int, int, int]] = {}
    for k in labels:
        seed_idx[k] = _snap(f, cand, seeds_tof[k], snap_mm, seeds[k])
    keep = np.isin(comp, [comp[s] for s in seed_idx.values()])
    edt = ndimage.distance_transform_edt(keep, sampling=spacing)
    radius = ndimage.maximum_filter(edt, size=_size(1.2, spacing))
    radius = np.maximum(radius, 0.5 * float(spacing.min()))
    graph = _VoxelGraph(keep, spacing)
    r_nodes = radius[tuple(graph.idx.T)]
    node_dists = []
    limits = []
    for k in labels:
        r0 = float(radius[seed_idx[k]])
        node_cost = 1.0 + branch_penalty * np.abs(np.log(r_nodes / r0))
        node_dists.append(graph.distances(node_cost, graph.node(seed_idx[k])))
        if isinstance(max_length_mm, Mapping):
            limits.append(float(max_length_mm.get(k, np.inf)))
        else:
            limits.append(np.inf if max_length_mm is None else float(max_length_mm))
    nd = np.stack(node_dists)
    node_owner = np.argmin(nd, axis=0)
    # a seed owns the whole branch it sits on, up to the junction where, seen from
    # another seed, the vessel tree forks: the geodesic Voronoi line alone would cut
    # an artery midway between two seeds (VA and basilar), or hand a branch reached
    # through a touching neighbour to that neighbour's seed
    claims = []
    for i in range(len(labels)):
        for j in range(len(labels)):
            tj = graph.node(seed_idx[labels[j]])
            if i != j and np.isfinite(nd[i][tj]):
                branch = graph.branch_beyond_fork(nd[i], tj, float(spacing.max()))
                if branch is not None:
                    claims.append((int(branch.sum()), i, j, branch))
    for _, _i, j, branch in sorted(claims, key=lambda c: -c[0]):
        node_owner[branch & np.isfinite(nd[j])] = j
    node_best = nd[node_owner, np.arange(nd.shape[1])]
    owner = np.full(keep.shape, -1, np.int64)
    best = np.full(keep.shape, np.inf)
    owner[tuple(graph.idx.T)] = node_owner
    best[tuple(graph.idx.T)] = node_best
    masks: dict[int, np.ndarray] = {}
    tof_masks: dict[int, np.ndarray] = {}
    lengths: dict[int, float] = {}
    for i, k in enumerate(labels):
        mine = (owner == i) & np.isfinite(best) & (best <= limits[i])
        tof_masks[k] = mine
        lengths[k] = float(best[mine].max()) if mine.any() else 0.0
        masks[k] = _to_reference(f, mine, ref_shape, ref_affine, tof_to_ref)
        if allowed is not None:
            masks[k] &= np.asarray(allowed, bool)
    # a voxel of the reference grid can only belong to one vessel: the one whose
    # level is highest there (ties are rare: the TOF partition is disjoint)
    _resolve_overlaps(masks)
    return VesselGrowResult(masks, seed_idx, lengths, f, tof_masks)


class _VoxelGraph:
    """The 26-connected graph of a mask's voxels (edges weighted by length in mm)."""

    def __init__(self, mask: np.ndarray, spacing: np.ndarray) -> None:
        from scipy.sparse import csr_matrix  # noqa: F401  (imported for the type)

        self.idx = np.argwhere(mask)
        n = len(self.idx)
        self.shape = mask.shape
        lin = np.full(mask.shape, -1, np.int64)
        lin[tuple(self.idx.T)] = np.arange(n)
        self.lin = lin
        offsets = [np.array(o) for o in np.ndindex(3, 3, 3)]
        offsets = [o - 1 for o in offsets]
        offsets = [o for o in offsets if tuple(o) > (0, 0, 0)]  # half of the 26
        us, vs, ls = [], [], []
        for o in offsets:
            nb = self.idx + o
            ok = np.all((nb >= 0) & (nb < np.asarray(mask.shape)), axis=1)
            j = np.full(n, -1, np.int64)
            j[ok] = lin[tuple(nb[ok].T)]
            good = j >= 0
            us.append(np.flatnonzero(good))
            vs.append(j[good])
            ls.append(np.full(int(good.sum()), float(np.linalg.norm(o * spacing))))
        self.u = np.concatenate(us) if us else np.zeros(0, np.int64)
        self.v = np.concatenate(vs) if vs else np.zeros(0, np.int64)
        self.length = np.concatenate(ls) if ls else np.zeros(0)
        self.n = n

    def node(self, ijk: tuple[int, int, int]) -> int:
        return int(self.lin[ijk])

    def distances(self, node_cost: np.ndarray, source: int) -> np.ndarray:
        """Cost-weighted geodesic distance (mm) from one node to every node (inf: unreachable)."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        w = self.length * 0.5 * (node_cost[self.u] + node_cost[self.v])
        g = csr_matrix((w, (self.u, self.v)), shape=(self.n, self.n))
        return np.asarray(dijkstra(g, directed=False, indices=source))

    def branch_beyond_fork(
        self, dist: np.ndarray, target: int, step: float, min_branch_mm: float = 1.5
    ) -> np.ndarray | None:
        """Nodes of the branch holding ``target`` beyond the nearest fork seen from the source.

        The reachable nodes are cut into shells of geodesic distance (``step`` thick);
        a shell's connected pieces are the nodes of a tree whose parent is the piece of
        the previous shell they touch. Walking from the target's piece towards the
        source, the first piece with two or more children that each continue at least
        ``min_branch_mm`` is the fork; the subtree on the target's side is returned
        (None when the way to the target never forks).
        """
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        fin = np.isfinite(dist)
        shell = np.where(fin, np.floor(np.where(fin, dist, 0) / step), -1).astype(np.int64)
        same = (shell[self.u] == shell[self.v]) & (shell[self.u] >= 0)
        g = csr_matrix((np.ones(int(same.sum())), (self.u[same], self.v[same])),
                       shape=(self.n, self.n))  # fmt: skip
        _, comp = connected_components(g, directed=False)
        up = (shell[self.u] - shell[self.v] == 1) & (shell[self.v] >= 0)
        down = (shell[self.v] - shell[self.u] == 1) & (shell[self.u] >= 0)
        child = np.concatenate([comp[self.u[up]], comp[self.v[down]]])
        par = np.concatenate([comp[self.v[up]], comp[self.u[down]]])
        parent: dict[int, int] = {}
        if len(child):
            pairs, counts = np.unique(np.stack([child, par], 1), axis=0, return_counts=True)
            for (c, p), _ in sorted(zip(map(tuple, pairs), counts, strict=True),
                                    key=lambda x: x[1]):  # fmt: skip
                parent[int(c)] = int(p)  # the most-touching parent wins (sorted last)
        comp_shell = np.full(int(comp.max()) + 1, -1, np.int64)
        comp_shell[comp[fin]] = shell[fin]
        depth = comp_shell.copy()
        for c in np.argsort(-comp_shell):
            p = parent.get(int(c))
            if p is not None:
                depth[p] = max(depth[p], depth[c])
        children: dict[int, list[int]] = {}
        for c, p in parent.items():
            children.setdefault(p, []).append(c)
        min_shells = max(1, int(np.ceil(min_branch_mm / step)))
        node = int(comp[target])
        seen = set()
        while node in parent and node not in seen:
            seen.add(node)
            p = parent[node]
            real = [c for c in children.get(p, []) if depth[c] - comp_shell[c] >= min_shells]
            if len(real) >= 2 and node in real:
                sub = {node}
                frontier = [node]
                while frontier:
                    x = frontier.pop()
                    for c in children.get(x, []):
                        if c not in sub:
                            sub.add(c)
                            frontier.append(c)
                return np.isin(comp, np.fromiter(sub, dtype=np.int64)) & fin
            node = p
        return None


def _snap(
    f: VesselField,
    cand: np.ndarray,
    seed_tof: np.ndarray,
    snap_mm: float,
    seed_ref: ArrayLike,
) -> tuple[int, int, int]:
    shape = np.asarray(f.level.shape)
    c = lps_to_index(f.affine, seed_tof)
    where = np.round(np.asarray(seed_ref, float), 1).tolist()
    if np.any(c < -0.5) or np.any(c > shape - 0.5):
        raise InputError(f"vessel seed at LPS {where} mm lies outside the TOF volume")
    pad = np.ceil(snap_mm / f.spacing).astype(int)
    lo = np.maximum(np.floor(c).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(c).astype(int) + pad + 1, shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    idx = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)],
                               indexing="ij"), -1)  # fmt: skip
    d = np.linalg.norm((idx - c) * f.spacing, axis=-1)
    vals = np.where((d <= max(snap_mm, 0.5 * float(f.spacing.max()))) & cand[sl],
                    f.smoothed[sl], -np.inf)  # fmt: skip
    if not np.isfinite(vals).any():
        raise InputError(
            f"no vessel at LPS {where} mm (nothing brighter than the local threshold within "
            f"{snap_mm} mm, or the voxels there are already labelled); click inside a vessel "
            "in the TOF"
        )
    j = np.unravel_index(int(np.argmax(vals)), vals.shape)
    return tuple(int(lo[a] + j[a]) for a in range(3))  # type: ignore[return-value]


def _to_reference(
    f: VesselField,
    mine: np.ndarray,
    ref_shape: tuple[int, ...],
    ref_affine: np.ndarray,
    tof_to_ref: np.ndarray,
) -> np.ndarray:
    """Carry one vessel's level function onto the reference grid (linear, keep >= 0)."""
    out = np.zeros(tuple(int(s) for s in ref_shape[:3]), bool)
    nz = np.argwhere(mine)
    if len(nz) == 0:
        return out
    phi = np.where(mine, f.level, np.minimum(f.level, -1e-3)).astype(np.float32)
    lo, hi = nz.min(axis=0) - 1, nz.max(axis=0) + 1
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
                        for c in (lo[2], hi[2])], float)  # fmt: skip
    ref_c = lps_to_index(ref_affine, _apply(tof_to_ref, index_to_lps(f.affine, corners)))
    rlo = np.maximum(np.floor(ref_c.min(axis=0)).astype(int) - 1, 0)
    rhi = np.minimum(np.ceil(ref_c.max(axis=0)).astype(int) + 2, np.asarray(out.shape))
    if np.any(rhi <= rlo):
        return out
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(rlo, rhi, strict=True)], indexing="ij")
    idx = np.stack(grids, -1).reshape(-1, 3).astype(float)
    src = lps_to_index(f.affine, _apply(np.linalg.inv(tof_to_ref), index_to_lps(ref_affine, idx)))
    vals = ndimage.map_coordinates(phi, src.T, order=1, mode="constant", cval=-1.0)
    box = tuple(slice(int(a), int(b)) for a, b in zip(rlo, rhi, strict=True))
    sub = (vals >= 0).reshape(tuple(int(b - a) for a, b in zip(rlo, rhi, strict=True)))
    # keep what is connected to the carried TOF island (no stray specks)
    lab, n = ndimage.label(sub, structure=ndimage.generate_binary_structure(3, 3))
    if n > 1:
        sizes = ndimage.sum_labels(sub, lab, index=np.arange(1, n + 1))
        sub = lab == (1 + int(np.argmax(sizes)))
    out[box] = sub
    return out


def _resolve_overlaps(masks: dict[int, np.ndarray]) -> None:
    keys = list(masks)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            both = masks[a] & masks[b]
            if both.any():
                masks[b] &= ~both


def preview_vessel(
    tof: np.ndarray,
    tof_affine: np.ndarray,
    seed_lps: ArrayLike,
    ref_shape: tuple[int, ...],
    ref_affine: np.ndarray,
    *,
    fraction: float = DEFAULT_FRACTION,
    **kwargs: object,
) -> np.ndarray:
    """The mask a grow would give with this threshold ``fraction``, committing nothing.

    Same parameters as :func:`grow_vessels` with a single seed (label 1); returns
    the bool mask on the reference grid. A slider in a front end calls this on
    every move and :func:`nvcview.segment.history.paint` on "apply".
    """
    res = grow_vessels(
        tof, tof_affine, {1: seed_lps}, ref_shape, ref_affine, fraction=fraction,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return res.masks[1]


def keep_island(mask: np.ndarray, affine: np.ndarray, point_lps: ArrayLike) -> np.ndarray:
    """The connected part of ``mask`` under (or nearest to) a clicked point, LPS mm.

    Raises
    ------
    InputError
        The mask is empty.
    """
    mask = np.asarray(mask, bool)
    lab, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(3, 3))
    if n == 0:
        raise InputError("nothing to keep: the mask is empty")
    ijk = lps_to_index(np.asarray(affine, float), np.asarray(point_lps, float))
    nz = np.argwhere(mask)
    spacing = grid_spacing(affine)
    j = int(np.argmin(np.linalg.norm((nz - ijk) * spacing, axis=1)))
    return lab == lab[tuple(nz[j])]
