"""File sniffing: which paths nvcview can open, and what each volume is.

Headers and names only (no pixel decoding) in :func:`is_dicom_file` and
:func:`is_image_path`; :func:`load_images` loads every volume under a path with
its display role.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nvcview.errors import InputError
from nvcview.io.image import Image

__all__ = ["guess_role", "is_dicom_file", "is_image_path", "load_images"]

log = logging.getLogger(__name__)


def guess_role(image: Image) -> str:
    """Display role of a volume: "T2", "TOF", "labels" or "other" (headers, then names)."""
    role = image.meta.role or "other"
    if role in ("T2", "TOF", "labels"):
        return role
    text = f"{image.meta.series_description} {image.meta.source_path}".lower()
    if "tof" in text or "angio" in text:
        return "TOF"
    if any(k in text for k in ("ciss", "fiesta", "space", "drive", "t2")):
        return "T2"
    return role


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True for a file with the DICOM preamble (``DICM`` at byte 128) or a .dcm/.ima name."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or p.suffix.lower() in (".dcm", ".ima")


def is_image_path(path: str | os.PathLike, limit: int = 2000) -> bool:
    """Whether nvcview can open ``path``: a review folder, DICOM, NIfTI, MetaImage or
    NRRD file, or a folder with one of those among its first ``limit`` entries."""
    from nvcview.io.itkimage import is_itk_path
    from nvcview.io.nifti import is_nifti_path

    p = Path(path)
    if p.is_dir():
        if (p / "review.json").exists():
            return True
        for n, q in enumerate(p.rglob("*")):
            if n >= limit:
                return False
            if q.is_file() and (is_nifti_path(q) or is_dicom_file(q)):
                return True
        return False
    return p.name == "review.json" or is_nifti_path(p) or is_itk_path(p) or is_dicom_file(p)


def load_images(path: str | os.PathLike) -> list[tuple[str, Image]]:
    """Load every volume under ``path`` with a display role guessed from its headers.

    Parameters
    ----------
    path : path-like
        A NIfTI, MetaImage or NRRD file, a DICOM file, or a folder (searched recursively). A folder
        with DICOM images gives its DICOM volumes; one without gives its NIfTI files.

    Returns
    -------
    list of (role, Image)
        Role is "T2", "TOF", "labels" or "other".
    """
    from nvcview.io.dicom import load_dicom_volumes
    from nvcview.io.itkimage import is_itk_path, read_itk_image
    from nvcview.io.nifti import is_nifti_path, read_nifti

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_file() and is_nifti_path(p):
        img = read_nifti(p)
        return [(guess_role(img), img)]
    if p.is_file() and is_itk_path(p):
        img = read_itk_image(p)
        return [(guess_role(img), img)]
    try:
        # one header scan of the whole path: the volumes are read from what it found
        images, unloadable = load_dicom_volumes(p)
    except InputError:
        # no DICOM: a folder of NIfTI files (sorted by name) is a study too
        niftis = sorted(q for q in p.rglob("*") if q.is_file() and is_nifti_path(q))
        if not (p.is_dir() and niftis):
            raise
        return [(guess_role(img), img) for img in map(read_nifti, niftis)]
    skipped = []
    for meta in unloadable:  # 2D images, localizers, stacks refused for their geometry
        skipped.append(f"{meta.series_description or meta.series_uid}: {meta.warnings}")
        log.warning("skipping a volume that cannot be loaded: %s", meta.warnings)
    if not images:
        raise InputError(f"{p}: no loadable 3D volume; " + "; ".join(skipped))
    return [(guess_role(img), img) for img in images]
