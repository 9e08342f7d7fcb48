"""Folders holding several series, localizers, echoes, non-image objects and PHI."""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pytest
from dicom_factory import assert_same_world, write_series
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from references import dcm2niix, sitk_series

import nvcview
from nvcview.errors import AmbiguousSeriesError, InputError


def _mixed_folder(root):
    """A CISS-like T2, a TOF and a three-plane localizer (3 slices per plane), one folder."""
    t2 = write_series(root / "a", description="T2 CISS 3D", series_number=3, prefix="T2_")
    tof = write_series(
        root / "b",
        description="TOF 3D multi-slab",
        sequence_name="*fl3d1r_t70",
        series_number=4,
        shape=(9, 18, 14),
        tilt_deg=(8, 0, 0),
        prefix="TOF_",
        seed=4,
    )
    loc_uid = generate_uid()
    for i, plane in enumerate(("axial", "coronal", "sagittal")):
        write_series(
            root / "c",
            description="localizer",
            sequence_name="*fl2d1",
            series_uid=loc_uid,
            series_number=1,
            plane=plane,
            shape=(3, 10, 10),
            spacing=(5.0, 2.0, 2.0),
            image_type=("ORIGINAL", "PRIMARY", "LOCALIZER", "NONE"),
            prefix=f"LOC{i}_",
            instance_offset=3 * i,
        )
    return t2, tof, loc_uid


def test_two_series_and_localizer(tmp_path):
    t2, tof, loc_uid = _mixed_folder(tmp_path)
    metas = nvcview.list_series(tmp_path)
    by_id = {m.volume_id: m for m in metas}
    assert by_id[t2.series_uid].role == "T2"
    assert by_id[tof.series_uid].role == "TOF"
    loc = sorted(v for v in by_id if v.startswith(loc_uid))
    assert loc == [f"{loc_uid}#{p}" for p in ("axial", "coronal", "sagittal")]
    assert all("localizer" in by_id[v].warnings for v in loc)
    assert all(m.loadable for m in metas)  # 3 slices per localizer plane
    assert by_id[tof.series_uid].shape == (9, 18, 14)

    with pytest.raises(AmbiguousSeriesError) as err:
        nvcview.load(tmp_path)
    message = str(err.value)
    assert t2.series_uid in message and tof.series_uid in message and "\n" not in message
    assert {m.volume_id for m in err.value.candidates} == {t2.series_uid, tof.series_uid}

    image = nvcview.load(tmp_path, series_uid=tof.series_uid)
    assert_same_world(image.array, image.affine, tof.values, tof.affine, label="TOF")
    arr, aff = sitk_series(tmp_path / "b", tof.series_uid)
    assert_same_world(image.array, image.affine, arr, aff, label="SimpleITK")
    # a localizer plane is loadable by its volume id and sits where its slices say
    cor = nvcview.load(tmp_path, series_uid=f"{loc_uid}#coronal")
    assert cor.meta.orientation == "coronal"
    assert cor.array.shape == (3, 10, 10)
    # by series number too
    assert nvcview.load(tmp_path, series_uid="3").meta.series_uid == t2.series_uid


def test_unknown_series_lists_what_exists(tmp_path):
    t2 = write_series(tmp_path, shape=(3, 6, 5))
    with pytest.raises(InputError, match="no series 1.2.3.4; found: " + t2.series_uid):
        nvcview.load(tmp_path, series_uid="1.2.3.4")


def test_multi_echo_split_into_named_volumes(tmp_path):
    uid = generate_uid()
    rng = np.random.default_rng(3)
    stored = [rng.integers(0, 4000, size=(8, 12, 10)).astype(np.uint16) for _ in range(2)]
    echoes = []
    for e in (1, 2):
        echoes.append(
            write_series(
                tmp_path / "me",
                series_uid=uid,
                shape=(8, 12, 10),
                echo_number=e,
                echo_time=4.0 * e,
                order="shuffle",
                prefix=f"E{e}_",
                stored=stored[e - 1],
                seed=e,
                instance_offset=100 * e,
            )
        )
    metas = nvcview.list_series(tmp_path)
    assert [m.volume_id for m in metas] == [f"{uid}#echo1", f"{uid}#echo2"]
    assert [m.echo_time_ms for m in metas] == [4.0, 8.0]
    assert all(m.shape == (8, 12, 10) for m in metas)
    with pytest.raises(AmbiguousSeriesError, match="holds 2 volumes"):
        nvcview.load(tmp_path, series_uid=uid)
    image = nvcview.load(tmp_path, series_uid=f"{uid}#echo2")
    assert_same_world(image.array, image.affine, echoes[1].values, echoes[1].affine)
    niis = dcm2niix(tmp_path / "me", tmp_path / "nii")
    echo2 = [n for n in niis if "_e2" in n[0]]
    assert len(echo2) == 1, [n[0] for n in niis]
    assert_same_world(image.array, image.affine, echo2[0][1], echo2[0][2], label="dcm2niix")


