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

from napari_nvcview.layers import META_KEY, LayerDataTuple, image_layer, session_layers
from nvcview.errors import InputError
from nvcview.layers_model import is_image_path, load_images, open_study


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
    for p in paths:
        if (Path(p) / "review.json").exists() or Path(p).name == "review.json":
            folder = Path(p).parent if Path(p).name == "review.json" else Path(p)
            for data, kw, kind in session_layers(open_study(p)):
                if kind == "labels":
                    # the widget autosaves into the folder the review came from
                    kw["metadata"][META_KEY]["review_folder"] = str(folder)
                layers.append((data, kw, kind))
        else:
            # every volume found; the widget takes the first T2 and TOF, the
            # others wait in its series picker
            images = load_images(p)
            if not images:
                raise InputError(f"{p}: no image volume found")
            study = uuid.uuid4().hex
            layers.extend(image_layer(img, role, study=study) for role, img in images)
    return layers
