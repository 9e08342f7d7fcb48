"""Run the measurement engine on a review and turn the results into contact rows.

Used by ``nvcview measure`` and the batch runner. Positions LPS mm, lengths mm.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.review.model import Review
from nvcview.structures import find_facial_nerve


def reader_grades(review: Review) -> dict[int, str]:
    """The reader's grades by vessel label (calls without a grade are left out)."""
    return {c.vessel_label: c.grade for c in review.calls if c.grade}


def measure_review_labels(
    review: Review, labels: Image, settings: MeasureSettings | None = None
) -> list[VesselMeasurement]:
    """Measure a review against a label map already in memory (see :func:`measure_review`)."""
    from nvcview.measure import measure_case

    if find_facial_nerve(review.structures) is None:
        raise InputError(
            f"review {review.case_id or review.review_id}: the structure table has no "
            "facial nerve (a structure of kind 'nerve' with nerve 'VII'); nothing to measure"
        )
    landmarks = {k: np.asarray(v, dtype=np.float64) for k, v in review.landmarks.items()}
    centreline = (
        np.asarray(review.nerve_path_lps, dtype=np.float64)
        if len(review.nerve_path_lps) >= 2
        else None
    )
    return measure_case(
        labels,
        review.structures,
        landmarks,
        centreline=centreline,
        settings=settings or review.settings,
        reader_grades=reader_grades(review),
    )


def measure_review(
    review: Review, folder: str | os.PathLike, settings: MeasureSettings | None = None
) -> list[VesselMeasurement]:
    """Run :func:`nvcview.measure.measure_case` on a saved review.

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
        One per vessel with voxels, reader grades attached.

    Raises
    ------
    InputError, GeometryError
        Missing or misaligned label map, or no facial nerve in the structure table.
    """
    from nvcview.review.store import load_labels

    return measure_review_labels(review, load_labels(review, Path(folder)), settings)


def _point(p: object) -> list[float] | None:
    if p is None:
        return None
    return [round(float(v), 3) for v in p]


def contact_rows(measurements: list[VesselMeasurement]) -> list[dict]:
    """One JSON-able dict per vessel: what ``nvcview measure --json`` prints as contacts.

    Keys: ``vessel_label``, ``vessel_name``, ``vessel_type``, ``gap_mm`` with its
    uncertainty interval ``gap_low_mm`` / ``gap_high_mm`` and ``uncertainty_method``,
    ``resolution_mm``, ``contact``, ``nerve_point_lps``, ``vessel_point_lps`` (LPS mm),
    ``segment``, ``dist_from_rdp_mm``, ``suggested_grade``, ``reader_grade``, ``grade``,
    and ``near``, ``indentation_depth_mm`` / ``deviation_mm`` with the thresholds they
    were graded by (``*_threshold_mm``), ``crossing_angle_deg`` (degrees),
    ``vessel_diameter_mm``, ``side_of_nerve``, ``relation_to_cn8``, ``multiplicity``.
    """
    rows = []
    for m in measurements:

        def num(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), 3)

        rows.append(
            {
                "vessel_label": int(m.vessel_label),
                "vessel_name": m.vessel_name,
                "vessel_type": m.vessel_type,
                "gap_mm": num(m.gap_mm),
                "gap_low_mm": num(m.gap_low_mm),
                "gap_high_mm": num(m.gap_high_mm),
                "uncertainty_method": m.uncertainty_method,
                "resolution_mm": num(m.resolution_mm),
                "contact": bool(m.contact),
                "nerve_point_lps": _point(m.nerve_point_lps),
                "vessel_point_lps": _point(m.vessel_point_lps),
                "segment": m.segment,
                "dist_from_rdp_mm": num(m.dist_from_rdp_mm),
                "suggested_grade": m.suggested_grade,
                "reader_grade": m.reader_grade,
                "grade": m.grade,
                "near": bool(m.near),
                "indentation_depth_mm": num(m.indentation_depth_mm),
                "indentation_threshold_mm": num(m.indentation_threshold_mm),
                "deviation_mm": num(m.deviation_mm),
                "deviation_threshold_mm": num(m.deviation_threshold_mm),
                "crossing_angle_deg": num(m.crossing_angle_deg),
                "vessel_diameter_mm": num(m.vessel_diameter_mm),
                "side_of_nerve": m.side_of_nerve,
                "relation_to_cn8": m.relation_to_cn8,
                "multiplicity": m.multiplicity,
            }
        )
    return rows