def test_non_dicom_dicomdir_and_sr_are_skipped(tmp_path, caplog):
    series = write_series(tmp_path / "s", shape=(4, 6, 5))
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "s" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 20)
    sr = Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.file_meta.MediaStorageSOPClassUID = sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    sr.file_meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID = generate_uid()
    sr.SeriesInstanceUID = generate_uid()
    sr.Modality = "SR"
    sr.save_as(tmp_path / "s" / "report.dcm", enforce_file_format=True)
    with caplog.at_level(logging.DEBUG, logger="nvcview"):
        image = nvcview.load(tmp_path)
    assert image.meta.series_uid == series.series_uid
    skipped = caplog.text
    assert "notes.txt: not a DICOM file" in skipped
    assert "report.dcm: non-image object" in skipped
    # no PHI in the logs
    assert "Phantom" not in skipped and "PHANTOM-0001" not in skipped


def test_patient_info_kept_apart(tmp_path):
    write_series(tmp_path, shape=(3, 6, 5))
    image = nvcview.load(tmp_path)
    assert image.patient.patient_name == "Phantom^Test"
    assert image.patient.patient_id == "PHANTOM-0001"
    meta = image.meta.to_dict()
    assert "Phantom" not in str(meta) and "PHANTOM-0001" not in str(meta)


def test_file_without_preamble(tmp_path):
    series = write_series(tmp_path / "s", shape=(4, 6, 5))
    for p in series.paths:
        raw = p.read_bytes()
        assert raw[128:132] == b"DICM"
        p.write_bytes(raw[132:])  # bare dataset with its file meta group, no preamble
    image = nvcview.load(tmp_path / "s")
    assert_same_world(image.array, image.affine, series.values, series.affine)


def test_single_file_of_a_series_loads_its_series(tmp_path):
    """One file picked from a series folder gives the whole series, with a warning."""
    series = write_series(tmp_path / "s", shape=(4, 6, 5), order="shuffle")
    other = write_series(tmp_path / "s", shape=(3, 6, 5), prefix="X", seed=9)
    image = nvcview.load(series.paths[2])
    assert image.meta.series_uid == series.series_uid
    assert image.meta.warnings[0] == (
        f"loaded the whole series (4 slices) from the folder of {series.paths[2].name}"
    )
    assert_same_world(image.array, image.affine, series.values, series.affine)
    (meta,) = nvcview.list_series(series.paths[2])  # listing describes the file itself
    assert meta.shape == (1, 6, 5)
    assert "single 2D image, not a volume" in meta.warnings
    assert not meta.loadable
    assert other.series_uid != series.series_uid


def test_lone_slice_is_2d(tmp_path):
    series = write_series(tmp_path, shape=(4, 6, 5))
    lone = tmp_path / "lone" / "one.dcm"
    lone.parent.mkdir()
    series.paths[1].rename(lone)
    with pytest.raises(InputError, match="single 2D image .*not a volume") as err:
        nvcview.load(lone)
    assert "one.dcm" in str(err.value)


def test_enhanced_file_with_two_echoes_interleaved(tmp_path):
    """One enhanced file mixing two echoes frame by frame: two volumes, each exact."""
    import copy

    from dicom_factory import write_enhanced

    path = tmp_path / "me" / "enhanced.dcm"
    first = write_enhanced(path, order="normal", slope=1.0, intercept=0.0)
    ds = pydicom.dcmread(path)
    n = int(ds.NumberOfFrames)
    rng = np.random.default_rng(7)
    second = rng.integers(0, 4095, size=first.stored.shape).astype(np.uint16)
    del ds.SharedFunctionalGroupsSequence[0].MREchoSequence
    items, frames = [], []
    for k, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        for te, pixels in ((3.4, first.stored[k]), (6.8, second[k])):
            it = copy.deepcopy(item)
            echo = Dataset()
            echo.EffectiveEchoTime = te
            it.MREchoSequence = [echo]
            items.append(it)
            frames.append(pixels)
    ds.PerFrameFunctionalGroupsSequence = items
    ds.NumberOfFrames = 2 * n
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)

    metas = nvcview.list_series(path)
    uid = first.series_uid
    assert [m.volume_id for m in metas] == [f"{uid}#te3.4", f"{uid}#te6.8"]
    image = nvcview.load(path, series_uid=f"{uid}#te6.8")
    assert_same_world(image.array, image.affine, second.astype(float), first.affine)
    image1 = nvcview.load(path.parent, series_uid=f"{uid}#te3.4")
    assert_same_world(image1.array, image1.affine, first.values, first.affine)


