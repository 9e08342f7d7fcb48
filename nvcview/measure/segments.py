"""Which segment of the facial nerve a contact lies on (DOMAIN.md), from arc lengths in mm."""

from __future__ import annotations

from nvcview.measure.records import MeasureSettings


def classify_segment(
    arc_from_rexp_mm: float | None,
    dist_from_rdp_mm: float | None,
    settings: MeasureSettings,
) -> str | None:
    """Segment of the nerve at a contact.

    Parameters
    ----------
    arc_from_rexp_mm : float or None
        Arc length along the centreline from the RExP to the contact, mm.
    dist_from_rdp_mm : float or None
        Signed arc length from the RDP, mm (negative = medial, towards the brainstem).
    settings : MeasureSettings
        ``rexp_radius_mm``, ``tz_half_length_mm``, ``proximal_cisternal_mm``.

    Returns
    -------
    str or None
        One of :data:`~nvcview.measure.records.SEGMENTS`; None without landmarks.

    Notes
    -----
    Rules, in order: within ``tz_half_length_mm`` of the RDP -> "RDP/TZ" (when it
    also lies within ``rexp_radius_mm`` of the RExP, the nearer landmark wins);
    within ``rexp_radius_mm`` of the RExP (or medial of it) -> "RExP"; between the
    two -> "AS"; lateral of the TZ up to ``proximal_cisternal_mm`` past the RDP ->
    "proximal cisternal"; beyond -> "distal cisternal". Without the RDP a
    contact outside the RExP zone cannot be placed: None.
    """
    s = settings
    near_rexp = arc_from_rexp_mm is not None and arc_from_rexp_mm <= s.rexp_radius_mm
    if dist_from_rdp_mm is None:
        return "RExP" if near_rexp else None
    d = dist_from_rdp_mm
    in_tz = abs(d) <= s.tz_half_length_mm
    if in_tz and near_rexp:
        return "RDP/TZ" if abs(d) < abs(arc_from_rexp_mm or 0.0) else "RExP"
    if in_tz:
        return "RDP/TZ"
    if d > 0:
        return "proximal cisternal" if d <= s.proximal_cisternal_mm else "distal cisternal"
    return "RExP" if near_rexp else "AS"
