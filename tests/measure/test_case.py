"""measure_case / CaseMeasurer on analytic nerve phantoms with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from capsule_phantoms import Capsule
from nerve_phantoms import (
    IAC,
    NERVE_DIR,
    NERVE_RADIUS,
    RDP_ARC,
    RExP,
    VesselSpec,
    make_nerve_phantom,
    side_vector,
)
from scipy.spatial.transform import Rotation

from nvcview.errors import InputError
from nvcview.measure import (
    CaseMeasurer,
    MeasureSettings,
    classify_segment,
    label_boxes,
    measure_case,
)
from nvcview.structures import Structure

SEGMENT_CASES = [  # arc from the RExP (mm), expected segment (RDP at 4 mm)
    (0.4, "RExP"),
    (2.2, "AS"),
    (4.6, "RDP/TZ"),
    (7.3, "proximal cisternal"),
    (10.5, "distal cisternal"),
]


@pytest.mark.parametrize("given_centreline", [True, False])
def test_arc_length_segment_side_angle_and_diameter(given_centreline):
    sides = ["superior", "anterior", "inferior", "posterior", "superior"]
    specs = [
        VesselSpec(
            arc_mm=arc,
            gap_mm=0.8 * i / 4 + 0.6 * (i == 0),
            side=side,
            angle_deg=50 + 10 * i,
            radius=0.8 + 0.2 * i,
        )
        for i, ((arc, _), side) in enumerate(zip(SEGMENT_CASES, sides, strict=True))
    ]
    ph = make_nerve_phantom(specs)
    cl = ph.centreline if given_centreline else None
    recs = measure_case(ph.labels, ph.structures, ph.landmarks, centreline=cl)
    assert [r.vessel_label for r in recs] == [2, 3, 4, 5, 6]
    h = max(ph.labels.spacing_mm)
    for rec, spec, (arc, segment) in zip(recs, specs, SEGMENT_CASES, strict=True):
        # the truth lies in the interval; a label map with face-adjacent voxels reads 0
        assert rec.gap_low_mm <= spec.gap_mm <= rec.gap_high_mm, rec
        if rec.gap_mm > 0:
            assert abs(rec.gap_mm - spec.gap_mm) <= h / 2, rec
        assert abs(rec.arc_length_from_rexp_mm - arc) <= 0.5, rec
        assert rec.dist_from_rdp_mm == pytest.approx(rec.arc_length_from_rexp_mm - RDP_ARC, abs=0.3)
        assert rec.segment == segment
        assert rec.side_of_nerve == spec.side
        assert abs(rec.crossing_angle_deg - spec.angle_deg) <= 8, rec
        assert abs(rec.vessel_diameter_mm - 2 * spec.radius) <= 0.3, rec
        # closest points in LPS: the nerve point lies on the nerve surface
        p = np.asarray(rec.nerve_point_lps)
        radial = np.linalg.norm((p - RExP) - np.dot(p - RExP, NERVE_DIR) * NERVE_DIR)
        assert abs(radial - NERVE_RADIUS) <= h / 2


def test_oblique_grid_gives_the_same_answers_as_axial():
    specs = [
        VesselSpec(arc_mm=5.0, gap_mm=0.0, side="anterior"),
        VesselSpec(arc_mm=9.0, gap_mm=1.5, side="inferior"),
    ]
    axial = measure_case(*_case(make_nerve_phantom(specs)))
    rot = Rotation.from_euler("xyz", [20, -15, 30], degrees=True).as_matrix()
    oblique = measure_case(*_case(make_nerve_phantom(specs, rotation=rot)))
    for a, o in zip(axial, oblique, strict=True):
        assert abs(a.gap_mm - o.gap_mm) <= 0.25
        assert abs(a.arc_length_from_rexp_mm - o.arc_length_from_rexp_mm) <= 0.4
        assert (a.segment, a.side_of_nerve, a.contact) == (o.segment, o.side_of_nerve, o.contact)


def _case(ph):
    return ph.labels, ph.structures, ph.landmarks


def test_grades_none_contact_indentation_deviation():
    far = measure_case(*_case(make_nerve_phantom([VesselSpec(arc_mm=6.0, gap_mm=2.0)])))[0]
    assert (far.contact, far.suggested_grade) == (False, "none")
    touch = measure_case(
        *_case(make_nerve_phantom([VesselSpec(arc_mm=6.0, gap_mm=0.0, side="anterior")]))
    )[0]
    assert (touch.contact, touch.suggested_grade) == (True, "contact")
    assert touch.indentation_depth_mm < 0.2
    dent = measure_case(
        *_case(
            make_nerve_phantom([VesselSpec(arc_mm=6.0, indent_mm=0.5, side="anterior", radius=1.2)])
        )
    )[0]
    assert dent.suggested_grade == "indentation"
    assert abs(dent.indentation_depth_mm - 0.5) <= 0.25  # half a voxel
    assert dent.indentation_depth_mm >= dent.indentation_threshold_mm
    bent = make_nerve_phantom([VesselSpec(arc_mm=6.0, side="inferior")], deviation_mm=2.0)
    dev = measure_case(*_case(bent))[0]
    assert dev.contact and dev.suggested_grade == "deviation"
    assert abs(dev.deviation_mm - expected_deviation(2.0)) <= 0.3
    assert touch.deviation_mm < 0.3


def expected_deviation(height_mm: float, sigma_mm: float = 2.0) -> float:
    """What the course fit reads for a Gaussian bump: its height less the quadratic
    fitted through it at the default stations (2.5-7 mm either side, 0.5 mm apart)."""
    s = MeasureSettings()
    x = np.arange(s.course_exclusion_mm, s.course_window_mm + 1e-9, 0.5)
    x = np.concatenate([-x, x])
    bump = height_mm * np.exp(-(x**2) / (2 * sigma_mm**2))
    c = np.polyfit(x, bump, 2)
    return height_mm - float(np.polyval(c, 0.0))


def test_reader_grade_is_kept_beside_the_suggestion():
    ph = make_nerve_phantom([VesselSpec(arc_mm=6.0, gap_mm=0.0)])
    rec = measure_case(*_case(ph), reader_grades={2: "indentation"})[0]
    assert rec.suggested_grade == "contact"
    assert rec.reader_grade == "indentation"
    assert rec.grade == "indentation"
    with pytest.raises(InputError, match="not one of"):
        measure_case(*_case(ph), reader_grades={2: "severe"})


def test_settings_are_honoured():
    ph = make_nerve_phantom([VesselSpec(arc_mm=6.0, gap_mm=0.7)])
    default = measure_case(*_case(ph))[0]
    assert not default.contact  # 0.7 mm > one 0.39-0.5 mm voxel
    loose = measure_case(*_case(ph), settings=MeasureSettings(contact_mm=1.0))[0]
    assert loose.contact and loose.suggested_grade == "contact"
    not_near = measure_case(*_case(ph), settings=MeasureSettings(near_mm=0.5))[0]
    assert not not_near.near and not_near.indentation_depth_mm is None
    assert not_near.crossing_angle_deg == pytest.approx(default.crossing_angle_deg)


def test_multiple_and_tandem():
    two = make_nerve_phantom(
        [
            VesselSpec(arc_mm=3.0, side="superior"),
            VesselSpec(arc_mm=8.0, side="inferior", vessel_type="PICA"),
        ]
    )
    recs = measure_case(*_case(two))
    assert [r.multiplicity for r in recs] == ["multiple", "multiple"]
    one = measure_case(
        *_case(make_nerve_phantom([VesselSpec(arc_mm=3.0), VesselSpec(arc_mm=8.0, gap_mm=2.5)]))
    )
    assert [r.multiplicity for r in one] == ["single", "single"]
    # the VA pushes the AICA into the nerve from above: VA touches AICA, AICA touches VII
    aica_centre = RExP + 6.0 * NERVE_DIR + side_vector("superior") * (NERVE_RADIUS + 1.0)
    va_centre = aica_centre + side_vector("superior") * (1.0 + 2.0)
    va = Capsule(va_centre - 8 * NERVE_DIR, va_centre + 8 * NERVE_DIR, 2.0)
    tandem = make_nerve_phantom(
        [VesselSpec(arc_mm=6.0, side="superior")],
        extra=[(Structure(4, "left VA", "vessel", "VA"), va)],
    )
    recs = measure_case(*_case(tandem))
    assert {r.vessel_type: r.multiplicity for r in recs} == {"AICA": "tandem", "VA": "tandem"}
    aica = next(r for r in recs if r.vessel_type == "AICA")
    assert any("tandem" in n for n in aica.notes)


def test_relation_to_cn8():
    # CN VIII runs 3.8 mm inferior of VII (axis to axis); a 1.0 mm vessel between touches both
    ph = make_nerve_phantom(
        [VesselSpec(arc_mm=7.0, side="inferior", radius=1.0)], cn8_offset_mm=3.8
    )
    rec = measure_case(*_case(ph))[0]
    assert rec.contact
    assert rec.gap_to_cn8_mm <= 0.4
    assert rec.relation_to_cn8 == "between CN VII and CN VIII"
    ph = make_nerve_phantom([VesselSpec(arc_mm=7.0, side="superior")], cn8_offset_mm=3.8)
    rec = measure_case(*_case(ph))[0]
    # VIII surface is 3.8 - 0.9 - 0.9 = 2.0 mm below VII's, the vessel 2.0 + 2*0.9 above it
    assert abs(rec.gap_to_cn8_mm - (2.0 + 2 * NERVE_RADIUS)) <= 0.3
    assert rec.relation_to_cn8.endswith("mm from CN VIII")


def test_cached_measurer_follows_edits_like_a_fresh_run():
    ph = make_nerve_phantom(
        [VesselSpec(arc_mm=2.5, gap_mm=1.0), VesselSpec(arc_mm=11.5, gap_mm=2.0, side="inferior")]
    )
    arr = ph.labels.array
    m = CaseMeasurer(*_case(ph))
    before = m.measure()
    cached_2 = m.gap(1, 2)
    # the reader paints vessel 3 up to touch the nerve: grow it towards the nerve by a block
    p = np.asarray(before[1].vessel_point_lps)
    q = np.asarray(before[1].nerve_point_lps)
    inv = np.linalg.inv(ph.labels.affine)
    pts = np.linspace(p, q, 15)
    ijk = np.rint(pts @ inv[:3, :3].T + inv[:3, 3]).astype(int)
    lo, hi = ijk.min(axis=0) - 1, ijk.max(axis=0) + 2
    region = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    sub = arr[region]
    sub[sub == 0] = 3
    m.update(region=region)
    after = m.measure()
    fresh = measure_case(*_case(ph))
    assert m.boxes == label_boxes(arr)
    assert after[1].gap_mm == pytest.approx(fresh[1].gap_mm)
    assert after[1].contact and after[1].gap_mm < before[1].gap_mm
    assert after[0].gap_mm == pytest.approx(before[0].gap_mm)
    assert m.gap(1, 2) is cached_2  # the edit did not touch that pair: kept, not recomputed
    # painting the nerve far from vessel 2 (at its IAC end) keeps that pair too;
    # painting it right at vessel 2's contact does not
    end = np.rint(np.linalg.solve(ph.labels.affine, [*IAC, 1.0])[:3]).astype(int)
    far = tuple(slice(int(c) - 1, int(c) + 1) for c in end)
    arr[far] = np.where(arr[far] == 0, 1, arr[far])
    m.update(region=far)
    assert m.gap(1, 2) is cached_2
    assert m.measure()[0].gap_mm == pytest.approx(measure_case(*_case(ph))[0].gap_mm)
    near = np.rint(np.linalg.solve(ph.labels.affine, [*before[0].vessel_point_lps, 1.0])[:3])
    box = tuple(slice(int(c) - 1, int(c) + 2) for c in near)
    arr[box] = np.where(arr[box] == 0, 1, arr[box])
    m.update(region=box)
    assert m.gap(1, 2) is not cached_2
    assert m.gap(1, 2).gap_mm < cached_2.gap_mm
    # erasing a whole vessel drops it from the boxes and the records
    region3 = m.boxes[3]
    arr[region3][arr[region3] == 3] = 0
    m.update(region=region3)
    assert 3 not in m.boxes
    assert [r.vessel_label for r in m.measure()] == [2]


def test_records_handed_out_are_independent_of_the_cache():
    """A caller changing a returned record (notes, coverage, lists) changes neither
    the cached record nor the next call's answer."""
    ph = make_nerve_phantom([VesselSpec(arc_mm=2.5, gap_mm=0.0)])
    m = CaseMeasurer(*_case(ph))
    first = m.measure()[0]
    want = (list(first.notes), dict(first.nerve_coverage), list(first.not_assessable_segments))
    first.notes.append("edited by the caller")
    first.nerve_coverage["RExP"] = -1.0
    first.not_assessable_segments.append("AS")
    first.gap_mm = 99.0
    again = m.measure()[0]
    assert (again.notes, again.nerve_coverage, again.not_assessable_segments) == want
    assert again.gap_mm == measure_case(*_case(ph))[0].gap_mm != 99.0


