"""The analytic answer: every vessel measured exactly against VII (and VIII).

All tubes are swept spheres along polylines, so the surface gap between nerve
and vessel is ``min centreline distance - r_nerve - r_vessel`` (exact, from
segment-segment distances). A negative value means the vessel dents the nerve
(the nerve is the tube minus the vessel): the gap is 0 and the indentation depth
is its magnitude.
"""

from __future__ import annotations

import numpy as np

from nvcview.jsonutil import plain_json
from nvcview.measure.records import MeasureSettings
from nvcview_sample.anatomy import STRUCTURE_TABLE, Anatomy
from nvcview_sample.geometry import arc_lengths, polyline_closest, tangent_at, unit

TRUTH_FORMAT = "nvcview-phantom-truth"
TRUTH_VERSION = 1


def classify_segment(arc_mm: float, rdp_arc_mm: float, settings: MeasureSettings) -> str:
    """REZ segment name (``nvcview.measure.records.SEGMENTS``) of an arc length on VII.

    Parameters
    ----------
    arc_mm : float
        Arc length from the RExP along the VII centreline, mm.
    rdp_arc_mm : float
        Arc length of the RDP, mm.
    settings : MeasureSettings
        ``rexp_radius_mm``, ``tz_half_length_mm`` and ``proximal_cisternal_mm`` are used.
    """
    if arc_mm <= settings.rexp_radius_mm:
        return "RExP"
    if abs(arc_mm - rdp_arc_mm) <= settings.tz_half_length_mm:
        return "RDP/TZ"
    if arc_mm < rdp_arc_mm:
        return "AS"
    if arc_mm - rdp_arc_mm <= settings.proximal_cisternal_mm:
        return "proximal cisternal"
    return "distal cisternal"


def side_of_nerve(direction: np.ndarray, nerve_tangent: np.ndarray) -> str:
    """Which side of the nerve a direction (nerve -> vessel, LPS) points to.

    Convention of ``nvcview.measure``: the patient's superior (+z) and anterior (-y)
    directions are made perpendicular to the nerve (Gram-Schmidt, superior first;
    lateral replaces superior when the nerve runs nearly superior-inferior) and the
    larger component of the direction's perpendicular part names the side.
    """
    t = unit(nerve_tangent)
    w = direction - np.dot(direction, t) * t
    sup = np.array([0.0, 0.0, 1.0]) - t[2] * t
    if np.linalg.norm(sup) < 0.3:
        sup = np.array([1.0, 0.0, 0.0]) - t[0] * t
    sup = unit(sup)
    ant = np.array([0.0, -1.0, 0.0]) + t[1] * t
    ant = ant - np.dot(ant, sup) * sup
    ant = unit(ant) if np.linalg.norm(ant) > 1e-6 else unit(np.cross(t, sup))
    a, s = float(np.dot(w, ant)), float(np.dot(w, sup))
    if abs(s) >= abs(a):
        return "superior" if s > 0 else "inferior"
    return "anterior" if a > 0 else "posterior"


def tube_pair(nerve, vessel) -> dict:
    """Exact gap, closest surface points and indentation between two tubes."""
    c = polyline_closest(nerve.points, vessel.points)
    dist = c["distance"]
    direction = unit(c["point_b"] - c["point_a"])
    signed_gap = dist - nerve.radius - vessel.radius
    if abs(signed_gap) < 1e-9:  # touching: the design is exact to ~1e-12 mm
        signed_gap = 0.0
    if signed_gap >= 0:
        pn = c["point_a"] + nerve.radius * direction
        pv = c["point_b"] - vessel.radius * direction
    else:  # dented: the deepest point of the vessel inside the nominal nerve
        pn = pv = c["point_b"] - vessel.radius * direction
    return {
        "signed_gap_mm": float(signed_gap),
        "gap_mm": float(max(0.0, signed_gap)),
        "indentation_depth_mm": float(-signed_gap) if signed_gap < 0 else None,
        "nerve_point_lps": pn,
        "vessel_point_lps": pv,
        "centreline_distance_mm": float(dist),
        "nerve_axis_point_lps": c["point_a"],
        "vessel_axis_point_lps": c["point_b"],
        "arc_nerve_mm": c["arc_a"],
        "arc_vessel_mm": c["arc_b"],
        "direction": direction,
    }


