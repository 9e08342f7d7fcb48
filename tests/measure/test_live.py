"""The session's cached live measurement (no Qt) equals a fresh measure_case after each edit."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from case.minicase import make_minicase

from nvcview.case import CaseSession
from nvcview.io.image import lps_to_index
from nvcview.measure.live import changed_box


@pytest.fixture
def minicase():
    return make_minicase()


def _same(live: list, full: list) -> None:
    """The cached records equal the one-shot ones, vessel by vessel."""
    assert full, "nothing measured"
    assert [r.vessel_label for r in live] == [r.vessel_label for r in full]
    for a, b in zip(live, full, strict=True):
        assert abs(a.gap_mm - b.gap_mm) <= 1e-9, (a.vessel_name, a.gap_mm, b.gap_mm)
        assert a.segment == b.segment
        assert a.suggested_grade == b.suggested_grade
        assert a.grade == b.grade
        assert (a.vessel_name, a.vessel_type, a.contact, a.near) == (
            b.vessel_name,
            b.vessel_type,
            b.contact,
            b.near,
        )
        assert a.resolution_mm == b.resolution_mm
        np.testing.assert_allclose(a.nerve_point_lps, b.nerve_point_lps, atol=1e-9)
        np.testing.assert_allclose(a.vessel_point_lps, b.vessel_point_lps, atol=1e-9)
        assert a.arc_length_from_rexp_mm == pytest.approx(b.arc_length_from_rexp_mm, abs=1e-9)
        assert a.not_assessable_segments == b.not_assessable_segments
        assert a.nerve_coverage == pytest.approx(b.nerve_coverage, abs=1e-9)


def _check(s: CaseSession, snapshot: bool = False) -> list:
    live = s.frozen_copy().measure() if snapshot else s.measure()
    _same(live, s.measure_full())
    return live


def _box_at(s: CaseSession, lps, half: int) -> tuple[slice, ...]:
    c = np.rint(lps_to_index(s.reference.affine, np.asarray(lps, float))).astype(int)
    return tuple(slice(max(0, int(v) - half), int(v) + half + 1) for v in c)


def test_changed_box_bounds_every_changed_voxel():
    a = np.zeros((6, 7, 8), np.uint16)
    assert changed_box(a, a.copy()) is None
    b = a.copy()
    b[1, 5, 2] = 3
    b[4, 2, 6] = 1
    assert changed_box(a, b) == (slice(1, 5), slice(2, 6), slice(2, 7))


@pytest.mark.parametrize(
    "shape, dtype, order",
    [
        ((9, 10, 16), np.uint16, "C"),  # slab bytes a multiple of 8: compared as uint64
        ((9, 7, 5), np.uint8, "C"),  # odd slab bytes: compared bytewise
        ((9, 10, 16), np.uint16, "F"),  # Fortran order (NIfTI): scanned in memory order
    ],
)
def test_changed_box_equals_the_box_of_every_differing_voxel(shape, dtype, order):
    rng = np.random.default_rng(3)
    a = np.asarray(rng.integers(0, 4, shape), dtype=dtype, order=order)
    for _ in range(20):
        b = a.copy(order="K")
        n = int(rng.integers(1, 4))
        idx = tuple(rng.integers(0, s, n) for s in shape)
        b[idx] = (b[idx] + rng.integers(1, 3, n)) % 5
        diff = np.argwhere(a != b)
        want = tuple(
            slice(int(lo), int(hi) + 1) for lo, hi in zip(diff.min(0), diff.max(0), strict=True)
        )
        assert changed_box(a, b) == want
        # mixed memory order and dtype take the plain path and agree
        assert changed_box(a, np.ascontiguousarray(b).astype(np.int32)) == want
        # compared inside a box that holds the change: the same whole-map box
        assert changed_box(a, b, within=want) == want
        # a box that misses it sees nothing
        assert changed_box(a, b, within=(slice(0, 0), slice(None), slice(None))) is None
    assert changed_box(a, a.copy(order="K")) is None


def test_brush_strokes_near_the_nerve_update_in_place_and_equal_a_fresh_run(minicase):
    """The viewer's stroke path: a small ball painted (then erased) on the vessel at the
    contact, ``labels_edited(box)`` then ``measure``. The measurer keeps one private
    copy of the map, updated inside the stroke's box (no per-edit copy, so the same
    array throughout), and only the vessel's pair is re-measured; the result equals
    a fresh ``measure_case`` after every stroke."""
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
    s.nerve_from_path(radius_mm=1.0)
    d = minicase.nerve_end - minicase.nerve_start
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_landmark("RDP", minicase.nerve_start + 0.3 * d)
    aica, _ = s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
    first = {r.vessel_label: r for r in _check(s)}[aica.label]
    private = s.live._measurer.grid.array
    assert private is not s.labels  # its own copy: edits behind its back are seen
    geometry = s.live._measurer._nerve_geometry
    assert geometry is not None
    nerve_gaps = {k: v for k, v in s.live._measurer._gaps.items() if aica.label not in k}
    r = 2
    ball = np.sum(np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1] ** 2, axis=0) <= r * r
    gaps = []
    erased = None
    for i in range(6):
        # the stroke's centre: the vessel's closest point, shifted half a voxel each pair
        at = np.asarray(first.vessel_point_lps) + [0.5 * (i // 2 - 1), 0.0, 0.0]
        box = _box_at(s, at, r)
        sub = s.labels[box]
        if i % 2 == 0:  # erase a ball at the contact
            erased = ball & (sub == aica.label)
            sub[erased] = 0
        else:  # paint it back
            sub[erased] = aica.label
        s.labels_edited(box)
        gaps.append({m.vessel_label: m.gap_mm for m in _check(s)}[aica.label])
        assert s.live.last_action == "updated"
        assert s.live._measurer.grid.array is private  # no copy of the whole map
        assert all(
            b.start <= q.start < q.stop <= b.stop
            for q, b in zip(s.live.last_region, box, strict=True)
        )
        # the nerve's label was not touched: its geometry and other pairs are kept
        assert s.live._measurer._nerve_geometry is geometry
        for k, g in nerve_gaps.items():
            assert s.live._measurer._gaps.get(k) is g
    assert len(set(gaps)) > 1, gaps  # the strokes really moved the gap
    # the caller's promise of where the change lies (changed_within): only that box is
    # compared, and the answer is still the fresh one
    box = _box_at(s, first.vessel_point_lps, r)
    s.labels[box][ball & (s.labels[box] == aica.label)] = 0
    s.labels_edited(box)
    hinted = s.live.measure(
        s.labels_image(),
        s.structures,
        s.review.landmarks,
        centreline=s.centreline_lps(),
        settings=s.review.settings,
        changed_within=box,
    )
    assert s.live.last_action == "updated"
    _same(hinted, s.measure_full())
    assert s.live._measurer.grid.array is private


def test_live_measure_equals_measure_case_through_edits(minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
    s.nerve_from_path(radius_mm=1.0)
    d = minicase.nerve_end - minicase.nerve_start
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_landmark("RDP", minicase.nerve_start + 0.3 * d)
    s.set_landmark("IAC", minicase.nerve_end)
    # a far vessel painted as a box (a second pair whose cache an edit may keep)
    far = np.zeros_like(s.ensure_labels(), bool)
    far[_box_at(s, minicase.nerve_start + [2.0, 6.0, -4.0], 2)] = True
    far_st = s.add_vessel(far, "vein")
    first = _check(s)
    assert s.live.last_action == "built"

    # grow a vessel from its TOF seed (a new structure: the measurer is rebuilt)
    aica, _ = s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
    recs = _check(s, snapshot=True)
    assert s.live.last_action == "built" and len(recs) == len(first) + 1
    grown = {r.vessel_label: r for r in recs}[aica.label]
    assert grown.gap_mm == pytest.approx(minicase.gap_mm, abs=0.35)

    # erase the part of it nearest the nerve with a brush-like box, in place
    box = _box_at(s, grown.vessel_point_lps, 2)
    s.labels[box][s.labels[box] == aica.label] = 0
    after = {r.vessel_label: r for r in _check(s)}
    assert s.live.last_action == "updated"
    assert s.live.last_region is not None
    # the region fed to the measurer is the changed voxels' box, inside the stroke
    assert all(
        b.start <= r.start < r.stop <= b.stop for r, b in zip(s.live.last_region, box, strict=True)
    )
    assert after[aica.label].gap_mm > grown.gap_mm

    # a brush stroke far from the nerve on the far vessel, then one on the nerve
    s.labels[_box_at(s, minicase.nerve_start + [2.0, 6.0, -1.5], 1)] = far_st.label
    _check(s, snapshot=True)
    nerve_label = next(st.label for st in s.structures if st.kind == "nerve")
    mid = (minicase.nerve_start + minicase.nerve_end) / 2
    stroke = _box_at(s, mid + [0.0, 0.0, 1.0], 1)
    s.labels[stroke][s.labels[stroke] == 0] = nerve_label
    _check(s)
    assert s.live.last_action == "updated"

    # move a landmark (no label change: the cache is reused, the segment may move)
    s.set_landmark("RDP", minicase.nerve_start + 0.6 * d)
    _check(s, snapshot=True)
    assert s.live.last_action == "reused"

    # drop the traced centreline: the engine derives one from the nerve label
    s.review.nerve_path_lps = []
    _check(s)

    # change a vessel's type: the structure table changed, the measurer is rebuilt
    s.set_vessel_type(aica.label, "PICA")
    recs = _check(s, snapshot=True)
    assert s.live.last_action == "built"
    assert {r.vessel_label: r.vessel_type for r in recs}[aica.label] == "PICA"

    # a reader grade rides along without touching the cache
    s.set_call(aica.label, grade="contact")
    recs = _check(s)
    assert {r.vessel_label: r.grade for r in recs}[aica.label] == "contact"


def test_frozen_snapshots_measured_concurrently_match(minicase):
    """Worker threads measuring snapshots while the GUI thread edits never mix states."""
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
    s.nerve_from_path(radius_mm=1.0)
    aica, _ = s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
    snaps, expected = [], []
    for k in range(4):
        box = _box_at(s, minicase.vessel_seed + [0.0, -3.0 + 2.0 * k, 0.0], 1)
        s.labels[box][s.labels[box] == aica.label] = 0
        snap = s.frozen_copy()
        snaps.append(snap)
        expected.append(snap.measure_full())
    results: list = [None] * len(snaps)

    def run(i: int) -> None:
        results[i] = snaps[i].measure()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(snaps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        _same(got, want)


def test_a_snapshot_adopted_by_the_measurer_is_never_written_to(minicase):
    """A measurer built from a frozen snapshot adopts its label map without a copy; the
    next edit's box is not written into that snapshot's map (it is copied first)."""
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
    s.nerve_from_path(radius_mm=1.0)
    aica, _ = s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
    snap = s.frozen_copy()
    kept = snap.labels.copy()
    first = {r.vessel_label: r for r in snap.measure()}[aica.label]
    assert s.live.last_action == "built"
    assert s.live._measurer.grid.array is snap.labels  # adopted, not copied
    box = _box_at(s, first.vessel_point_lps, 2)
    s.labels[box][s.labels[box] == aica.label] = 0
    s.labels_edited(box)
    _check(s)
    assert s.live.last_action == "updated"
    np.testing.assert_array_equal(snap.labels, kept)  # the snapshot is as it was taken
    assert s.live._measurer.grid.array is not snap.labels
