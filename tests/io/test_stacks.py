"""Splitting series into volumes and the geometry messages of nvcview.io.stacks."""

from __future__ import annotations

import pydicom
import pytest
from dicom_factory import assert_same_world, write_enhanced_echoes, write_series
from pydicom.uid import generate_uid
from references import dcm2niix

import nvcview
from nvcview.errors import GeometryError, InputError


def _philips_classic(folder):
    """Dual-echo magnitude + phase, one series, all four volumes at the same positions."""
    uid, for_uid = generate_uid(), generate_uid()
    truth = {}
    for e in (1, 2):
        for part in ("M", "P"):
            truth[(e, part)] = write_series(
                folder,
                shape=(5, 8, 7),
                series_uid=uid,
                for_uid=for_uid,
                echo_number=e,
                echo_time=4.6 * e,
                image_type=("ORIGINAL", "PRIMARY", part, "FFE"),
                prefix=f"E{e}{part}_",
                order="shuffle",
                tilt_deg=(0, 6, 0),
                seed=10 * e + (part == "P"),
                instance_offset=100 * (2 * e + (part == "P")),
            )
    return uid, truth


def test_philips_classic_dual_echo_magnitude_phase_split_like_dcm2niix(tmp_path):
    uid, truth = _philips_classic(tmp_path / "fm")
    metas = nvcview.list_series(tmp_path / "fm")
    ids = [m.volume_id for m in metas]
    assert ids == [f"{uid}#e1", f"{uid}#e1_ph", f"{uid}#e2", f"{uid}#e2_ph"]
    assert all(m.loadable and m.shape == (5, 8, 7) for m in metas)
    niis = {n[0]: n for n in dcm2niix(tmp_path / "fm", tmp_path / "nii")}
    for (e, part), series in truth.items():
        suffix = "" if part == "M" else "_ph"
        image = nvcview.load(tmp_path / "fm", series_uid=f"{uid}#e{e}{suffix}")
        assert_same_world(image.array, image.affine, series.values, series.affine)
        match = [
            n for name, n in niis.items() if f"_e{e}" in name and name.endswith(f"{suffix}.nii")
        ]
        match = [n for n in match if suffix or "_ph" not in n[0]]
        assert len(match) == 1, sorted(niis)
        assert_same_world(image.array, image.affine, match[0][1], match[0][2], label="dcm2niix")


@pytest.mark.parametrize("where", ["frame_type", "component"])
def test_philips_enhanced_dual_echo_magnitude_phase(tmp_path, where):
    uid, truth = write_enhanced_echoes(tmp_path / "enh" / "fm.dcm", where=where)
    metas = nvcview.list_series(tmp_path / "enh")
    assert [m.volume_id for m in metas] == [
        f"{uid}#e1",
        f"{uid}#e1_ph",
        f"{uid}#e2",
        f"{uid}#e2_ph",
    ]
    for (e, part), series in truth.items():
        suffix = "" if part == "M" else "_ph"
        image = nvcview.load(tmp_path / "enh", series_uid=f"{uid}#e{e}{suffix}")
        assert_same_world(image.array, image.affine, series.values, series.affine)


def test_unseparable_repeats_say_what_was_tried(tmp_path):
    uid = generate_uid()
    for e, prefix in ((1, "A"), (1, "B")):  # same echo, same image type: nothing separates
        write_series(tmp_path, shape=(3, 6, 6), series_uid=uid, echo_number=e, prefix=prefix)
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    msg = str(err.value)
    assert uid in msg and "6 slices at only 3 distinct positions" in msg
    assert "tells them apart" in msg


def test_mosaic_is_named_and_refused(tmp_path):
    series = write_series(
        tmp_path, shape=(3, 16, 16), image_type=("ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC")
    )
    with pytest.raises(InputError, match="Siemens mosaic.*not supported") as err:
        nvcview.load(tmp_path)
    assert "single 2D image" not in str(err.value)
    (meta,) = nvcview.list_series(tmp_path)
    assert not meta.loadable and "mosaic" in meta.warnings[0]
    with pytest.raises(InputError, match=f"{series.paths[0].name} is a Siemens mosaic"):
        nvcview.load(series.paths[0])


def _shift(path, dx):
    ds = pydicom.dcmread(path)
    ipp = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [ipp[0] + dx, ipp[1], ipp[2]]
    ds.save_as(path, enforce_file_format=True)


def test_slice_shifted_in_plane_is_named_not_uneven_spacing(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8), spacing=(0.8, 0.5, 0.5))
    _shift(series.paths[3], 1.0)
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    msg = str(err.value)
    assert f"{series.paths[3].name} is 1.000 mm off in the slice plane" in msg
    assert "uneven" not in msg


def test_zero_length_orientation_is_named_without_nan(tmp_path):
    series = write_series(tmp_path, shape=(4, 8, 8))
    ds = pydicom.dcmread(series.paths[1])
    ds.ImageOrientationPatient = [0, 0, 0, 0, 0, 0]
    ds.save_as(series.paths[1], enforce_file_format=True)
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    msg = str(err.value)
    assert series.paths[1].name in msg and "not unit vectors" in msg
    assert "nan" not in msg


def test_end_slice_with_other_matrix_size_is_reported(tmp_path):
    series = write_series(tmp_path, shape=(5, 8, 8))
    last = max(series.paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    ds = pydicom.dcmread(last)
    ds.Rows = 4
    ds.PixelData = ds.PixelData[: 4 * 8 * 2]
    ds.save_as(last, enforce_file_format=True)
    image = nvcview.load(tmp_path)
    assert image.array.shape == (4, 8, 8)
    assert any(last.name in w and "after the last slice" in w for w in image.meta.warnings)


def test_inconsistent_bits_stored_is_refused(tmp_path):
    series = write_series(tmp_path, shape=(4, 6, 6), bits_stored=12)
    ds = pydicom.dcmread(series.paths[2])
    ds.BitsStored, ds.HighBit = 8, 7
    ds.save_as(series.paths[2], enforce_file_format=True)
    with pytest.raises(InputError, match=f"BitsStored 12 in most, 8 in {series.paths[2].name}"):
        nvcview.load(tmp_path)