def test_vessel_edit_inside_the_nerve_box_keeps_the_nerve_caches():
    """An edit box overlapping the nerve's box changes only the labels whose voxels
    changed: the nerve's centreline, geometry and coverage and the untouched vessel's
    record are kept, and the answer still equals a fresh run."""
    ph = make_nerve_phantom(
        [VesselSpec(arc_mm=2.5, gap_mm=1.0), VesselSpec(arc_mm=11.5, gap_mm=2.0, side="inferior")]
    )
    arr = ph.labels.array
    m = CaseMeasurer(*_case(ph))
    before = m.measure()
    line, shape, cover = m.centreline(), m.nerve_geometry(), m._coverage
    record_2, record_3 = m._records[2], m._records[3]
    # grow vessel 3 by a block on its nerve side, inside the nerve's bounding box
    p = np.asarray(before[1].vessel_point_lps)
    q = np.asarray(before[1].nerve_point_lps)
    inv = np.linalg.inv(ph.labels.affine)
    ijk = np.rint((0.6 * p + 0.4 * q) @ inv[:3, :3].T + inv[:3, 3]).astype(int)
    region = tuple(slice(int(c) - 1, int(c) + 2) for c in ijk)
    assert all(
        r.start < b.stop and b.start < r.stop for r, b in zip(region, m.boxes[1], strict=True)
    )
    assert not (arr[region] == 1).any()
    sub = arr[region]
    sub[sub == 0] = 3
    m.update(region=region)
    after = m.measure()
    assert m.centreline() is line and m.nerve_geometry() is shape and m._coverage is cover
    assert m._records[2] is record_2
    assert m._records[3] is not record_3  # the edited vessel is measured again
    fresh = measure_case(*_case(ph))
    for a, b in zip(after, fresh, strict=True):
        assert a.gap_mm == pytest.approx(b.gap_mm, abs=1e-9)
        assert (a.suggested_grade, a.segment, a.multiplicity) == (
            b.suggested_grade,
            b.segment,
            b.multiplicity,
        )
        assert a.nerve_coverage == pytest.approx(b.nerve_coverage, abs=1e-9)
    assert after[1].gap_mm < before[1].gap_mm
    # a nerve edit does change them
    at = np.rint(np.linalg.solve(ph.labels.affine, [*before[0].nerve_point_lps, 1.0])[:3])
    grow = tuple(slice(int(c) - 1, int(c) + 2) for c in at)
    assert (arr[grow] == 0).any()
    arr[grow] = np.where(arr[grow] == 0, 1, arr[grow])
    m.update(region=grow)
    assert not m._records and m._coverage is None
    assert m.nerve_geometry() is not shape


