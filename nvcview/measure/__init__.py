"""Measurement engine: nerve-vessel gaps, closest points, REZ segment, grade.

All positions are patient LPS mm, lengths mm, angles degrees; nothing is in voxels.

Modules
-------
``labelmap``   label-map checks (clear errors), cached per-label boxes (``find_objects``)
``surface``    sub-voxel surfaces (anti-aliased masks, marching cubes, mapped to LPS)
               and :func:`surface_gap` (exact point-to-triangle gaps, contact patch)
``triangles``  vectorised closest point on triangles
``centreline`` arc length along the nerve; centreline derived from the nerve label
``segments``   RExP / AS / RDP/TZ / proximal / distal cisternal from arc lengths
``geometry``   crossing angle, vessel diameter, side of the nerve, indentation, deviation
``case``       :func:`measure_case` and the cached :class:`CaseMeasurer` for live edits

Accuracy and limits
-------------------
On 72 random capsule pairs (radii 0.6-2 mm, gaps 0-3 mm, half on oblique grids,
0.4x0.4x0.8, 0.39x0.39x0.5 and 0.3x0.3x0.6 mm voxels; tests/measure/test_surface_gap.py)
the curvature-corrected surfaces give a gap error of 0.092 largest-voxel on average,
+0.019 signed, at most 0.30 (0.10-0.11 / -0.00 / 0.41-0.48 on unseen seeds,
benchmarks/bench_capsules.py; the earlier Gaussian estimator: +0.07 to +0.11 signed,
mean 0.12-0.14, max 0.42-0.51). On the sample phantom the five vessels read
0.00-0.10 mm from truth.json (touching AICA 0.00; earlier +0.14). A label map cannot
show gaps below its voxel size: each gap carries ``resolution_mm`` (voxel size along
the gap direction) and an interval ``gap_low_mm``-``gap_high_mm``
(:mod:`nvcview.measure.uncertainty`); contact is called when it includes 0
(DOMAIN.md). Indentation and deviation are judged against the nerve's own course
and calibre fitted through the contact (:mod:`nvcview.measure.geometry`). The side of the nerve
uses the patient's superior and anterior directions made perpendicular to the
nerve (superior first; lateral when the nerve runs cranio-caudally).
"""

from nvcview.measure.case import CaseMeasurer, measure_case, suggest_grade
from nvcview.measure.centreline import Centreline, derive_centreline
from nvcview.measure.labelmap import LabelGrid, as_label_grid, label_boxes
from nvcview.measure.records import (
    GRADES,
    SEGMENTS,
    SIDES_OF_NERVE,
    MeasureSettings,
    VesselMeasurement,
)
from nvcview.measure.segments import classify_segment
from nvcview.measure.surface import GapResult, surface_gap, surface_gap_masks

__all__ = [
    "GRADES",
    "SEGMENTS",
    "SIDES_OF_NERVE",
    "CaseMeasurer",
    "Centreline",
    "GapResult",
    "LabelGrid",
    "MeasureSettings",
    "VesselMeasurement",
    "as_label_grid",
    "classify_segment",
    "derive_centreline",
    "label_boxes",
    "measure_case",
    "suggest_grade",
    "surface_gap",
    "surface_gap_masks",
]
