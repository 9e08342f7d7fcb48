"""Viewer display geometry (Qt-free): axis-aligned display grids, LPS <-> world.

The viewer's world axes are ``(S, P, L)`` mm. See :mod:`nvcview.display.grid`
for the grids and :mod:`nvcview.display.sampling` for the one world-space sampler.
"""

from nvcview.display.grid import (
    WORLD_AXES,
    DisplayGrid,
    contrast_limits,
    display_grid,
    display_to_lps_affine,
    from_display,
    image_to_display,
    lps_to_world,
    refresh_display,
    to_display,
    update_from_display,
    world_to_lps,
)
from nvcview.display.sampling import sample_lps

__all__ = [
    "WORLD_AXES",
    "DisplayGrid",
    "contrast_limits",
    "display_grid",
    "display_to_lps_affine",
    "from_display",
    "image_to_display",
    "lps_to_world",
    "refresh_display",
    "sample_lps",
    "to_display",
    "update_from_display",
    "world_to_lps",
]
