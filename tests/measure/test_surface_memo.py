"""Mesh's per-point answers (closest, nearest vertex) kept between calls equal fresh ones."""

from __future__ import annotations

import numpy as np

from nvcview.measure.labelmap import LabelGrid
from nvcview.measure.surface import Mesh, antialiased_field, correct_curvature, mesh_from_field


def _ball_mesh() -> tuple[Mesh, np.ndarray, LabelGrid]:
    idx = np.indices((24, 24, 20)).transpose(1, 2, 3, 0)
    affine = np.diag([0.4, 0.4, 0.6, 1.0])
    xyz = idx * np.array([0.4, 0.4, 0.6])
    mask = np.linalg.norm(xyz - np.array([4.7, 4.5, 5.9]), axis=-1) <= 3.1
    grid = LabelGrid(mask.astype(np.uint8), affine)
    fld = antialiased_field(mask, (0.9, 0.9, 0.6))
    mesh = mesh_from_field(fld, np.zeros(3), grid)
    assert mesh is not None
    return mesh, fld, grid


def _fresh(mesh: Mesh) -> Mesh:
    return Mesh(verts=mesh.verts.copy(), faces=mesh.faces.copy(), normals=mesh.normals.copy())


def test_answers_asked_again_equal_fresh_ones_bit_for_bit():
    mesh, _, _ = _ball_mesh()
    rng = np.random.default_rng(7)
    pts = rng.uniform(-1, 11, size=(400, 3))
    first_d, first_f = mesh.closest(pts[:250])  # fills the table
    d, foot = mesh.closest(pts)  # 250 answers from the table, 150 computed
    ref = _fresh(mesh)
    want_d, want_f = ref.closest(pts)
    assert np.array_equal(d, want_d) and np.array_equal(foot, want_f)
    assert np.array_equal(first_d, want_d[:250]) and np.array_equal(first_f, want_f[:250])
    for bound in (np.inf, 1.5):
        got = mesh.nearest_vertex(pts[::-1], bound)
        want = ref.tree.query(pts[::-1], distance_upper_bound=bound)[0]
        assert np.array_equal(got, want)
    assert np.isinf(mesh.nearest_vertex(pts, 1.5)).any()  # the bound is honoured


def test_moving_the_vertices_drops_the_kept_answers():
    mesh, fld, grid = _ball_mesh()
    pts = mesh.verts[::7] + 0.8 * mesh.normals[::7]
    before, _ = mesh.closest(pts)
    correct_curvature(mesh, fld, np.zeros(3), grid, (0.9, 0.9, 0.6))  # moves vertices out
    after, foot = mesh.closest(pts)
    want, want_f = _fresh(mesh).closest(pts)
    assert np.array_equal(after, want) and np.array_equal(foot, want_f)
    assert (after < before).mean() > 0.9  # the surface came closer: not the old answers
