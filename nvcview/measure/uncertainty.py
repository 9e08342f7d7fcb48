"""The uncertainty interval of a surface gap, and the contact call made from it.

A gap measured on a label map is known only to within

- the **resolution limit**: a gap below ``contact_factor`` voxels along the gap
  direction (or below ``contact_mm``) cannot be told from contact (DOMAIN.md):
  the truth may be 0, so the interval reaches down to 0; a pair read as touching
  (0 mm) may hide a gap up to that limit;
- the **method's error**: on analytic capsule phantoms (partial-volume
  voxelisation, random orientations, oblique and anisotropic grids) the
  surface estimator's error stays within ``gap_error_vox`` voxels along the gap
  (see :mod:`nvcview.measure.surface` and ``tests/measure/test_surface_gap.py``).

Interval (mm)::

    touching:     [0, max(limit, span)]
    gap > 0:      [max(0, gap - limit), gap + gap_error_vox * resolution]

with ``limit = contact_mm`` or ``contact_factor * resolution``, and ``span`` (labels
touching by face-adjacent voxels only) the largest voxel spacing across their shared
faces: a threshold or grow can shut a CSF gap up to one voxel wide across a face, more
than the voxel along the contact normal on thick slices. The pair is called contact
when the interval includes 0, i.e. ``gap <= limit``.

The indentation depth (the nerve's loss of calibre at a contact, measured against
its own fitted course, :mod:`nvcview.measure.geometry`) follows the same rule:
partial volume alone takes up to about half a voxel off a touched, undented nerve
(0.21 mm at 0.44 mm voxels on the curving-nerve phantoms), so a depth is told
from 0 only from :func:`indentation_threshold_mm` (``indentation_min_vox``
voxels along the vessel direction, at least ``indentation_min_mm``).
:func:`grades_within_resolution` gives the grades a measurement can honestly
give for a known (analytic) gap and depth: a depth within the estimator's error
(``indentation_error_vox``) of the threshold may read either side of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvcview.measure.records import MeasureSettings


@dataclass(frozen=True)
class GapInterval:
    """A gap with its uncertainty (mm) and how the interval was made."""

    gap_low_mm: float
    gap_high_mm: float
    method: str

    @property
    def includes_zero(self) -> bool:
        """True when the gap cannot be told from contact."""
        return self.gap_low_mm <= 0.0


def interval_text(low_mm: float | None, high_mm: float | None) -> str | None:
    """The interval as every table shows it, e.g. ``"0.00-0.45"`` (mm, two decimals).

    None when the engine gave no interval (a measurement stored by an older version).

    >>> interval_text(0.0, 0.454)
    '0.00-0.45'
    >>> interval_text(None, 0.4) is None
    True
    """
    if low_mm is None or high_mm is None:
        return None
    return f"{low_mm:.2f}-{high_mm:.2f}"


def resolution_limit_mm(resolution_mm: float, settings: MeasureSettings) -> float:
    """Gap (mm) below which a pair cannot be told from contact: absolute or voxels."""
    if settings.contact_mm is not None:
        return float(settings.contact_mm)
    return float(settings.contact_factor * resolution_mm)


def gap_interval(
    gap_mm: float,
    resolution_mm: float,
    touching: bool,
    settings: MeasureSettings | None = None,
    shut_span_mm: float | None = None,
) -> GapInterval:
    """Uncertainty interval of a gap (see the module docstring).

    Parameters
    ----------
    gap_mm : float
        Measured surface gap, mm (0 when touching).
    resolution_mm : float
        Voxel size along the gap direction, mm.
    touching : bool
        The surfaces touch or interpenetrate (face-adjacent voxels).
    settings : MeasureSettings, optional
        ``contact_factor`` / ``contact_mm`` (resolution limit) and ``gap_error_vox``.
    shut_span_mm : float, optional
        For labels that touch because they have face-adjacent voxels: the largest
        spacing (mm) across their shared faces. Two voxels labelled on either side of
        a face can hide a gap up to it (a threshold or grow shut the CSF between
        them), which on thick slices is more than the voxel along the contact
        normal; the touching interval then reaches up to it.
    """
    s = settings or MeasureSettings()
    limit = resolution_limit_mm(resolution_mm, s)
    err = float(s.gap_error_vox * resolution_mm)
    how = (
        f"voxel {resolution_mm:.2f} mm along the gap: low = gap - "
        + (
            f"{limit:.2f} mm (contact_mm)"
            if s.contact_mm is not None
            else f"{s.contact_factor:g} voxel (resolution limit)"
        )
        + f", high = gap + {s.gap_error_vox:g} voxel (method error on phantoms)"
        + (f"; surface {s.surface_method}" if s.surface_method != "corrected" else "")
    )
    if touching or gap_mm <= 0.0:
        if shut_span_mm is not None and shut_span_mm > limit:
            how += f"; touching labels: high = the {shut_span_mm:.2f} mm voxel across their faces"
            limit = float(shut_span_mm)
        return GapInterval(0.0, round(limit, 3), "touching; " + how)
    return GapInterval(round(max(0.0, gap_mm - limit), 3), round(gap_mm + err, 3), how)


def indentation_threshold_mm(resolution_mm: float, settings: MeasureSettings) -> float:
    """Depth (mm) from which a loss of nerve calibre is called indentation.

    Parameters
    ----------
    resolution_mm : float
        Voxel size along the direction of the vessel from the nerve, mm.
    settings : MeasureSettings
        ``indentation_min_mm`` and ``indentation_min_vox``.

    Returns
    -------
    float
        ``max(indentation_min_mm, indentation_min_vox * resolution_mm)``, mm: below it
        the depth's interval includes 0 (contact, nerve not deformed).
    """
    return float(max(settings.indentation_min_mm, settings.indentation_min_vox * resolution_mm))


def grades_within_resolution(
    gap_mm: float,
    indentation_mm: float | None,
    resolution_mm: float,
    settings: MeasureSettings | None = None,
) -> frozenset[str]:
    """The grades a measurement can give for a known gap and indentation depth.

    Used to score the suggested grade against analytic truth (phantoms): a gap
    below the resolution limit is contact (it cannot be told from touching),
    and an indentation depth within the depth estimator's error
    (``indentation_error_vox`` voxels) of :func:`indentation_threshold_mm` may be
    read as contact or as indentation. Deviation is not covered (phantom truth
    has no displaced-course grade).

    Parameters
    ----------
    gap_mm : float
        True minimum surface gap, mm (0 when touching or indented).
    indentation_mm : float or None
        True indentation depth, mm (None or 0: no dent).
    resolution_mm : float
        Voxel size along the gap (vessel) direction, mm.
    settings : MeasureSettings, optional
        Thresholds (defaults when None).

    Returns
    -------
    frozenset of str
        Subset of {"none", "contact", "indentation"}.
    """
    s = settings or MeasureSettings()
    if gap_mm > resolution_limit_mm(resolution_mm, s):
        return frozenset({"none"})
    depth = float(indentation_mm or 0.0)
    thr = indentation_threshold_mm(resolution_mm, s)
    err = float(s.indentation_error_vox * resolution_mm)
    out = set()
    if depth - err < thr:
        out.add("contact")
    if depth + err >= thr and depth > 0:
        out.add("indentation")
    return frozenset(out)