def test_nerve_edit_rebuilds_only_the_nerve_surface(monkeypatch):
    """After a nerve edit the vessels' smoothed fields and meshes come from the
    measurer's surface cache (keyed by their voxels' digest): only the nerve's are
    rebuilt, and the answer equals a fresh run."""
    import nvcview.measure.surface as surface

    ph = make_nerve_phantom([VesselSpec(arc_mm=5.0, gap_mm=1.0)])
    arr = ph.labels.array
    m = CaseMeasurer(*_case(ph))
    before = m.measure()
    built: list[int] = []
    real = surface.antialiased_field

    def spy(mask, sigma):
        built.append(int(mask.sum()))
        return real(mask, sigma)

    monkeypatch.setattr(surface, "antialiased_field", spy)
    # grow the nerve on its far side from the vessel, inside the pair's window
    old_window = m.gap(1, 2).window
    pn, pv = np.asarray(before[0].nerve_point_lps), np.asarray(before[0].vessel_point_lps)
    far_side = pn - 2 * NERVE_RADIUS * (pv - pn) / np.linalg.norm(pv - pn)
    at = np.rint(np.linalg.solve(ph.labels.affine, [*far_side, 1.0])[:3])
    grow = tuple(slice(int(c) - 1, int(c) + 2) for c in at)
    assert (arr[grow] == 0).any()
    arr[grow] = np.where(arr[grow] == 0, 1, arr[grow])
    m.update(region=grow)
    assert (1, 2) not in m._gaps  # the edit is inside the pair's window: measured again
    after = m.measure()
    window = m.gap(1, 2).window
    assert window == old_window
    nerve_voxels = int((arr[window] == 1).sum())
    vessel_voxels = int((arr[window] == 2).sum())
    assert nerve_voxels in built and vessel_voxels not in built
    monkeypatch.setattr(surface, "antialiased_field", real)
    fresh = measure_case(*_case(ph))
    assert after[0].gap_mm == pytest.approx(fresh[0].gap_mm, abs=1e-9)
    np.testing.assert_allclose(after[0].nerve_point_lps, fresh[0].nerve_point_lps, atol=1e-9)
    assert after[0].gap_mm == pytest.approx(before[0].gap_mm, abs=0.05)


