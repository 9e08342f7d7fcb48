"""nvcview Image <-> napari layer conversion (thin: geometry lives in nvcview.display).

World axes of the viewer are ``(S, P, L)`` mm (see :mod:`nvcview.display`):
an axial slice shows anterior up and the patient's left on the screen's right
(radiological). Each layer is placed by its own affine through a display grid
(scale + translate only), so a TOF overlays its T2 in patient space and napari
never slices a rotated affine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nvcview.case import CaseSession
from nvcview.display import (
    WORLD_AXES,
    DisplayGrid,
    contrast_limits,
    display_to_lps_affine,
    display_view,
    from_display,
    label_display_dtype,
    lps_to_world,
    to_display,
    world_to_lps,
)
from nvcview.io.image import Image
from nvcview.io.sniff import guess_role
from nvcview.structures import TOF_OVERLAY_COLOR, Structure

LayerDataTuple = tuple[Any, dict, str]

#: key of the nvcview entry in a layer's metadata
META_KEY = "nvcview"
#: fixed layer names the review widget manages
LABELS_NAME = "nvcview labels"
LANDMARKS_NAME = "landmarks (RExP, RDP, IAC)"
PATH_NAME = "facial nerve centreline"
CONTACT_NAME = "closest points"

#: window presets: percentiles (low, high) of the non-zero voxels, per role
WINDOW_PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "T2": {
        "CISS / FIESTA (full)": (1.0, 99.5),
        "CISS nerves (narrow, dark nerve vs CSF)": (20.0, 97.0),
    },
    "TOF": {
        "TOF arteries": (98.0, 99.95),
        "TOF wide": (50.0, 99.99),
    },
}

#: view planes -> (napari dims order, vertical orientation)
PLANES = {
    "axial": ((0, 1, 2), "down"),  # rows = posterior (anterior up), columns = left
    "coronal": ((1, 0, 2), "up"),  # rows = superior (up), columns = left
    "sagittal": ((2, 0, 1), "up"),  # rows = superior (up), columns = posterior
}
PLANE_TEXT = {
    "axial": "axial  R | L (radiological), A up",
    "coronal": "coronal  R | L (radiological), S up",
    "sagittal": "sagittal  A | P, S up",
}


def layer_name(image: Image, role: str) -> str:
    """A layer name that says what the layer is."""
    desc = image.meta.series_description or ""
    label = {"T2": "T2 (CISS/FIESTA)", "TOF": "TOF MRA", "labels": "labels"}.get(role, role)
    return f"{label}: {desc}" if desc and desc.lower() not in label.lower() else label


def image_layer(
    image: Image, role: str | None = None, name: str | None = None, study: str = ""
) -> LayerDataTuple:
    """Layer data tuple of an image, placed by its affine.

    T2 is grey; TOF is a red additive overlay (fusion); labels become a labels layer.
    ``study`` tags layers read together (one study), for the widget's series picker.
    """
    role = role or guess_role(image)
    if role == "labels":
        return labels_layer(image.array, image.affine, [], name=name or LABELS_NAME)
    # an oblique series is resampled lazily, one plane per slice shown (display_view)
    disp, grid = display_view(image.array, image.affine, order=1)
    preset = next(iter(WINDOW_PRESETS.get(role, {"": (1.0, 99.5)}).values()))
    kwargs: dict[str, Any] = {
        "name": name or layer_name(image, role),
        "scale": grid.scale,
        "translate": grid.translate,
        "units": "mm",
        "axis_labels": WORLD_AXES,
        "contrast_limits": contrast_limits(image.array, *preset),
        "metadata": {META_KEY: {"role": role, "image": image, "grid": grid, "study": study}},
    }
    if role == "TOF":
        from napari.utils.colormaps import Colormap

        tof_cmap = Colormap([[0, 0, 0, 1], [*TOF_OVERLAY_COLOR, 1]], name="nvcview TOF")
        kwargs.update(colormap=tof_cmap, blending="additive", opacity=0.8)
    else:
        kwargs.update(colormap="gray", blending="translucent_no_depth")
    return disp, kwargs, "image"


def structure_colormap(structures: list[Structure]) -> dict:
    """napari label colormap {label: RGBA} from the fixed per-type colours."""
    cmap: dict = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
    for s in structures:
        cmap[s.label] = (*s.color, 1.0)
    return cmap


def labels_layer(
    labels: np.ndarray,
    affine: np.ndarray,
    structures: list[Structure],
    name: str = LABELS_NAME,
    extra_meta: dict | None = None,
    dtype: Any = None,
) -> LayerDataTuple:
    """Layer data tuple of a label map on the grid given by ``affine``.

    ``dtype`` is that of an oblique map's display copy (default: the narrowest that
    holds every label value and structure label, :func:`nvcview.display.label_display_dtype`,
    one scan of the map); an axis-aligned map is shown as a view of itself.
    """
    arr = np.asarray(labels)
    if dtype is None:
        top = max([int(arr.max()) if arr.size else 0, *(int(s.label) for s in structures)])
        dtype = label_display_dtype(top)
    disp, grid = to_display(arr, affine, order=0, dtype=dtype)
    meta = {"role": "labels", "affine": np.asarray(affine, float), "grid": grid}
    meta["source_shape"] = tuple(np.asarray(labels).shape[:3])
    meta.update(extra_meta or {})
    kwargs = {
        "name": name,
        "scale": grid.scale,
        "translate": grid.translate,
        "units": "mm",
        "axis_labels": WORLD_AXES,
        "opacity": 0.5,
        "metadata": {META_KEY: meta},
    }
    if structures:
        kwargs["colormap"] = structure_colormap(structures)
    return disp, kwargs, "labels"


def session_layers(session: CaseSession) -> list[LayerDataTuple]:
    """Every layer of a case: T2, TOF, labels (with the review in the metadata)."""
    out = []
    for img, role in ((session.t2, "T2"), (session.tof, "TOF")):
        if img is not None:
            data, kw, kind = image_layer(img, role)
            if session.labels is not None:
                # its labels layer follows and brings the whole case: the widget waits
                # for it instead of making a case (and a blank labels layer) of its own
                kw["metadata"][META_KEY]["case"] = session
            out.append((data, kw, kind))
    if session.labels is not None:
        out.append(
            labels_layer(
                session.labels,
                session.reference.affine,
                session.structures,
                extra_meta={"session": session},
            )
        )
    return out


def labels_from_layer(
    data: np.ndarray, meta: dict, scale, translate
) -> tuple[np.ndarray, np.ndarray]:
    """Label map (source grid) and its index -> LPS affine from a labels layer.

    Uses the layer's nvcview metadata when present (exact inverse of the display
    mapping), otherwise the layer's own scale and translation.
    """
    nv = (meta or {}).get(META_KEY, {})
    grid: DisplayGrid | None = nv.get("grid")
    if grid is not None and "affine" in nv and tuple(np.shape(data)) == tuple(grid.shape):
        affine = np.asarray(nv["affine"], float)
        return from_display(np.asarray(data), grid, affine, nv["source_shape"]), affine
    return np.asarray(data), display_to_lps_affine(tuple(scale), tuple(translate))


def world_points_to_lps(world: np.ndarray) -> np.ndarray:
    """(N, 3) viewer world ``(S, P, L)`` -> (N, 3) LPS mm."""
    return world_to_lps(np.asarray(world, float).reshape(-1, 3))


def lps_to_world_points(lps: np.ndarray) -> np.ndarray:
    """(N, 3) LPS mm -> (N, 3) viewer world ``(S, P, L)``."""
    return lps_to_world(np.asarray(lps, float).reshape(-1, 3))


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def overlay(viewer, name: str):
    """A canvas overlay, ``"text"`` or ``"scale_bar"``, across napari versions."""
    canvas = getattr(viewer, "canvas", None)
    if canvas is not None and hasattr(canvas, "overlays"):
        return canvas.overlays[name]
    return getattr(viewer, {"text": "text_overlay", "scale_bar": "scale_bar"}[name])


def set_plane(viewer, plane: str) -> None:
    """Show the axial, coronal or sagittal plane in radiological convention.

    Axial: anterior up, patient's right on the screen's left. Coronal: superior
    up, right on the left. Sagittal: superior up, anterior on the left. The
    plane and its convention are written on the canvas, with a mm scale bar.
    """
    order, vertical = PLANES[plane]
    viewer.dims.ndisplay = 2
    if viewer.dims.ndim >= 3:
        viewer.dims.order = order
    camera(viewer).orientation2d = (vertical, "right")
    text = overlay(viewer, "text")
    text.text = PLANE_TEXT[plane]
    text.visible = True
    overlay(viewer, "scale_bar").visible = True
