"""Damaged headers in nvcview.io.discovery: each file named, nothing allocated from lies."""

from __future__ import annotations

import resource

import numpy as np
import pydicom
import pytest
from dicom_factory import assert_same_world, write_enhanced, write_series
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.uid import RLELossless

import nvcview
from nvcview.errors import InputError


def _set_raw(path, keyword, vr, value: bytes):
    ds = pydicom.dcmread(path)
    tag = pydicom.tag.Tag(tag_for_keyword(keyword))
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.IGNORE)
        ds.save_as(path, enforce_file_format=True)


def _edit(path, **changes):
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00UY"),  # unknown VR in SOPInstanceUID
        (b"\x20\x00\x32\x00DS", b"\x20\x00\x32\x00DX"),  # DS -> DX in ImagePositionPatient
    ],
)
def test_unknown_vr_in_one_file_is_named_in_load_info_and_convert(tmp_path, old, new):
    import subprocess
    import sys

    series = write_series(tmp_path / "s", shape=(5, 8, 8))
    bad = series.paths[2]
    raw = bad.read_bytes()
    assert old in raw
    bad.write_bytes(raw.replace(old, new, 1))
    with pytest.raises(InputError) as err:
        nvcview.load(tmp_path / "s")
    assert bad.name in str(err.value)
    metas = nvcview.list_series(tmp_path / "s")
    assert any(bad.name in w for m in metas for w in m.warnings)
    for args in (["info", tmp_path / "s"], ["convert", tmp_path / "s", tmp_path / "o.nii"]):
        res = subprocess.run(
            [sys.executable, "-m", "nvcview", *map(str, args)], capture_output=True, text=True
        )
        assert "Traceback" not in res.stderr
        assert bad.name in res.stdout + res.stderr


def test_unknown_vr_in_an_end_slice_loads_the_rest_with_a_warning(tmp_path):
    series = write_series(tmp_path, shape=(5, 8, 8))
    bad = series.paths[-1]  # normal order: the last file is the last slice
    raw = bad.read_bytes()
    bad.write_bytes(raw.replace(b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00UY", 1))
    image = nvcview.load(tmp_path)
    assert image.array.shape == (4, 8, 8)
    assert any(bad.name in w and "unreadable" in w for w in image.meta.warnings)


@pytest.mark.parametrize(
    ("vr", "value", "message"),
    [
        ("US", (0).to_bytes(2, "little"), "Rows is 0"),
        ("SS", (-8).to_bytes(2, "little", signed=True), "Rows is -8"),
    ],
)
def test_rows_zero_or_negative_is_named(tmp_path, vr, value, message):
    series = write_series(tmp_path, shape=(3, 8, 8))
    _set_raw(series.paths[0], "Rows", vr, value)
    with pytest.raises(
        InputError, match=f"{series.paths[0].name}: unusable DICOM header: {message}"
    ):
        nvcview.load(series.paths[0])


@pytest.mark.parametrize("value", [b"0 ", b"twelve"])
def test_bad_number_of_frames_is_not_called_a_2d_image(tmp_path, value):
    path = tmp_path / "enh.dcm"
    write_enhanced(path, shape=(4, 6, 6))
    _set_raw(path, "NumberOfFrames", "IS", value)
    with pytest.raises(InputError, match="NumberOfFrames") as err:
        nvcview.load(path)
    assert "single 2D image" not in str(err.value) and "enh.dcm" in str(err.value)


def _limit_memory(extra=1 << 30):
    """Cap this process's address space at what it maps now plus ``extra`` (restored after)."""
    import os

    with open("/proc/self/statm") as fh:
        mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    old = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, old[1]))
    return old


def test_huge_declared_sizes_are_refused_before_allocating(tmp_path):
    enh = tmp_path / "a" / "enh.dcm"
    write_enhanced(enh, shape=(4, 6, 6))
    _edit(enh, Rows=65535, Columns=65535)
    frames = tmp_path / "b" / "enh.dcm"
    write_enhanced(frames, shape=(4, 6, 6))
    _set_raw(frames, "NumberOfFrames", "IS", b"2147483647")
    rle = write_series(tmp_path / "c", shape=(3, 8, 8), compress=RLELossless)
    for p in rle.paths:
        _edit(p, Rows=65535, Columns=65535)
    old = _limit_memory()
    try:
        with pytest.raises(InputError, match="enh.dcm: unusable DICOM header: pixel data holds"):
            nvcview.load(enh)
        with pytest.raises(InputError, match=r"holds 288 bytes but .* 2147483647 frame\(s\)"):
            nvcview.load(frames)
        with pytest.raises(InputError, match="RLE data .* cannot decode to more than") as err:
            nvcview.load(rle.paths[0])
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)
    assert "\n" not in str(err.value)


def test_legacy_multiframe_is_not_loaded_as_its_first_frame(tmp_path):
    series = write_series(tmp_path, shape=(1, 8, 8))
    ds = pydicom.dcmread(series.paths[0])
    ds.NumberOfFrames = 4
    ds.PixelData = np.zeros((4, 8, 8), np.uint16).tobytes()
    ds.save_as(series.paths[0], enforce_file_format=True)
    with pytest.raises(InputError, match="multi-frame image \\(4 frames\\) without per-frame"):
        nvcview.load(tmp_path)


def test_last_slice_without_rows_is_named(tmp_path):
    series = write_series(tmp_path, shape=(5, 8, 8))
    _edit(series.paths[-1], Rows=None)
    image = nvcview.load(tmp_path)
    assert image.array.shape == (4, 8, 8)
    assert any(series.paths[-1].name in w for w in image.meta.warnings)
    with pytest.raises(InputError, match="holds pixel data but no Rows"):
        nvcview.load(series.paths[-1])


def test_rows_smaller_than_pixel_data_warns_what_was_assumed(tmp_path):
    series = write_series(tmp_path, shape=(3, 8, 8))
    for p in series.paths:
        _edit(p, Rows=7)
    image = nvcview.load(tmp_path)
    assert image.array.shape == (3, 7, 8)
    assert any("16 bytes more" in w and "padding" in w for w in image.meta.warnings)


def test_missing_pixel_representation_takes_the_other_slices_value(tmp_path):
    series = write_series(tmp_path, shape=(4, 6, 6), dtype=np.int16)
    _edit(series.paths[1], PixelRepresentation=None)
    image = nvcview.load(tmp_path)
    assert_same_world(image.array, image.affine, series.values, series.affine)
    assert any(
        series.paths[1].name in w and "signed (as in the other slices)" in w
        for w in image.meta.warnings
    )
    for p in series.paths:
        if "PixelRepresentation" in pydicom.dcmread(p):
            _edit(p, PixelRepresentation=None)
    image = nvcview.load(tmp_path)
    assert any("missing in every file" in w and "unsigned" in w for w in image.meta.warnings)


def test_header_longer_than_first_read_is_parsed_once(tmp_path, monkeypatch):
    from nvcview.io import discovery

    series = write_series(tmp_path, shape=(3, 8, 8))
    for p in series.paths:
        ds = pydicom.dcmread(p)
        block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        block.add_new(0x10, "OB", bytes(range(256)) * 200)  # 51 KB
        ds.save_as(p, enforce_file_format=True)
    calls = []
    real = discovery._parse_header
    monkeypatch.setattr(discovery, "_parse_header", lambda fh: calls.append(1) or real(fh))
    image = nvcview.load(tmp_path)
    assert_same_world(image.array, image.affine, series.values, series.affine)
    assert len(calls) == 3
