"""Surfaces of every labelled structure, the nerve's gap heat map, the closest-point pairs.

The meshes are the engine's own: each structure's binary mask is anti-aliased and
meshed by marching cubes at the 0.5 level with the functions
:func:`nvcview.measure.surface.surface_gap` uses
(:func:`~nvcview.measure.surface.smoothing_sigma_vox`,
:func:`~nvcview.measure.surface.antialiased_field`,
:func:`~nvcview.measure.surface.mesh_from_field`), over the structure's whole
bounding box instead of the engine's window around the closest approach. Inside
that window the two fields are equal voxel for voxel, so the surfaces shown are the
surfaces measured.

All positions are patient LPS millimetres; distances are millimetres.

:class:`SurfaceBuilder` caches one mesh per label, keyed by a hash of the label's
voxels inside its bounding box (and the box, grid and smoothing): after an edit
only the structures whose voxels changed are meshed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.labelmap import LabelGrid, as_label_grid, label_boxes
from nvcview.measure.records import VesselMeasurement
from nvcview.measure.surface import (
    DEFAULT_MIN_SIGMA_VOX,
    DEFAULT_SIGMA_MM,
    Mesh,
    antialiased_field,
    correct_curvature,
    mesh_from_field,
    smoothing_sigma_vox,
)
from nvcview.measure.triangles import closest_point_on_triangles
from nvcview.scene.colormap import lookup
from nvcview.structures import Structure, find_facial_nerve, vessels
from nvcview.types import Box

if TYPE_CHECKING:
    import highdicom as hd

#: Gap heat map range on the facial nerve, mm: 0 at contact, saturated from here on.
GAP_RANGE_MM = 3.0
#: matplotlib / napari colormap of the gap heat map (dark blue-violet at contact,
#: yellow far away): distinct from the fixed vessel colours.
GAP_COLORMAP = "plasma"
#: field value given to labelled voxels the anti-aliasing erased (see mesh_structure)
WEAK_LEVEL = 0.6
#: colour of the closest-point lines (the report's key images use the same green)
PAIR_COLOR = (0.0, 1.0, 0.4)


@dataclass
class StructureSurface:
    """The surface of one structure.

    Attributes
    ----------
    label : int
        Label value in the label map.
    name, kind : str
        From the structure table (:class:`nvcview.structures.Structure`).
    color : tuple of float
        RGB 0-1, the structure's fixed colour.
    verts : numpy.ndarray
        (N, 3) vertices, patient LPS mm.
    faces : numpy.ndarray
        (M, 3) int vertex indices, counter-clockwise seen from outside.
    normals : numpy.ndarray
        (N, 3) unit outward vertex normals, LPS.
    gap_mm : numpy.ndarray or None
        (N,) distance of each vertex to the nearest vessel surface, mm (0 inside a
        vessel); only on the facial nerve.
    structure : Structure
        The structure table entry.
    """

    label: int
    name: str
    kind: str
    color: tuple[float, float, float]
    verts: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    structure: Structure
    gap_mm: np.ndarray | None = None

    def vertex_colors(self, gap_range_mm: float = GAP_RANGE_MM) -> np.ndarray:
        """(N, 3) RGB 0-1 per vertex: the gap colormap on the nerve, else the fixed colour."""
        if self.gap_mm is not None:
            return gap_colors(self.gap_mm, gap_range_mm)
        return np.tile(np.asarray(self.color, dtype=np.float64), (len(self.verts), 1))

    @property
    def bounds_lps(self) -> np.ndarray:
        """(2, 3) min and max corner of the vertices, LPS mm."""
        return np.stack([self.verts.min(axis=0), self.verts.max(axis=0)])


@dataclass
class ClosestPair:
    """The engine's closest-point pair between the facial nerve and one vessel (LPS mm)."""

    vessel_label: int
    vessel_name: str
    nerve_point_lps: np.ndarray
    vessel_point_lps: np.ndarray
    gap_mm: float
    contact: bool
    near: bool


