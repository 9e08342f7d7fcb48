"""Additive review fields: the control side, other causes, approach anatomy, overall
impression. Older review.json documents (without them) still load."""

from __future__ import annotations

import json

import pytest

from nvcview.errors import SchemaError
from nvcview.review import load_review, save_review
from nvcview.review.document import review_from_dict, review_to_dict
from nvcview.review.model import (
    APPROACH_ANATOMY,
    OTHER_CAUSES,
    ContralateralSide,
    ReaderCall,
    ReaderFinding,
    Review,
)
from nvcview.review.schema import review_schema
from nvcview.structures import Structure


def _review() -> Review:
    return Review(
        case_id="c1",
        reader="r",
        side="left",
        structures=[Structure(2, "left facial nerve", "nerve", nerve="VII")],
        contralateral=ContralateralSide(
            structures=[
                Structure(5, "right facial nerve", "nerve", nerve="VII"),
                Structure(6, "right AICA", "vessel", vessel_type="AICA"),
            ],
            landmarks={"RExP": [-4.0, 0.0, 0.0], "RDP": [-10.0, 0.5, 0.0]},
            nerve_path_lps=[[-4.0, 0.0, 0.0], [-16.0, 0.0, 0.0]],
            calls=[ReaderCall(6, "none", "medium", "clear CSF")],
        ),
        other_causes={
            "cpa_mass": ReaderFinding("none_seen"),
            "epidermoid": ReaderFinding("present", "left CPA"),
        },
        approach_anatomy={"jugular_bulb": ReaderFinding("of_note", "high-riding")},
        overall_impression="nvc_possible",
    )


def test_new_fields_round_trip_through_save_and_load(tmp_path):
    r = _review()
    save_review(r, tmp_path)
    back = load_review(tmp_path)
    assert back.contralateral == r.contralateral
    assert back.other_causes == r.other_causes
    assert back.approach_anatomy == r.approach_anatomy
    assert back.overall_impression == "nvc_possible"
    assert back.contralateral.call_for(6).comment == "clear CSF"


def test_a_review_json_without_the_new_fields_still_loads(tmp_path):
    doc = review_to_dict(_review())
    for k in ("contralateral", "other_causes", "approach_anatomy", "overall_impression"):
        del doc[k]
    (tmp_path / "review.json").write_text(json.dumps(doc))
    back = load_review(tmp_path)
    assert (
        back.contralateral is None and back.other_causes == {} and back.overall_impression is None
    )


def test_vocabularies_match_the_schema_and_bad_values_name_the_field(tmp_path):
    props = review_schema()["properties"]
    assert set(props["other_causes"]["propertyNames"]["enum"]) == set(OTHER_CAUSES)
    assert set(props["approach_anatomy"]["propertyNames"]["enum"]) == set(APPROACH_ANATOMY)
    doc = review_to_dict(_review())
    doc["approach_anatomy"]["jugular_bulb"]["status"] = "none_seen"  # an other-cause status
    with pytest.raises(SchemaError, match="approach_anatomy.jugular_bulb.status"):
        review_from_dict(doc)
    doc = review_to_dict(_review())
    doc["other_causes"]["tumour"] = {"status": "present"}
    (tmp_path / "review.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="other_causes"):
        load_review(tmp_path)
    doc = review_to_dict(_review())
    doc["contralateral"]["structures"][0]["label"] = 2  # used by the symptomatic side
    with pytest.raises(SchemaError, match="contralateral.structures\\[0\\].*used twice"):
        review_from_dict(doc)
