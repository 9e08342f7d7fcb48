"""Schema validation, migration from version 0, refusal of newer versions, corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvcview.errors import SchemaError
from nvcview.review import list_history, load_review, save_review
from nvcview.review.model import SCHEMA_VERSION
from nvcview.review.schema import review_schema

REPO = Path(__file__).resolve().parents[2]


def _saved(tmp_path, review) -> tuple[Path, dict]:
    path = save_review(review, tmp_path)
    return path, json.loads(path.read_text())


def test_shipped_schema_is_a_valid_draft_2020_12_schema():
    """The loader trusts the shipped schema (no metaschema check per load): check it here."""
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(review_schema())
    broken = dict(review_schema(), type="no such type")
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema(broken)


def test_docs_copy_of_schema_is_equal():
    docs = json.loads((REPO / "docs" / "review-schema.json").read_text())
    assert docs == review_schema()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["landmarks"].update(RDP=[1.0, 2.0]), "landmarks.RDP"),
        (lambda d: d.update(side="middle"), "side"),
        (lambda d: d["structures"][1].update(kind="artery"), r"structures\[1\]\.kind"),
        (lambda d: d["calls"][0].update(grade="severe"), r"calls\[0\]\.grade"),
        (lambda d: d["nerve_path_lps"][1].append(9.0), r"nerve_path_lps\[1\]"),
        (lambda d: d.update(status=3), "status"),
        (lambda d: d.pop("review_id"), "missing required field.*review_id"),
        (lambda d: d.update(readr="x"), "unknown field.*readr"),
        (lambda d: d.update(reference_shape=[1, 2]), "reference_shape"),
        (lambda d: d["series"][0].update(role="DWI"), r"series\[0\]\.role"),
        (lambda d: d["settings"].update(contact_mm="0.5mm"), r"settings\.contact_mm"),
        (lambda d: d["settings"].update(near_mm=None), r"settings\.near_mm"),
        (lambda d: d["settings"].update(near_mm=-1.0), r"settings.*near_mm"),
        (lambda d: d["settings"].update(surface_method=2), r"settings\.surface_method"),
        (lambda d: d["settings"].update(surface_method="sharp"), r"settings.*surface_method"),
    ],
)
def test_validation_error_names_the_field(tmp_path, review, mutate, field):
    path, doc = _saved(tmp_path, review)
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=field) as info:
        load_review(tmp_path)
    assert str(path) in str(info.value)


def test_surface_method_setting_round_trips(tmp_path, review):
    review.settings.surface_method = "image-edge"
    save_review(review, tmp_path)
    assert load_review(tmp_path).settings.surface_method == "image-edge"


def test_duplicate_structure_label_is_named(tmp_path, review):
    path, doc = _saved(tmp_path, review)
    doc["structures"][1]["label"] = 1
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=r"structures\[1\].*label 1 is used twice"):
        load_review(tmp_path)


def test_patient_values_never_echoed(tmp_path, review):
    path, doc = _saved(tmp_path, review)
    doc["patient"]["patient_name"] = ["Secret^Name"]
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="patient.patient_name") as info:
        load_review(tmp_path)
    assert "Secret" not in str(info.value)


V0 = {
    "format": "nvcview-review",
    "version": 0,
    "case": "pilot-3",
    "reader_id": "dr-x",
    "side": "R",
    "final": False,
    "patient_name": "Roe^Richard",
    "patient_id": "P-9",
    "series": {"T2": {"uid": "1.2.840.1", "path": "T2"}, "TOF": {"uid": "1.2.840.2"}},
    "reference_series": "1.2.840.1",
    "labels": "seg.nii.gz",
    "structures": {
        "2": {"name": "PICA", "kind": "vessel", "vessel": "PICA"},
        "1": {"name": "VII", "kind": "nerve", "nerve": "VII"},
    },
    "landmarks": [
        {"name": "RExP", "x": 10.0, "y": 20.0, "z": -5.0},
        {"name": "RDP", "x": 12.5, "y": 21.0, "z": -5.0},
    ],
    "nerve_path": [[10.0, 20.0, -5.0], [12.5, 21.0, -5.0]],
    "grades": {"2": "indentation"},
    "comments": {"2": "PICA loop"},
    "impression": "PICA",
    "created": "2025-01-01T00:00:00+00:00",
}


def test_migrate_v0(tmp_path):
    (tmp_path / "review.json").write_text(json.dumps(V0))
    r = load_review(tmp_path)
    assert r.schema_version == SCHEMA_VERSION
    assert (r.case_id, r.reader, r.side, r.status) == ("pilot-3", "dr-x", "right", "draft")
    assert r.patient.patient_name == "Roe^Richard" and r.patient.patient_id == "P-9"
    assert r.labelmap_path == "seg.nii.gz"
    assert [(s.label, s.kind, s.vessel_type, s.nerve) for s in r.structures] == [
        (1, "nerve", None, "VII"),
        (2, "vessel", "PICA", None),
    ]
    assert r.landmarks == {"RExP": [10.0, 20.0, -5.0], "RDP": [12.5, 21.0, -5.0]}
    assert r.series_by_role("T2").series_uid == "1.2.840.1"
    call = r.call_for(2)
    assert (call.grade, call.comment) == ("indentation", "PICA loop")
    # loading did not touch the file; the next save writes v1 and keeps the v0 original
    assert json.loads((tmp_path / "review.json").read_text()) == V0
    save_review(r, tmp_path)
    assert json.loads((tmp_path / "review.json").read_text())["schema_version"] == 1
    (old,) = list_history(tmp_path, "review")
    assert json.loads(old.path.read_text()) == V0
    assert old.original_version == 0 and old.path.name.endswith(".v0.json")
    for i in range(4):  # the pre-migration original outlives the history limit
        r.impression = f"edit {i}"
        save_review(r, tmp_path, history_limit=2)
    hist = list_history(tmp_path, "review")
    assert len(hist) == 3 and hist[0].path == old.path and hist[0].pinned


def test_v0_with_bad_landmark_is_named(tmp_path):
    bad = dict(V0, landmarks=[{"name": "RExP", "x": 1.0, "y": "?"}])
    (tmp_path / "review.json").write_text(json.dumps(bad))
    with pytest.raises(SchemaError, match=r"landmarks\[0\]"):
        load_review(tmp_path)


def test_newer_version_refused_and_never_overwritten(tmp_path, review):
    path, doc = _saved(tmp_path, review)
    doc["schema_version"] = SCHEMA_VERSION + 1
    doc["field_from_the_future"] = {"x": 1}
    raw = json.dumps(doc).encode()
    path.write_bytes(raw)
    with pytest.raises(SchemaError, match=f"schema_version {SCHEMA_VERSION + 1} is newer"):
        load_review(tmp_path)
    with pytest.raises(SchemaError, match="newer.*refusing to overwrite"):
        save_review(review, tmp_path)
    assert path.read_bytes() == raw


def test_not_a_review(tmp_path):
    (tmp_path / "review.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(SchemaError, match="schema_version' is missing"):
        load_review(tmp_path)
    (tmp_path / "review.json").write_text("[1, 2]")
    with pytest.raises(SchemaError, match="JSON object"):
        load_review(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b'{"schema_version": 1, "reader": ', r"not valid JSON \(line 1"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_corrupt_json_is_a_clear_error_and_saving_keeps_it(tmp_path, review, content, message):
    path = tmp_path / "review.json"
    path.write_bytes(content)
    with pytest.raises(SchemaError, match=message) as info:
        load_review(tmp_path)
    assert str(path) in str(info.value) and ".history" in str(info.value)
    # a reviewer saving over it loses nothing: the unreadable file is kept in history
    save_review(review, tmp_path)
    (kept,) = list_history(tmp_path, "review")
    assert kept.corrupt and kept.path.read_bytes() == content
    assert load_review(tmp_path) == review
    for _ in range(3):
        save_review(review, tmp_path, history_limit=1)
    assert kept.path.read_bytes() == content  # never pruned


def test_final_v0_review_stays_read_only(tmp_path):
    from nvcview.review import ReviewFinalError, reopen_review

    (tmp_path / "review.json").write_text(json.dumps(dict(V0, final=True)))
    r = load_review(tmp_path)
    assert r.status == "final"
    r.impression = "changed"
    with pytest.raises(ReviewFinalError):
        save_review(r, tmp_path)
    assert json.loads((tmp_path / "review.json").read_text())["final"] is True
    reopen_review(tmp_path, actor="lead", reason="migrate and amend")
    (orig,) = list_history(tmp_path, "review")
    assert orig.original_version == 0 and json.loads(orig.path.read_text())["final"] is True


def test_every_review_field_is_in_the_document_and_the_schema(review):
    """A field added to the model but not to review_to_dict/the schema would be lost."""
    from dataclasses import fields

    from nvcview.review import Review, review_to_dict

    model = {f.name for f in fields(Review)}
    assert set(review_to_dict(review)) == model
    assert set(review_schema()["properties"]) == model


def test_nested_fields_match_the_schema():
    from dataclasses import fields

    from nvcview.io.image import PatientInfo
    from nvcview.review import ReaderCall, SeriesRef
    from nvcview.structures import Structure

    defs = review_schema()["$defs"]
    for cls, name in ((Structure, "structure"), (SeriesRef, "series"), (ReaderCall, "call")):
        assert {f.name for f in fields(cls)} == set(defs[name]["properties"]), name
    # patient: any string fields (all of PatientInfo is PHI and stays under "patient")
    assert all(f.type in ("str", str) for f in fields(PatientInfo))


def test_final_v0_review_that_cannot_be_migrated_is_not_overwritten(tmp_path, review):
    from nvcview.review import ReviewFinalError

    bad = dict(V0, final=True, landmarks=[{"name": "RExP", "x": 1.0, "y": "?"}])
    (tmp_path / "review.json").write_text(json.dumps(bad))
    with pytest.raises(ReviewFinalError):
        save_review(review, tmp_path)
    assert json.loads((tmp_path / "review.json").read_text()) == bad
