"""Exact point-to-triangle distances, vectorised (closest point after Ericson, 2005).

All coordinates are whatever frame the caller uses (the engine passes LPS mm).
"""

from __future__ import annotations

import numpy as np


def closest_point_on_triangles(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Closest point to ``p`` on each triangle ``(a, b, c)``.

    Parameters
    ----------
    p, a, b, c : numpy.ndarray
        Arrays of shape (..., 3) that broadcast together.

    Returns
    -------
    numpy.ndarray
        (..., 3) closest points, same frame and units as the inputs.
    """
    p, a, b, c = np.broadcast_arrays(p, a, b, c)
    ab = b - a
    ac = c - a
    ap = p - a
    d1 = np.einsum("...i,...i", ab, ap)
    d2 = np.einsum("...i,...i", ac, ap)
    bp = p - b
    d3 = np.einsum("...i,...i", ab, bp)
    d4 = np.einsum("...i,...i", ac, bp)
    cp = p - c
    d5 = np.einsum("...i,...i", ab, cp)
    d6 = np.einsum("...i,...i", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2

    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_in = vb / denom
        w_in = vc / denom
        out = a + ab * v_in[..., None] + ac * w_in[..., None]  # inside the face

        # edge regions
        v_ab = d1 / (d1 - d3)
        e_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        w_ac = d2 / (d2 - d6)
        e_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        w_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        e_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    out = np.where(e_bc[..., None], b + (c - b) * w_bc[..., None], out)
    out = np.where(e_ac[..., None], a + ac * w_ac[..., None], out)
    out = np.where(e_ab[..., None], a + ab * v_ab[..., None], out)
    # vertex regions (checked last so they win)
    v_c = (d6 >= 0) & (d5 <= d6)
    v_b = (d3 >= 0) & (d4 <= d3)
    v_a = (d1 <= 0) & (d2 <= 0)
    out = np.where(v_c[..., None], c, out)
    out = np.where(v_b[..., None], b, out)
    out = np.where(v_a[..., None], a, out)
    # degenerate (zero-area) triangles: nearest of the three vertices
    bad = ~np.all(np.isfinite(out), axis=-1)
    if np.any(bad):
        cands = np.stack([a, b, c], axis=-2)
        dd = np.linalg.norm(cands - p[..., None, :], axis=-1)
        best = np.take_along_axis(cands, np.argmin(dd, axis=-1)[..., None, None], axis=-2)[
            ..., 0, :
        ]
        out = np.where(bad[..., None], best, out)
    return out


def vertex_faces(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Faces incident to each vertex as a padded (n_vertices, max_degree) array (-1 = none)."""
    flat = faces.ravel()
    face_of = np.repeat(np.arange(len(faces)), faces.shape[1])
    order = np.argsort(flat, kind="stable")
    sorted_v = flat[order]
    counts = np.bincount(flat, minlength=n_vertices)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(flat)) - start[sorted_v]
    adj = np.full((n_vertices, max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
    adj[sorted_v, pos] = face_of[order]
    return adj
