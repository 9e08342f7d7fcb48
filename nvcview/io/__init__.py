"""Imaging I/O: DICOM folders/files and NIfTI into :class:`Image` (LPS affine).

Modules
-------
image
    :class:`Image` (a ``highdicom.Volume`` + :class:`SeriesMeta` + :class:`PatientInfo`),
    affine helpers (``index_to_lps``, ``lps_to_index``, ``describe_orientation``).
discovery
    Header-only scan of a folder/file into per-slice records; skips non-DICOM files,
    DICOMDIR and non-image objects; resolves enhanced multi-frame functional groups.
stacks
    Splits series into stacks (orientation, size, echoes/phases/StackID), orders
    slices along the normal and checks the grid (:class:`stacks.GeometryTolerances`).
pixels
    Threaded pixel reading into one preallocated array, modality rescale applied.
grids
    The one grid rule (``same_grid`` / ``grid_mismatch``, tolerance ``GRID_TOL_VOXELS``)
    and ``conform_to`` / ``same_voxels``: re-index a volume (e.g. a NIfTI label map in
    column/row/slice order) onto a reference grid by permuting/flipping, never resampling.
resample
    Opt-in interpolation of unevenly spaced stacks onto a regular grid.
roles
    Role guess (T2 CISS-like, TOF, T1, other) from headers or file names.
dicom
    ``load_dicom`` / ``list_dicom_series``: the pipeline above with clear errors;
    ``load_dicom_volumes``: every volume of a folder from one header scan.
nifti
    NIfTI in/out through nibabel (RAS on disk, LPS in memory).
itkimage
    MetaImage (.mha/.mhd) and NRRD (.nrrd/.nhdr) through SimpleITK (LPS, like ITK).

Array layout: DICOM volumes are ``(slice, row, column)`` with slices in increasing
position along the normal (row x column direction), like ITK; highdicom's own
``get_volume`` reverses the slice axis. Compare volumes through their affines.
"""

from __future__ import annotations

import os

from nvcview.io.grids import GRID_TOL_VOXELS, conform_to, grid_mismatch, same_grid, same_voxels
from nvcview.io.image import Image, PatientInfo, SeriesMeta, make_volume
from nvcview.io.itkimage import is_itk_path, read_itk_image
from nvcview.io.nifti import is_nifti_path, read_nifti, write_nifti

__all__ = [
    "GRID_TOL_VOXELS",
    "Image",
    "PatientInfo",
    "SeriesMeta",
    "conform_to",
    "grid_mismatch",
    "list_series",
    "load",
    "make_volume",
    "read_itk_image",
    "read_nifti",
    "same_grid",
    "same_voxels",
    "write_nifti",
]


def load(
    path: str | os.PathLike,
    series_uid: str | None = None,
    *,
    allow_resample: bool = False,
    role: str | None = None,
) -> Image:
    """Load one volume from a DICOM folder/file, a NIfTI, MetaImage or NRRD file.

    Parameters
    ----------
    path : path-like
        A folder (searched recursively), a DICOM file (single- or multi-frame),
        a ``.nii``/``.nii.gz`` file, or a ``.mha``/``.mhd``/``.nrrd``/``.nhdr`` file.
    series_uid : str, optional
        SeriesInstanceUID (or volume id from :func:`list_series`) to choose when
        the path holds several volumes.
    allow_resample : bool
        DICOM only: interpolate a stack with uneven slice spacing or missing slices
        onto a regular grid (with a warning in ``meta.warnings``) instead of raising
        :class:`~nvcview.errors.GeometryError`.
    role : str, optional
        One of :data:`~nvcview.io.image.ROLES` ("T2", "TOF", "T1", "labels", "other"):
        what the volume is, overriding the guess in ``meta.role`` (e.g. an 8-bit
        angiogram that the value rule would take for a label map, or the reverse).

    Returns
    -------
    Image
        ``image.volume`` is a ``highdicom.Volume`` whose affine maps array index to
        patient LPS mm, C-contiguous. DICOM arrays are ``(slice, row, column)``;
        NIfTI arrays keep the file's ``(i, j, k)`` order; MetaImage/NRRD arrays are
        SimpleITK's ``(k, j, i)``.

    Raises
    ------
    nvcview.errors.AmbiguousSeriesError
        Several volumes and no ``series_uid``: the message and ``.candidates`` list them.
    nvcview.errors.GeometryError
        Missing slice, uneven spacing, inconsistent orientation or pixel spacing,
        missing ImagePositionPatient/ImageOrientationPatient, broken NIfTI affine.
    nvcview.errors.InputError
        Nothing readable, truncated/undecodable file, a single 2D image, unknown series.
    """
    if is_nifti_path(path) and os.path.isfile(path):
        return read_nifti(path, role=role)
    if is_itk_path(path) and os.path.isfile(path):
        return read_itk_image(path, role=role)
    from nvcview.io.dicom import load_dicom

    return load_dicom(path, series_uid=series_uid, allow_resample=allow_resample, role=role)


def list_series(path: str | os.PathLike) -> list[SeriesMeta]:
    """Describe every volume under ``path`` from headers only (no pixel data read)."""
    if is_nifti_path(path) and os.path.isfile(path):
        return [read_nifti(path).meta]
    if is_itk_path(path) and os.path.isfile(path):
        return [read_itk_image(path).meta]
    from nvcview.io.dicom import list_dicom_series

    return list_dicom_series(path)
