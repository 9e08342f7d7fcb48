"""DICOM for PACS: Encapsulated PDF, key images (SC), Key Object Selection."""

from __future__ import annotations

import subprocess

import pydicom
import pytest

from nvcview.report import FILE_NAMES, KEY_DICOM_DIR


def _dicom_outputs(out):
    return [
        *(out / FILE_NAMES[k] for k in ("sr", "seg", "pdf-dicom", "key-images-dicom")),
        *sorted((out / KEY_DICOM_DIR).glob("ki-*.dcm")),
    ]


def test_every_dicom_output_passes_dciodvfy_and_joins_the_study(bilateral_report):
    out = bilateral_report["out"]
    files = _dicom_outputs(out)
    assert len(files) > 4
    for f in files:
        res = subprocess.run(["dciodvfy", str(f)], capture_output=True, text=True)
        errors = [
            line for line in (res.stdout + res.stderr).splitlines() if line.startswith("Error")
        ]
        assert not errors, (f.name, errors)
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        assert ds.StudyInstanceUID == bilateral_report["study_uid"], f.name
        assert ds.PatientID == "BI0001"


def test_encapsulated_pdf_is_the_report_pdf(bilateral_report):
    out = bilateral_report["out"]
    ds = pydicom.dcmread(out / FILE_NAMES["pdf-dicom"])
    assert ds.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    assert ds.Modality == "DOC" and ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    data = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    assert data[:5] == b"%PDF-"
    # the same document as report.pdf (built once in the run)
    assert data == (out / "report.pdf").read_bytes()


def test_key_images_are_true_colour_secondary_captures_with_pacs_numbers(bilateral_report):
    out = bilateral_report["out"]
    import json

    doc = json.loads((out / "report.json").read_text())
    files = sorted((out / KEY_DICOM_DIR).glob("ki-*.dcm"))
    assert len(files) == len(doc["key_images"])
    series = set()
    for i, (f, k) in enumerate(zip(files, doc["key_images"], strict=True), start=1):
        ds = pydicom.dcmread(f)
        assert ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3
        assert (ds.Columns, ds.Rows) == (k["width_px"], k["height_px"])
        assert ds.InstanceNumber == i and ds.SeriesNumber == 904
        assert ds.ImageComments.startswith(k["title"])
        if k["location"]:
            assert k["location"] in ds.ImageComments
        assert ds.Laterality == ("L" if k["side_role"] == "symptomatic" else "R")
        series.add(ds.SeriesInstanceUID)
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns, 3)
    assert len(series) == 1
    axial = next(k for k in doc["key_images"] if k["kind"] == "axial")
    assert axial["location"].startswith("On PACS: T2 series 5 (3D CISS), image ")


def test_key_object_selection_references_the_images_the_sr_and_the_pdf(bilateral_report):
    out = bilateral_report["out"]
    ko = pydicom.dcmread(out / FILE_NAMES["key-images-dicom"])
    assert ko.Modality == "KO"
    title = ko.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("113003", "DCM")  # For Surgery
    referenced = {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for item in ko.ContentSequence
        if item.ValueType in ("IMAGE", "COMPOSITE")
    }
    want = {
        pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
        for f in (out / KEY_DICOM_DIR).glob("ki-*.dcm")
    }
    want |= {
        pydicom.dcmread(out / FILE_NAMES[k], stop_before_pixels=True).SOPInstanceUID
        for k in ("sr", "pdf-dicom")
    }
    assert referenced == want


@pytest.mark.parametrize("fmt", ["pdf-dicom", "key-images-dicom"])
def test_pacs_formats_alone(synth_case, tmp_path, fmt):
    from nvcview.report import write_reports

    written = write_reports(synth_case["folder"], None, tmp_path, formats=(fmt,))
    assert written[fmt].is_file()
    assert not (tmp_path / FILE_NAMES["json"]).exists()
