"""Semi-automatic segmentation: vessels (TOF, or flow voids on T2), nerves (T2), edit history.

Headless; positions are patient LPS mm, volumes are arrays with index -> LPS affines.
Every tool returns a mask (nothing is written); :func:`paint` commits it and returns
the :class:`LabelDelta` that :class:`EditHistory` undoes and redoes.
"""

from nvcview.segment.grow import (
    GrowResult,
    grow_nerve,
    grow_vessel,
    resample_mask,
    tube_mask,
)
from nvcview.segment.history import EditHistory, LabelDelta, paint
from nvcview.segment.nerve import NerveResult, brainstem_estimate, segment_nerve
from nvcview.segment.study import StudySegmentation, segment_study
from nvcview.segment.vessel import (
    VesselField,
    VesselGrowResult,
    grow_vessels,
    keep_island,
    preview_vessel,
    vessel_field,
)
from nvcview.segment.vesselness import Vesselness, vesselness

__all__ = [
    "EditHistory",
    "GrowResult",
    "LabelDelta",
    "NerveResult",
    "StudySegmentation",
    "VesselField",
    "VesselGrowResult",
    "Vesselness",
    "brainstem_estimate",
    "grow_nerve",
    "grow_vessel",
    "grow_vessels",
    "keep_island",
    "paint",
    "preview_vessel",
    "resample_mask",
    "segment_nerve",
    "segment_study",
    "tube_mask",
    "vessel_field",
    "vesselness",
]