def test_errors_are_clear():
    ph = make_nerve_phantom([VesselSpec(arc_mm=5.0, gap_mm=1.0)])
    no_nerve = [s for s in ph.structures if s.kind != "nerve"]
    with pytest.raises(InputError, match="no facial nerve"):
        measure_case(ph.labels, no_nerve, ph.landmarks)
    clash = ph.structures + [Structure(1, "mislabelled vessel", "vessel", "vein")]
    with pytest.raises(InputError, match="share label 1"):
        measure_case(ph.labels, clash, ph.landmarks)
    empty = ph.labels.array.copy()
    empty[empty == 1] = 0
    from nvcview.io.image import Image, make_volume

    with pytest.raises(
        InputError, match=r"facial nerve label 1 \(facial nerve\) has no voxels \(empty mask\)"
    ):
        measure_case(
            Image(volume=make_volume(empty, ph.labels.affine)), ph.structures, ph.landmarks
        )
    with pytest.raises(InputError, match="not a label map"):
        measure_case(
            Image(volume=make_volume(ph.labels.array + 0.5, ph.labels.affine)), ph.structures
        )


def test_missing_landmarks_leave_location_empty_with_a_note():
    ph = make_nerve_phantom([VesselSpec(arc_mm=6.0, gap_mm=0.0)])
    with pytest.raises(InputError, match="landmark 'RDP' must be 3 finite LPS"):
        measure_case(ph.labels, ph.structures, {"RDP": [1.0, 2.0]})
    rec = measure_case(ph.labels, ph.structures, {"IAC": IAC, "RExP": [], "RDP": None}, [])[0]
    assert rec.arc_length_from_rexp_mm is None and rec.segment is None
    assert any("RExP" in n for n in rec.notes) and any("RDP" in n for n in rec.notes)
    assert rec.contact


