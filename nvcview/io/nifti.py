"""NIfTI in and out through nibabel, converting RAS <-> LPS at the boundary.

NIfTI affines map voxel index to RAS mm; ours map to LPS mm. The conversion is a
sign flip of the first two world axes: ``A_lps = diag(-1, -1, 1, 1) @ A_ras``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nvcview.errors import GeometryError, InputError
from nvcview.fsutil import atomic_path
from nvcview.io.image import Image, SeriesMeta, describe_orientation, make_volume
from nvcview.io.roles import check_role, guess_role_from_name, looks_like_labels

#: NIfTI intent code of a label map (NIFTI_INTENT_LABEL)
NIFTI_INTENT_LABEL = 1002

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".img.gz")


def is_nifti_path(path: str | os.PathLike) -> bool:
    """True when the file name ends like a NIfTI/Analyze file."""
    name = str(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def _check_affine(affine: np.ndarray, path: Path) -> None:
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise GeometryError(f"{path}: NIfTI affine is not a finite 4x4 matrix")
    lin = affine[:3, :3]
    norms = np.linalg.norm(lin, axis=0)
    if np.any(norms < 1e-6) or abs(np.linalg.det(lin)) < 1e-9:
        raise GeometryError(
            f"{path}: NIfTI affine is singular (voxel sizes {np.round(norms, 4).tolist()} mm); "
            "the file has no usable geometry"
        )
    dirs = lin / norms
    skew = float(np.max(np.abs(dirs.T @ dirs - np.eye(3))))
    if skew > 1e-4:  # highdicom volumes are orthogonal grids
        raise GeometryError(
            f"{path}: NIfTI affine is sheared (voxel axes {np.degrees(np.arcsin(min(1.0, skew))):.2f} "
            "degrees from perpendicular); resample the file onto an orthogonal grid"
        )
    if not np.allclose(affine[3], [0, 0, 0, 1]):
        raise GeometryError(f"{path}: NIfTI affine last row is not [0, 0, 0, 1]")


def _raw_pixdim(img) -> np.ndarray:
    """pixdim[1:4] as stored in the file (nibabel silently turns zeros into 1 mm)."""
    import struct

    from nibabel.openers import ImageOpener

    fallback = np.asarray(img.header["pixdim"][1:4], dtype=np.float64)
    try:
        fmap = img.file_map
        with ImageOpener((fmap.get("header") or fmap["image"]).filename) as fh:
            raw = fh.read(348)
    except Exception:  # noqa: BLE001 - in-memory images have no file
        return fallback
    if len(raw) < 108:
        return fallback
    for order in ("<", ">"):
        (size,) = struct.unpack(order + "i", raw[:4])
        if size == 348:  # NIfTI-1: pixdim is float32[8] at byte 76
            return np.asarray(struct.unpack(order + "8f", raw[76:108])[1:4], dtype=np.float64)
    return fallback


def _check_orientation_codes(img, path: Path) -> None:
    """Refuse files that do not say where their voxels are in patient space.

    With sform_code and qform_code both 0 (and in plain Analyze files) nibabel falls back
    to a guessed scaling affine: loading would put the volume at an invented position and
    orientation, possibly mirrored, i.e. a silently wrong volume.
    """
    header = img.header
    import nibabel as nib

    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise GeometryError(
            f"{path}: {type(img).__name__} file without NIfTI orientation; its placement in "
            "patient space is unknown (re-export it as NIfTI from the source tool)"
        )
    if int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0:
        raise GeometryError(
            f"{path}: NIfTI header has no orientation (sform_code and qform_code are both 0), "
            "so its placement in patient space is unknown; re-export it from the source "
            "tool (dcm2niix, 3D Slicer, ITK-SNAP) with its orientation"
        )
    if int(header["sform_code"]) == 0:  # the qform carries the voxel size in pixdim
        pixdim = _raw_pixdim(img)
        if not np.all(np.isfinite(pixdim)) or np.any(pixdim <= 0):
            raise GeometryError(
                f"{path}: NIfTI voxel size pixdim {pixdim.tolist()} is not positive and "
                "the file has no sform, so its voxel size is unknown"
            )


def read_nifti(path: str | os.PathLike, *, dtype=None, role: str | None = None) -> Image:
    """Read a 3D NIfTI file into an :class:`Image` with an index -> LPS mm affine.

    Same parameters, checks and errors as :func:`read_nifti_arrays`, which this wraps
    (the array and affine as a ``highdicom.Volume``).
    """
    data, affine, meta = read_nifti_arrays(path, dtype=dtype, role=role)
    return Image(volume=make_volume(data, affine), meta=meta)


def read_nifti_arrays(
    path: str | os.PathLike, *, dtype=None, role: str | None = None
) -> tuple[np.ndarray, np.ndarray, SeriesMeta]:
    """Read a 3D NIfTI file as an array, its index -> LPS mm affine and its metadata.

    The checks of :func:`read_nifti` without building a ``highdicom.Volume`` (and
    without importing highdicom): for readers that need only the voxels, such as the
    measurement engine's :class:`~nvcview.measure.labelmap.LabelGrid`.

    Parameters
    ----------
    path : path-like
        ``.nii`` or ``.nii.gz`` file.
    dtype : numpy dtype, optional
        Cast the array (after nibabel's scl_slope/inter scaling) to this type.
        By default label-like integer files stay integer and scaled files are float.
    role : str, optional
        One of :data:`~nvcview.io.image.ROLES`, overriding the guess (``meta.role``).
        The guess is "labels" when the header's intent code is NIFTI_INTENT_LABEL or
        the values look like a label map (:func:`nvcview.io.roles.looks_like_labels`),
        else it comes from the file name.

    The array keeps the file's ``(i, j, k)`` axis order and is C-contiguous.

    Raises
    ------
    InputError
        Unreadable file, or not 3D (a 4D file with one volume is accepted).
    GeometryError
        Broken (non-finite or singular) affine.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
    except Exception as exc:  # nibabel raises many kinds
        raise InputError(f"{path}: not a readable NIfTI file ({exc})") from exc
    _check_orientation_codes(img, path)
    affine_ras = np.asarray(img.affine, dtype=np.float64)
    _check_affine(affine_ras, path)
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {tuple(img.shape)}")
    if any(int(s) <= 0 for s in shape):
        raise InputError(
            f"{path}: NIfTI dimensions {tuple(int(s) for s in img.header['dim'][1:4])} "
            "include 0: the file holds no voxels"
        )
    try:
        slope, inter = img.dataobj.slope, img.dataobj.inter
        scaled = not (
            (slope is None or np.isnan(slope) or slope == 1)
            and (inter is None or np.isnan(inter) or inter == 0)
        )
        if dtype is None and not scaled:
            data = np.asarray(img.dataobj.get_unscaled())
        else:
            data = np.asarray(img.get_fdata(dtype=np.float64 if dtype is None else np.float64))
    except Exception as exc:
        raise InputError(f"{path}: pixel data could not be read ({exc})") from exc
    data = data.reshape(shape)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    # nibabel hands out Fortran-ordered arrays: copy once into C order here, so that
    # every Image leaves I/O row-major (scipy.ndimage is several times faster on it)
    data = np.ascontiguousarray(data)
    affine = RAS_TO_LPS @ affine_ras
    meta = SeriesMeta(
        series_description=path.name,
        source_path=str(path),
        n_files=1,
        shape=tuple(int(s) for s in shape),
        spacing_mm=tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0)),
        orientation=describe_orientation(affine),
        role=_nifti_role(img, data, path.name) if role is None else check_role(role),
    )
    return data, affine, meta


