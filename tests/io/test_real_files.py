"""Real files shipped with nibabel and pydicom: they load, or are refused clearly."""

from __future__ import annotations

import gzip
import os
import shutil

import highdicom as hd
import nibabel
import numpy as np
import pydicom
import pydicom.data
import pytest
from dicom_factory import assert_same_world
from pydicom.data import get_testdata_file

import nvcview
from nvcview.errors import InputError
from nvcview.io.discovery import read_file_records
from nvcview.io.pixels import read_stack_pixels

NICOM = os.path.join(os.path.dirname(nibabel.__file__), "nicom", "tests", "data")
NIB_DATA = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")

MR_SMALL = [
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_expb.dcm",
    "MR_small_padded.dcm",
]


def test_philips_enhanced_mprage(tmp_path):
    path = tmp_path / "philips_mprage.dcm"
    with gzip.open(os.path.join(NICOM, "philips_mprage.dcm.gz")) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (meta,) = nvcview.list_series(path)
    assert meta.shape == (176, 256, 256)
    assert meta.orientation == "sagittal oblique"
    image = nvcview.load(path)
    ref = hd.Image.from_dataset(pydicom.dcmread(path)).get_volume()
    assert_same_world(
        image.array, image.affine, ref.array, ref.affine, label="highdicom", sample=20000
    )
    np.testing.assert_allclose(sorted(image.spacing_mm), sorted(ref.spacing), atol=1e-4)


@pytest.mark.parametrize("name", MR_SMALL)
def test_pydicom_mr_small_decodes_and_is_refused_as_volume(name):
    path = get_testdata_file(name)
    (meta,) = nvcview.list_series(path)
    assert meta.shape == (1, 64, 64)
    assert meta.orientation == "axial"
    with pytest.raises(InputError, match=f"{name}.*single 2D image .*not a volume"):
        nvcview.load(path)
    # the pixel path still decodes every transfer syntax like pydicom does
    records, _, _ = read_file_records(path)
    ours = read_stack_pixels(records)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(
        ds.get("RescaleIntercept", 0)
    )
    np.testing.assert_array_equal(ours[0], expected)


def test_pydicom_truncated():
    path = get_testdata_file("MR_truncated.dcm")
    with pytest.raises(InputError, match="MR_truncated.dcm: truncated file"):
        nvcview.load(path)


def test_pydicom_rtplan_is_not_an_image():
    path = get_testdata_file("rtplan.dcm")
    with pytest.raises(InputError, match="rtplan.dcm: non-image object"):
        nvcview.load(path)


def test_nibabel_anatomical_nifti():
    path = os.path.join(NIB_DATA, "anatomical.nii")
    image = nvcview.load(path)
    nii = nibabel.load(path)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ nii.affine
    np.testing.assert_allclose(image.affine, lps)
    np.testing.assert_array_equal(image.array, np.asarray(nii.dataobj))
    (meta,) = nvcview.list_series(path)
    assert meta.shape == image.array.shape


def test_pydicom_dicomdir_tree(caplog):
    """pydicom's DICOMDIR test tree: DICOMDIRs skipped, header-only files named, CT loads."""
    from references import sitk_series

    root = os.path.join(os.path.dirname(pydicom.data.__file__), "test_files", "dicomdirtests")
    with caplog.at_level("INFO", logger="nvcview"):
        metas = nvcview.list_series(root)
    assert all("DICOMDIR" not in m.source_path for m in metas)
    # the 50 TINY_ALPHA files stop before their pixel data: one log line, not fifty,
    # and each listed volume says so in its warnings
    warnings = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "50 unreadable file(s)" in warnings[0].getMessage()
    assert all(any("unreadable file(s) skipped" in w for w in m.warnings) for m in metas)
    volumes = [m for m in metas if not any(w.startswith("not loadable") for w in m.warnings)]
    volumes = [m for m in volumes if m.shape[0] > 1]
    assert [(m.modality, m.shape, m.orientation) for m in volumes] == [("CT", (5, 16, 16), "axial")]
    (ct,) = volumes
    image = nvcview.load(root, series_uid=ct.volume_id)
    arr, aff = sitk_series(ct.source_path, ct.series_uid)
    assert_same_world(image.array, image.affine, arr, aff, label="SimpleITK")
    # a CT series with most slices removed is refused as a missing-slice stack
    broken = [m for m in metas if any("missing slice" in w for w in m.warnings)]
    assert broken and broken[0].modality == "CT"


NICOM_FILES = sorted(
    f for f in os.listdir(NICOM) if f.endswith((".dcm", ".dcm.gz")) and "mprage" not in f
)


@pytest.mark.parametrize("name", NICOM_FILES)
def test_nibabel_dicom_files_load_or_are_refused_clearly(tmp_path, name):
    """Every DICOM file of nibabel's nicom test data: a listing, and load either gives a
    volume or raises InputError naming the file (never another exception)."""
    src = os.path.join(NICOM, name)
    path = tmp_path / name.removesuffix(".gz")
    opener = gzip.open if name.endswith(".gz") else open
    with opener(src, "rb") as fin, open(path, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    try:
        metas = nvcview.list_series(path)
    except InputError as exc:
        assert path.name in str(exc)
        return
    assert metas and all(m.shape for m in metas)
    if any(m.loadable for m in metas):
        image = nvcview.load(path)
        assert image.array.ndim == 3 and image.array.shape[0] > 1
    else:
        with pytest.raises(InputError, match=path.name):
            nvcview.load(path)
