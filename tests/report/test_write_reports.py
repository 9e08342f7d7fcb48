"""write_reports in-process: derived centreline, T2-only reviews, clear errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nvcview.errors import InputError
from nvcview.report import parse_formats, write_reports
from nvcview.review.model import SeriesRef


def test_t2_only_review_without_nerve_path_still_gets_the_reformat(synth_case, tmp_path):
    review = dataclasses.replace(
        synth_case["review"],
        nerve_path_lps=[],
        series=[s for s in synth_case["review"].series if s.role == "T2"],
    )
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "vessel99-axial.png").write_bytes(b"old run")
    (tmp_path / "images" / "my-notes.png").write_bytes(b"not ours")
    written = write_reports(review, synth_case["folder"], tmp_path, formats=("json", "html"))
    assert not (tmp_path / "images" / "vessel99-axial.png").exists()
    assert (tmp_path / "images" / "my-notes.png").exists()
    assert set(written) == {"json", "html", "images"}
    doc = json.loads(written["json"].read_text())
    kinds = [k["kind"] for k in doc["key_images"]]
    assert kinds.count("nerve") == 1 and "axial" in kinds
    assert [s["role"] for s in doc["series"]] == ["T2"]
    for k in doc["key_images"]:
        assert (tmp_path / k["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_series_folder_is_named_in_the_error(synth_case, tmp_path):
    review = dataclasses.replace(
        synth_case["review"],
        series=[SeriesRef(synth_case["t2_uid"], "T2", str(tmp_path / "gone"))],
    )
    with pytest.raises(InputError, match="gone.*does not exist"):
        write_reports(review, synth_case["folder"], tmp_path / "out", formats=("json",))


def test_parse_formats():
    assert parse_formats("json, pdf") == ("json", "pdf")
    assert parse_formats("all") == (
        "json",
        "html",
        "pdf",
        "sr",
        "seg",
        "pdf-dicom",
        "key-images-dicom",
    )
    with pytest.raises(InputError, match="docx"):
        parse_formats("json,docx")


def test_stored_measurements_take_the_current_calls_for_key_images(synth_case, tmp_path):
    from nvcview.review.model import ReaderCall

    # --stored: the VA was called a contact after the measurements were stored
    calls = [*synth_case["review"].calls, ReaderCall(4, "contact", "low")]
    review = dataclasses.replace(synth_case["review"], calls=calls)
    written = write_reports(
        review, synth_case["folder"], tmp_path, formats=("json",), recompute=False
    )
    doc = json.loads(written["json"].read_text())
    assert "vertebral artery contacts" in doc["conclusion"]
    assert {k["key"] for k in doc["key_images"]} >= {"vessel4-axial", "vessel3-axial"}