def _nifti_role(img, data: np.ndarray, name: str) -> str:
    intent = int(img.header["intent_code"])
    if looks_like_labels(data, intent_label=intent == NIFTI_INTENT_LABEL):
        return "labels"
    return guess_role_from_name(name)


def write_nifti(image, path: str | os.PathLike, *, dtype=None) -> Path:
    """Write an :class:`Image` or ``highdicom.Volume`` to NIfTI atomically.

    The LPS affine is converted to RAS and stored as both sform and qform
    (code 1, scanner), so 3D Slicer, ITK-SNAP, FSL and nibabel agree on placement.

    Returns the path written.
    """
    volume = image.volume if isinstance(image, Image) else image
    array = np.asarray(volume.array)
    if array.ndim != 3:
        raise InputError(f"{path}: can only write 3D volumes, got shape {array.shape}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)
    elif array.dtype in (np.int64, np.uint64):  # nibabel refuses 64-bit integers
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        info = np.iinfo(np.int32)
        if lo < info.min or hi > info.max:
            raise InputError(
                f"{path}: integer values {lo}..{hi} do not fit the 32-bit NIfTI data type"
            )
        array = array.astype(np.int32)
    affine_ras = RAS_TO_LPS @ np.asarray(volume.affine, dtype=np.float64)
    import nibabel as nib

    nii = nib.Nifti1Image(array, affine_ras)
    nii.set_sform(affine_ras, code=1)
    nii.set_qform(affine_ras, code=1)
    nii.header.set_xyzt_units("mm", "sec")
    path = Path(path)
    if not is_nifti_path(path):
        raise InputError(f"{path}: output name must end in .nii or .nii.gz")
    with atomic_path(path) as tmp:
        nib.save(nii, str(tmp))
    return path