@pytest.mark.parametrize(
    ("arc", "rdp", "segment"),
    [
        (0.2, -3.8, "RExP"),
        (-0.5, -4.5, "RExP"),
        (2.0, -2.0, "AS"),
        (3.0, -1.0, "RDP/TZ"),
        (5.2, 1.2, "RDP/TZ"),
        (5.4, 1.4, "proximal cisternal"),
        (8.0, 4.0, "proximal cisternal"),
        (8.1, 4.1, "distal cisternal"),
        (0.8, -0.6, "RDP/TZ"),  # short attached segment: the nearer landmark wins
        (0.3, -1.1, "RExP"),
    ],
)
def test_segment_rules(arc, rdp, segment):
    assert classify_segment(arc, rdp, MeasureSettings()) == segment


def test_centreline_drawn_from_the_iac_is_run_from_the_rexp():
    """A reader's curve drawn lateral -> medial gives the same segments and distances."""
    specs = [VesselSpec(arc_mm=arc, gap_mm=0.0) for arc, _ in SEGMENT_CASES[1:4:2]]
    ph = make_nerve_phantom(specs)
    forward = measure_case(*_case(ph), centreline=ph.centreline)
    backward = measure_case(*_case(ph), centreline=ph.centreline[::-1])
    no_rexp_marks = {k: ph.landmarks[k] for k in ("RDP", "IAC")}
    no_rexp = measure_case(ph.labels, ph.structures, no_rexp_marks, centreline=ph.centreline[::-1])
    assert [r.segment for r in forward] == ["AS", "proximal cisternal"]
    for f, b, n in zip(forward, backward, no_rexp, strict=True):
        assert (b.segment, b.dist_from_rdp_mm) == (f.segment, f.dist_from_rdp_mm)
        assert b.arc_length_from_rexp_mm == f.arc_length_from_rexp_mm
        assert b.side_of_nerve == f.side_of_nerve
        assert (n.segment, n.dist_from_rdp_mm) == (f.segment, f.dist_from_rdp_mm)


