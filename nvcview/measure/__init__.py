"""Measurement engine: nerve-vessel gaps, closest points, REZ segment, grade.

All positions are patient LPS mm, lengths mm, angles degrees.
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
