"""npe2 reader: DICOM folders/files, NIfTI files and nvcview review folders.

Thin: :func:`nvcview.case.open_study` does the loading; this module only
turns the session into layers (T2 grey, TOF red additive, labels by type colour).
A folder with several series loads every volume as a layer; the review widget
takes the first T2 and TOF and its series picker chooses among the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from napari_nvcview.layers import LayerDataTuple, image_layer, session_layers
from nvcview.case import is_review_path, open_study
from nvcview.errors import InputError
from nvcview.io.sniff import is_image_path, load_images


def napari_get_reader(path: str | list[str]) -> Callable[[str | list[str]], list] | None:
    """Return :func:`read_study` when nvcview can open ``path``, else None."""
    paths = [path] if isinstance(path, str) else list(path)
    if not paths:
        return None
    if not all(is_image_path(p) for p in paths):
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
    study = uuid.uuid4().hex  # paths read together are one study
    for p in paths:
        if is_review_path(p):
            # the session knows its folder: the widget autosaves into it
            layers.extend(session_layers(open_study(p)))
        else:
            # every volume found; the widget takes the first T2 and TOF, the
            # others wait in its series picker
            images = load_images(p)
            if not images:
                raise InputError(f"{p}: no image volume found")
            layers.extend(image_layer(img, role, study=study) for role, img in images)
    return layers
