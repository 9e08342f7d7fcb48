"""The session's edit boxes (EditBoxes) feed the live measurer: only the union of the
boxes edited since the last measurement is compared, and the result still equals a
fresh measure_case after every step, whatever changed the label map."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.case import CaseSession, ReviewSignedError
from nvcview.case.session import EditBoxes, OrphanLabelError
from nvcview.io.image import lps_to_index


def _same(live: list, full: list) -> None:
    """The cached records equal the one-shot ones, vessel by vessel."""
    assert full, "nothing measured"
    assert [r.vessel_label for r in live] == [r.vessel_label for r in full]
    for a, b in zip(live, full, strict=True):
        assert a.gap_mm == pytest.approx(b.gap_mm, abs=1e-9), (a.vessel_name, a.gap_mm, b.gap_mm)
        assert (a.segment, a.suggested_grade, a.contact, a.near) == (
            b.segment,
            b.suggested_grade,
            b.contact,
            b.near,
        )
        np.testing.assert_allclose(a.nerve_point_lps, b.nerve_point_lps, atol=1e-9)
        np.testing.assert_allclose(a.vessel_point_lps, b.vessel_point_lps, atol=1e-9)
        assert a.nerve_coverage == pytest.approx(b.nerve_coverage, abs=1e-9)


def _box_at(s: CaseSession, lps, half: int) -> tuple[slice, ...]:
    c = np.rint(lps_to_index(s.reference.affine, np.asarray(lps, float))).astype(int)
    return tuple(slice(max(0, int(v) - half), int(v) + half + 1) for v in c)


def _write(s: CaseSession, box, value: int, where=None) -> tuple[slice, ...]:
    """Write ``value`` into the label map in place; returns the box of the voxels changed."""
    sub = s.labels[box]
    before = sub.copy()
    sub[np.ones(sub.shape, bool) if where is None else where(sub)] = value
    diff = np.argwhere(before != sub)
    assert len(diff), "the write changed nothing"
    lo, hi = diff.min(0), diff.max(0) + 1
    return tuple(
        slice(b.start + int(a), b.start + int(z)) for b, a, z in zip(box, lo, hi, strict=True)
    )


def _inside(inner, outer) -> bool:
    return all(o.start <= i.start and i.stop <= o.stop for i, o in zip(inner, outer, strict=True))


class _Case:
    """A session with CN VII, an AICA at the nerve and a vein 6 mm behind it."""

    def __init__(self, minicase) -> None:
        s = CaseSession(t2=minicase.t2, tof=minicase.tof)
        s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
        self.nerve = s.nerve_from_path(radius_mm=1.0)
        d = minicase.nerve_end - minicase.nerve_start
        s.set_landmark("RExP", minicase.nerve_start)
        s.set_landmark("RDP", minicase.nerve_start + 0.3 * d)
        s.set_landmark("IAC", minicase.nerve_end)
        self.aica, _ = s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
        vein = np.zeros_like(s.labels, bool)
        self.vein_at = minicase.nerve_start + np.array([2.0, 6.0, -4.0])
        vein[_box_at(s, self.vein_at, 2)] = True
        self.vein = s.add_vessel(vein, "vein")
        self.s = s
        self.mc = minicase
        self.contact = {r.vessel_label: r for r in s.measure_full()}[self.aica.label]
        r = 2
        self.ball = np.sum(np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1] ** 2, axis=0) <= r * r

    def stroke(self, at, label: int, announce: bool = True) -> tuple[slice, ...]:
        """A brush ball written in place (as napari's brush does), told with its box;
        returns the box of the voxels it changed."""
        box = _box_at(self.s, at, 2)
        ball = self.ball
        changed = _write(
            self.s,
            box,
            label,
            (lambda sub: ball) if label == 0 else (lambda sub: ball & (sub == 0)),
        )
        if announce:
            self.s.labels_edited(box)
        return changed


def _check(s: CaseSession, *, boxed: tuple[slice, ...] | None = None, snapshot=False) -> None:
    """Live (through the session's edit boxes) == fresh; ``boxed``: the measurer compared
    a box (the edit boxes' union, not the whole map) holding the changed voxels ``boxed``."""
    live = s.frozen_copy().measure() if snapshot else s.measure()
    if boxed is not None:
        assert s.live.last_action in ("updated", "reused")
        assert s.live.last_within is not None, "the whole map was compared"
        assert _inside(boxed, s.live.last_within)
    _same(live, s.measure_full())


def test_live_measure_through_edit_boxes_equals_a_fresh_run_after_every_edit(minicase):
    c = _Case(minicase)
    s = c.s
    _check(s)
    assert s.live.last_action == "built"
    at = np.asarray(c.contact.vessel_point_lps)

    # a stroke at the contact (erase), told with its box
    b1 = c.stroke(at, 0)
    _check(s, boxed=b1)
    # two strokes far apart before one measurement: the union holds both
    b2 = c.stroke(at + [0.5, 0.0, 0.0], c.aica.label)
    b3 = c.stroke(c.vein_at + [0.0, 0.0, 2.5], c.vein.label)
    _check(s, boxed=b2, snapshot=True)
    assert _inside(b3, s.live.last_within)
    # undo and redo of the far stroke, then of both (the union of three steps)
    s.undo()
    _check(s, boxed=b3)
    s.redo()
    _check(s, boxed=b3, snapshot=True)
    s.undo()  # an undo, then a stroke elsewhere, then one measurement
    b7 = c.stroke(at + [0.0, 0.5, -0.5], c.aica.label)
    _check(s, boxed=b3)
    assert _inside(b7, s.live.last_within)
    s.undo()  # b7
    s.undo()  # b2
    s.redo()  # b2 again: b7 and b2 changed since the measurement
    _check(s, boxed=b2)
    assert _inside(b7, s.live.last_within)

    # an older snapshot measured after a newer one: the span runs backwards
    old = s.frozen_copy()
    b4 = c.stroke(at + [-0.5, 0.0, 0.5], 0)
    _check(s, boxed=b4, snapshot=True)
    _same(old.measure(), old.measure_full())
    assert _inside(b4, s.live.last_within)
    _check(s, boxed=b4)

    # the nerve replaced wholesale by a "grow" (a tube 0.5 mm higher): its old and new
    # voxels lie in the logged box
    nerve_now = s.labels == c.nerve.label
    shifted = np.zeros_like(nerve_now)
    shifted[:, :, 1:] = nerve_now[:, :, :-1]
    before = s.labels.copy()
    s.set_nerve_mask(shifted)
    diff = np.argwhere(before != s.labels)
    lo, hi = diff.min(0), diff.max(0) + 1
    moved = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    _check(s, boxed=moved)
    assert s.live.last_action == "updated"

    # a landmark move: no label edit logged, so the whole map is compared
    d = minicase.nerve_end - minicase.nerve_start
    s.set_landmark("RDP", minicase.nerve_start + 0.5 * d)
    _check(s)
    assert s.live.last_within is None and s.live.last_action == "reused"

    # behind the session's back: a write nothing is told of, measured at once (nothing
    # logged since the last measurement: the whole map is compared)
    _write(s, _box_at(s, at + [0.0, 0.5, 0.0], 1), 0)
    _check(s)
    assert s.live.last_within is None and s.live.last_action == "updated"
    # an untold write, then a told stroke elsewhere, then an undo: the undo records the
    # untold write first (a whole-map comparison), so the union holds it
    hidden = _write(s, _box_at(s, at + [0.0, -0.5, 0.0], 1), c.aica.label)
    c.stroke(c.vein_at + [0.0, 2.5, 0.0], c.vein.label)
    s.undo()
    _check(s, boxed=hidden, snapshot=True)
    # an untold write, then labels_edited() without a box: compared whole once in the
    # session, logged with the box it found
    hidden = _write(s, _box_at(s, at + [0.5, 0.5, 0.0], 1), 0)
    s.labels_edited()
    _check(s, boxed=hidden)
    # an untold write measured by fresh_measurements (save's path): the whole map
    _write(s, _box_at(s, at + [0.5, -0.5, 0.0], 1), c.aica.label)
    _same(s.fresh_measurements(), s.measure_full())
    assert s.live.last_within is None and s.live.last_action == "updated"

    # a stroke painting a label without a structure: taken back (its box logged, as a
    # snapshot measured before the take-back saw it)
    told = _box_at(s, at + [0.0, 0.0, 1.0], 2)
    b5 = c.stroke(at + [0.0, 0.0, 1.0], 77, announce=False)
    _check(s, snapshot=True)
    with pytest.raises(OrphanLabelError):
        s.labels_edited(told)
    b6 = c.stroke(c.vein_at + [0.0, 2.5, 0.0], 0)  # a told stroke before the measurement
    _check(s, boxed=b5)
    assert _inside(b6, s.live.last_within)

    # a structure deleted (the table changes: the measurer is rebuilt)
    s.remove_structure(c.vein.label)
    _check(s)
    assert s.live.last_action == "built"
    b8 = c.stroke(at, 0)
    _check(s, boxed=b8)


def test_a_signed_review_put_back_and_a_replaced_map_compare_the_whole_map(minicase, tmp_path):
    c = _Case(minicase)
    s = c.s
    _check(s)
    at = np.asarray(c.contact.vessel_point_lps)
    s.sign_off(tmp_path / "review", actor="dr a")
    # a stroke on the signed review: a snapshot sees it before it is put back
    c.stroke(at, 0, announce=False)
    _check(s, snapshot=True)
    with pytest.raises(ReviewSignedError):
        s.labels_edited(_box_at(s, at, 2))
    _check(s)
    assert s.live.last_within is None  # put back whole: compared whole
    s.reopen(actor="dr a", reason="more edits")
    b = c.stroke(at, 0)
    _check(s, boxed=b)
    # the label map replaced by assignment, then a told stroke: compared whole
    s.labels = s.labels.copy()
    _write(s, _box_at(s, at + [0.0, 1.0, 0.0], 1), c.aica.label)
    c.stroke(c.vein_at, 0)
    _check(s)
    assert s.live.last_within is None


def test_a_measurer_used_by_another_session_compares_the_whole_map(minicase):
    a, b = _Case(minicase), _Case(minicase)
    b.s.live = a.s.live  # one measurer, two lineages of edits
    _check(a.s)
    at = np.asarray(a.contact.vessel_point_lps)
    b.stroke(at, 0)
    _check(b.s)
    assert b.s.live.last_within is None
    a.stroke(at + [0.5, 0.0, 0.0], 0)
    _check(a.s)
    assert a.s.live.last_within is None


def test_edit_boxes_span_either_direction_and_forget_unknown_or_old_spans():
    log = EditBoxes()
    shape = (10, 10, 10)
    box1 = (slice(1, 2), slice(1, 2), slice(1, 2))
    box2 = (slice(7, 9), slice(3, 4), slice(5, 6))
    log.add(box1)
    log.add((slice(3, 3), slice(0, 1), slice(0, 1)))  # empty: nothing changed
    log.add(box2)
    assert log.gen == 2
    want = (slice(1, 9), slice(1, 4), slice(1, 6))
    assert log.between(0, 2, shape) == want
    assert log.between(2, 0, shape) == want
    assert log.between(1, 2, shape) == box2
    assert log.between(2, 2, shape) is None  # nothing logged: the whole map
    assert log.between(0, 3, shape) is None  # a generation it never had
    log.add(None)
    assert log.between(0, 3, shape) is None and log.between(1, 2, shape) == box2
    for _ in range(400):
        log.add(box1)
    assert log.between(0, log.gen, shape) is None  # forgotten: the whole map
    assert log.between(log.gen - 5, log.gen, shape) == box1
