"""The case layer's names for the one grid rule, which lives in :mod:`nvcview.io.grids`.

:func:`same_grid` / :func:`grid_mismatch` and the tolerance :data:`GRID_TOL_VOXELS`
are defined (and documented) there, the lowest layer that compares grids, so that the
review store, the case layer and the viewer apply one rule. This module only re-exports
them for ``nvcview.case`` users.
"""

from __future__ import annotations

from nvcview.io.grids import GRID_TOL_VOXELS, grid_mismatch, same_grid

__all__ = ["GRID_TOL_VOXELS", "grid_mismatch", "same_grid"]
