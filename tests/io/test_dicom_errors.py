"""Bad input: a clear error naming the file or series, never a silently wrong volume."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_factory import assert_same_world, write_series

import nvcview
from nvcview.errors import GeometryError, InputError


def _edit(path, **changes):
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="nowhere: no such file or folder"):
        nvcview.load(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match=f"{tmp_path}: no DICOM image files found"):
        nvcview.load(tmp_path)
    with pytest.raises(InputError, match="no DICOM image files found"):
        nvcview.list_series(tmp_path)


def test_folder_without_dicom(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"no DICOM image files found \(2 file\(s\) looked at"):
        nvcview.load(tmp_path)


def test_truncated_header_single_file(tmp_path):
    series = write_series(tmp_path, shape=(3, 8, 8))
    raw = series.paths[0].read_bytes()
    series.paths[0].write_bytes(raw[:300])  # cut inside the header
    with pytest.raises(InputError, match=f"{series.paths[0].name}: unreadable or truncated"):
        nvcview.load(series.paths[0])


def test_truncated_header_in_folder_is_named(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    raw = series.paths[2].read_bytes()
    series.paths[2].write_bytes(raw[:300])
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    # the hole it leaves is a missing slice, and the culprit file is named
    assert "missing slice" in str(err.value)
    assert series.paths[2].name in str(err.value)


def test_truncated_pixel_data(tmp_path):
    series = write_series(tmp_path, shape=(5, 8, 8))
    raw = series.paths[3].read_bytes()
    series.paths[3].write_bytes(raw[:-40])  # cut inside the pixel data
    with pytest.raises(InputError, match=f"{series.paths[3].name}: truncated file"):
        nvcview.load(tmp_path)
    (meta,) = nvcview.list_series(tmp_path)
    assert "truncated" in meta.warnings[0]
    assert not meta.loadable


def test_truncated_compressed_pixel_data(tmp_path):
    from pydicom.uid import RLELossless

    series = write_series(tmp_path, shape=(4, 8, 8), compress=RLELossless)
    raw = series.paths[1].read_bytes()
    series.paths[1].write_bytes(raw[: len(raw) - 60])
    with pytest.raises(InputError, match=series.paths[1].name):
        nvcview.load(tmp_path)


def test_missing_slice(tmp_path):
    series = write_series(tmp_path, shape=(8, 8, 8), order="shuffle")
    sorted_paths = sorted(
        series.paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    sorted_paths[4].unlink()
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    msg = str(err.value)
    assert series.series_uid in msg
    assert "missing slice(s): gap of 1.400 mm" in msg and "spacing is 0.700 mm" in msg


def test_uneven_spacing(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    for i, p in enumerate(series.paths):
        ds = pydicom.dcmread(p)
        z = float(ds.ImagePositionPatient[2]) + (0.15 if i % 2 else 0.0)
        _edit(p, ImagePositionPatient=[*ds.ImagePositionPatient[:2], f"{z:.4f}"])
    with pytest.raises(GeometryError, match=f"{series.series_uid}: uneven slice spacing"):
        nvcview.load(tmp_path)


def test_inconsistent_orientation(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    c, s = np.cos(np.radians(3)), np.sin(np.radians(3))
    _edit(series.paths[2], ImageOrientationPatient=[c, s, 0, -s, c, 0])
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    msg = str(err.value)
    assert "inconsistent ImageOrientationPatient" in msg and "3.00 degrees" in msg
    assert series.paths[2].name in msg


def test_orientation_jitter_tolerated_with_warning(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    _edit(series.paths[1], ImageOrientationPatient=[1, 0.0005, 0, -0.0005, 1, 0])
    image = nvcview.load(tmp_path)
    assert any("orientation cosines vary" in w for w in image.meta.warnings)
    assert_same_world(image.array, image.affine, series.values, series.affine, atol_mm=0.02)


def test_inconsistent_pixel_spacing(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    _edit(series.paths[4], PixelSpacing=[0.55, 0.6])
    with pytest.raises(GeometryError, match=f"inconsistent PixelSpacing .*{series.paths[4].name}"):
        nvcview.load(tmp_path)


@pytest.mark.parametrize("attr", ["ImagePositionPatient", "ImageOrientationPatient"])
def test_missing_position_or_orientation(tmp_path, attr):
    series = write_series(tmp_path, shape=(5, 8, 8))
    _edit(series.paths[1], **{attr: None})
    with pytest.raises(GeometryError, match=f"{series.paths[1].name} has no {attr}"):
        nvcview.load(tmp_path)


def test_repeated_positions_without_discriminator(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path, shape=(4, 8, 8), series_uid=uid, prefix="A")
    write_series(tmp_path, shape=(4, 8, 8), series_uid=uid, prefix="B", seed=2)
    with pytest.raises(GeometryError, match="8 slices at only 4 distinct positions"):
        nvcview.load(tmp_path)


def test_secondary_capture_2d(tmp_path):
    series = write_series(tmp_path, shape=(1, 8, 8))
    _edit(series.paths[0], ImagePositionPatient=None, ImageOrientationPatient=None)
    with pytest.raises(InputError, match="single 2D image .*not a volume"):
        nvcview.load(tmp_path)


def test_non_image_single_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("no")
    with pytest.raises(InputError, match="x.txt: not a DICOM file, not a DICOM image"):
        nvcview.load(path)


def test_missing_slice_resampled_when_allowed(tmp_path):
    series = write_series(tmp_path, shape=(8, 8, 8), order="reverse")
    by_z = sorted(series.paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    by_z[4].unlink()
    with pytest.raises(GeometryError, match="allow_resample=True"):
        nvcview.load(tmp_path)
    image = nvcview.load(tmp_path, allow_resample=True)
    assert image.array.shape == (8, 8, 8)
    assert image.meta.warnings[0].startswith("resampled: 7 unevenly spaced slices")
    assert "1 slice(s) are interpolated" in image.meta.warnings[0]
    kept = [0, 1, 2, 3, 5, 6, 7]
    np.testing.assert_allclose(image.affine, series.affine, atol=1e-6)
    np.testing.assert_array_equal(image.array[kept], series.values[kept])
    np.testing.assert_allclose(image.array[4], (series.values[3] + series.values[5]) / 2, rtol=1e-6)


def test_sheared_stack_is_not_resampled(tmp_path):
    series = write_series(tmp_path, shape=(6, 8, 8))
    for i, p in enumerate(series.paths):  # slices drift sideways: no regular grid, no line
        ds = pydicom.dcmread(p)
        x = float(ds.ImagePositionPatient[0]) + 0.3 * i * i
        _edit(p, ImagePositionPatient=[f"{x:.4f}", *ds.ImagePositionPatient[1:]])
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path, allow_resample=True)
    assert "allow_resample" not in str(err.value)


def test_mixed_frame_of_reference_warns(tmp_path):
    series = write_series(tmp_path, shape=(4, 6, 6))
    _edit(series.paths[2], FrameOfReferenceUID=pydicom.uid.generate_uid())
    image = nvcview.load(tmp_path)
    assert any("2 different FrameOfReferenceUIDs" in w for w in image.meta.warnings)
    assert_same_world(image.array, image.affine, series.values, series.affine)


def test_random_bytes_are_not_dicom_and_quiet(tmp_path, recwarn):
    rng = np.random.default_rng(0)
    for i in range(60):
        data = rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        prefix = (b"", b"\x08\x00\x05\x00", b"\x02\x00\x10\x00UI")[i % 3]
        (tmp_path / f"f{i}").write_bytes(prefix + data)
    with pytest.raises(InputError, match=r"no DICOM image files found \(60 file\(s\)"):
        nvcview.list_series(tmp_path)
    assert len(recwarn) == 0, [str(w.message)[:80] for w in recwarn]


def test_monochrome1_flagged(tmp_path):
    series = write_series(tmp_path, shape=(3, 6, 6))
    for p in series.paths:
        _edit(p, PhotometricInterpretation="MONOCHROME1")
    image = nvcview.load(tmp_path)
    assert any(w.startswith("MONOCHROME1") for w in image.meta.warnings)
    # values are not inverted: the same numbers at the same places
    assert_same_world(image.array, image.affine, series.values, series.affine)


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    """A file that cannot be opened (permissions, I/O error) is reported, not skipped."""
    import nvcview.io.discovery as discovery

    series = write_series(tmp_path, shape=(4, 6, 6))
    real = discovery._read_header
    bad = str(series.paths[1])

    def flaky(path, keep=None):
        if path == bad:
            raise PermissionError(13, "Permission denied", path)
        return real(path, keep)

    monkeypatch.setattr(discovery, "_read_header", flaky)
    with pytest.raises(GeometryError) as err:
        nvcview.load(tmp_path)
    assert "missing slice" in str(err.value) and series.paths[1].name in str(err.value)
    with pytest.raises(InputError, match="IM0002.dcm: cannot be read \\(Permission denied\\)"):
        nvcview.load(series.paths[1])


def test_file_vanishing_before_pixels_are_read(tmp_path, monkeypatch):
    import nvcview.io.dicom as dicom

    series = write_series(tmp_path, shape=(4, 6, 6))
    real = dicom.discover

    def then_delete(*args, **kwargs):
        out = real(*args, **kwargs)
        series.paths[3].unlink()
        return out

    monkeypatch.setattr(dicom, "discover", then_delete)
    with pytest.raises(InputError, match="IM0004.dcm: cannot be read"):
        nvcview.load(tmp_path)


def test_short_stack_missing_slice_resampled_on_the_acquired_grid(tmp_path):
    series = write_series(tmp_path, shape=(4, 6, 6))
    series.paths[1].unlink()  # positions 0, 1.4, 2.1 mm: gaps 1.4 and 0.7
    image = nvcview.load(tmp_path, allow_resample=True)
    assert image.array.shape == (4, 6, 6)
    np.testing.assert_allclose(image.affine, series.affine, atol=1e-6)
    np.testing.assert_array_equal(image.array[[0, 2, 3]], series.values[[0, 2, 3]])


def test_slightly_non_orthogonal_cosines_are_orthogonalised(tmp_path):
    """Rounded cosines (row . column = 5e-4) load, instead of highdicom's unnamed ValueError."""
    series = write_series(tmp_path, shape=(6, 8, 8))
    for path in series.paths:
        _edit(path, ImageOrientationPatient=[1, 0, 0, 0.0005, 1, 0])
    image = nvcview.load(tmp_path)
    lin = image.affine[:3, :3] / np.linalg.norm(image.affine[:3, :3], axis=0)
    np.testing.assert_allclose(lin.T @ lin, np.eye(3), atol=1e-6)
    assert any("orthogonalised" in w for w in image.meta.warnings)
    assert_same_world(image.array, image.affine, series.values, series.affine, atol_mm=0.02)


def test_rounded_positions_of_a_short_oblique_stack_load(tmp_path):
    """IPP rounded to 3 decimals tilts the slice step slightly: still the oblique grid."""
    series = write_series(tmp_path, shape=(4, 8, 8), tilt_deg=(13, 7, 3), spacing=(0.5, 0.4, 0.4))
    for p in series.paths:
        ds = pydicom.dcmread(p)
        _edit(p, ImagePositionPatient=[f"{float(v):.3f}" for v in ds.ImagePositionPatient])
    image = nvcview.load(tmp_path)
    assert_same_world(image.array, image.affine, series.values, series.affine, atol_mm=0.01)


def test_slow_lateral_drift_is_a_sheared_stack(tmp_path):
    """0.008 mm sideways per slice (0.09 mm over the stack) is no grid: a GeometryError."""
    series = write_series(tmp_path, shape=(12, 8, 8))
    for i, p in enumerate(series.paths):
        ds = pydicom.dcmread(p)
        x = float(ds.ImagePositionPatient[0]) + 0.008 * i
        _edit(p, ImagePositionPatient=[f"{x:.4f}", *ds.ImagePositionPatient[1:]])
    with pytest.raises(GeometryError, match="sheared stack"):
        nvcview.load(tmp_path)
