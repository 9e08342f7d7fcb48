"""The contralateral (control) side of a review: its measurements and centreline.

The control side's structures share the review's label map (their own label
values); they are measured against the control facial nerve with the same
engine and settings as the symptomatic side. Positions patient LPS mm.
"""

from __future__ import annotations

import numpy as np

from nvcview.io.image import Image
from nvcview.measure.records import VesselMeasurement
from nvcview.review.model import Review
from nvcview.structures import find_facial_nerve


def control_review(review: Review) -> Review | None:
    """A view of the review as if the control side were the reviewed one (or None).

    Structures, landmarks, nerve path and calls are the control side's; the side
    is the opposite one. Used to run the one measurement path on the control.
    """
    import dataclasses

    from nvcview.review.model import opposite_side

    c = review.contralateral
    if c is None or find_facial_nerve(c.structures) is None:
        return None
    return dataclasses.replace(
        review,
        side=opposite_side(review.side),
        structures=list(c.structures),
        landmarks=dict(c.landmarks),
        nerve_path_lps=list(c.nerve_path_lps),
        calls=list(c.calls),
        measurements=list(c.measurements),
        contralateral=None,
    )


def measure_control(
    review: Review, labels: Image, *, image: Image | None = None
) -> list[VesselMeasurement] | None:
    """The control side's vessels measured against its facial nerve (None: no control).

    Falls back to the measurements stored with the control side when it has no
    facial nerve structure of its own. ``image``: the series the "image-edge"
    surface reads (:func:`nvcview.case.measurement.edge_image`), as for the
    symptomatic side.
    """
    view = control_review(review)
    if view is None:
        c = review.contralateral
        return None if c is None else list(c.measurements)
    from nvcview.case.measurement import measure_review_labels

    return measure_review_labels(view, labels, image=image)


def centreline_of(review: Review, labels: Image) -> np.ndarray | None:
    """The facial nerve centreline (N, 3) LPS mm of a review (or a control view)."""
    from nvcview.report import nerve_centreline

    return nerve_centreline(review, labels)
