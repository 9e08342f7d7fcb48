"""The one review -> measurement path.

Every front end turns a review into engine calls here: ``nvcview measure``,
``nvcview report``, ``nvcview batch``, the viewer's case session and the
napari writer. Positions are patient LPS mm, lengths mm.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.review.model import Review
from nvcview.structures import Structure, find_facial_nerve
from nvcview.types import PointsLPS, StoredLandmarks

if TYPE_CHECKING:
    from nvcview.measure.labelmap import LabelGrid

__all__ = [
    "can_measure",
    "contact_midpoint",
    "measure_review",
    "measure_review_labels",
    "reader_grades",
    "review_centreline",
    "review_landmarks",
]


def reader_grades(review: Review) -> dict[int, str]:
    """The reader's grades by vessel label (calls without a grade are left out)."""
    return {c.vessel_label: c.grade for c in review.calls if c.grade}


def review_landmarks(review: Review) -> StoredLandmarks:
    """The review's landmarks, name -> [x, y, z] LPS mm (a copy)."""
    return {str(k): [float(x) for x in v] for k, v in review.landmarks.items()}


def review_centreline(review: Review) -> PointsLPS | None:
    """The traced facial nerve centreline (N, 3) LPS mm, RExP -> IAC; None under 2 points."""
    pts = np.asarray(review.nerve_path_lps, dtype=np.float64).reshape(-1, 3)
    return pts if len(pts) >= 2 else None


def can_measure(structures: Sequence[Structure]) -> bool:
    """True when the structure table has a facial nerve and at least one vessel."""
    return find_facial_nerve(list(structures)) is not None and any(
        s.kind == "vessel" for s in structures
    )


def measure_review_labels(
    review: Review, labels: Image | LabelGrid, settings: MeasureSettings | None = None
) -> list[VesselMeasurement]:
    """Measure a review against a label map already in memory.

    Parameters
    ----------
    review : Review
        Structures, landmarks (LPS mm), nerve path and reader calls.
    labels : Image or LabelGrid
        Its label map on the reference grid (affine index -> LPS mm).
    settings : MeasureSettings, optional
        Engine thresholds; defaults to the review's own ``settings``.

    Returns
    -------
    list of VesselMeasurement
        One per vessel with voxels, reader grades attached.

    Raises
    ------
    InputError
        No facial nerve in the structure table.
    """
    from nvcview.measure import measure_case

    if find_facial_nerve(review.structures) is None:
        raise InputError(
            f"review {review.case_id or review.review_id}: the structure table has no "
            "facial nerve (a structure of kind 'nerve' with nerve 'VII'); nothing to measure"
        )
    return measure_case(
        labels,
        review.structures,
        review_landmarks(review),
        centreline=review_centreline(review),
        settings=settings or review.settings,
        reader_grades=reader_grades(review),
    )


def measure_review(
    review: Review, folder: str | os.PathLike, settings: MeasureSettings | None = None
) -> list[VesselMeasurement]:
    """Run the measurement engine on a saved review (its label map read from ``folder``).

    Parameters
    ----------
    review : Review
        The review (structures, landmarks in LPS mm, nerve path, reader calls).
    folder : path-like
        Its folder, holding the label map named by ``review.labelmap_path``.
    settings : MeasureSettings, optional
        Engine thresholds; defaults to the review's own ``settings``.

    Returns
    -------
    list of VesselMeasurement

    Raises
    ------
    InputError, GeometryError
        Missing or misaligned label map, or no facial nerve in the structure table.
    """
    from nvcview.review.store import load_labels

    return measure_review_labels(review, load_labels(review, Path(folder)), settings)


def contact_midpoint(measurement: VesselMeasurement) -> np.ndarray:
    """LPS mm halfway between a measurement's nerve and vessel closest points."""
    return (
        np.asarray(measurement.nerve_point_lps, dtype=np.float64)
        + np.asarray(measurement.vessel_point_lps, dtype=np.float64)
    ) / 2
