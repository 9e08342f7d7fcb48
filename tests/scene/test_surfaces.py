"""Engine surfaces of every structure: placement, the gap heat map, the edit cache."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.measure import measure_case, surface_gap
from nvcview.scene import SurfaceBuilder, build_scene
from nvcview.structures import find_facial_nerve
from scene.conftest import noisy_oblique_case


def _label_lps_box(labels: Image, label: int) -> np.ndarray:
    """(2, 3) LPS bounds of the label's voxel centres (its index box through the affine)."""
    ijk = np.argwhere(np.asarray(labels.array) == label).astype(float)
    xyz = ijk @ labels.affine[:3, :3].T + labels.affine[:3, 3]
    return np.stack([xyz.min(axis=0), xyz.max(axis=0)])


def _one_voxel_lps(labels: Image) -> np.ndarray:
    """(3,) extent of one voxel along L, P, S (mm): the spacing on axis-aligned grids."""
    return np.abs(labels.affine[:3, :3]).sum(axis=1)


def _cases():
    from nvcview_sample import make_phantom

    p = make_phantom(gap_mm=0.0)
    c = noisy_oblique_case()
    return [("sample", p.labels, p.structures), ("noisy-oblique", c.labels, c.structures)]


@pytest.mark.parametrize("name,labels,structures", _cases())
def test_every_mesh_bounding_box_within_one_voxel_of_its_label(name, labels, structures):
    scene = build_scene(labels, structures)
    assert {s.label for s in scene.surfaces} == {s.label for s in structures}
    voxel = _one_voxel_lps(labels)
    for surf in scene.surfaces:
        box = _label_lps_box(labels, surf.label)
        err = np.abs(surf.bounds_lps - box)  # outward (half a voxel) or inward (thin tips)
        assert np.all(err <= voxel), f"{name} {surf.name}: bounds off by {err.max():.2f} mm"


@pytest.mark.parametrize("name,labels,structures", _cases())
def test_vertices_inside_the_label_maps_voxel_corner_box(name, labels, structures):
    """Through the inverse affine every vertex lies within [-0.5, n - 0.5] per axis."""
    scene = build_scene(labels, structures)
    inv = np.linalg.inv(labels.affine)
    shape = np.asarray(labels.array.shape[:3])
    for surf in scene.surfaces:
        ijk = surf.verts @ inv[:3, :3].T + inv[:3, 3]
        assert ijk.min() >= -0.5 - 1e-6, surf.name
        assert np.all(ijk.max(axis=0) <= shape - 0.5 + 1e-6), surf.name


def test_meshes_are_closed_and_wound_outward_on_a_mirrored_affine():
    """The sample's affine has a negative determinant: faces must still wind outward."""
    from nvcview_sample import make_phantom

    p = make_phantom()
    assert np.linalg.det(p.labels.affine[:3, :3]) < 0
    scene = build_scene(p.labels, p.structures)
    for surf in scene.surfaces:
        m = trimesh.Trimesh(surf.verts, surf.faces, process=False)
        assert m.is_watertight, surf.name
        assert m.volume > 0, f"{surf.name}: faces wound inward"
        # outward normals point away from the structure
        inside = surf.verts - 0.2 * surf.normals
        outside = surf.verts + 0.2 * surf.normals
        lab = np.asarray(p.labels.array)
        inv = np.linalg.inv(p.labels.affine)

        def value(x, lab=lab, inv=inv):
            ijk = np.rint(x @ inv[:3, :3].T + inv[:3, 3]).astype(int)
            ijk = np.clip(ijk, 0, np.asarray(lab.shape) - 1)
            return lab[tuple(ijk.T)]

        assert np.mean(value(inside) == surf.label) > np.mean(value(outside) == surf.label)


@pytest.mark.parametrize("gap", [0.0, 0.7, 1.6])
@pytest.mark.parametrize("side", ["left", "right"])
def test_heat_map_minimum_equals_engine_gap(gap, side):
    from nvcview_sample import make_phantom

    p = make_phantom(gap_mm=gap, side=side)
    ms = measure_case(p.labels, p.structures, p.landmarks, p.centreline)
    scene = build_scene(p.labels, p.structures, ms)
    engine = min(m.gap_mm for m in ms)
    nerve = scene.nerve
    assert nerve is not None and nerve.gap_mm is not None
    assert abs(float(nerve.gap_mm.min()) - engine) <= 0.01
    # and against the public gap function directly
    nerve_label = find_facial_nerve(p.structures).label
    best = min(ms, key=lambda m: m.gap_mm)
    g = surface_gap(p.labels, nerve_label, best.vessel_label)
    assert abs(float(nerve.gap_mm.min()) - g.gap_mm) <= 0.01


