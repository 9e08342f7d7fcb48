"""The session's segmentation tools: allowed area, undo / redo of every edit, no orphans."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.case import CaseSession
from nvcview.case.session import OrphanLabelError
from nvcview.errors import InputError
from nvcview.io.image import index_to_lps


def _session(minicase) -> CaseSession:
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    d = minicase.nerve_end - minicase.nerve_start
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_landmark("RDP", minicase.nerve_start + 0.3 * d)
    s.set_landmark("IAC", minicase.nerve_end)
    return s


def _lps_grid(s: CaseSession) -> np.ndarray:
    shape = s.ensure_labels().shape
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return index_to_lps(s.reference.affine, idx.reshape(-1, 3)).reshape(*shape, 3)


def test_every_edit_undoes_and_redoes_in_order(minicase):
    s = _session(minicase)
    nerve = s.segment_nerve("VII")
    after_nerve = s.labels.copy()
    assert (after_nerve == nerve.label).sum() > 50
    vessel, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    after_grow = s.labels.copy()
    assert (after_grow == vessel.label).sum() > 50
    # a brush stroke written in place, then recorded
    box = (slice(2, 5), slice(2, 5), slice(2, 5))
    s.labels[box] = vessel.label
    s.labels_edited(box)
    after_stroke = s.labels.copy()
    s.labels[box] = 0
    s.labels_edited(box)
    assert s.undo_text == "erase"
    s.remove_structure(vessel.label)
    assert not (s.labels == vessel.label).any() and s.undo_text == f"delete {vessel.name}"

    s.undo()  # the deletion: voxels and the row come back
    assert np.array_equal(s.labels, after_grow) and vessel.label in {x.label for x in s.structures}
    s.undo()  # the erase
    assert np.array_equal(s.labels, after_stroke)
    s.undo()  # the stroke
    assert np.array_equal(s.labels, after_grow)
    s.undo()  # the grow: the row goes too
    assert np.array_equal(s.labels, after_nerve)
    assert [x.label for x in s.structures] == [nerve.label]
    s.undo()  # the nerve
    assert not s.labels.any() and s.structures == [] and not s.can_undo
    assert s.undo() is None
    for expected in (after_nerve, after_grow, after_stroke):
        s.redo()
        assert np.array_equal(s.labels, expected)
    assert s.redo_text == "erase"
    # a new edit clears what was left to redo
    s.set_landmark("RDP", s.review.landmarks["RDP"])
    s.add_structure(None, "left petrosal vein", "vessel", vessel_type="vein")
    assert not s.can_redo and s.undo_text == "add left petrosal vein"


def test_grow_keeps_out_of_labelled_voxels_unless_overwrite(minicase):
    s = _session(minicase)
    lps = _lps_grid(s)
    # a painted "other vessel" covering the seed's half of the artery
    other = s.add_vessel(lps[..., 1] < minicase.vessel_seed[1] + 0.2, "VA")
    held = s.labels == other.label
    st, _ = s.grow_vessel(minicase.vessel_seed + [0, 2.0, 0], "AICA")
    assert np.array_equal(s.labels == other.label, held)  # not one voxel taken
    grown = s.labels == st.label
    assert grown.sum() > 50 and not (grown & held).any()
    s.undo()
    st2, _ = s.grow_vessel(minicase.vessel_seed + [0, 2.0, 0], "AICA", overwrite=True)
    assert ((s.labels == st2.label) & held).any()  # overwrite lets it in
    # a seed in a labelled area grows nothing (and says so)
    s.undo()
    with pytest.raises(InputError, match="no"):
        s.grow_vessel(minicase.vessel_seed - [0, 4.0, 0], "AICA")


def test_length_limit_and_scissors(minicase):
    s = _session(minicase)
    full, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    n_full = int((s.labels == full.label).sum())
    s.undo()
    short, res = s.grow_vessel(minicase.vessel_seed, "AICA", max_length_mm=3.0)
    lps = _lps_grid(s)
    ys = lps[..., 1][s.labels == short.label]
    assert (s.labels == short.label).sum() < 0.7 * n_full
    assert np.abs(ys - minicase.vessel_seed[1]).max() < 3.0 + 1.5
    s.undo()
    st, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    # scissors: a cut across the artery (it runs along y) at the seed, keep the +y part
    a = minicase.vessel_seed + [-4.0, 0, 0]
    b = minicase.vessel_seed + [4.0, 0, 0]
    removed = s.cut_structure(st.label, a, b, [0, 0, 1.0], minicase.vessel_seed + [0, 3.0, 0])
    ys = lps[..., 1][s.labels == st.label]
    assert removed > 20 and ys.min() > minicase.vessel_seed[1] - 0.6
    assert ys.max() > minicase.vessel_seed[1] + 4.0
    s.undo()
    assert (s.labels == st.label).sum() == n_full
    assert s.label_near(minicase.vessel_seed) == st.label
    assert s.label_near(minicase.vessel_seed + [0, 0, 8.0]) is None


def test_painting_a_label_without_structure_is_taken_back(minicase):
    s = _session(minicase)
    st = s.add_structure(None, "left petrosal vein", "vessel", vessel_type="vein", label=7)
    assert st.label == 7 and st.color == (0.25, 0.55, 0.55)
    box = (slice(3, 6), slice(3, 6), slice(3, 6))
    s.labels[box] = 9  # a value with no structure row
    with pytest.raises(OrphanLabelError, match="label 9 has no structure") as err:
        s.labels_edited(box)
    assert err.value.values == (9,) and not s.labels.any() and s.orphan_labels() == []
    s.labels[box] = 7
    s.labels_edited(box)
    assert (s.labels == 7).sum() == 27 and s.undo_text == "brush stroke"


def test_nerve_points_order_and_missing_landmarks(minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    with pytest.raises(InputError, match="RExP, RDP, IAC"):
        s.segment_nerve("VII")
    s = _session(minicase)
    d = minicase.nerve_end - minicase.nerve_start
    s.set_path([minicase.nerve_start + 0.7 * d, minicase.nerve_start + 0.1 * d])
    pts = s.nerve_points("VII")
    t = (pts - minicase.nerve_start) @ d / (d @ d)
    assert np.allclose(t, [0.0, 0.1, 0.3, 0.7, 1.0])
    with pytest.raises(InputError, match="VIII root"):
        s.nerve_points("VIII")
    nerve = s.segment_nerve("VII")
    # the nerve lies on the minicase's cord and keeps out of the brainstem (x < 4 mm)
    lps = _lps_grid(s)
    inside = lps[s.labels == nerve.label]
    assert inside[:, 0].min() > 3.5
    d_axis = np.linalg.norm(inside[:, 1:] - minicase.nerve_start[1:], axis=1)
    assert np.percentile(d_axis, 95) < minicase.nerve_r + 0.6
    # segmenting again replaces the voxels (one edit), does not add a second nerve
    s.segment_nerve("VII")
    assert [x.label for x in s.structures if x.kind == "nerve"] == [nerve.label]


def test_landmark_place_move_delete_undo_and_redo(minicase):
    s = _session(minicase)
    s.segment_nerve("VII")
    vessel, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    rdp0 = list(s.review.landmarks["RDP"])
    m0 = {m.vessel_label: m.dist_from_rdp_mm for m in s.measure()}
    assert m0[vessel.label] is not None

    d = minicase.nerve_end - minicase.nerve_start
    moved = np.asarray(rdp0) + 0.1 * d  # along the nerve
    key = object()  # one drag: three mouse moves, one step
    for t in (0.3, 0.7, 1.0):
        lm = dict(s.review.landmarks)
        lm["RDP"] = np.asarray(rdp0) + t * 0.1 * d
        s.set_landmarks(lm, merge=key)
    assert np.allclose(s.review.landmarks["RDP"], moved)
    assert s.undo_text == "move RDP"
    m1 = {m.vessel_label: m.dist_from_rdp_mm for m in s.measure()}
    assert abs(m1[vessel.label] - m0[vessel.label]) > 0.5 * np.linalg.norm(0.1 * d)

    s.set_landmark("VIII root", minicase.nerve_start + 0.2 * d)  # placed
    assert s.undo_text == "place VIII root"
    s.set_landmark("IAC", None)  # deleted
    assert "IAC" not in s.review.landmarks and s.undo_text == "delete IAC"

    assert s.undo() == "delete IAC" and "IAC" in s.review.landmarks
    assert s.undo() == "place VIII root" and "VIII root" not in s.review.landmarks
    assert s.undo() == "move RDP"  # the whole drag in one step
    assert s.review.landmarks["RDP"] == rdp0
    assert {m.vessel_label: m.dist_from_rdp_mm for m in s.measure()} == m0
    assert s.undo_text == "grow AICA"  # the grow is next, then the nerve
    assert s.redo() == "move RDP" and np.allclose(s.review.landmarks["RDP"], moved)
    assert s.redo() == "place VIII root" and s.redo() == "delete IAC"
    assert "IAC" not in s.review.landmarks and not s.can_redo
    # a brush stroke after a landmark move is undone first
    s.undo()  # IAC back
    box = (slice(2, 4), slice(2, 4), slice(2, 4))
    s.labels[box] = vessel.label
    assert s.undo() == "edit" and not (s.labels[box] == vessel.label).all()
    assert s.undo() == "place VIII root"


def test_two_vessels_of_one_type_have_their_own_colours_after_save_and_reopen(minicase, tmp_path):
    from nvcview.review.store import load_review
    from nvcview.structures import VESSEL_COLORS, color_difference

    s = _session(minicase)
    first, _ = s.grow_vessel(minicase.vessel_seed, "AICA")
    shape = s.ensure_labels().shape
    blob = np.zeros(shape, bool)
    blob[1:3, 1:3, 1:3] = True
    second = s.add_structure(blob, "AICA branch", "vessel", vessel_type="AICA")
    assert first.color == VESSEL_COLORS["AICA"]
    assert color_difference(first.color, second.color) > 15
    s.save(tmp_path / "review")
    back = CaseSession.from_review(load_review(tmp_path / "review"), t2=minicase.t2)
    assert [st.color for st in back.structures] == pytest.approx(
        [st.color for st in s.structures], abs=1e-4
    )
    # a type change gives the type's colour when it is free
    back.set_vessel_type(second.label, "PICA")
    assert back.structure(second.label).color == VESSEL_COLORS["PICA"]
