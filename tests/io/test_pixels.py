"""Pixel values: modality rescale, output dtype, bits above BitsStored."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_factory import write_series

import nvcview
from nvcview.io.discovery import FrameRecord
from nvcview.io.pixels import output_dtype


def _rec(**kw) -> FrameRecord:
    return FrameRecord(path="x.dcm", **kw)


@pytest.mark.parametrize(
    "records, expected",
    [
        ([_rec(bits_allocated=16, bits_stored=12)], np.uint16),
        ([_rec(bits_allocated=16, bits_stored=12, intercept=-1024.0)], np.int16),
        ([_rec(bits_allocated=16, bits_stored=16, intercept=-1024.0)], np.int32),
        ([_rec(bits_allocated=16, pixel_representation=1, slope=2.0)], np.int32),
        ([_rec(bits_allocated=16, slope=0.5)], np.float32),
        ([_rec(slope=1.0), _rec(slope=2.1)], np.float32),  # per-slice scaling (Philips)
        ([_rec(bits_allocated=8, bits_stored=8)], np.uint8),
    ],
)
def test_output_dtype(records, expected):
    assert output_dtype(records) == np.dtype(expected)


@pytest.mark.parametrize("signed", [False, True])
def test_bits_above_bits_stored(tmp_path, signed):
    """Unsigned: high bits (old overlays) cleared; signed: 12-bit values sign-extended."""
    dtype = np.int16 if signed else np.uint16
    raw = np.full((3, 4, 4), 0x0FFF, dtype=np.uint16)
    raw[:, 0, 0] = 0xF123  # garbage in the top nibble
    raw[:, 1, 1] = 0x0800  # most negative 12-bit value when signed
    series = write_series(
        tmp_path, shape=(3, 4, 4), dtype=dtype, bits_stored=12, stored=raw.view(dtype)
    )
    image = nvcview.load(tmp_path)
    expected = np.stack([pydicom.dcmread(p).pixel_array for p in series.paths])
    np.testing.assert_array_equal(image.array, expected)
    if signed:
        assert image.array[0, 2, 2] == -1 and image.array[0, 1, 1] == -2048
    else:
        assert image.array[0, 0, 0] == 0x123 and image.array[0, 2, 2] == 4095
