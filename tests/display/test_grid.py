"""Display geometry (no Qt): every volume lands in world (S, P, L) by its affine."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.display import (
    from_display,
    lps_to_world,
    to_display,
    world_to_lps,
)
from nvcview.io.image import index_to_lps, lps_to_index


def _affine(lin: np.ndarray, origin) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = lin
    a[:3, 3] = origin
    return a


# array axes in several orders and signs, as different tools store them
ALIGNED = [
    np.diag([0.5, 0.5, 0.7]),  # DICOM-like axial (x, y, z)
    np.array([[0, 0, -0.5], [0, 0.6, 0], [0.7, 0, 0]]),  # [k, j, i] with a flipped x
    np.array([[-0.4, 0, 0], [0, 0, -0.5], [0, 0.6, 0]]),  # coronal stack, flipped
]


@pytest.mark.parametrize("lin", ALIGNED)
def test_axis_aligned_display_is_exact(lin):
    shape = (11, 13, 17)
    aff = _affine(lin, (12.0, -30.0, 5.0))
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 1000, shape).astype(np.int16)
    disp, grid = to_display(arr, aff)
    assert not grid.oblique
    assert np.all(np.asarray(grid.scale) > 0)
    # every source voxel lands at the world position of its LPS centre
    for ijk in [(0, 0, 0), (10, 12, 16), (3, 7, 2), (10, 0, 5)]:
        world = lps_to_world(index_to_lps(aff, np.array(ijk, float)))
        d = np.round(grid.world_to_index(world)).astype(int)
        assert np.allclose(grid.world_to_index(world), d, atol=1e-9)
        assert disp[tuple(d)] == arr[ijk]
    back = from_display(disp, grid, aff, shape)
    assert np.array_equal(back, arr)


def test_world_axes_superior_posterior_left():
    # a marker on the patient's left (+x) lands at a larger world column (screen right)
    aff = _affine(np.diag([0.5, 0.5, 0.5]), (-10.0, -10.0, 0.0))
    arr = np.zeros((41, 41, 21), np.uint8)
    arr[35, 20, 10] = 1  # x = +7.5 mm: patient's left
    disp, grid = to_display(arr, aff)
    s, p, col = np.argwhere(disp)[0]
    assert col > disp.shape[2] // 2
    assert np.allclose(world_to_lps(lps_to_world([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    assert np.allclose(lps_to_world([1.0, 2.0, 3.0]), [3.0, 2.0, 1.0])


def test_oblique_is_resampled_onto_axis_aligned_grid():
    t = np.radians(20.0)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    aff = _affine(rot @ np.diag([0.5, 0.5, 0.8]), (-8.0, -6.0, 2.0))
    shape = (32, 32, 20)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    lps = index_to_lps(aff, idx.reshape(-1, 3)).reshape(*shape, 3)
    c = lps[20, 12, 9]
    arr = (np.linalg.norm(lps - c, axis=-1) <= 2.0).astype(np.float32) * 100
    disp, grid = to_display(arr, aff, order=1)
    assert grid.oblique
    assert np.allclose(grid.affine[:3, :3], np.diag(grid.scale))
    # the blob's centre of mass is where it is in patient space
    w = np.argwhere(disp > 50).astype(float)
    centre_world = (w * np.asarray(grid.scale) + np.asarray(grid.translate)).mean(axis=0)
    assert np.linalg.norm(world_to_lps(centre_world) - c) < 0.3
    # labels round trip by nearest neighbour: the blob comes back in place
    lab = (arr > 50).astype(np.uint8)
    dlab, g2 = to_display(lab, aff, order=0)
    assert dlab.dtype == np.uint8
    back = from_display(dlab, g2, aff, shape)
    agree = (back == lab).mean()
    assert agree > 0.995
    assert abs(int(back.sum()) - int(lab.sum())) < 0.1 * lab.sum()
    assert np.allclose(lps_to_index(aff, c), (20, 12, 9))


def test_oblique_brush_edit_touches_only_the_edited_region():
    from nvcview.display import update_from_display

    t = np.radians(25.0)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    aff = _affine(rot @ np.diag([0.5, 0.5, 0.6]), (3.0, -4.0, 1.0))
    shape = (30, 30, 20)
    rng = np.random.default_rng(3)
    # a label map with thin, one-voxel structures a nearest round trip would damage
    src = (rng.random(shape) < 0.2).astype(np.uint16) * 3
    original = src.copy()
    disp, grid = to_display(src, aff, order=0)
    box = (slice(8, 12), slice(10, 16), slice(10, 16))
    edited_disp = disp.copy()
    edited_disp[box] = 7  # a brush stroke
    edited = edited_disp != disp
    changed = update_from_display(src, edited_disp, grid, aff, edited)
    assert changed > 0
    # every source voxel that became 7 has its nearest display voxel in the stroke
    idx = np.argwhere(src == 7)
    world = lps_to_world(index_to_lps(aff, idx.astype(float)))
    d = np.round(grid.world_to_index(world)).astype(int)
    assert np.all((d >= [8, 10, 10]) & (d < [12, 16, 16]))
    # and nothing else moved, even where a nearest round trip would differ
    assert np.array_equal(src[src != 7], original[src != 7])
    assert (src == 7).sum() == changed
    roundtrip = from_display(disp, grid, aff, shape)
    assert (roundtrip != original).any()  # the lossy path this function avoids


def _tilted(deg: float, spacing, origin) -> np.ndarray:
    t = np.radians(deg)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    return _affine(rot @ np.diag(spacing), origin)


def test_resampled_volume_reads_only_what_is_asked_and_equals_the_full_resampling():
    from nvcview.display import ResampledVolume, display_view

    aff = _tilted(3.0, (0.5, 0.39, 0.39), (-5.0, -6.0, -4.0))
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 4000, (18, 26, 24)).astype(np.uint16)
    full, grid = to_display(arr, aff, order=1)
    lazy, g = display_view(arr, aff, order=1)
    assert isinstance(lazy, ResampledVolume) and g == grid
    assert lazy.shape == full.shape and lazy.dtype == full.dtype and lazy.voxels_read == 0
    n0, n1, n2 = grid.shape
    axial = lazy[n0 // 2]  # what napari asks for an axial slice
    assert lazy.voxels_read == n1 * n2
    assert np.array_equal(lazy[n0 // 2], axial) and lazy.voxels_read == n1 * n2  # kept
    assert np.allclose(axial, full[n0 // 2], atol=1e-3)
    # coronal and sagittal planes, steps, negative indices, ellipsis
    assert np.allclose(lazy[:, n1 // 3, :], full[:, n1 // 3, :], atol=1e-3)
    assert np.allclose(lazy[..., -2], full[..., -2], atol=1e-3)
    assert np.allclose(lazy[::3, 1:9:2], full[::3, 1:9:2], atol=1e-3)
    assert np.allclose(np.asarray(lazy), full, atol=1e-3)
    with pytest.raises(IndexError):
        lazy[n0]


def test_a_bright_voxel_of_a_tilted_series_is_shown_at_its_world_position():
    from nvcview.display import display_view

    aff = _tilted(3.0, (0.5, 0.4, 0.4), (-20.0, -20.0, -10.0))
    shape = (40, 100, 100)
    arr = np.zeros(shape, np.float32)
    ijk = (30, 20, 90)  # far from the centre, where a 3 degree tilt moves it most
    arr[ijk] = 1000.0
    lazy, grid = display_view(arr, aff, order=1)
    world = lps_to_world(index_to_lps(aff, np.array(ijk, float)))
    d = np.round(grid.world_to_index(world)).astype(int)
    plane = lazy[int(d[0])]  # the axial slice through the voxel's world S
    peak = np.unravel_index(np.argmax(plane), plane.shape)
    assert plane[peak] > 100
    assert np.abs(np.array(peak) - d[1:]).max() <= 1
    # the data plane napari would show unrotated (k = 30) is ~4 mm off in S here
    centre_k = np.array([30, 50, 50], float)
    tilt_mm = abs((index_to_lps(aff, np.array(ijk, float)) - index_to_lps(aff, centre_k))[2])
    assert tilt_mm > 1.5


def test_an_oblique_label_map_is_sampled_over_its_labelled_box_only(monkeypatch):
    import nvcview.display.grid as grid_module

    aff = _tilted(3.0, (0.5, 0.4, 0.4), (-10.0, -12.0, -6.0))
    shape = (30, 60, 60)
    labels = np.zeros(shape, np.uint16)
    labels[10:14, 20:26, 30:33] = 2
    labels[12, 22, 31] = 5
    whole = (slice(0, None),) * 3
    grid = grid_module.display_grid(aff, shape)
    everything = grid_module._sample_box(
        labels, aff, grid, tuple(slice(0, n) for n in grid.shape), 0
    )
    sampled: list[int] = []
    real = grid_module._sample_box

    def spy(array, affine, g, box, order):
        sampled.append(int(np.prod([s.stop - s.start for s in box])))
        return real(array, affine, g, box, order)

    monkeypatch.setattr(grid_module, "_sample_box", spy)
    disp, _ = to_display(labels, aff, order=0)
    assert np.array_equal(disp, everything)  # same as sampling every display voxel
    assert sum(sampled) < 0.02 * disp.size
    assert disp[whole].dtype == np.uint16
    empty, _ = to_display(np.zeros(shape, np.uint8), aff, order=0)
    assert not empty.any() and sum(sampled) < 0.02 * disp.size  # nothing sampled for it


def test_update_from_display_within_a_box_equals_the_whole_mask():
    from nvcview.display import display_box_to_source, sample_display_box, update_from_display

    aff = _tilted(3.0, (0.5, 0.4, 0.4), (-10.0, -12.0, -6.0))
    shape = (30, 40, 40)
    rng = np.random.default_rng(7)
    src = (rng.random(shape) < 0.1).astype(np.uint16)
    disp, grid = to_display(src, aff, order=0)
    box = (slice(12, 20), slice(15, 22), slice(18, 30))
    painted = disp.copy()
    painted[14:18, 16:20, 20:28] = 4
    a, b = src.copy(), src.copy()
    update_from_display(a, painted, grid, aff, painted != disp)
    shown = sample_display_box(b, aff, grid, box, order=0)
    assert np.array_equal(shown, disp[box])
    update_from_display(b, painted, grid, aff, painted[box] != shown, box=box)
    assert np.array_equal(a, b) and (a == 4).any()
    sbox = display_box_to_source(grid, aff, box, shape)
    outside = np.ones(shape, bool)
    outside[sbox] = False
    assert np.array_equal(b[outside], src[outside])  # nothing changed outside its source box


def test_an_oblique_label_map_shown_as_uint8_and_redrawn_in_place():
    from nvcview.display import label_display_dtype

    assert label_display_dtype(0) == np.uint8 and label_display_dtype(255) == np.uint8
    assert label_display_dtype(256) == np.uint16
    aff = _tilted(3.0, (0.5, 0.4, 0.4), (-10.0, -12.0, -6.0))
    shape = (30, 60, 60)
    labels = np.zeros(shape, np.uint16)
    labels[10:14, 20:26, 30:33] = 2
    labels[12, 22, 31] = 200
    wide, _ = to_display(labels, aff, order=0)
    small, grid = to_display(labels, aff, order=0, dtype=label_display_dtype(int(labels.max())))
    assert small.dtype == np.uint8 and np.array_equal(small, wide)
    # a redraw in place after the map moved: the old voxels go, the new ones come
    labels[...] = 0
    labels[20:23, 40:44, 10:12] = 7
    out = small
    again, _ = to_display(labels, aff, order=0, grid=grid, out=out)
    assert again is out
    fresh, _ = to_display(labels, aff, order=0, grid=grid)
    assert np.array_equal(out, fresh) and set(np.unique(out)) == {0, 7}
