"""Surfaces for 3D viewers and files (patient LPS mm).

``surfaces``  the engine's meshes of every structure, cached by label content,
              the facial nerve's gap heat map, the closest-point pairs
``views``     camera presets (retrosigmoid per side, A/P/L/R/S/I) as LPS directions
``render``    headless z-buffer renderer and the REZ key image (RGB uint8 / PNG)
``export``    OBJ / STL (LPS, Slicer), glTF binary, scene.json
``loading``   a scene from a saved review
"""

from nvcview.scene.export import FORMATS, parse_formats, write_scene
from nvcview.scene.loading import load_review_scene, scene_from_review
from nvcview.scene.render import Raster, key_image, png_bytes, rasterise, write_key_image
from nvcview.scene.surfaces import (
    GAP_COLORMAP,
    GAP_RANGE_MM,
    PAIR_COLOR,
    ClosestPair,
    Scene,
    StructureSurface,
    SurfaceBuilder,
    build_scene,
    gap_colors,
)
from nvcview.scene.views import VIEWS, View, view

__all__ = [
    "FORMATS",
    "GAP_COLORMAP",
    "GAP_RANGE_MM",
    "PAIR_COLOR",
    "VIEWS",
    "ClosestPair",
    "Raster",
    "Scene",
    "StructureSurface",
    "SurfaceBuilder",
    "View",
    "build_scene",
    "gap_colors",
    "key_image",
    "load_review_scene",
    "parse_formats",
    "png_bytes",
    "rasterise",
    "scene_from_review",
    "view",
    "write_key_image",
    "write_scene",
]
