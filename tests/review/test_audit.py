"""Field-level change summaries of the audit trail."""

from __future__ import annotations

from nvcview.review import review_to_dict
from nvcview.review.audit import diff_documents
from nvcview.structures import Structure


def _changes(old, new):
    return {c["field"]: c for c in diff_documents(review_to_dict(old), review_to_dict(new))}


def test_structure_landmark_and_path_changes(review):
    import copy

    new = copy.deepcopy(review)
    new.structures.append(Structure(3, "vein", "vessel", "vein"))
    new.structures[1].vessel_type = "PICA"
    del new.landmarks["IAC"]
    new.landmarks["flocculus"] = [1.0, 2.0, 3.0]
    new.nerve_path_lps.append([0.0, 0.0, 0.0])
    new.side = "right"
    new.impression = "different words"
    ch = _changes(review, new)
    assert ch["structures[label 3]"]["change"] == "added"
    assert ch["structures[label 2]"]["change"] == "changed"
    assert ch["landmarks.IAC"]["change"] == "removed"
    assert ch["landmarks.flocculus"]["change"] == "added"
    assert ch["nerve_path_lps"]["points"] == [3, 4]
    assert (ch["side"]["from"], ch["side"]["to"]) == ("left", "right")
    assert ch["impression"] == {"field": "impression", "change": "changed"}  # no text copied


def test_nothing_changed_but_the_clock(review):
    import copy

    new = copy.deepcopy(review)
    new.modified = "2030-01-01T00:00:00+00:00"
    assert diff_documents(review_to_dict(review), review_to_dict(new)) == []


def test_created(review):
    assert diff_documents(None, review_to_dict(review)) == [
        {"field": "(review)", "change": "created"}
    ]
