"""Images, label map and geometry of the in-memory phantom."""

from __future__ import annotations

import numpy as np
import pytest
from nvcview_sample import make_phantom
from scipy import ndimage

from nvcview.io.image import index_to_lps, lps_to_index

ARTERIES = (4, 5, 6, 8)  # VA, PICA, AICA, basilar
VII, AICA = 2, 6


def labels_on_grid(ph, image):
    """The T2-grid label map sampled (nearest) at the voxel centres of ``image``."""
    shape = image.array.shape
    idx = np.indices(shape).reshape(3, -1).T
    ijk = np.rint(lps_to_index(ph.labels.affine, index_to_lps(image.affine, idx))).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(ph.labels.array.shape)), axis=1)
    out = np.full(len(idx), -1)
    out[inside] = ph.labels.array[tuple(ijk[inside].T)]
    return out.reshape(shape)


def test_tof_arteries_bright_and_t2_csf_brighter_than_nerve(default_phantom):
    ph = default_phantom
    lab_tof = labels_on_grid(ph, ph.tof)
    tof = ph.tof.array.astype(float)
    artery = np.isin(lab_tof, ARTERIES)
    background = lab_tof == 0
    assert artery.sum() > 200
    assert tof[artery].mean() > 3.0 * tof[background].mean()
    t2 = ph.t2.array.astype(float)
    lab = ph.labels.array
    nerve = lab == VII
    shell = ndimage.binary_dilation(nerve, iterations=3) & (lab == 0)
    assert t2[shell].mean() > 2.0 * t2[nerve].mean()  # CSF around the nerve is bright
    assert t2[lab == AICA].mean() < 0.5 * t2[shell].mean()  # flow void
    # veins are not bright on TOF
    vein = lab_tof == 7
    assert tof[vein].mean() < 0.5 * tof[np.isin(lab_tof, (4, 8))].mean()


def test_labels_sit_on_the_analytic_shapes(default_phantom):
    ph = default_phantom
    aica = next(v for v in ph.truth["vessels"] if v["vessel_type"] == "AICA")
    for point, label in (
        (aica["nerve_axis_point_lps"], VII),
        (aica["vessel_axis_point_lps"], AICA),
        (ph.landmarks["RDP"], VII),
    ):
        k = tuple(np.rint(lps_to_index(ph.labels.affine, np.array(point))).astype(int))
        assert ph.labels.array[k] == label
    # VII label volume ~ analytic tube volume inside the T2 field (pi r^2 L within 25%)
    vii = ph.anatomy.tubes["VII"]
    idx = np.rint(lps_to_index(ph.t2.affine, vii.points)).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(ph.t2.array.shape)), axis=1)
    seg = np.linalg.norm(np.diff(vii.points, axis=0), axis=1)
    length = seg[inside[1:] & inside[:-1]].sum()
    expected = np.pi * vii.radius**2 * length
    voxel = np.prod(ph.t2.spacing_mm)
    assert (ph.labels.array == VII).sum() * voxel == pytest.approx(expected, rel=0.25)


def test_meta_and_shared_frame(default_phantom):
    ph = default_phantom
    t2, tof = ph.t2.meta, ph.tof.meta
    assert (t2.role, tof.role) == ("T2", "TOF")
    assert t2.study_uid == tof.study_uid and t2.frame_of_reference_uid == tof.frame_of_reference_uid
    assert t2.series_uid != tof.series_uid
    assert t2.sequence_name == "*ciss3d" and tof.sequence_name.startswith("*fl3d")
    assert ph.t2.spacing_mm == pytest.approx((0.5, 0.4, 0.4))
    assert ph.tof.spacing_mm == pytest.approx((0.7, 0.35, 0.35))
    assert ph.t2.patient.patient_name == "PHANTOM^CPA"
    assert ph.truth["reference_series_uid"] == t2.series_uid
    assert ph.truth["series"]["T2"]["affine_index_to_lps"] == ph.t2.affine.tolist()
    # the slab covers the contact with margin, in both series
    for img in (ph.t2, ph.tof):
        for name in ("RExP", "RDP", "IAC"):
            ijk = lps_to_index(img.affine, ph.landmarks[name])
            assert np.all(ijk > 5) and np.all(ijk < np.array(img.array.shape) - 5), name


