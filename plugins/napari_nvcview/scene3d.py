"""The surgeon's 3D view in napari: the engine's surfaces, the gap heat map, camera presets.

A thin front end over :mod:`nvcview.scene` (meshes, heat map, views are computed
there): one Surface layer per structure in its fixed colour, the facial nerve
coloured by its distance to the nearest vessel (``plasma``, 0 to 3 mm, with
napari's colour bar), the closest-point pair of each contact as a green 3D vector
with its two points, orientation axes and patient direction letters, and camera
presets (retrosigmoid for the side, A/P/L/R/S/I). World axes are the viewer's
``(S, P, L)`` mm (:func:`nvcview.display.lps_to_world`).

napari's default 3D orientation (depth towards the viewer, rows down, columns
right) would show the right-handed LPS world mirrored; the camera is set to
depth *away* so that the anterior view shows the patient's left on the screen's
right (checked on rendered pixels in tests/plugin/test_scene3d.py).

Typical use (the review widget calls it after each edit; unchanged structures are
not re-meshed)::

    scene3d = show_scene3d(viewer, labels_image, structures, measurements, side="left")
    scene3d.set_view("A")
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from nvcview.display import WORLD_AXES, lps_to_world
from nvcview.io.image import Image
from nvcview.measure.records import VesselMeasurement
from nvcview.scene import (
    GAP_COLORMAP,
    PAIR_COLOR,
    Scene,
    StructureSurface,
    SurfaceBuilder,
    View,
    view,
)
from nvcview.structures import Structure

META_KEY = "nvcview"
SURFACE_PREFIX = "3D "
PAIRS_NAME = "3D closest points"
DIRECTIONS_NAME = "3D patient directions"
#: camera orientation giving a right-handed view of the (S, P, L) world
ORIENTATION_3D = ("away", "down", "right")
#: distance of the direction letters from the focus, mm
DIRECTION_MM = 17.0

#: width of the field of view the presets zoom to, mm
FIELD_MM = 45.0
#: screen edges labelled with patient directions
EDGES = ("right", "left", "top", "bottom")

_CONTROLLERS: weakref.WeakKeyDictionary[Any, Scene3D] = weakref.WeakKeyDictionary()


def surface_layer_name(surf: StructureSurface) -> str:
    """Layer name of a structure's surface (the nerve's says what its colours mean)."""
    if surf.gap_mm is not None:
        return f"{SURFACE_PREFIX}{surf.name}: gap to nearest vessel (mm)"
    return f"{SURFACE_PREFIX}{surf.name}"


class Scene3D:
    """The 3D scene of one case in one napari viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer to draw into.
    builder : SurfaceBuilder, optional
        Mesh cache (a new one by default).
    """

    def __init__(self, viewer: Any, builder: SurfaceBuilder | None = None) -> None:
        self.viewer = viewer
        self.builder = builder or SurfaceBuilder()
        self.scene: Scene | None = None
        self.side: str | None = None
        self._layers: dict[int, Any] = {}
        self._shown: dict[int, tuple[int, int]] = {}  # label -> ids of verts, gap arrays
        self._view: View | None = None

    # ---------------------------------------------------------------- content
    def update(
        self,
        labels: Image,
        structures: Sequence[Structure],
        measurements: Sequence[VesselMeasurement] | None = None,
        *,
        side: str | None = None,
        landmarks: dict | None = None,
    ) -> Scene:
        """Rebuild the scene after an edit; only changed structures are re-meshed.

        Parameters
        ----------
        labels : Image
            The label map (affine index -> LPS mm).
        structures : sequence of Structure
            The structure table.
        measurements : sequence of VesselMeasurement, optional
            The engine's results (closest-point pairs).
        side : str, optional
            Side of symptoms, for the retrosigmoid preset.
        landmarks : dict, optional
            Name -> (3,) LPS mm.
        """
        scene = self.builder.build(labels, structures, measurements, side=side, landmarks=landmarks)
        self.scene, self.side = scene, side
        present = {s.label for s in scene.surfaces}
        for lab in [k for k in self._layers if k not in present]:
            layer = self._layers.pop(lab)
            self._shown.pop(lab, None)
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        for surf in scene.surfaces:
            self._show_surface(surf, scene.gap_range_mm)
        self._show_pairs(scene)
        self._show_directions(scene)
        return scene

    def _show_surface(self, surf: StructureSurface, gap_range_mm: float) -> None:
        stamp = (id(surf.verts), id(surf.gap_mm))
        layer = self._layers.get(surf.label)
        if (
            layer is not None
            and layer in self.viewer.layers
            and self._shown.get(surf.label) == stamp
        ):
            return  # unchanged structure: nothing to send to the GPU
        verts = lps_to_world(surf.verts)
        if surf.gap_mm is not None:
            values = np.clip(np.nan_to_num(surf.gap_mm, posinf=gap_range_mm), 0, gap_range_mm)
            kwargs: dict[str, Any] = {
                "colormap": GAP_COLORMAP,
                "contrast_limits": (0.0, gap_range_mm),
            }
            vertex_colors = None
        else:
            values = np.ones(len(verts))
            vertex_colors = np.tile([*surf.color, 1.0], (len(verts), 1))
            kwargs = {}
        data = (verts, np.asarray(surf.faces), values)
        if layer is None or layer not in self.viewer.layers:
            layer = self.viewer.add_surface(
                data,
                name=surface_layer_name(surf),
                shading="smooth",
                axis_labels=WORLD_AXES,
                units="mm",
                vertex_colors=vertex_colors,
                metadata={META_KEY: {"role": "scene3d", "label": surf.label}},
                **kwargs,
            )
            self._layers[surf.label] = layer
        else:
            layer.data = data
            if vertex_colors is not None:
                layer.vertex_colors = vertex_colors
            layer.name = surface_layer_name(surf)
        if surf.gap_mm is not None:
            layer.colorbar.visible = True
        self._shown[surf.label] = stamp

    def _show_pairs(self, scene: Scene) -> None:
        pairs = scene.shown_pairs()
        start = (
            lps_to_world(np.stack([p.nerve_point_lps for p in pairs]))
            if pairs
            else np.zeros((0, 3))
        )
        end = (
            lps_to_world(np.stack([p.vessel_point_lps for p in pairs]))
            if pairs
            else np.zeros((0, 3))
        )
        vec = np.stack([start, end - start], axis=1) if pairs else np.zeros((0, 2, 3))
        pts = np.concatenate([start, end]) if pairs else np.zeros((0, 3))
        names = [f"{p.vessel_name}: {p.gap_mm:.2f} mm" for p in pairs]
        if PAIRS_NAME in self.viewer.layers:
            self.viewer.layers[PAIRS_NAME].data = vec
            ends = self.viewer.layers[PAIRS_NAME + " (ends)"]
            ends.data = pts
            ends.features = {"text": names + [""] * len(pairs)}
            return
        self.viewer.add_vectors(
            vec,
            name=PAIRS_NAME,
            edge_color=[*PAIR_COLOR, 1.0],
            edge_width=0.25,
            vector_style="line",
            opacity=1.0,
            blending="translucent_no_depth",  # drawn over the surfaces it runs between
            axis_labels=WORLD_AXES,
            units="mm",
            ndim=3,
            metadata={META_KEY: {"role": "scene3d"}},
        )
        self.viewer.add_points(
            pts,
            name=PAIRS_NAME + " (ends)",
            size=0.6,
            face_color=[*PAIR_COLOR, 1.0],
            border_color="black",
            blending="translucent_no_depth",
            features={"text": names + [""] * len(pairs)},
            text={"string": "{text}", "color": "white", "size": 10, "anchor": "upper_left"},
            axis_labels=WORLD_AXES,
            units="mm",
            ndim=3,
            metadata={META_KEY: {"role": "scene3d"}},
        )

    def _show_directions(self, scene: Scene, v: View | None = None) -> None:
        """Patient direction letters at the four screen edges of the current view."""
        v = v or self._view or view("A")
        focus = scene.focus_lps()
        edges = v.edge_letters()
        offsets = {"right": v.right, "left": -v.right, "top": v.up, "bottom": -v.up}
        pts = lps_to_world(np.stack([focus + DIRECTION_MM * offsets[k] for k in EDGES]))
        letters = [edges[k] for k in EDGES]
        if DIRECTIONS_NAME in self.viewer.layers:
            layer = self.viewer.layers[DIRECTIONS_NAME]
            layer.data = pts
            layer.features = {"letter": letters}
            return
        self.viewer.add_points(
            pts,
            name=DIRECTIONS_NAME,
            size=0.1,
            face_color="transparent",
            border_width=0,
            features={"letter": letters},
            text={"string": "{letter}", "color": "white", "size": 16},
            blending="translucent_no_depth",
            axis_labels=WORLD_AXES,
            units="mm",
            ndim=3,
            metadata={META_KEY: {"role": "scene3d"}},
        )

    # ----------------------------------------------------------------- camera
    def set_view(self, name: str = "retrosigmoid", side: str | None = None) -> None:
        """Switch to 3D and look from the preset ``name`` at the scene's focus.

        Parameters
        ----------
        name : str
            "retrosigmoid" (side of symptoms: from posterolateral, looking
            anteromedially) or "A", "P", "L", "R", "S", "I".
        side : str, optional
            Defaults to the side given to :meth:`update`.
        """
        v = view(name, side or self.side)
        viewer = self.viewer
        viewer.dims.ndisplay = 3
        camera = _camera(viewer)
        camera.orientation = ORIENTATION_3D
        axes = _axes(viewer)
        axes.visible = True
        axes.labels = True
        axes.colored = True
        axes.blending = "translucent_no_depth"  # not hidden inside the brainstem
        if self.scene is not None:
            camera.center = tuple(lps_to_world(self.scene.focus_lps()))
        camera.set_view_direction(tuple(lps_to_world(v.sight)), tuple(lps_to_world(v.up)))
        canvas_px = _canvas_width_px(viewer)
        camera.zoom = canvas_px / FIELD_MM
        self._view = v
        if self.scene is not None:
            self._show_directions(self.scene, v)
        text = _text_overlay(viewer)
        side_txt = f" ({side or self.side})" if v.name == "retrosigmoid" else ""
        text.text = f"3D {v.name}{side_txt}; nerve: gap to nearest vessel (mm)"
        text.visible = True

    def set_mip(self, layer: Any) -> None:
        """Show an image layer (e.g. the TOF) as a maximum intensity projection in 3D."""
        layer.rendering = "mip"

    @property
    def layers(self) -> dict[int, Any]:
        """Surface layers by label."""
        return dict(self._layers)


def _camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def _axes(viewer: Any) -> Any:
    """The axes overlay (``viewer.scene.overlays.axes`` since napari 0.9)."""
    overlays = getattr(getattr(viewer, "scene", None), "overlays", None)
    return getattr(overlays, "axes", None) or viewer.axes


def _text_overlay(viewer: Any) -> Any:
    """The canvas text overlay (``viewer.canvas.overlays.text`` since napari 0.9)."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    return getattr(overlays, "text", None) or viewer.text_overlay