@dataclass
class Scene:
    """Everything a 3D view shows, in patient LPS mm.

    Attributes
    ----------
    surfaces : list of StructureSurface
        One per structure with voxels, in label order.
    pairs : list of ClosestPair
        One per measured vessel (empty without measurements).
    gap_range_mm : float
        Upper end of the nerve heat map, mm.
    side : str or None
        Side of symptoms ("left" / "right"), for the retrosigmoid view.
    landmarks : dict
        Name -> (3,) LPS mm (RExP, RDP, IAC) when known.
    """

    surfaces: list[StructureSurface]
    pairs: list[ClosestPair] = field(default_factory=list)
    gap_range_mm: float = GAP_RANGE_MM
    side: str | None = None
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)

    def surface(self, label: int) -> StructureSurface | None:
        """The surface of a label, or None."""
        return next((s for s in self.surfaces if s.label == int(label)), None)

    @property
    def nerve(self) -> StructureSurface | None:
        """The facial nerve's surface (with the gap heat map), or None."""
        return next((s for s in self.surfaces if s.gap_mm is not None), None)

    def offending_pair(self) -> ClosestPair | None:
        """The pair with the smallest gap (the vessel the key image is about)."""
        if not self.pairs:
            return None
        return min(self.pairs, key=lambda p: (not p.contact, p.gap_mm))

    def shown_pairs(self) -> list[ClosestPair]:
        """Pairs worth a line: contacts and near vessels, else the closest one."""
        shown = [p for p in self.pairs if p.contact or p.near]
        best = self.offending_pair()
        return shown or ([best] if best is not None else [])

    def focus_lps(self) -> np.ndarray:
        """Centre of interest, LPS mm: the offending contact, else the REZ, else the nerve."""
        best = self.offending_pair()
        if best is not None:
            return (np.asarray(best.nerve_point_lps) + np.asarray(best.vessel_point_lps)) / 2
        rez = [self.landmarks[k] for k in ("RExP", "RDP") if k in self.landmarks]
        if rez:
            return np.mean(rez, axis=0)
        surf = self.nerve or (self.surfaces[0] if self.surfaces else None)
        if surf is None:
            return np.zeros(3)
        return surf.verts.mean(axis=0)


def gap_colors(gap_mm: np.ndarray, gap_range_mm: float = GAP_RANGE_MM) -> np.ndarray:
    """RGB 0-1 of gaps (mm) on :data:`GAP_COLORMAP` over ``[0, gap_range_mm]``.

    The table is matplotlib's (:mod:`nvcview.scene.colormap`), looked up without
    importing matplotlib.
    """
    t = np.clip(np.asarray(gap_mm, dtype=np.float64) / float(gap_range_mm), 0.0, 1.0)
    return lookup(t)


@dataclass
class _Cached:
    key: bytes
    mesh: Mesh | None
    field: np.ndarray  # anti-aliased field of the padded box (inside > 0.5)
    start: np.ndarray  # index of the field's first voxel


