"""Shared type aliases of the core (positions are patient LPS millimetres).

One place for the shapes that cross module boundaries, so that every layer
spells them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: One point in patient LPS mm: a length-3 sequence or a (3,) array.
PointLPS: TypeAlias = Sequence[float] | npt.NDArray[np.floating]
#: Named landmarks ("RExP", "RDP", "IAC", ...) -> point in LPS mm.
Landmarks: TypeAlias = Mapping[str, PointLPS]
#: Landmarks as a review stores them (JSON-able lists of three floats, LPS mm).
StoredLandmarks: TypeAlias = dict[str, list[float]]
#: (N, 3) float array of points in LPS mm (a centreline, a closest-point set).
PointsLPS: TypeAlias = npt.NDArray[np.float64]
#: 4x4 array mapping array index (i, j, k, 1) to LPS mm.
Affine: TypeAlias = npt.NDArray[np.float64]
#: An index-space box: one slice per spatial axis.
Box: TypeAlias = tuple[slice, ...]

__all__ = ["Affine", "Box", "Landmarks", "PointLPS", "PointsLPS", "StoredLandmarks"]
