"""Independent readers used as references: SimpleITK (GDCM) and the dcm2niix binary.

Both return ``(array, affine)`` with the affine mapping *their* array index to LPS mm,
so volumes are compared in world space, never by assuming an array order.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def sitk_affine(img: sitk.Image) -> np.ndarray:
    """Affine from SimpleITK's numpy index ``[k, j, i]`` to LPS mm."""
    direction = np.array(img.GetDirection()).reshape(3, 3)
    lin = direction * np.array(img.GetSpacing())  # maps (i, j, k)
    affine = np.eye(4)
    affine[:3, :3] = lin[:, ::-1]  # numpy order is (k, j, i)
    affine[:3, 3] = img.GetOrigin()
    return affine


def sitk_series(folder: Path, series_uid: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a series with SimpleITK's ImageSeriesReader (files sorted by GDCM)."""
    if series_uid is None:
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    else:
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    img = reader.Execute()
    return sitk.GetArrayFromImage(img), sitk_affine(img)


def sitk_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one (multi-frame) file with SimpleITK's ImageFileReader."""
    img = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(img), sitk_affine(img)


def dcm2niix(folder: Path, out: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Convert ``folder`` with the dcm2niix binary; return (name, array, LPS affine) per NIfTI.

    ``array`` is scaled with the NIfTI scl_slope/scl_inter (float64).
    """
    exe = shutil.which("dcm2niix")
    assert exe, "dcm2niix binary not on PATH (pip install dcm2niix)"
    out.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        [exe, "-z", "n", "-b", "n", "-f", "s%s_e%e_%j", "-o", str(out), str(folder)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    found = []
    for nii in sorted(out.glob("*.nii")):
        img = nib.load(str(nii))
        data = np.asarray(img.get_fdata(dtype=np.float64))
        while data.ndim > 3 and data.shape[-1] == 1:
            data = data[..., 0]
        found.append((nii.name, data, RAS_TO_LPS @ img.affine))
    assert found, res.stdout + res.stderr
    return found
