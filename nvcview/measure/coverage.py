"""Which segments of the facial nerve the nerve label actually covers.

A gap is measured between two labels: over a stretch of the nerve that was not
segmented there is no nerve surface, and "no contact" there means nothing. This
module says, per segment (RExP, AS, RDP/TZ, proximal and distal cisternal), what
fraction of the centreline has nerve voxels around it, so the measurement can
mark uncovered segments "not assessable" and a report never concludes "no
contact" over them. Pure functions; positions LPS mm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from nvcview.io.image import Image
from nvcview.measure.centreline import Centreline
from nvcview.measure.labelmap import LabelGrid, as_label_grid
from nvcview.measure.records import SEGMENTS, MeasureSettings
from nvcview.measure.segments import classify_segment
from nvcview.types import Box

if TYPE_CHECKING:  # highdicom costs ~0.5 s to import: only type hints use it here
    import highdicom as hd

#: a segment counts as covered when at least this fraction of its length is
DEFAULT_MIN_FRACTION = 0.8


def nerve_coverage(
    labels: Image | hd.Volume | LabelGrid,
    nerve_label: int,
    landmarks: Mapping[str, ArrayLike],
    centreline: np.ndarray,
    settings: MeasureSettings | None = None,
    *,
    step_mm: float = 0.25,
    reach_mm: float | None = None,
    box: Box | None = None,
) -> dict[str, float]:
    """Fraction (0-1) of each nerve segment's centreline that has nerve voxels around it.

    Parameters
    ----------
    labels : Image, highdicom.Volume or LabelGrid
        Label map (index -> LPS mm).
    nerve_label : int
        Label value of the facial nerve.
    landmarks : mapping
        "RExP" and "RDP" (LPS mm); segments are placed by arc length from them.
    centreline : (N, 3) array_like
        Nerve centreline from the RExP to the IAC, LPS mm (the reader's path or a
        derived one: not the label itself, which is what is being checked).
    settings : MeasureSettings, optional
        Segment boundaries (``rexp_radius_mm``, ``tz_half_length_mm``,
        ``proximal_cisternal_mm``).
    step_mm : float
        Sampling step along the centreline, mm.
    reach_mm : float, optional
        A centreline sample is covered when a nerve voxel centre lies within this
        distance; default the largest voxel size plus 0.5 mm.
    box : tuple of slice, optional
        Bounding box (index space) holding every voxel of ``nerve_label`` (the cached
        :func:`~nvcview.measure.labelmap.label_boxes` entry): only it is scanned, so
        the cost follows the nerve's size, not the volume's. Default: the whole map.

    Returns
    -------
    dict
        Segment name (``nvcview.measure.records.SEGMENTS``) -> covered fraction;
        segments with no centreline length are absent.
    """
    settings = settings or MeasureSettings()
    grid = as_label_grid(labels)
    line = Centreline(np.asarray(centreline, float))
    spacing = np.asarray(grid.spacing_mm, float)
    reach = float(spacing.max() + 0.5) if reach_mm is None else float(reach_mm)
    s = np.arange(0.0, line.length_mm + 1e-9, step_mm)
    pts = line.point_at(s)
    rexp_s = float(line.project(np.asarray(landmarks["RExP"], float)[None])[0][0])
    rdp_s = None
    if "RDP" in landmarks:
        rdp_s = float(line.project(np.asarray(landmarks["RDP"], float)[None])[0][0])
    arr = np.asarray(grid.array)
    box = box if box is not None else cast(Box, tuple(slice(0, n) for n in arr.shape))
    nz = np.argwhere(arr[box] == nerve_label) + np.array([s_.start or 0 for s_ in box])
    covered = np.zeros(len(s), bool)
    if len(nz):
        tree = cKDTree(grid.to_lps(nz.astype(float)))
        d, _ = tree.query(pts, distance_upper_bound=reach)
        covered = np.isfinite(d)
    names = [
        classify_segment(si - rexp_s, None if rdp_s is None else si - rdp_s, settings) for si in s
    ]
    out: dict[str, float] = {}
    for seg in SEGMENTS:
        sel = np.array([n == seg for n in names])
        if sel.any():
            out[seg] = float(covered[sel].mean())
    return out


def uncovered_segments(
    coverage: Mapping[str, float], min_fraction: float = DEFAULT_MIN_FRACTION
) -> list[str]:
    """Segments covered less than ``min_fraction`` (in the order of ``SEGMENTS``)."""
    return [seg for seg in SEGMENTS if seg in coverage and coverage[seg] < min_fraction]
