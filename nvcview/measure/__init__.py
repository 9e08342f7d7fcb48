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
On capsule pairs voxelised with partial-volume supersampling (random orientations,
axial and oblique grids, gaps 0-3 mm; 128 configurations per grid) the gap error
was at most 0.46 and on average 0.12 of the largest voxel spacing for
0.4 x 0.4 x 0.8 mm and 0.39 x 0.39 x 0.5 mm voxels (max 0.55 for 0.3 x 0.3 x 1.0 mm).
On 24 variants of the sample phantom (120 vessels, 0.5 x 0.4 x 0.4 mm) the error
was +0.12 mm on average (at most 0.27 mm, on vessels 5-13 mm away whose closest
point is the rounded end of the nerve at the RExP): the 0.3 mm anti-aliasing
shrinks strongly curved surfaces slightly. A label map cannot show gaps below its
voxel size: each gap carries
``resolution_mm`` (voxel size along the gap direction) and the default contact
call is a gap below it (DOMAIN.md). Indentation depth is a difference of two
sub-voxel thicknesses and is good to about half a voxel. The side of the nerve
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
