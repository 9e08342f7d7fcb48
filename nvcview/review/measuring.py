"""Measurements as contact rows (what ``nvcview measure --json`` prints).

The review -> measurement path itself is :mod:`nvcview.case.measurement` (one path
for the CLI, report, batch and viewer). Positions LPS mm, lengths mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nvcview.measure.records import VesselMeasurement


def _point(p: Sequence[float] | np.ndarray | None) -> list[float] | None:
    if p is None:
        return None
    return [round(float(v), 3) for v in p]


def contact_rows(measurements: Sequence[VesselMeasurement]) -> list[dict]:
    """One JSON-able dict per vessel: what ``nvcview measure --json`` prints as contacts.

    Keys: ``vessel_label``, ``vessel_name``, ``vessel_type``, ``gap_mm`` with its
    uncertainty interval ``gap_low_mm`` / ``gap_high_mm`` and ``uncertainty_method``,
    ``resolution_mm``, ``contact``, ``nerve_point_lps``, ``vessel_point_lps`` (LPS mm),
    ``segment``, ``dist_from_rdp_mm``, ``suggested_grade``, ``reader_grade``, ``grade``,
    and ``near``, ``indentation_depth_mm`` / ``deviation_mm`` with the thresholds they
    were graded by (``*_threshold_mm``), ``crossing_angle_deg`` (degrees),
    ``vessel_diameter_mm``, ``side_of_nerve``, ``relation_to_cn8``, ``multiplicity``, ``not_assessable_segments`` (case level:
    nerve segments the nerve label does not cover, see :func:`nerve_coverage_doc`).
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
                "not_assessable_segments": list(m.not_assessable_segments),
            }
        )
    return rows


def nerve_coverage_doc(measurements: Sequence[VesselMeasurement]) -> dict:
    """Case-level nerve coverage for ``nvcview measure --json``.

    Returns
    -------
    dict
        ``nerve_coverage``: segment -> covered fraction (0-1) of its centreline;
        ``not_assessable_segments``: segments the nerve label does not cover, over
        which no gap was measured (so "no contact" cannot be concluded there).
        Both empty when there is no measurement or the check was not made.
    """
    first = measurements[0] if measurements else None
    return {
        "nerve_coverage": dict(first.nerve_coverage) if first else {},
        "not_assessable_segments": list(first.not_assessable_segments) if first else [],
    }