def compute_truth(anatomy: Anatomy, settings: MeasureSettings | None = None) -> dict:
    """The ground-truth document (content of ``truth.json``) without series info.

    Parameters
    ----------
    anatomy : Anatomy
        The phantom's shapes (LPS mm).
    settings : MeasureSettings, optional
        Segment boundaries used to name the segment of each closest point.

    Returns
    -------
    dict
        JSON-able; positions LPS mm, lengths mm, angles degrees.
    """
    settings = settings or MeasureSettings()
    a = anatomy
    vii, viii = a.tubes["VII"], a.tubes["VIII"]
    total = float(arc_lengths(a.centreline)[-1])
    structures = []
    vessels = []
    prefix = f"{a.side} "
    for label, key, name, kind, vtype, nerve in STRUCTURE_TABLE:
        full = name if key in ("brainstem", "basilar") else prefix + name
        structures.append(
            {"label": label, "name": full, "kind": kind, "vessel_type": vtype, "nerve": nerve}
        )
        if kind != "vessel":
            continue
        tube = a.tubes[key]
        r = tube_pair(vii, tube)
        r8 = tube_pair(viii, tube)
        arc = r["arc_nerve_mm"]
        on_centreline = arc <= total
        _, t_n = tangent_at(vii.points, min(arc, float(arc_lengths(vii.points)[-1])))
        _, t_v = tangent_at(tube.points, r["arc_vessel_mm"])
        crossing = float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(t_n, t_v)))))))
        if r["indentation_depth_mm"] is not None:
            grade = "indentation"
        elif r["gap_mm"] == 0.0:
            grade = "contact"
        else:
            grade = "none"
        vessels.append(
            {
                "label": label,
                "name": full,
                "vessel_type": vtype,
                "radius_mm": tube.radius,
                "vessel_diameter_mm": 2.0 * tube.radius,
                "gap_mm": r["gap_mm"],
                "signed_gap_mm": r["signed_gap_mm"],
                "indentation_depth_mm": r["indentation_depth_mm"],
                "nerve_point_lps": r["nerve_point_lps"],
                "vessel_point_lps": r["vessel_point_lps"],
                "centreline_distance_mm": r["centreline_distance_mm"],
                "nerve_axis_point_lps": r["nerve_axis_point_lps"],
                "vessel_axis_point_lps": r["vessel_axis_point_lps"],
                "arc_length_from_rexp_mm": arc,
                "dist_from_rdp_mm": arc - a.rdp_arc_mm,
                "within_centreline": bool(on_centreline),
                "segment": classify_segment(arc, a.rdp_arc_mm, settings),
                "crossing_angle_deg": crossing,
                "side_of_nerve": side_of_nerve(r["direction"], t_n),
                "grade": grade,
                "gap_to_cn8_mm": r8["gap_mm"],
                "cn8_point_lps": r8["nerve_point_lps"],
                "vessel_point_to_cn8_lps": r8["vessel_point_lps"],
            }
        )
    c = a.contact
    offending = next(v for v in vessels if v["vessel_type"] == "AICA")
    return _plain(
        {
            "format": TRUTH_FORMAT,
            "version": TRUTH_VERSION,
            "units": {"length": "mm", "angle": "deg", "frame": "patient LPS"},
            "side": a.side,
            "landmarks": a.landmarks,
            "centreline_lps": a.centreline,
            "nerve_length_mm": total,
            "rdp_arc_mm": a.rdp_arc_mm,
            "nerves": {
                "VII": {"label": 2, "radius_mm": vii.radius, "diameter_mm": 2 * vii.radius},
                "VIII": {"label": 3, "radius_mm": viii.radius, "diameter_mm": 2 * viii.radius},
            },
            "structures": structures,
            "vessels": vessels,
            "conflict": {
                "vessel_label": offending["label"],
                "vessel_type": "AICA",
                "requested_segment": c["segment"],
                "requested_arc_mm": c["arc_mm"],
                "requested_gap_mm": c["gap_mm"],
                "requested_indent_mm": c["indent_mm"],
                "segment": offending["segment"],
                "gap_mm": offending["gap_mm"],
                "indentation_depth_mm": offending["indentation_depth_mm"],
                "grade": offending["grade"],
                "contact_direction": c["direction"],
                "multiplicity": "single",
            },
            "segment_settings": settings.to_dict(),
            "anatomy_params": a.params,
        }
    )


_plain = plain_json