def test_deterministic_for_a_seed(default_phantom):
    again = make_phantom(seed=0)
    np.testing.assert_array_equal(again.t2.array, default_phantom.t2.array)
    np.testing.assert_array_equal(again.tof.array, default_phantom.tof.array)
    np.testing.assert_array_equal(again.labels.array, default_phantom.labels.array)
    assert again.truth == default_phantom.truth
    assert again.t2.meta.series_uid == default_phantom.t2.meta.series_uid


def test_right_side_mirrors_the_anatomy(default_phantom):
    left = default_phantom
    right = make_phantom(seed=0, side="right")
    flip = np.array([-1.0, 1.0, 1.0])
    for name, p in left.landmarks.items():
        np.testing.assert_allclose(right.landmarks[name], p * flip, atol=1e-9)
    np.testing.assert_allclose(right.centreline, left.centreline * flip, atol=1e-9)
    assert right.landmarks["IAC"][0] < -20.0  # the nerve runs to the patient's right (-x)
    for vl, vr in zip(left.truth["vessels"], right.truth["vessels"], strict=True):
        assert vr["gap_mm"] == pytest.approx(vl["gap_mm"], abs=1e-9)
        np.testing.assert_allclose(
            vr["nerve_point_lps"], np.array(vl["nerve_point_lps"]) * flip, atol=1e-9
        )
    assert right.truth["side"] == "right" and right.structures[1].name.startswith("right")
    # the label map is the mirror image: voxel centres map onto each other through x -> -x
    mirrored = left.labels.array[:, :, ::-1]
    assert np.mean(mirrored != right.labels.array) < 1e-4
    x_left = index_to_lps(left.t2.affine, np.array([0, 0, 0]))
    x_right = index_to_lps(right.t2.affine, np.array([0, 0, left.t2.array.shape[2] - 1]))
    np.testing.assert_allclose(x_right, x_left * flip, atol=1e-9)


def test_oblique_same_truth_rotated_grid(default_phantom):
    ph = make_phantom(seed=0, oblique=True)
    for va, vb in zip(default_phantom.truth["vessels"], ph.truth["vessels"], strict=True):
        assert vb["gap_mm"] == va["gap_mm"]
        assert vb["nerve_point_lps"] == va["nerve_point_lps"]
    for img in (ph.t2, ph.tof):
        cosines = img.affine[:3, :3] / np.linalg.norm(img.affine[:3, :3], axis=0)
        assert np.abs(cosines).max(axis=0).min() < np.cos(np.radians(3))  # really tilted
        np.testing.assert_allclose(cosines.T @ cosines, np.eye(3), atol=1e-12)
        assert img.meta.orientation == "axial oblique"
    # same anatomy: the VII label volume agrees with the straight acquisition within 10%
    n_obl = (ph.labels.array == VII).sum()
    n_ax = (default_phantom.labels.array == VII).sum()
    assert n_obl == pytest.approx(n_ax, rel=0.1)
    aica = next(v for v in ph.truth["vessels"] if v["vessel_type"] == "AICA")
    k = tuple(
        np.rint(lps_to_index(ph.labels.affine, np.array(aica["vessel_axis_point_lps"]))).astype(int)
    )
    assert ph.labels.array[k] == AICA


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(side="up"), "side"),
        (dict(segment="TZ"), "segment"),
        (dict(gap_mm=-0.5), "gap_mm"),
        (dict(gap_mm=2.0, segment="RDP"), "gap_mm"),
        (dict(gap_mm=float("nan")), "gap_mm"),
        (dict(gap_mm=0.5, indent_mm=0.3), "indent"),
        (dict(indent_mm=0.9), "indent_mm"),
    ],
)
def test_bad_parameters_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        make_phantom(**kwargs)