def test_pixels_read_only_for_the_chosen_series(tmp_path, monkeypatch):
    import nvcview.io.pixels as pixels

    t2, tof, _ = _mixed_folder(tmp_path)
    opened = []
    real_native = pixels._read_native

    def spy(rec, dest):
        opened.append(rec.path)
        return real_native(rec, dest)

    monkeypatch.setattr(pixels, "_read_native", spy)
    monkeypatch.setattr(pixels, "_pixel_array", lambda *a, **k: pytest.fail("decoder used"))
    nvcview.list_series(tmp_path)
    assert opened == []  # listing reads headers only
    nvcview.load(tmp_path, series_uid=tof.series_uid)
    assert sorted(opened) == sorted(str(p) for p in tof.paths)


def test_enhanced_file_with_two_stacks(tmp_path):
    """Two slabs in one enhanced object (StackID 1 and 2, 20 mm apart): two volumes."""
    import copy

    from dicom_factory import write_enhanced

    path = tmp_path / "enhanced.dcm"
    first = write_enhanced(path, order="normal", slope=1.0, intercept=0.0)
    ds = pydicom.dcmread(path)
    n = int(ds.NumberOfFrames)
    shift = 20.0 * first.affine[:3, 0] / np.linalg.norm(first.affine[:3, 0])
    items = list(ds.PerFrameFunctionalGroupsSequence)
    for item in ds.PerFrameFunctionalGroupsSequence:
        it = copy.deepcopy(item)
        it.FrameContentSequence[0].StackID = "2"
        ipp = np.array([float(v) for v in it.PlanePositionSequence[0].ImagePositionPatient])
        it.PlanePositionSequence[0].ImagePositionPatient = [f"{v:.6f}" for v in ipp + shift]
        items.append(it)
    ds.PerFrameFunctionalGroupsSequence = items
    ds.NumberOfFrames = 2 * n
    ds.PixelData = np.concatenate([first.stored, first.stored[::-1]]).tobytes()
    ds.save_as(path, enforce_file_format=True)

    metas = nvcview.list_series(path)
    uid = first.series_uid
    assert [m.volume_id for m in metas] == [f"{uid}#stack1", f"{uid}#stack2"]
    slab2 = nvcview.load(path, series_uid=f"{uid}#stack2")
    affine2 = first.affine.copy()
    affine2[:3, 3] += shift
    assert_same_world(slab2.array, slab2.affine, first.values[::-1], affine2)


def test_magnitude_and_phase_at_same_positions(tmp_path):
    uid = generate_uid()
    mag = write_series(tmp_path, shape=(4, 6, 5), series_uid=uid, prefix="M", seed=1)
    pha = write_series(
        tmp_path,
        shape=(4, 6, 5),
        series_uid=uid,
        prefix="P",
        seed=2,
        image_type=("ORIGINAL", "PRIMARY", "P", "ND"),
        for_uid=generate_uid(),
    )
    metas = nvcview.list_series(tmp_path)
    assert [m.volume_id for m in metas] == [f"{uid}#M", f"{uid}#P"]
    image = nvcview.load(tmp_path, series_uid=f"{uid}#P")
    assert_same_world(image.array, image.affine, pha.values, pha.affine)
    assert mag.series_uid == uid


def test_same_images_exported_twice(tmp_path):
    import shutil

    series = write_series(tmp_path / "a", shape=(5, 6, 6))
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    image = nvcview.load(tmp_path)
    assert image.array.shape == (5, 6, 6)
    assert any(
        "5 duplicate image(s) (same SOPInstanceUID) ignored" in w for w in image.meta.warnings
    )
    assert_same_world(image.array, image.affine, series.values, series.affine)


def test_headers_longer_than_the_read_ahead(tmp_path):
    """Siemens-style big private headers (CSA) push the pixel data far into the file."""
    from nvcview.io.discovery import HEAD_BYTES

    series = write_series(tmp_path, shape=(4, 6, 6), order="shuffle")
    for p in series.paths:
        ds = pydicom.dcmread(p)
        ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(
            0x10, "OB", bytes(range(256)) * (HEAD_BYTES // 256 + 8)
        )
        ds.save_as(p, enforce_file_format=True)
    assert all(p.stat().st_size > HEAD_BYTES + 2000 for p in series.paths)
    image = nvcview.load(tmp_path)
    assert_same_world(image.array, image.affine, series.values, series.affine)
