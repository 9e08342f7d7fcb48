"""The one review -> measurement path.

Every front end turns a review into engine calls here: ``nvcview measure``,
``nvcview report``, ``nvcview batch``, the viewer's case session and the
napari writer. Positions are patient LPS mm, lengths mm.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nvcview.errors import InputError
from nvcview.io.grids import same_grid
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
    "edge_image",
    "measure_review",
    "measure_review_labels",
    "reader_grades",
    "review_centreline",
    "review_edge_image",
    "review_landmarks",
]

#: the series roles the image-edge surface reads, in order of preference (see
#: :func:`edge_image`)
EDGE_ROLES = ("T2", "TOF")


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


def edge_image(
    settings: MeasureSettings,
    images: Mapping[str, Image | None] | Image | None,
    labels: Image | None = None,
) -> Image | None:
    """The image the "image-edge" surface reads, or None when the method is another.

    The T2 (CISS / FIESTA) when there is one on the label map's grid, else the TOF:
    the reference series, on whose grid the label map lies (no resampling, which
    would blur the edge). The T2 because the gap is CSF: bright on T2 between the
    dark nerve and the dark flow void of the vessel, so both surfaces of the gap
    have an edge there; on the TOF the nerve and the CSF are both dark (no nerve
    edge: the engine falls back to the binary estimate for it,
    :data:`nvcview.measure.edge.MIN_CNR`).

    Parameters
    ----------
    settings : MeasureSettings
        ``surface_method`` says whether an image is wanted.
    images : mapping or Image or None
        Role ("T2", "TOF") -> loaded series, or the reference series itself.
    labels : Image, optional
        The label map: a series not on its grid is passed over.
    """
    if settings.surface_method != "image-edge" or images is None:
        return None
    found = [images] if isinstance(images, Image) else [images.get(r) for r in EDGE_ROLES]
    for im in found:
        if im is not None and (labels is None or same_grid(im, labels)):
            return im
    return None


def review_edge_image(
    review: Review, folder: str | os.PathLike, settings: MeasureSettings | None = None
) -> Image | None:
    """:func:`edge_image` of a saved review: its reference series read from disk.

    Only when ``settings`` (default: the review's) ask for "image-edge"; None when
    the series is not found (the engine then measures the labels alone, with a
    warning that names the method used).
    """
    s = settings or review.settings
    if s.surface_method != "image-edge":
        return None
    from nvcview.case.resolve import find_series_path, load_series_ref, reference_ref

    ref = reference_ref(review)
    path = find_series_path(ref, folder)
    if path is None:  # the measurer warns that it measures the labels alone
        return None
    return load_series_ref(ref, path)


def measure_review_labels(
    review: Review,
    labels: Image | LabelGrid,
    settings: MeasureSettings | None = None,
    *,
    image: Image | None = None,
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
    image : Image, optional
        The series the labels lie on (:func:`edge_image`), read by the
        "image-edge" surface method; ignored by the others. Without it a review set
        to "image-edge" is measured from the labels alone, with a warning.

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
    s = settings or review.settings
    return measure_case(
        labels,
        review.structures,
        review_landmarks(review),
        centreline=review_centreline(review),
        settings=s,
        reader_grades=reader_grades(review),
        image=edge_image(s, image),
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
        Its folder, holding the label map named by ``review.labelmap_path`` (and,
        with surface method "image-edge", where its series are found:
        :func:`review_edge_image`).
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

    labels = load_labels(review, Path(folder))
    image = review_edge_image(review, folder, settings)
    return measure_review_labels(review, labels, settings, image=image)


def contact_midpoint(measurement: VesselMeasurement) -> np.ndarray:
    """LPS mm halfway between a measurement's nerve and vessel closest points."""
    return (
        np.asarray(measurement.nerve_point_lps, dtype=np.float64)
        + np.asarray(measurement.vessel_point_lps, dtype=np.float64)
    ) / 2
