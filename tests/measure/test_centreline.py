"""Centreline arc lengths: projection on a polyline and a centreline derived from a label."""

from __future__ import annotations

import numpy as np
import pytest
from capsule_phantoms import grid_affine, tube, voxelise
from scipy.spatial.transform import Rotation

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.measure import Centreline, as_label_grid, derive_centreline, label_boxes


def test_projection_on_a_polyline():
    cl = Centreline(np.array([[0.0, 0, 0], [10, 0, 0], [10, 5, 0]]))
    assert cl.length_mm == pytest.approx(15.0)
    s, foot, dist = cl.project(np.array([[3.0, 2, 0], [12, 4, 1], [-2, 0, 0]]))
    np.testing.assert_allclose(s, [3.0, 14.0, 0.0])
    np.testing.assert_allclose(foot, [[3, 0, 0], [10, 4, 0], [0, 0, 0]])
    np.testing.assert_allclose(dist, [2.0, np.sqrt(5), 2.0])
    np.testing.assert_allclose(cl.point_at(12.5), [10, 2.5, 0])
    np.testing.assert_allclose(cl.tangent_at(5.0), [1, 0, 0])


def test_bad_centrelines_are_refused():
    with pytest.raises(InputError, match=r"\(N >= 2, 3\)"):
        Centreline(np.zeros((1, 3)))
    with pytest.raises(InputError, match="two distinct points"):
        Centreline(np.ones((4, 3)))


def _curved_nerve(rotation=None, spacing=(0.39, 0.39, 0.5)):
    """A nerve of radius 0.9 mm along a quarter circle of radius 10 mm (arc 15.7 mm)."""
    radius = 10.0
    theta = np.linspace(0, np.pi / 2, 46)
    axis = np.stack([radius * np.sin(theta), radius * (1 - np.cos(theta)), 0.5 * theta], -1)
    centre = axis.mean(axis=0)
    shape = tuple(int(np.ceil(16.0 / s)) for s in spacing)
    aff = grid_affine(spacing, np.eye(3) if rotation is None else rotation, centre, shape)
    lab = voxelise([tube(axis, 0.9)], aff, shape, supersample=2)
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(axis, axis=0), axis=1))])
    return Image(volume=make_volume(lab, aff)), axis, arc


@pytest.mark.parametrize("oblique", [False, True])
def test_derived_centreline_follows_a_curved_nerve(oblique):
    rot = Rotation.from_euler("zyx", [30, 20, -10], degrees=True).as_matrix() if oblique else None
    img, axis, arc = _curved_nerve(rot)
    grid = as_label_grid(img)
    cl = derive_centreline(grid, 1, label_boxes(grid.array)[1], start_lps=axis[0], end_lps=axis[-1])
    np.testing.assert_allclose(cl.points[0], axis[0])
    # the derived line stays on the axis and measures arc length like it
    s, _, dist = cl.project(axis[5:-5])
    assert dist.max() <= 0.2
    assert np.abs(s - arc[5:-5]).max() <= 0.15
    # without landmarks it still runs end to end (either direction), into the end caps
    free = derive_centreline(grid, 1, label_boxes(grid.array)[1])
    assert arc[-1] <= free.length_mm <= arc[-1] + 2 * 0.9