def test_heat_map_minimum_on_a_noisy_oblique_case():
    # 1.2 mm: at 0.8 mm the rough boundary voxels of the two labels meet face to face
    # (no CSF voxel between), which the engine calls touching
    c = noisy_oblique_case(gap_mm=1.2)
    ms = measure_case(c.labels, c.structures, c.landmarks)
    scene = build_scene(c.labels, c.structures, ms)
    assert ms[0].gap_mm > 0.3  # a real gap, not contact
    assert abs(float(scene.nerve.gap_mm.min()) - ms[0].gap_mm) <= 0.01
    # the heat map grows away from the vessel: the far end of the nerve is far
    assert float(np.max(scene.nerve.gap_mm)) > ms[0].gap_mm + 2.0


def test_edit_remeshes_only_the_edited_structure(sample_phantom):
    p = sample_phantom
    labels = np.asarray(p.labels.array).copy()
    image = Image(make_volume(labels, p.labels.affine), p.labels.meta)
    builder = SurfaceBuilder()
    first = builder.build(image, p.structures)
    assert sorted(builder.last_meshed) == sorted(s.label for s in first.surfaces)
    again = builder.build(image, p.structures)
    assert builder.last_meshed == []
    pica = next(s for s in p.structures if s.vessel_type == "PICA")
    # the reader paints a few voxels onto the PICA (in a background region next to it)
    where = np.argwhere(labels == pica.label)
    i, j, k = where[len(where) // 2]
    block = labels[i - 1 : i + 2, j - 1 : j + 2, k - 1 : k + 2]
    block[block == 0] = pica.label
    edited = builder.build(image, p.structures)
    assert builder.last_meshed == [pica.label]
    for s in edited.surfaces:
        if s.label != pica.label and s.gap_mm is None:  # the nerve gains inserted points
            assert s.verts is again.surface(s.label).verts, f"{s.name} was re-meshed"
    # the cached result equals a fresh build
    fresh = build_scene(image, p.structures)
    for s in edited.surfaces:
        np.testing.assert_allclose(s.verts, fresh.surface(s.label).verts)


def test_heat_map_follows_a_vessel_moved_away():
    """After an edit that moves the AICA away, the heat map minimum equals the new gap."""
    c0 = noisy_oblique_case(gap_mm=0.3)
    c1 = noisy_oblique_case(gap_mm=1.5)
    arr = np.asarray(c0.labels.array).copy()
    image = Image(make_volume(arr, c0.labels.affine), c0.labels.meta)
    builder = SurfaceBuilder()
    ms0 = measure_case(image, c0.structures, c0.landmarks)
    s0 = builder.build(image, c0.structures, ms0)
    m0 = float(s0.nerve.gap_mm.min())
    arr[...] = np.asarray(c1.labels.array)  # the edit, in place
    ms1 = measure_case(image, c1.structures, c1.landmarks)
    s1 = builder.build(image, c1.structures, ms1)
    assert 4 in builder.last_meshed
    assert abs(float(s1.nerve.gap_mm.min()) - ms1[0].gap_mm) <= 0.01
    assert float(s1.nerve.gap_mm.min()) > m0 + 0.8


def test_structures_sharing_a_label_are_refused(sample_phantom):
    p = sample_phantom
    dup = [*p.structures, p.structures[-1].__class__(2, "second nerve", "nerve", nerve="VIII")]
    with pytest.raises(InputError, match="share label 2"):
        build_scene(p.labels, dup)


def test_an_image_is_refused_as_label_map():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, (20, 20, 20)).astype(np.int16)
    with pytest.raises(InputError, match="not a label map"):
        build_scene(make_volume(img, np.eye(4)), [])


def test_a_structure_without_voxels_is_left_out(sample_phantom):
    p = sample_phantom
    arr = np.asarray(p.labels.array).copy()
    vein = next(s for s in p.structures if s.vessel_type == "vein")
    arr[arr == vein.label] = 0
    scene = build_scene(make_volume(arr, p.labels.affine), p.structures)
    assert scene.surface(vein.label) is None
    assert scene.nerve is not None


def test_a_review_scene_measures_with_the_reviews_surface_method(sample_study):
    import dataclasses
    import shutil

    from nvcview.case.measurement import measure_review
    from nvcview.review.store import load_review, save_review
    from nvcview.scene.loading import load_review_scene

    paths, _ = sample_study
    folder = paths.review_dir.parent / "review_scene_image_edge"  # series paths stay valid
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    review = load_review(folder)
    review.settings = dataclasses.replace(review.settings, surface_method="image-edge")
    save_review(review, folder)
    scene, _, _ = load_review_scene(folder)
    # the 3D view's closest-point pairs carry the gaps the table and report give
    expected = {m.vessel_label: m.gap_mm for m in measure_review(review, folder)}
    assert expected and {p.vessel_label: p.gap_mm for p in scene.pairs} == pytest.approx(
        expected, abs=1e-6
    )
