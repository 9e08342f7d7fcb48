"""Semi-automatic segmentation: seed growing for vessels (TOF) and nerves (T2).

Headless; positions are patient LPS mm, volumes are arrays with index -> LPS affines.
"""

from nvcview.segment.grow import (
    GrowResult,
    grow_nerve,
    grow_vessel,
    resample_mask,
    tube_mask,
)

__all__ = ["GrowResult", "grow_nerve", "grow_vessel", "resample_mask", "tube_mask"]
