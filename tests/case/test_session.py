"""The case session (no Qt): grow, trace, landmark, save and reload a review."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nvcview.case import CaseSession, ReviewSignedError
from nvcview.errors import InputError, NvcviewError
from nvcview.io.image import index_to_lps
from nvcview.review.store import load_labels, load_review, save_review


def _centroid(session: CaseSession, label: int) -> np.ndarray:
    ijk = np.argwhere(session.labels == label)
    return index_to_lps(session.reference.affine, ijk).mean(axis=0)


def test_grow_vessel_from_tof_lands_on_t2_grid(minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    st, res = s.grow_vessel(minicase.vessel_seed + [0.3, 0.0, -0.2], "AICA", radius_mm=6.0)
    assert st.kind == "vessel" and st.vessel_type == "AICA"
    assert s.labels.shape == minicase.t2.array.shape
    # the vessel's axis passes through the seed: centroid within a voxel of it
    c = _centroid(s, st.label)
    assert np.linalg.norm(c[[0, 2]] - minicase.vessel_seed[[0, 2]]) < 0.3
    # T2-grid voxels well inside the vessel and the ball are in, none far outside
    shape = s.labels.shape
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    lps = index_to_lps(s.reference.affine, idx.reshape(-1, 3)).reshape(*shape, 3)
    axis_d = np.linalg.norm((lps - minicase.vessel_seed)[..., [0, 2]], axis=-1)
    ball_d = np.linalg.norm(lps - minicase.vessel_seed, axis=-1)
    mask = s.labels == st.label
    assert mask[(axis_d <= minicase.vessel_r - 0.35) & (ball_d <= 5.0)].mean() > 0.95
    assert not mask[(axis_d > minicase.vessel_r + 0.5) | (ball_d > 6.8)].any()
    s.set_vessel_type(st.label, "PICA")
    assert s.structure(st.label).vessel_type == "PICA"
    assert s.structure(st.label).name.startswith("PICA")
    with pytest.raises(InputError):
        s.set_vessel_type(st.label, "carotid")


def test_nerve_from_path_and_grow(minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    with pytest.raises(InputError, match="two centreline points"):
        s.nerve_from_path()
    s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
    nerve = s.nerve_from_path(radius_mm=1.0)
    assert nerve.nerve == "VII" and nerve.kind == "nerve"
    c = _centroid(s, nerve.label)
    assert np.linalg.norm(c - (minicase.nerve_start + minicase.nerve_end) / 2) < 0.3
    # grown CN VII from a seed extends the same structure, not a new one
    st, res = s.grow_nerve(minicase.nerve_start + [4.0, 0.1, 0.0], radius_mm=4.0)
    assert st.label == nerve.label
    assert [x.label for x in s.structures] == [nerve.label]


def test_review_round_trip_through_store(tmp_path, minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    s.review.reader = "dr-a"
    s.review.side = "left"
    s.review.case_id = "mini"
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_landmark("RDP", minicase.nerve_start + [3.0, 0, 0])
    s.set_landmark("IAC", minicase.nerve_end)
    s.review.nerve_path_lps = [minicase.nerve_start.tolist(), minicase.nerve_end.tolist()]
    s.nerve_from_path(1.0)
    vessel, _ = s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
    s.set_call(vessel.label, grade="contact", confidence="high", comment="AICA loop")
    s.review.impression = "AICA contact at the AS"
    with pytest.raises(InputError):
        s.set_call(vessel.label, grade="squeeze")
    folder = tmp_path / "review"
    save_review(s.to_review(), folder, s.labels_image())
    r2 = load_review(folder)
    s2 = CaseSession.from_review(r2, load_labels(r2, folder), t2=minicase.t2, tof=minicase.tof)
    assert np.array_equal(s2.labels, s.labels)
    assert s2.review.landmarks.keys() == s.review.landmarks.keys()
    for name, xyz in s.review.landmarks.items():
        assert s2.review.landmarks[name] == pytest.approx(xyz), name
    assert [x.to_dict() for x in s2.structures] == [x.to_dict() for x in s.structures]
    call = s2.review.call_for(vessel.label)
    assert (call.grade, call.confidence, call.comment) == ("contact", "high", "AICA loop")
    assert s2.review.side == "left" and s2.review.reader == "dr-a"
    assert s2.review.fusion_used is True
    assert {x.role for x in s2.review.series} == {"T2", "TOF"}
    # deleting a structure removes its voxels and its call
    s2.remove_structure(vessel.label)
    assert not (s2.labels == vessel.label).any() and s2.review.call_for(vessel.label) is None


def _case(minicase) -> CaseSession:
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    s.set_fields(reader="dr-a", side="left", case_id="mini")
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_landmark("RDP", minicase.nerve_start + [3.0, 0, 0])
    s.set_path([minicase.nerve_start, minicase.nerve_end])
    s.nerve_from_path(1.0)
    s.grow_vessel(minicase.vessel_seed, "AICA", radius_mm=6.0)
    return s


def test_save_stores_the_measurements_of_the_state_saved(minicase, tmp_path):
    s = _case(minicase)
    s.measure()
    (vessel,) = [x for x in s.structures if x.kind == "vessel"]
    # an edit written straight into the label map (as a brush sharing the array does),
    # never announced to the session: the save must still measure what it stores
    s.labels[s.labels == vessel.label] = 0
    s.save(tmp_path / "r")
    assert load_review(tmp_path / "r").measurements == []
    assert not s.dirty


def test_signed_review_refuses_every_edit_until_reopened(minicase, tmp_path):
    s = _case(minicase)
    folder = tmp_path / "r"
    s.sign_off(folder, actor="dr-a")
    assert load_review(folder).status == "final" and s.signed
    signed_labels = s.labels.copy()
    (vessel,) = [x for x in s.structures if x.kind == "vessel"]
    edits = [
        lambda: s.set_landmark("IAC", minicase.nerve_end),
        lambda: s.set_call(vessel.label, grade="contact"),
        lambda: s.set_fields(impression="changed after sign-off"),
        lambda: s.remove_structure(vessel.label),
        lambda: s.add_path_point(minicase.nerve_end),
    ]
    for edit in edits:
        with pytest.raises(ReviewSignedError):
            edit()
    # a brush stroke painted into the shared array is put back
    s.labels[s.labels == vessel.label] = 0
    with pytest.raises(ReviewSignedError):
        s.labels_edited()
    assert np.array_equal(s.labels, signed_labels)
    assert "IAC" not in s.review.landmarks and s.review.impression == ""

    s.reopen(actor="dr-b", reason="second look")
    assert not s.signed and load_review(folder).status == "draft"
    s.set_fields(impression="AICA contact")
    s.save()
    assert load_review(folder).impression == "AICA contact"
    actions = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]
    assert [a["action"] for a in actions] == ["finalise", "reopen", "save"]
    assert actions[0]["changes"] and actions[1]["actor"] == "dr-b"
    assert actions[1]["reason"] == "second look"


def test_sign_off_that_cannot_save_leaves_a_draft(minicase, tmp_path):
    s = _case(minicase)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(NvcviewError):
        s.sign_off(blocker / "r", actor="dr-a")
    assert not s.signed and s.editable


def test_events_tell_front_ends_what_changed(minicase):
    s = CaseSession(t2=minicase.t2, tof=minicase.tof)
    seen: list[tuple[str, object]] = []
    s.events.changed.connect(lambda e: seen.append(("changed", e.what)))
    s.events.labels.connect(lambda e: seen.append(("labels", e.box)))
    s.events.measured.connect(lambda e: seen.append(("measured", len(e.measurements))))
    s.set_landmark("RExP", minicase.nerve_start)
    s.set_path([minicase.nerve_start, minicase.nerve_end])
    st = s.nerve_from_path(1.0)
    box = next(b for kind, b in seen if kind == "labels")
    assert box is not None and np.all(s.labels[tuple(box)].max() == st.label)
    assert (s.labels[tuple(box)] == st.label).sum() == (s.labels == st.label).sum()
    s.measure()
    assert ("changed", "landmarks") in seen and ("changed", "path") in seen
    assert seen[-1] == ("measured", 0)  # a nerve and no vessel: nothing to measure yet
    # measurements of an older state (a worker that finished late) are refused
    snap = s.frozen_copy()
    s.set_landmark("RDP", minicase.nerve_start + [3.0, 0, 0])
    assert not s.accept_measurements(snap.measure(), snap.version)


def test_set_finding_marks_dirty_emits_fields_and_is_refused_when_signed(minicase, tmp_path):
    s = _case(minicase)
    s.save(tmp_path / "r")
    seen = []
    s.events.fields.connect(lambda e: seen.append(e.names))
    assert s.set_finding("other_causes", "cpa_mass", "present", "3 mm nodule")
    assert s.dirty and seen == [("other_causes",)]
    assert not s.set_finding("other_causes", "cpa_mass", "present")  # same: no edit
    assert s.set_fields(overall_impression="other_cause") and seen[-1] == ("overall_impression",)
    for bad in (
        lambda: s.set_finding("other_causes", "cpa_mass", "of_note"),  # approach status
        lambda: s.set_finding("approach_anatomy", "cpa_mass", "unremarkable"),
        lambda: s.set_finding("nerves", "cpa_mass", "present"),
        lambda: s.set_fields(overall_impression="maybe"),
    ):
        with pytest.raises(InputError):
            bad()
    s.save()
    r = load_review(tmp_path / "r")
    assert r.other_causes["cpa_mass"].status == "present"
    assert r.other_causes["cpa_mass"].comment == "3 mm nodule"
    assert r.overall_impression == "other_cause"
    s.sign_off(tmp_path / "r", actor="dr-a")
    with pytest.raises(ReviewSignedError):
        s.set_finding("approach_anatomy", "jugular_bulb", "of_note")
    assert "jugular_bulb" not in s.review.approach_anatomy
