"""MetaImage (``.mha``/``.mhd``) and NRRD (``.nrrd``/``.nhdr``) volumes through SimpleITK.

ITK's physical space is patient LPS mm, ours too: origin, spacing and direction
cosines are taken as they are (ITK's NRRD reader already converts a RAS
``space`` to LPS). SimpleITK's array is ``[k, j, i]`` (last ITK index axis
first), C-contiguous; the affine built here maps that array index to LPS:
column ``a`` of its 3x3 part is ITK axis ``2 - a``'s direction times its spacing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nvcview.errors import GeometryError, InputError
from nvcview.io.image import Image, SeriesMeta, describe_orientation, make_volume
from nvcview.io.roles import check_role, guess_role_from_name, looks_like_labels

ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")

__all__ = ["ITK_SUFFIXES", "is_itk_path", "itk_affine", "read_itk_image"]


def is_itk_path(path: str | os.PathLike) -> bool:
    """True when the file name ends like a MetaImage or NRRD file."""
    return str(path).lower().endswith(ITK_SUFFIXES)


def itk_affine(image) -> np.ndarray:
    """4x4 affine from SimpleITK's array index ``(k, j, i)`` to LPS mm."""
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = (direction * spacing)[:, ::-1]
    affine[:3, 3] = image.GetOrigin()
    return affine


def read_itk_image(path: str | os.PathLike, *, role: str | None = None) -> Image:
    """Read a 3D MetaImage or NRRD file into an :class:`Image` (index -> LPS mm).

    Parameters
    ----------
    path : path-like
        ``.mha``, ``.mhd`` (with its raw file), ``.nrrd`` or ``.nhdr`` file.
    role : str, optional
        One of :data:`~nvcview.io.image.ROLES`, overriding the guess: "labels" when the
        values look like a label map (:func:`nvcview.io.roles.looks_like_labels`),
        else from the file name.

    Returns
    -------
    Image
        Array ``(k, j, i)`` (slice, row, column for a slice stack), C-contiguous, with
        the file's voxel values (no rescaling: these formats have none).

    Raises
    ------
    InputError
        Unreadable file, not a 3D scalar volume.
    GeometryError
        Zero or non-finite spacing, singular or sheared direction matrix.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except Exception as exc:  # ITK raises RuntimeError with a long multi-line text
        first = " ".join(str(exc).split())[-200:]
        raise InputError(f"{path}: not a readable MetaImage/NRRD file ({first})") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{path}: {image.GetNumberOfComponentsPerPixel()} components per voxel; "
            "only scalar volumes are supported"
        )
    size = image.GetSize()
    if image.GetDimension() == 4 and size[3] == 1:
        image = image[:, :, :, 0]
        size = image.GetSize()
    if image.GetDimension() != 3:
        raise InputError(f"{path}: expected a 3D volume, got {image.GetDimension()}D {size}")
    if any(s <= 0 for s in size):
        raise InputError(f"{path}: image size {size} holds no voxels")
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise GeometryError(f"{path}: voxel spacing {spacing.tolist()} mm is not positive")
    affine = itk_affine(image)
    if not np.all(np.isfinite(affine)):
        raise GeometryError(f"{path}: origin or direction is not finite")
    dirs = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    if abs(np.linalg.det(dirs)) < 1e-6 or np.max(np.abs(dirs.T @ dirs - np.eye(3))) > 1e-4:
        raise GeometryError(
            f"{path}: direction matrix is singular or not orthogonal; resample the file "
            "onto an orthogonal grid"
        )
    array = np.ascontiguousarray(sitk.GetArrayFromImage(image))  # a C-ordered copy
    del image
    if role is not None:
        role = check_role(role)
    elif looks_like_labels(array):
        role = "labels"
    else:
        stem = path.name
        for suffix in ITK_SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
        role = guess_role_from_name(stem)
    meta = SeriesMeta(
        series_description=path.name,
        source_path=str(path),
        n_files=1,
        shape=tuple(int(s) for s in array.shape),
        spacing_mm=tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0)),
        orientation=describe_orientation(affine, slice_axis=0),
        role=role,
    )
    return Image(volume=make_volume(array, affine), meta=meta)