@pytest.mark.parametrize("given_centreline", [True, False])
def test_nerve_label_missing_the_attached_segment_makes_it_not_assessable(given_centreline):
    from nvcview_sample import make_phantom

    from nvcview.io.image import make_volume
    from nvcview.measure.centreline import Centreline

    ph = make_phantom(seed=0)
    labels = make_volume(ph.labels.array.copy(), ph.t2.affine)
    cl = ph.centreline if given_centreline else None
    m = CaseMeasurer(labels, ph.structures, ph.landmarks, cl)
    intact = m.measure()
    assert all(r.not_assessable_segments == [] for r in intact)
    assert min(intact[0].nerve_coverage.values()) > 0.95
    # erase the nerve between the RExP and the RDP (the AICA's contact) as an edit
    line = Centreline(ph.centreline)
    s_rexp = line.project(np.asarray(ph.landmarks["RExP"])[None])[0][0]
    s_rdp = line.project(np.asarray(ph.landmarks["RDP"])[None])[0][0]
    arr = labels.array
    ijk = np.argwhere(arr == 2)
    s = line.project(ijk @ ph.t2.affine[:3, :3].T + ph.t2.affine[:3, 3])[0]
    cut = ijk[(s > s_rexp + 0.5) & (s < s_rdp)]
    saved = arr[tuple(cut.T)].copy()
    arr[tuple(cut.T)] = 0
    region = tuple(slice(int(a), int(b) + 1) for a, b in zip(cut.min(0), cut.max(0), strict=True))
    m.update(region=region)
    after = m.measure()
    assert all("AS" in r.not_assessable_segments for r in after)
    assert "distal cisternal" not in after[0].not_assessable_segments
    assert after[0].nerve_coverage["AS"] < 0.8
    fresh = measure_case(labels, ph.structures, ph.landmarks, cl)
    assert [r.not_assessable_segments for r in fresh] == [r.not_assessable_segments for r in after]
    # painting it back: assessable again
    arr[tuple(cut.T)] = saved
    m.update(region=region)
    assert all(r.not_assessable_segments == [] for r in m.measure())


def test_no_rexp_landmark_leaves_the_coverage_unchecked():
    from nvcview_sample import make_phantom

    ph = make_phantom(seed=0)
    lm = {k: v for k, v in ph.landmarks.items() if k != "RExP"}
    recs = measure_case(ph.labels, ph.structures, lm, ph.centreline)
    assert recs and all(r.nerve_coverage == {} and r.not_assessable_segments == [] for r in recs)
