"""The world-space sampler: a regular grid sampled in one go equals point-wise sampling."""

from __future__ import annotations

import numpy as np
import pytest
from nvcview_sample.geometry import rotation_matrix

from nvcview.display import sample_grid, sample_lps
from nvcview.io.image import index_to_lps


def _oblique(spacing, origin, deg) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = rotation_matrix([0.3, 1.0, 0.2], deg) @ np.diag(spacing)
    a[:3, 3] = origin
    return a


@pytest.mark.parametrize("order", [0, 1])
def test_sample_grid_equals_sample_lps_at_the_grid_centres(order):
    rng = np.random.default_rng(3)
    src = rng.integers(0, 3000, (20, 24, 22)).astype(np.uint16)
    src_aff = _oblique((0.6, 0.3, 0.35), (-3.0, -4.0, -5.0), 4.0)
    grid_aff = _oblique((0.31, 0.33, 0.29), (-2.0, -3.5, -4.0), -2.0)
    shape = (15, 17, 19)
    got = sample_grid(src, src_aff, grid_aff, shape, order=order)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    want = sample_lps(src, src_aff, index_to_lps(grid_aff, idx), order=order)
    assert got.shape == shape and got.dtype == want.dtype
    if order == 0:
        # nearest neighbour: the same voxel except at exact ties (none with these grids)
        assert np.mean(got == want) > 0.999
    else:
        assert np.allclose(got, want, atol=1e-3)
    assert np.any(got != 0)  # the grids overlap: something was sampled


def test_sample_grid_outside_is_cval_and_bool_stays_bool():
    src = np.ones((5, 5, 5), bool)
    aff = np.eye(4)
    far = np.eye(4)
    far[:3, 3] = 100.0  # a grid 100 mm away
    assert not sample_grid(src, aff, far, (3, 3, 3), order=0).any()
    near = sample_grid(src, aff, aff, (5, 5, 5), order=1)
    assert near.dtype == np.bool_ and near.all()
