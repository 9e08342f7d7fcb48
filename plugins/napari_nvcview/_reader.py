"""npe2 reader: DICOM folders/files, NIfTI files and nvcview review folders.

Thin: :func:`nvcview.layers_model.open_study` does the loading; this module only
turns the session into layers (T2 grey, TOF red additive, labels by type colour).
A folder with several series loads every volume as a layer; the review widget
takes the first T2 and TOF and its series picker chooses among the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from napari_nvcview.layers import LayerDataTuple, image_layer, session_layers
from nvcview.errors import InputError
from nvcview.io.nifti import is_nifti_path
from nvcview.layers_model import load_images, open_study


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".ima")


def _dir_has_images(folder: Path, limit: int = 2000) -> bool:
    """True when a folder holds a review or, among its first files, DICOM or NIfTI."""
    if (folder / "review.json").exists():
        return True
    for n, p in enumerate(folder.rglob("*")):
        if n >= limit:
            return False
        if p.is_file() and (is_nifti_path(p) or _is_dicom_file(p)):
            return True
    return False


def napari_get_reader(path: str | list[str]) -> Callable[[str | list[str]], list] | None:
    """Return :func:`read_study` when nvcview can open ``path``, else None."""
    paths = [path] if isinstance(path, str) else list(path)
    if not paths:
        return None
    for p in map(Path, paths):
        if p.is_dir():
            if not _dir_has_images(p):
                return None
            continue
        if not (is_nifti_path(p) or _is_dicom_file(p)):
            return None
    return read_study


def read_study(path: str | list[str]) -> list[LayerDataTuple]:
    """Read a study (or several files) into napari layer data tuples.

    Parameters
    ----------
    path : str or list of str
        Review folder, study / series folder, DICOM file or NIfTI file(s).

    Returns
    -------
    list of LayerDataTuple
    """
    paths = [path] if isinstance(path, str) else list(path)
    layers: list[LayerDataTuple] = []
    for p in paths:
        if (Path(p) / "review.json").exists() or Path(p).name == "review.json":
            layers.extend(session_layers(open_study(p)))
        else:
            # every volume found; the widget takes the first T2 and TOF, the
            # others wait in its series picker
            images = load_images(p)
            if not images:
                raise InputError(f"{p}: no image volume found")
            study = uuid.uuid4().hex
            layers.extend(image_layer(img, role, study=study) for role, img in images)
    return layers
