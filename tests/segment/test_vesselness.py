"""Spacing-aware vesselness: same answer on isotropic and anisotropic grids of one tube."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.segment.vesselness import symmetric_eigenvalues, vesselness


def tube_volume(spacing, radius=1.0, size_mm=14.0):
    shape = tuple(int(size_mm / s) for s in spacing)
    g = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)], indexing="ij")
    c = size_mm / 2
    # a tube along axis 0 (through-slice), centred in the others
    r = np.hypot(g[1] - c, g[2] - c)
    img = np.clip(radius - r + 0.5, 0, 1) * 500.0 + 50.0
    aff = np.diag([*spacing, 1.0])
    return img, aff, r


def test_closed_form_eigenvalues_match_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 3, 3))
    a = a + a.transpose(0, 2, 1)
    l1, l2, l3 = symmetric_eigenvalues(a[:, 0, 0], a[:, 1, 1], a[:, 2, 2], a[:, 0, 1],
                                       a[:, 0, 2], a[:, 1, 2])  # fmt: skip
    ref = np.linalg.eigvalsh(a)
    ref = np.take_along_axis(ref, np.argsort(np.abs(ref), axis=1), axis=1)
    assert np.allclose(np.stack([l1, l2, l3], 1), ref, atol=1e-9)


@pytest.mark.parametrize("spacing", [(0.4, 0.4, 0.4), (0.8, 0.3, 0.3)])
def test_tube_answers_at_its_axis_and_its_scale(spacing):
    img, aff, r = tube_volume(spacing)
    v = vesselness(img, aff, scales_mm=(0.4, 0.7, 1.0, 1.4))
    axis = r < 0.35
    outside = r > 2.5
    assert v.value[axis].mean() > 0.5
    assert v.value[outside].max() < 0.05


def test_tube_isotropic_vs_anisotropic_agree_in_mm():
    iso = vesselness(*tube_volume((0.4, 0.4, 0.4))[:2])
    img, aff, r = tube_volume((0.8, 0.3, 0.3))
    an = vesselness(img, aff)
    # radial profile of the response in mm: same half-width on both grids
    ri = tube_volume((0.4, 0.4, 0.4))[2]
    w_iso = ri[iso.value > 0.5].max()
    w_an = r[an.value > 0.5].max()
    assert abs(w_iso - w_an) < 0.3
    # the best scale is a physical one: the same on both grids
    assert np.median(iso.scale_mm[ri < 0.35]) == np.median(an.scale_mm[r < 0.35])


def test_a_plate_is_not_a_vessel():
    spacing = (0.4, 0.4, 0.4)
    shape = (36, 36, 36)
    z = np.arange(shape[0])[:, None, None] * spacing[0] - 7.0
    img = np.broadcast_to(np.clip(1.0 - np.abs(z) + 0.5, 0, 1) * 500.0, shape).copy()
    tube, aff, _ = tube_volume(spacing, size_mm=14.4)
    both = np.maximum(img, tube)
    v = vesselness(both, aff)
    zf = np.broadcast_to(np.abs(z), shape)
    _, _, r = tube_volume(spacing, size_mm=14.4)
    plate_only = (zf < 0.3) & (r > 3.0)
    assert v.value[plate_only].mean() < 0.1 * v.value[r < 0.25].mean()


def test_sheared_grid_refused():
    aff = np.eye(4)
    aff[0, 1] = 0.5
    with pytest.raises(InputError, match="sheared"):
        vesselness(np.zeros((8, 8, 8)), aff)
