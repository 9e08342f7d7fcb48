"""Measurement engine: nerve-vessel gaps, closest points, REZ segment, grade."""

from nvcview.measure.records import MeasureSettings, VesselMeasurement

__all__ = ["MeasureSettings", "VesselMeasurement"]