def _mask_key(grid: LabelGrid, label: int, box: Box, sigma: tuple[float, ...]) -> bytes:
    """Hash of everything a label's mesh depends on: its voxels, box, grid, smoothing."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.packbits(grid.array[box] == label).tobytes())
    h.update(np.asarray([[s.start, s.stop] for s in box], dtype=np.int64).tobytes())
    h.update(np.asarray(grid.array.shape, dtype=np.int64).tobytes())
    h.update(np.asarray(grid.affine, dtype=np.float64).tobytes())
    h.update(np.asarray(sigma, dtype=np.float64).tobytes())
    return h.digest()


def mesh_structure(
    grid: LabelGrid, label: int, box: Box, sigma_vox: tuple[float, ...]
) -> tuple[Mesh | None, np.ndarray, np.ndarray]:
    """Engine surface of one label over its whole bounding box (LPS mm).

    The box is padded by the Gaussian's reach (and two voxels), so the field equals
    the one the engine smooths in its window, voxel for voxel, except within the
    Gaussian's reach of the array's edge, where the mask is padded with background
    so that the surface closes (the engine repeats the edge voxels). Thin wrapper over
    :func:`nvcview.measure.surface.antialiased_field` and
    :func:`~nvcview.measure.surface.mesh_from_field`).

    Returns
    -------
    mesh : Mesh or None
        Vertices in LPS mm, outward normals; None when the label has no surface.
    field : numpy.ndarray
        The anti-aliased field of the padded box (inside > 0.5).
    start : numpy.ndarray
        (3,) index of the field's first voxel in the full array.
    """
    pad = 2 + np.ceil(3.0 * np.asarray(sigma_vox)).astype(int)
    shape = np.asarray(grid.array.shape)
    lo = np.array([s.start for s in box]) - pad
    hi = np.array([s.stop for s in box]) + pad
    win = tuple(
        slice(int(a), int(b)) for a, b in zip(np.maximum(lo, 0), np.minimum(hi, shape), strict=True)
    )
    # beyond the array the structure is unknown: pad with background so every surface
    # is closed (a flat cap at the edge of the volume; watertight for STL)
    outside = [(int(max(0, -a)), int(max(0, b - n))) for a, b, n in zip(lo, hi, shape, strict=True)]
    sub = np.pad(grid.array[win] == label, outside)
    start = lo.copy()
    fld = antialiased_field(sub, sigma_vox)
    # thin parts the smoothing erases (a one-voxel taper, a speck): keep them visible as
    # small blobs around their voxel centres. Only voxels with no inside voxel (> 0.5)
    # in their 3x3x3 neighbourhood are raised, so no marching cube that the engine's
    # surface passes through changes: that surface stays exactly the measured one.
    weak = sub & (ndimage.maximum_filter(fld, size=3, mode="constant") <= 0.5)
    if weak.any():
        fld = fld.copy()
        fld[weak] = WEAK_LEVEL
    mesh = mesh_from_field(fld, start, grid)
    if mesh is not None:
        mesh = _outward(mesh)
    return mesh, fld, start


def _outward(mesh: Mesh) -> Mesh:
    """The mesh with faces wound counter-clockwise seen from outside (right-hand rule).

    marching cubes winds faces in index space; an index -> LPS affine with a negative
    determinant (common for DICOM and NIfTI grids) mirrors them.
    """
    faces = mesh.faces[:: max(1, len(mesh.faces) // 2000)]  # the winding is global
    v = mesh.verts[faces]
    fn = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    if float(np.sum(fn * mesh.normals[faces].sum(axis=1))) < 0:
        return Mesh(verts=mesh.verts, faces=mesh.faces[:, ::-1].copy(), normals=mesh.normals)
    return mesh


def _inside(cached: _Cached, grid: LabelGrid, xyz: np.ndarray) -> np.ndarray:
    """Whether LPS points lie inside a structure's smoothed surface (field > 0.5)."""
    idx = grid.to_index(xyz) - cached.start
    shape = np.asarray(cached.field.shape)
    ok = np.all((idx >= 0) & (idx <= shape - 1), axis=1)
    out = np.zeros(len(xyz), dtype=bool)
    if ok.any():
        vals = ndimage.map_coordinates(cached.field, idx[ok].T, order=1, mode="nearest")
        out[ok] = vals > 0.5
    return out


def _max_edge(mesh: Mesh) -> float:
    """Longest triangle edge of a mesh, mm."""
    v = mesh.verts[mesh.faces]
    return float(np.linalg.norm(v - np.roll(v, 1, axis=1), axis=-1).max())


def _near_corrected(
    cached: _Cached,
    others: Sequence[Mesh],
    grid: LabelGrid,
    sigma_vox: tuple[float, ...],
    reach_mm: float,
) -> Mesh:
    """A copy of a cached mesh with the engine's curvature correction where it matters.

    The engine (:func:`nvcview.measure.surface.correct_curvature`) undoes the
    shrinkage of Gaussian anti-aliasing on the vertices near the closest approach;
    here the vertices within ``reach_mm`` of another structure get it, so the heat
    map is the distance between the surfaces the engine measures (elsewhere the
    surface is left as meshed: the correction is tens of micrometres).
    """
    assert cached.mesh is not None
    mesh = Mesh(
        verts=cached.mesh.verts.copy(), faces=cached.mesh.faces, normals=cached.mesh.normals
    )
    if not others:
        return mesh
    d = np.full(len(mesh.verts), np.inf)
    for o in others:
        d = np.minimum(d, o.tree.query(mesh.verts)[0])
    near = d <= reach_mm + 1.0
    if near.any():
        correct_curvature(mesh, cached.field, cached.start, grid, sigma_vox, only=near)
    return mesh


