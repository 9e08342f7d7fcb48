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


def test_3d_key_image_reaches_json_html_and_the_dicom_key_images(synth_case, tmp_path):
    import base64
    import io
    import re

    import numpy as np
    import pydicom
    from matplotlib import image as mpimg

    written = write_reports(
        synth_case["folder"], None, tmp_path, formats=("json", "html", "key-images-dicom")
    )
    doc = json.loads(written["json"].read_text())
    scene = [k for k in doc["key_images"] if k["kind"] == "3d"]
    assert len(scene) == 1 and scene[0]["file"] == "images/scene-3d.png"
    assert "retrosigmoid" in scene[0]["caption"]
    rgb = mpimg.imread(tmp_path / scene[0]["file"])[..., :3]
    assert rgb.std() > 0.1
    html = written["html"].read_text()
    m = re.search(r'id="img-scene-3d">\s*<img src="data:image/png;base64,([^"]+)"', html)
    assert m is not None, "3D key image not in the HTML"
    assert base64.b64decode(m.group(1)) == (tmp_path / scene[0]["file"]).read_bytes()
    scs = [pydicom.dcmread(p) for p in sorted(written["key-images-dicom-dir"].glob("ki-*.dcm"))]
    assert len(scs) == len(doc["key_images"])
    idx = [k["key"] for k in doc["key_images"]].index("scene-3d")
    sc = scs[idx].pixel_array
    png = mpimg.imread(io.BytesIO(base64.b64decode(m.group(1))))[..., :3]
    assert sc.shape[:2] == png.shape[:2]
    assert np.abs(sc[..., :3] / 255.0 - png).max() < 0.02
    ko = pydicom.dcmread(written["key-images-dicom"])
    refs = {
        r.ReferencedSOPInstanceUID
        for s in ko.CurrentRequestedProcedureEvidenceSequence
        for ser in s.ReferencedSeriesSequence
        for r in ser.ReferencedSOPSequence
    }
    assert scs[idx].SOPInstanceUID in refs
