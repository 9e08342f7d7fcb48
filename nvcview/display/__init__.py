"""Viewer display geometry (Qt-free): axis-aligned display grids, LPS <-> world.

The viewer's world axes are ``(S, P, L)`` mm. See :mod:`nvcview.display.grid`
for the grids and :mod:`nvcview.display.sampling` for the one world-space sampler.
"""

from nvcview.display.grid import (
    WORLD_AXES,
    DisplayGrid,
    ResampledVolume,
    contrast_limits,
    display_box_to_source,
    display_grid,
    display_to_lps_affine,
    display_view,
    from_display,
    image_to_display,
    label_display_dtype,
    lps_to_world,
    refresh_display,
    sample_display_box,
    to_display,
    update_from_display,
    world_to_lps,
)
from nvcview.display.sampling import sample_grid, sample_lps

__all__ = [
    "WORLD_AXES",
    "DisplayGrid",
    "ResampledVolume",
    "contrast_limits",
    "display_box_to_source",
    "display_grid",
    "display_to_lps_affine",
    "display_view",
    "from_display",
    "image_to_display",
    "label_display_dtype",
    "lps_to_world",
    "refresh_display",
    "sample_display_box",
    "sample_grid",
    "sample_lps",
    "to_display",
    "update_from_display",
    "world_to_lps",
]