def nerve_gap_map(
    nerve: Mesh,
    vessel_meshes: Sequence[tuple[Mesh, np.ndarray]],
    exact_within_mm: float = GAP_RANGE_MM + 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every nerve vertex to the nearest vessel surface, mm.

    Parameters
    ----------
    nerve : Mesh
        The facial nerve's surface (LPS mm).
    vessel_meshes : sequence of (Mesh, inside)
        Each vessel's surface and a boolean (N,) array: which nerve vertices lie
        inside that vessel's smoothed surface (distance 0 there, as the engine
        calls interpenetrating surfaces touching).
    exact_within_mm : float
        Exact point-to-triangle distances where a vessel is this close (mm); farther
        vertices keep the distance to the nearest vessel vertex (at most one edge
        longer), beyond the colour range anyway.

    Returns
    -------
    gap : numpy.ndarray
        (N,) distance to the nearest vessel surface, mm (exact within
        ``exact_within_mm``).
    nearest : numpy.ndarray
        (N,) index into ``vessel_meshes`` of that vessel (-1 without vessels).
    """
    n = len(nerve.verts)
    gap = np.full(n, np.inf)
    nearest = np.full(n, -1, dtype=np.int64)
    for i, (mesh, inside) in enumerate(vessel_meshes):
        d, _ = mesh.tree.query(nerve.verts)  # vertex to vertex: an upper bound
        near = d <= exact_within_mm + _max_edge(mesh)
        if near.any():
            d[near], _ = mesh.closest(nerve.verts[near], k=4)
        d = np.where(inside, 0.0, d)
        better = d < gap
        gap[better] = d[better]
        nearest[better] = i
    return gap, nearest


def insert_points(mesh: Mesh, points: np.ndarray) -> Mesh:
    """A copy of ``mesh`` with each point's foot on the surface added as a vertex.

    The face holding the foot point is split in three, so the surface is unchanged
    and the heat map is sampled exactly where the engine found the closest point.

    Parameters
    ----------
    mesh : Mesh
        Surface, LPS mm.
    points : numpy.ndarray
        (P, 3) LPS mm points on or near the surface.
    """
    verts, faces, normals = mesh.verts, mesh.faces, mesh.normals
    tree, adj = mesh.tree, mesh.adjacency  # of the original mesh: new vertices are not needed
    for p in np.atleast_2d(np.asarray(points, dtype=np.float64)):
        _, nn = tree.query(p, k=min(4, len(mesh.verts)))
        near = adj[np.atleast_1d(nn)].ravel()
        # a split face keeps its index (first part) and appends its other two parts
        cand = np.unique(np.concatenate([near[near >= 0], np.arange(len(mesh.faces), len(faces))]))
        if len(cand) == 0:
            continue
        tri = verts[faces[cand]]
        foot = closest_point_on_triangles(p, tri[:, 0], tri[:, 1], tri[:, 2])
        j = int(np.argmin(np.linalg.norm(foot - p, axis=1)))
        f = int(cand[j])
        i0, i1, i2 = faces[f]
        # strictly inside the face (a foot on an edge or vertex would give degenerate
        # triangles): barycentric weights of at least 1e-3, a shift below a micrometre
        a, b, c = verts[i0], verts[i1], verts[i2]
        uv, *_ = np.linalg.lstsq(np.stack([b - a, c - a], axis=1), foot[j] - a, rcond=None)
        bary = np.clip(np.array([1.0 - uv.sum(), uv[0], uv[1]]), 1e-3, None)
        bary /= bary.sum()
        point = bary @ np.stack([a, b, c])
        n_new = len(verts)
        w = bary @ normals[[i0, i1, i2]]
        verts = np.vstack([verts, point])
        normals = np.vstack([normals, w / (np.linalg.norm(w) + 1e-12)])
        split = np.array([[i0, i1, n_new], [i1, i2, n_new], [i2, i0, n_new]], dtype=faces.dtype)
        faces = faces.copy()
        faces[f] = split[0]
        faces = np.vstack([faces, split[1:]])
    return Mesh(verts=verts, faces=faces, normals=normals)


class SurfaceBuilder:
    """Builds :class:`Scene` objects, re-meshing only structures whose voxels changed.

    Parameters
    ----------
    sigma_mm, min_sigma_vox : float
        Anti-aliasing before marching cubes, as in
        :func:`nvcview.measure.surface_gap` (Gaussian sigma in mm, at least
        ``min_sigma_vox`` voxels per axis). Keep the engine's defaults so the
        surfaces shown are the surfaces measured.
    gap_range_mm : float
        Upper end of the nerve heat map, mm.

    Attributes
    ----------
    last_meshed : list of int
        Labels meshed (not taken from the cache) by the last :meth:`build`.
    """

    def __init__(
        self,
        sigma_mm: float = DEFAULT_SIGMA_MM,
        min_sigma_vox: float = DEFAULT_MIN_SIGMA_VOX,
        gap_range_mm: float = GAP_RANGE_MM,
    ) -> None:
        self.sigma_mm = float(sigma_mm)
        self.min_sigma_vox = float(min_sigma_vox)
        self.gap_range_mm = float(gap_range_mm)
        self._cache: dict[int, _Cached] = {}
        self._gap_cache: tuple[bytes, Mesh, np.ndarray] | None = None
        self.last_meshed: list[int] = []

    def build(
        self,
        labels: Image | hd.Volume | LabelGrid,
        structures: Sequence[Structure],
        measurements: Sequence[VesselMeasurement] | None = None,
        *,
        side: str | None = None,
        landmarks: dict | None = None,
    ) -> Scene:
        """Surfaces of every structure of the table that has voxels.

        Parameters
        ----------
        labels : Image, highdicom.Volume or LabelGrid
            Integer label map; affine index -> LPS mm.
        structures : sequence of Structure
            Structure table (names, kinds, colours).
        measurements : sequence of VesselMeasurement, optional
            The engine's results (:func:`nvcview.measure.measure_case`): their
            closest-point pairs become :attr:`Scene.pairs`.
        side : str, optional
            Side of symptoms, for the retrosigmoid view.
        landmarks : dict, optional
            Name -> (3,) LPS mm.

        Returns
        -------
        Scene
            Surfaces in LPS mm; the facial nerve carries ``gap_mm`` per vertex.
        """
        grid = as_label_grid(labels)
        sigma = smoothing_sigma_vox(grid.spacing_mm, self.sigma_mm, self.min_sigma_vox)
        boxes = label_boxes(grid.array)
        self.last_meshed = []
        table: dict[int, Structure] = {}
        for s in structures:
            if s.label in table:
                raise InputError(
                    f"{grid.source}: structures {table[s.label].name!r} and {s.name!r} "
                    f"share label {s.label}"
                )
            table[s.label] = s
        for lab in [k for k in self._cache if k not in boxes or k not in table]:
            del self._cache[lab]
        surfaces: list[StructureSurface] = []
        for lab in sorted(table):
            if lab not in boxes:
                continue
            key = _mask_key(grid, lab, boxes[lab], sigma)
            cached = self._cache.get(lab)
            if cached is None or cached.key != key:
                mesh, fld, start = mesh_structure(grid, lab, boxes[lab], sigma)
                cached = _Cached(key, mesh, fld, start)
                self._cache[lab] = cached
                self.last_meshed.append(lab)
            if cached.mesh is None:
                continue
            s = table[lab]
            surfaces.append(
                StructureSurface(
                    label=lab,
                    name=s.name,
                    kind=s.kind,
                    color=tuple(float(c) for c in s.color),  # type: ignore[arg-type]
                    verts=cached.mesh.verts,
                    faces=cached.mesh.faces,
                    normals=cached.mesh.normals,
                    structure=s,
                )
            )
        pairs = [
            ClosestPair(
                vessel_label=int(m.vessel_label),
                vessel_name=m.vessel_name,
                nerve_point_lps=np.asarray(m.nerve_point_lps, dtype=np.float64),
                vessel_point_lps=np.asarray(m.vessel_point_lps, dtype=np.float64),
                gap_mm=float(m.gap_mm),
                contact=bool(m.contact),
                near=bool(m.near),
            )
            for m in (measurements or [])
        ]
        self._add_gap_map(grid, surfaces, list(structures), pairs)
        marks = {k: np.asarray(v, dtype=np.float64) for k, v in (landmarks or {}).items()}
        return Scene(surfaces, pairs, self.gap_range_mm, side, marks)

    def _add_gap_map(
        self,
        grid: LabelGrid,
        surfaces: list[StructureSurface],
        structures: list[Structure],
        pairs: list[ClosestPair],
    ) -> None:
        """Gap heat map on the facial nerve (its surface gains the engine's closest points)."""
        nerve_s = find_facial_nerve(structures)
        surf = next((s for s in surfaces if nerve_s and s.label == nerve_s.label), None)
        if nerve_s is None or surf is None:
            return
        nerve_c = self._cache[nerve_s.label]
        assert nerve_c.mesh is not None
        vlabels = [v.label for v in vessels(structures) if v.label in self._cache]
        vlabels = [v for v in vlabels if self._cache[v].mesh is not None]
        points = np.array(
            [p.nerve_point_lps for p in pairs if p.vessel_label in vlabels], dtype=np.float64
        ).reshape(-1, 3)
        key = nerve_c.key + b"".join(self._cache[v].key for v in vlabels) + points.tobytes()
        if self._gap_cache is None or self._gap_cache[0] != key:
            sigma = smoothing_sigma_vox(grid.spacing_mm, self.sigma_mm, self.min_sigma_vox)
            vmeshes = {v: self._cache[v].mesh for v in vlabels}
            nerve_mesh = _near_corrected(
                nerve_c, [m for m in vmeshes.values() if m is not None], grid, sigma,
                self.gap_range_mm,
            )  # fmt: skip
            mesh = insert_points(nerve_mesh, points) if len(points) else nerve_mesh
            tests = []
            for v in vlabels:
                c = self._cache[v]
                assert c.mesh is not None
                vm = _near_corrected(c, [nerve_c.mesh], grid, sigma, self.gap_range_mm)
                tests.append((vm, _inside(c, grid, mesh.verts)))
            if tests:
                gap, _ = nerve_gap_map(mesh, tests, self.gap_range_mm + 1.0)
            else:
                gap = np.full(len(mesh.verts), np.inf)
            # at the engine's own closest point the map reads the engine's gap (a
            # touching pair reads 0 there: face-adjacent voxels, no CSF between)
            first = len(nerve_c.mesh.verts)
            shown = [p for p in pairs if p.vessel_label in vlabels]
            for k, p in enumerate(shown[: len(mesh.verts) - first]):
                gap[first + k] = min(gap[first + k], p.gap_mm)
            self._gap_cache = (key, mesh, gap)
        _, mesh, gap = self._gap_cache
        surf.verts, surf.faces, surf.normals, surf.gap_mm = (
            mesh.verts,
            mesh.faces,
            mesh.normals,
            gap,
        )


def build_scene(
    labels: Image | hd.Volume | LabelGrid,
    structures: Sequence[Structure],
    measurements: Sequence[VesselMeasurement] | None = None,
    *,
    side: str | None = None,
    landmarks: dict | None = None,
) -> Scene:
    """One-shot :meth:`SurfaceBuilder.build` (surfaces in LPS mm, nerve gap heat map)."""
    return SurfaceBuilder().build(labels, structures, measurements, side=side, landmarks=landmarks)
