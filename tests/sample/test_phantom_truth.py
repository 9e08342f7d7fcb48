"""The phantom's truth equals the analytic answer, recomputed here independently.

The tubes are swept spheres, so a gap is (minimum distance between the centreline
polylines) - r1 - r2. Here that minimum is found by brute force (every densified
point of one polyline against every segment of the other), not with the
segment-segment formula the generator uses.
"""

from __future__ import annotations

import numpy as np
import pytest
from nvcview_sample import make_phantom

#: (params, expected REZ segment of the AICA's closest point, its arc length rule)
CASES = {
    "AS-contact": (dict(seed=0, segment="AS"), "AS"),
    "RExP-indent": (dict(seed=1, segment="RExP", indent_mm=0.4), "RExP"),
    "RDP-gap": (dict(seed=2, segment="RDP", gap_mm=1.0), "RDP/TZ"),
    "cisternal-gap": (dict(seed=3, segment="cisternal", gap_mm=2.5), "distal cisternal"),
}


@pytest.fixture(scope="module")
def phantoms(default_phantom):
    out = {"AS-contact": default_phantom}
    out.update({n: make_phantom(**p) for n, (p, _) in CASES.items() if n != "AS-contact"})
    return out


def brute_min_distance(a: np.ndarray, b: np.ndarray, sub: int = 8) -> float:
    """Min distance between polylines: densified points of ``b`` vs segments of ``a``."""
    f = np.linspace(0.0, 1.0, sub, endpoint=False)[None, :, None]
    dense = (b[:-1, None, :] + f * (b[1:, None, :] - b[:-1, None, :])).reshape(-1, 3)
    dense = np.concatenate([dense, b[-1:]])
    lo, hi = a[:-1], a[1:]
    ab = hi - lo
    best = np.inf
    for chunk in np.array_split(dense, max(1, len(dense) // 400)):
        ap = chunk[:, None, :] - lo[None, :, :]
        t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
        d = np.linalg.norm(ap - t[..., None] * ab, axis=-1)
        best = min(best, float(d.min()))
    return best


def point_to_polyline(p: np.ndarray, a: np.ndarray) -> float:
    return brute_min_distance(a, np.stack([p, p]), sub=1)


def vessel(ph, vtype):
    return next(v for v in ph.truth["vessels"] if v["vessel_type"] == vtype)


@pytest.mark.parametrize("name", list(CASES))
def test_every_gap_equals_the_tube_formula(phantoms, name):
    ph = phantoms[name]
    vii = ph.anatomy.tubes["VII"]
    keys = {"VA": "VA", "PICA": "PICA", "AICA": "AICA", "vein": "vein", "basilar": "basilar"}
    for vtype, key in keys.items():
        tube = ph.anatomy.tubes[key]
        centre_dist = brute_min_distance(vii.points, tube.points)
        signed = centre_dist - vii.radius - tube.radius
        v = vessel(ph, vtype)
        assert v["gap_mm"] == pytest.approx(max(0.0, signed), abs=2e-4), vtype
        assert v["centreline_distance_mm"] == pytest.approx(centre_dist, abs=2e-4), vtype
        assert v["vessel_diameter_mm"] == pytest.approx(2 * tube.radius)


@pytest.mark.parametrize("name", list(CASES))
def test_aica_conflict_is_the_requested_one(phantoms, name):
    params, segment = CASES[name]
    ph = phantoms[name]
    a = vessel(ph, "AICA")
    vii = ph.anatomy.tubes["VII"]
    aica = ph.anatomy.tubes["AICA"]
    gap, indent = params.get("gap_mm", 0.0), params.get("indent_mm", 0.0)
    # the analytic value: requested gap, or touching with the requested dent
    centre_dist = brute_min_distance(vii.points, aica.points)
    assert centre_dist - vii.radius - aica.radius == pytest.approx(gap - indent, abs=2e-4)
    assert a["gap_mm"] == pytest.approx(gap, abs=1e-9)
    if indent:
        assert a["indentation_depth_mm"] == pytest.approx(indent, abs=1e-9)
        assert a["grade"] == "indentation"
    else:
        assert a["indentation_depth_mm"] is None
        assert a["grade"] == ("contact" if gap == 0 else "none")
    assert a["segment"] == segment
    assert ph.truth["conflict"]["segment"] == segment
    rdp = ph.truth["rdp_arc_mm"]
    expected_arc = {"AS": rdp / 2, "RExP": 0.5, "RDP": rdp, "cisternal": rdp + 6.0}
    assert a["arc_length_from_rexp_mm"] == pytest.approx(expected_arc[params["segment"]], abs=0.3)
    assert a["dist_from_rdp_mm"] == pytest.approx(a["arc_length_from_rexp_mm"] - rdp)
    # closest points lie on the surfaces and are gap apart
    pn, pv = np.array(a["nerve_point_lps"]), np.array(a["vessel_point_lps"])
    assert np.linalg.norm(pv - pn) == pytest.approx(gap, abs=1e-6)
    assert point_to_polyline(pv, aica.points) == pytest.approx(aica.radius, abs=1e-4)
    assert point_to_polyline(pn, vii.points) == pytest.approx(vii.radius - indent, abs=1e-4)


@pytest.mark.parametrize("name", list(CASES))
def test_other_vessels_are_clear_of_the_nerves(phantoms, name):
    ph = phantoms[name]
    for v in ph.truth["vessels"]:
        if v["vessel_type"] != "AICA":
            assert v["gap_mm"] > 2.0, v["name"]
            assert v["grade"] == "none"
        assert v["gap_to_cn8_mm"] > 0.3, v["name"]


def test_landmarks_lie_on_the_centreline(phantoms):
    ph = phantoms["AS-contact"]
    c = ph.centreline
    assert c.shape[1] == 3 and len(c) > 100
    np.testing.assert_allclose(ph.landmarks["RExP"], c[0])
    np.testing.assert_allclose(ph.landmarks["IAC"], c[-1])
    seg = np.linalg.norm(np.diff(c, axis=0), axis=1)
    arc = np.concatenate([[0], np.cumsum(seg)])
    i = int(np.argmin(np.linalg.norm(c - ph.landmarks["RDP"], axis=1)))
    assert np.linalg.norm(c[i] - ph.landmarks["RDP"]) < 1e-9
    assert arc[i] == pytest.approx(ph.truth["rdp_arc_mm"], abs=1e-6)
    # attached segment ~8-10 mm, cisternal 12-16 mm; VII runs laterally (+x on the left)
    assert 8.0 <= ph.truth["rdp_arc_mm"] <= 10.5
    assert 12.0 <= arc[-1] - ph.truth["rdp_arc_mm"] <= 16.0
    assert ph.landmarks["IAC"][0] - ph.landmarks["RExP"][0] > 12.0
    assert ph.landmarks["IAC"][1] < ph.landmarks["RDP"][1]  # anterior towards the IAC
    # along the attached segment the nerve axis is one radius off the pons surface
    # (exact distance to a finely sampled ellipsoid surface), so the nerve touches the pons
    pons, r7 = ph.anatomy.pons, ph.anatomy.tubes["VII"].radius
    az, el = np.meshgrid(
        np.radians(np.linspace(-60, 30, 721)), np.radians(np.linspace(-80, 10, 721))
    )
    unit_dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
    surface = (pons.centre + pons.semi_axes * unit_dirs).reshape(-1, 3)
    attached = c[arc <= ph.truth["rdp_arc_mm"]]
    for p in attached[:: max(1, len(attached) // 8)]:
        d = np.sqrt(((surface - p) ** 2).sum(1)).min()
        assert d == pytest.approx(r7, abs=0.01)
    cisternal = c[arc > ph.truth["rdp_arc_mm"] + 3.0]
    d_cis = [np.sqrt(((surface - p) ** 2).sum(1)).min() for p in cisternal[::10]]
    assert min(d_cis) > r7 + 0.3  # detached: CSF between nerve and pons
    np.testing.assert_allclose(ph.truth["nerves"]["VII"]["radius_mm"], r7)


def test_structures_and_labels(phantoms):
    ph = phantoms["AS-contact"]
    kinds = {(s.kind, s.vessel_type, s.nerve) for s in ph.structures}
    assert ("nerve", None, "VII") in kinds and ("nerve", None, "VIII") in kinds
    assert ("brainstem", None, None) in kinds
    for vt in ("VA", "PICA", "AICA"):
        assert ("vessel", vt, None) in kinds
    present = set(np.unique(ph.labels.array).tolist()) - {0}
    assert present == {s.label for s in ph.structures}
    np.testing.assert_array_equal(ph.labels.affine, ph.t2.affine)
    assert ph.labels.array.shape == ph.t2.array.shape
    assert np.issubdtype(ph.labels.array.dtype, np.integer)


def test_design_holds_across_seeds_and_segments():
    """Every seed x segment x (touching, widest gap, deepest dent) builds with the
    closest approach where asked and the exact gap, clear of CN VIII."""
    from nvcview_sample.anatomy import CONTACT_SEGMENTS, MAX_GAP_MM, MAX_INDENT_MM, build_anatomy
    from nvcview_sample.truth import compute_truth

    expected = {"RExP": "RExP", "AS": "AS", "RDP": "RDP/TZ", "cisternal": "distal cisternal"}
    # every segment x design, each on two seeds; the seeds rotate so all five are used
    combos = [
        (segment, gap, indent)
        for segment in CONTACT_SEGMENTS
        for gap, indent in ((0.0, 0.0), (MAX_GAP_MM[segment], 0.0), (0.0, MAX_INDENT_MM))
    ]
    runs = [(seed % 5, *c) for i, c in enumerate(combos) for seed in (i, i + 2)]
    assert {r[0] for r in runs} == set(range(5)) and len(runs) == 2 * len(combos)
    for seed, segment, gap, indent in runs:
        truth = compute_truth(
            build_anatomy(seed=seed, segment=segment, gap_mm=gap, indent_mm=indent)
        )
        c = truth["conflict"]
        assert c["segment"] == expected[segment], (seed, segment, gap, indent)
        assert c["gap_mm"] == pytest.approx(gap, abs=1e-9)
        assert (c["indentation_depth_mm"] or 0.0) == pytest.approx(indent, abs=1e-9)
        aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
        assert aica["gap_to_cn8_mm"] >= 0.3


@pytest.mark.parametrize(
    "tangent, toward, side",
    [
        ((1, 0, 0), (0, -1, 0), "anterior"),
        ((1, 0, 0), (0, 1, 0.2), "posterior"),
        ((1, 0, 0), (0, 0.3, 1), "superior"),
        ((1, -0.5, 0.3), (0.2, 0.1, -1), "inferior"),
        ((0, 0, 1), (1, 0, 0), "superior"),  # vertical nerve: lateral stands in for superior
    ],
)
def test_side_of_nerve_hand_worked(tangent, toward, side):
    from nvcview_sample.truth import side_of_nerve

    t = np.array(tangent, float) / np.linalg.norm(tangent)
    assert side_of_nerve(np.array(toward, float), t) == side


def test_full_size_grid_is_512_and_holds_the_anatomy(default_phantom):
    from nvcview_sample.phantom import T2_SPEC, TOF_SPEC, series_grid

    for spec in (T2_SPEC, TOF_SPEC):
        affine, shape = series_grid(spec, "left", False, True)
        assert shape[1:] == (512, 512)
        assert np.linalg.norm(affine[:3, :3], axis=0) == pytest.approx(spec.spacing_mm)
        for name, p in default_phantom.landmarks.items():
            ijk = np.linalg.solve(affine[:3, :3], p - affine[:3, 3])
            assert np.all(ijk > 0) and np.all(ijk < np.array(shape) - 1), name
