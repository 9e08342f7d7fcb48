"""write_sample on disk: DICOM that loads with the right geometry, dciodvfy-clean
headers, truth.json, the ground-truth review and NIfTI."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from nvcview_sample import make_phantom, write_sample

import nvcview
from nvcview.io.nifti import read_nifti
from nvcview.review.store import load_labels, load_review

PARAMS = dict(seed=2, side="right", segment="cisternal", gap_mm=0.6, oblique=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    ph = make_phantom(**PARAMS)
    return write_sample(out, nifti=True, phantom=ph), ph


def world(affine, idx):
    idx = np.asarray(idx, float)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def corners(shape):
    return np.array(
        [[a, b, c] for a in (0, shape[0] - 1) for b in (0, shape[1] - 1) for c in (0, shape[2] - 1)]
    )


@pytest.mark.parametrize("role", ["T2", "TOF"])
def test_dicom_loads_with_the_phantom_geometry(written, role):
    paths, ph = written
    folder = paths.t2_dir if role == "T2" else paths.tof_dir
    ref = ph.t2 if role == "T2" else ph.tof
    img = nvcview.load(folder)
    assert img.meta.series_uid == ref.meta.series_uid
    assert img.array.shape == ref.array.shape
    # compare in world space: the same voxel value sits at the same LPS position
    c = corners(ref.array.shape)
    np.testing.assert_allclose(world(img.affine, c), world(ref.affine, c), atol=1e-4)
    np.testing.assert_array_equal(np.asarray(img.array, dtype=np.int64), ref.array.astype(np.int64))
    # and independently through SimpleITK (array [k, j, i], direction/spacing/origin in LPS)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    s = reader.Execute()
    m = np.array(s.GetDirection()).reshape(3, 3) * np.array(s.GetSpacing())
    ijk = c[:, ::-1]  # (slice, row, col) -> (i = col, j = row, k = slice)
    np.testing.assert_allclose(ijk @ m.T + np.array(s.GetOrigin()), world(ref.affine, c), atol=1e-4)
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(s).astype(np.int64), ref.array.astype(np.int64)
    )


def test_headers_realistic_and_shared_frame(written):
    paths, ph = written
    t2 = pydicom.dcmread(paths.t2_files[0])
    tof = pydicom.dcmread(paths.tof_files[-1])
    assert t2.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    assert str(t2.PatientName) == "PHANTOM^CPA"
    assert t2.FrameOfReferenceUID == tof.FrameOfReferenceUID == ph.t2.meta.frame_of_reference_uid
    assert t2.StudyInstanceUID == tof.StudyInstanceUID
    assert t2.SeriesInstanceUID != tof.SeriesInstanceUID
    assert t2.MRAcquisitionType == tof.MRAcquisitionType == "3D"
    assert t2.SequenceName == "*ciss3d" and tof.SequenceName == "*fl3d1r_t70"
    assert float(tof.SpacingBetweenSlices) == pytest.approx(0.7)
    assert [float(v) for v in t2.PixelSpacing] == pytest.approx([0.4, 0.4])
    uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths.t2_files}
    assert len(uids) == len(paths.t2_files) == ph.t2.array.shape[0]


def test_dciodvfy_reports_no_errors(written):
    paths, _ = written
    exe = shutil.which("dciodvfy")
    assert exe is not None, "dciodvfy (dicom3tools) must be installed"
    for f in (paths.t2_files[len(paths.t2_files) // 2], paths.tof_files[0]):
        run = subprocess.run([exe, str(f)], capture_output=True, text=True, timeout=60)
        lines = (run.stdout + run.stderr).splitlines()
        assert any("MRImage" in ln for ln in lines), lines[:5]
        errors = [ln for ln in lines if ln.startswith("Error")]
        assert errors == [], errors


def test_truth_review_and_labels_on_disk(written):
    paths, ph = written
    truth = json.loads(paths.truth.read_text())
    assert truth["settings"] == ph.truth["settings"]
    assert truth["vessels"] == ph.truth["vessels"]
    assert truth["series"]["T2"]["path"] == "dicom/T2"
    assert (paths.out_dir / truth["series"]["TOF"]["path"]).is_dir()
    review = load_review(paths.review_dir)
    assert review.reader == "truth" and review.side == "right"
    assert review.reference_series_uid == ph.t2.meta.series_uid
    refs = {s.role: s for s in review.series}
    assert refs["T2"].series_uid == ph.t2.meta.series_uid
    assert refs["TOF"].series_uid == ph.tof.meta.series_uid
    assert (paths.review_dir / refs["T2"].path).resolve() == paths.t2_dir.resolve()
    assert [s.to_dict() for s in review.structures] == [s.to_dict() for s in ph.structures]
    for name, p in ph.landmarks.items():
        np.testing.assert_allclose(review.landmarks[name], p)
    np.testing.assert_allclose(np.array(review.nerve_path_lps), ph.centreline)
    aica = next(m for m in review.measurements if m.vessel_type == "AICA")
    assert aica.gap_mm == pytest.approx(0.6, abs=1e-9)
    assert aica.segment == "distal cisternal"
    labels = load_labels(review, paths.review_dir)
    c = corners(labels.array.shape)
    np.testing.assert_allclose(world(labels.affine, c), world(ph.labels.affine, c), atol=1e-4)
    np.testing.assert_array_equal(labels.array, ph.labels.array)


def test_nifti_written_in_place(written):
    paths, ph = written
    for path, ref in ((paths.nifti_t2, ph.t2), (paths.nifti_tof, ph.tof)):
        img = read_nifti(path)
        c = corners(ref.array.shape)
        np.testing.assert_allclose(world(img.affine, c), world(ref.affine, c), atol=1e-4)
        np.testing.assert_array_equal(img.array, ref.array)


def test_truth_contact_uses_the_engine_threshold(written):
    """An absolute contact_mm is not multiplied by contact_factor (as in measure.case)."""
    from nvcview_sample.sample_writer import truth_measurements

    from nvcview.measure.records import MeasureSettings

    _, ph = written
    aica = ph.truth["conflict"]["vessel_label"]

    def call(**kw):
        recs = truth_measurements(ph, MeasureSettings(**kw))
        return next(r for r in recs if r.vessel_label == aica).contact

    assert ph.truth["conflict"]["gap_mm"] == pytest.approx(0.6)
    assert not call(contact_mm=0.3, contact_factor=3.0)
    assert call(contact_mm=1.0, contact_factor=0.5)
    assert call(contact_factor=2.0) and not call(contact_factor=1.0)


def test_rewriting_without_nifti_leaves_no_stale_nifti(written, tmp_path):
    """NIfTI volumes of an earlier phantom in the same folder would not match truth.json."""
    _, ph = written
    first = write_sample(tmp_path, nifti=True, phantom=ph)
    assert first.nifti_t2.exists() and first.nifti_tof.exists()
    second = write_sample(tmp_path, phantom=ph)
    assert second.nifti_t2 is None
    assert not first.nifti_t2.exists() and not first.nifti_tof.exists()