def _canvas_width_px(viewer: Any) -> float:
    """Canvas width in pixels (``viewer.canvas.size``, napari >= 0.9; a default before)."""
    try:
        size = viewer.canvas.size
        return float(size[1]) if size[1] > 1 else 800.0
    except (AttributeError, IndexError, TypeError):
        return 800.0


def scene3d_for(viewer: Any) -> Scene3D:
    """The viewer's :class:`Scene3D` (created on first use; its mesh cache is kept)."""
    ctl = _CONTROLLERS.get(viewer)
    if ctl is None:
        ctl = Scene3D(viewer)
        _CONTROLLERS[viewer] = ctl
    return ctl


def show_scene3d(
    viewer: Any,
    labels: Image,
    structures: Sequence[Structure],
    measurements: Sequence[VesselMeasurement] | None = None,
    *,
    side: str | None = None,
    landmarks: dict | None = None,
    view_name: str | None = "retrosigmoid",
) -> Scene3D:
    """Add or update the 3D scene of a case in ``viewer`` and (optionally) set a view.

    Parameters
    ----------
    viewer : napari.Viewer
    labels : Image
        Label map (affine index -> LPS mm).
    structures : sequence of Structure
    measurements : sequence of VesselMeasurement, optional
        The engine's results, for the closest-point lines.
    side : str, optional
        Side of symptoms ("left"/"right").
    landmarks : dict, optional
        Name -> (3,) LPS mm.
    view_name : str or None
        Camera preset to apply; None keeps the camera (after an edit). The
        retrosigmoid preset falls back to "A" when the side is unknown.
    """
    ctl = scene3d_for(viewer)
    ctl.update(labels, structures, measurements, side=side, landmarks=landmarks)
    if view_name is not None:
        if view_name == "retrosigmoid" and side not in ("left", "right"):
            view_name = "A"
        ctl.set_view(view_name, side)
    return ctl
