"""Seed growing on small synthetic volumes with analytic answers."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.io.image import index_to_lps
from nvcview.segment import grow_nerve, grow_vessel, resample_mask, tube_mask


def _rotation(deg: float) -> np.ndarray:
    t = np.radians(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]])


def _grid(shape, spacing, rot_deg=0.0, origin=(-20.0, -15.0, 10.0)):
    aff = np.eye(4)
    aff[:3, :3] = _rotation(rot_deg) @ np.diag(spacing)
    aff[:3, 3] = origin
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return aff, index_to_lps(aff, idx.reshape(-1, 3)).reshape(*shape, 3)


def _dist_to_line(lps, p0, direction):
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    v = lps - np.asarray(p0, float)
    return np.linalg.norm(v - (v @ d)[..., None] * d, axis=-1)


@pytest.mark.parametrize("rot_deg", [0.0, 25.0])
def test_grow_vessel_volume_and_no_leak(rot_deg):
    shape, spacing = (48, 48, 40), (0.5, 0.5, 0.6)
    aff, lps = _grid(shape, spacing, rot_deg)
    centre = lps[24, 24, 20]
    # vessel A along x (radius 1.5 mm); vessel B parallel, surfaces 1.0 mm apart
    da = _dist_to_line(lps, centre, (1, 0, 0))
    db = _dist_to_line(lps, centre + np.array([0, 0, 4.0]), (1, 0, 0))
    tof = np.full(shape, 100.0)
    tof[da <= 1.5] = 900.0
    tof[db <= 1.5] = 900.0
    rng = np.random.default_rng(0)
    tof += rng.normal(0, 20, shape)
    radius = 6.0
    res = grow_vessel(tof, aff, centre + np.array([0.3, 0.2, 0.0]), radius_mm=radius)
    mask = res.mask
    dist = np.linalg.norm(lps - centre, axis=-1)
    truth = (da <= 1.5) & (dist <= radius)
    # all of vessel A inside the ball, nothing of vessel B
    assert mask[truth].mean() > 0.97
    assert not mask[db <= 1.5].any()
    assert mask[~truth].sum() < 0.05 * truth.sum()
    # analytic volume: a cylinder of r=1.5 mm cut by the ball (length ~ 2*sqrt(R^2-r^2))
    expected = np.pi * 1.5**2 * 2 * np.sqrt(radius**2 - 1.5**2)
    assert abs(res.volume_mm3 - expected) / expected < 0.2
    assert 100.0 < res.threshold < 900.0


def test_grow_vessel_bad_seeds():
    shape = (20, 20, 20)
    aff, lps = _grid(shape, (1.0, 1.0, 1.0))
    tof = np.full(shape, 100.0)
    tof[8:12, 8:12, :] = 800.0
    with pytest.raises(InputError, match="outside the volume"):
        grow_vessel(tof, aff, lps[0, 0, 0] - 500.0)
    # a seed in the background with an explicit threshold is not on a vessel
    with pytest.raises(InputError, match="not inside"):
        grow_vessel(tof, aff, lps[2, 2, 10], threshold=500.0, snap_mm=0.5)
    # nor is a click in noisy plain tissue with the default threshold
    noisy = tof + np.random.default_rng(1).normal(0, 20, tof.shape)
    with pytest.raises(InputError, match="no bright vessel"):
        grow_vessel(noisy, aff, lps[3, 3, 10], radius_mm=3.0)
    assert grow_vessel(noisy, aff, lps[10, 10, 10], radius_mm=6.0).n_voxels > 20


def test_grow_vessel_small_radius_inside_a_large_vessel():
    """A short grow radius (to keep off a touching vessel) still accepts a seed in a
    vessel wider than the ball: the background comes from the tissue around it."""
    shape, spacing = (40, 40, 40), (0.5, 0.5, 0.5)
    aff, lps = _grid(shape, spacing)
    centre = lps[20, 20, 20]
    da = _dist_to_line(lps, centre, (1, 0, 0))
    tof = np.full(shape, 100.0) + np.random.default_rng(2).normal(0, 20, shape)
    tof[da <= 2.5] += 800.0  # a basilar-sized artery, 5 mm across
    for radius in (1.0, 2.0):
        res = grow_vessel(tof, aff, centre, radius_mm=radius)
        inside = np.linalg.norm(lps - centre, axis=-1) <= radius
        assert res.mask[inside & (da <= 2.5)].mean() > 0.97
        assert not res.mask[~inside].any()
        assert 100.0 < res.threshold < 900.0


def test_grow_nerve_dark_in_csf_bounded_by_radius():
    shape, spacing = (40, 40, 40), (0.5, 0.5, 0.5)
    aff, lps = _grid(shape, spacing)
    centre = lps[20, 20, 20]
    dn = _dist_to_line(lps, centre, (1, 1, 0))
    t2 = np.full(shape, 1000.0)  # CSF
    t2[dn <= 1.0] = 150.0  # nerve, r = 1 mm
    res = grow_nerve(t2, aff, centre, radius_mm=4.0)
    dist = np.linalg.norm(lps - centre, axis=-1)
    assert res.mask[(dn <= 1.0) & (dist <= 4.0)].all()
    assert not res.mask[dist > 4.0].any()
    assert not res.mask[dn > 1.3].any()


def test_tube_mask_radius():
    shape = (30, 30, 30)
    aff, lps = _grid(shape, (0.5, 0.5, 0.5), rot_deg=10.0)
    pts = np.array([lps[5, 15, 15], lps[15, 15, 15], lps[25, 20, 15]])
    m = tube_mask(shape, aff, pts, 1.0)
    d0 = _dist_to_line(lps, pts[0], pts[1] - pts[0])
    t = ((lps - pts[0]) @ (pts[1] - pts[0])) / np.sum((pts[1] - pts[0]) ** 2)
    on_first = (t >= 0) & (t <= 1)
    assert m[on_first & (d0 <= 0.95)].all()
    assert not m[on_first & (d0 >= 1.05) & (np.linalg.norm(lps - pts[1], axis=-1) > 1.05)].any()


def test_resample_mask_between_grids_keeps_position():
    # source: TOF-like 0.6 mm grid; target: T2-like 0.4 mm grid, rotated 15 degrees
    aff_s, lps_s = _grid((40, 40, 40), (0.6, 0.6, 0.6))
    aff_d, lps_d = _grid((60, 60, 60), (0.4, 0.4, 0.4), rot_deg=15.0, origin=(-18.0, -17.0, 11.0))
    c = lps_s[20, 20, 20]
    src = np.linalg.norm(lps_s - c, axis=-1) <= 3.0
    out = resample_mask(src, aff_s, (60, 60, 60), aff_d)
    got_centre = lps_d[out].mean(axis=0)
    assert np.linalg.norm(got_centre - c) < 0.2
    expected = 4 / 3 * np.pi * 27 / 0.4**3
    assert abs(out.sum() - expected) / expected < 0.1


def test_grow_nerve_within_mask_keeps_off_an_attached_pons():
    shape, spacing = (40, 40, 40), (0.5, 0.5, 0.5)
    aff, lps = _grid(shape, spacing)
    centre = lps[20, 20, 20]
    dn = _dist_to_line(lps, centre, (1, 0, 0))
    t2 = np.full(shape, 1000.0)  # CSF
    pons = lps[..., 2] < centre[2] - 0.8  # grey pons under the nerve, touching it
    t2[pons] = 330.0
    t2[dn <= 1.0] = 190.0  # nerve, r = 1 mm, lying on the pons
    free = grow_nerve(t2, aff, centre, radius_mm=6.0)
    assert free.mask[pons].sum() > 100  # intensity alone leaks into the pons
    tube = tube_mask(shape, aff, np.array([centre - [8, 0, 0], centre + [8, 0, 0]]), 1.5)
    bounded = grow_nerve(t2, aff, centre, radius_mm=6.0, within=tube)
    nerve = (dn <= 1.0) & (np.linalg.norm(lps - centre, axis=-1) <= 6.0)
    assert bounded.mask[nerve].mean() > 0.95
    assert not bounded.mask[dn > 1.5].any()
    with pytest.raises(InputError, match="within"):
        grow_nerve(t2, aff, centre, within=np.ones((3, 3, 3), bool))
