"""A scene from a saved review: its label map, structure table and the engine's results."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from nvcview.case.measurement import measure_review_labels, review_edge_image
from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.labelmap import LabelGrid
from nvcview.review.model import Review
from nvcview.scene.surfaces import Scene, SurfaceBuilder
from nvcview.structures import find_facial_nerve

log = logging.getLogger(__name__)


def scene_from_review(
    review: Review,
    labels: Image | LabelGrid,
    *,
    builder: SurfaceBuilder | None = None,
    measurements: list | None = None,
    image: Image | None = None,
) -> Scene:
    """Surfaces, nerve gap map and closest-point pairs of a review (LPS mm).

    Parameters
    ----------
    review : Review
        Structure table, side, landmarks (LPS mm), nerve path.
    labels : Image or LabelGrid
        Its label map (:func:`nvcview.review.store.load_labels` or, without
        highdicom, :func:`~nvcview.review.store.load_label_grid`).
    builder : SurfaceBuilder, optional
        Reuse its cached meshes.
    measurements : list of VesselMeasurement, optional
        The engine's results; measured here (:func:`measure_review_labels`) when
        omitted and the review has a facial nerve.
    image : Image, optional
        The series the "image-edge" surface method reads
        (:func:`nvcview.case.measurement.edge_image`), when measured here.
    """
    if measurements is None and find_facial_nerve(review.structures) is not None:
        measurements = measure_review_labels(review, labels, image=image)
    landmarks = {k: np.asarray(v, dtype=np.float64) for k, v in review.landmarks.items()}
    return (builder or SurfaceBuilder()).build(
        labels, review.structures, measurements, side=review.side, landmarks=landmarks
    )


def load_review_scene(path: str | os.PathLike) -> tuple[Scene, Review, LabelGrid]:
    """Load a review folder (or its review.json) and build its scene.

    The label map is read as a :class:`~nvcview.measure.labelmap.LabelGrid`
    (:func:`~nvcview.review.store.load_label_grid`: the checks of ``load_labels``,
    no highdicom import), which is what the engine measures and meshes.

    Raises
    ------
    InputError, SchemaError
        No review there, a missing or misaligned label map, an empty structure table.
    """
    from nvcview.review.store import load_label_grid, load_review

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such review folder or file")
    review = load_review(path)
    folder = path if path.is_dir() else path.parent
    labels = load_label_grid(review, folder)
    if not review.structures:
        raise InputError(f"{path}: the review's structure table is empty: nothing to mesh")
    if find_facial_nerve(review.structures) is None:
        log.warning("%s: no facial nerve in the structure table: no gap map", path)
    # the review's surface method, with its image where it needs one (the same gaps
    # as the table and the report)
    image = review_edge_image(review, folder)
    return scene_from_review(review, labels, image=image), review, labels
