"""The result of a registration, as stored in a review (pure numpy, no SimpleITK).

All positions are patient LPS millimetres. ``moving_to_fixed_lps`` is a 4x4
homogeneous matrix mapping the LPS position of a point of the moving series'
anatomy (e.g. an artery seen on the TOF) to the LPS position of the same
anatomy in the fixed (reference, T2) series.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nvcview.errors import InputError, NvcviewError

#: method names a Registration may carry
METHODS = ("rigid", "identity", "manual")


class RegistrationError(NvcviewError):
    """A registration that failed (no overlap, empty region, no convergence)."""


class RegistrationRefusedError(RegistrationError):
    """A registration that moves the region too far to be trusted without ``force``."""


class RegistrationCancelledError(RegistrationError):
    """The registration was cancelled (its ``cancel`` callback said so); nothing is applied."""


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True, eq=False)
class Registration:
    """A rigid transform between two series of one study and its quality.

    Attributes
    ----------
    moving_to_fixed_lps : (4, 4) ndarray of float
        Maps the LPS mm position of a point of the moving series' anatomy to the
        LPS mm position of the same anatomy in the fixed series.
    residual_mm : float
        Estimated registration error in the region, mm: the largest distance, over
        the region's corners and its centre, between the results of registrations
        started from perturbed positions (a consistency check; see
        ``docs/register.md``). NaN when not estimated.
    metric : str
        Name of the similarity metric ("MattesMutualInformation").
    metric_value : float
        Final metric value (ITK's sign: lower is better for Mattes MI).
    iterations : int
        Optimizer iterations, summed over the resolution levels.
    region_lps : (2, 3) ndarray of float
        Minimum and maximum LPS mm corners of the box the metric was evaluated in.
    method : str
        One of :data:`METHODS`.
    moving_series_uid, fixed_series_uid : str
        SeriesInstanceUIDs (empty for NIfTI input).
    warnings : tuple of str
        Problems worth stating in the review and report (e.g. different
        FrameOfReferenceUID).
    forced : bool
        True when a transform beyond the plausibility limits was accepted with ``force``.
    who : str
        Reader or program that made or accepted the registration.
    when : str
        ISO 8601 UTC time of the registration.
    """

    moving_to_fixed_lps: np.ndarray
    residual_mm: float = math.nan
    metric: str = "MattesMutualInformation"
    metric_value: float = math.nan
    iterations: int = 0
    region_lps: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))
    method: str = "rigid"
    moving_series_uid: str = ""
    fixed_series_uid: str = ""
    warnings: tuple[str, ...] = ()
    forced: bool = False
    who: str = ""
    when: str = field(default_factory=_now_iso)

    def __post_init__(self) -> None:
        m = np.array(self.moving_to_fixed_lps, dtype=np.float64)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            raise InputError("registration: moving_to_fixed_lps must be a finite 4x4 matrix")
        if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
            raise InputError("registration: moving_to_fixed_lps last row must be (0, 0, 0, 1)")
        r = np.array(self.region_lps, dtype=np.float64).reshape(2, 3)
        m.setflags(write=False)
        r.setflags(write=False)
        object.__setattr__(self, "moving_to_fixed_lps", m)
        object.__setattr__(self, "region_lps", r)
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        if self.method not in METHODS:
            raise InputError(f"registration: unknown method {self.method!r} (one of {METHODS})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Registration):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    @property
    def rotation_deg(self) -> float:
        """Rotation angle of the transform, degrees."""
        return rotation_angle_deg(self.moving_to_fixed_lps)

    @property
    def translation_mm(self) -> np.ndarray:
        """How far the transform moves the region's centre, (3,) LPS mm."""
        c = self.region_lps.mean(axis=0)
        return apply_to_points(c, self.moving_to_fixed_lps) - c

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN becomes None)."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "moving_series_uid": self.moving_series_uid,
            "fixed_series_uid": self.fixed_series_uid,
            "moving_to_fixed_lps": [[float(v) for v in row] for row in self.moving_to_fixed_lps],
            "method": self.method,
            "metric": self.metric,
            "metric_value": num(self.metric_value),
            "residual_mm": num(self.residual_mm),
            "iterations": int(self.iterations),
            "region_lps": [[float(v) for v in row] for row in self.region_lps],
            "warnings": list(self.warnings),
            "forced": bool(self.forced),
            "who": self.who,
            "when": self.when,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Registration:
        """Inverse of :meth:`to_dict` (missing optional keys take their defaults)."""
        if "moving_to_fixed_lps" not in d:
            raise InputError("registration: missing moving_to_fixed_lps")

        def num(x: Any) -> float:
            return math.nan if x is None else float(x)

        return cls(
            moving_to_fixed_lps=np.asarray(d["moving_to_fixed_lps"], dtype=np.float64),
            residual_mm=num(d.get("residual_mm")),
            metric=str(d.get("metric", "MattesMutualInformation")),
            metric_value=num(d.get("metric_value")),
            iterations=int(d.get("iterations", 0)),
            region_lps=np.asarray(d.get("region_lps", np.zeros((2, 3))), dtype=np.float64),
            method=str(d.get("method", "rigid")),
            moving_series_uid=str(d.get("moving_series_uid", "")),
            fixed_series_uid=str(d.get("fixed_series_uid", "")),
            warnings=tuple(d.get("warnings", ())),
            forced=bool(d.get("forced", False)),
            who=str(d.get("who", "")),
            when=str(d.get("when", "")),
        )


def apply_to_points(points_lps: ArrayLike, moving_to_fixed_lps: ArrayLike) -> np.ndarray:
    """Map LPS mm positions of the moving series' anatomy into the fixed series.

    Parameters
    ----------
    points_lps : array-like, shape (3,) or (N, 3)
        Positions in patient LPS mm (e.g. a seed or vessel point picked on the TOF).
    moving_to_fixed_lps : array-like, shape (4, 4)
        The registration's transform.

    Returns
    -------
    ndarray of the same shape as ``points_lps``: positions in LPS mm of the same
    anatomy in the fixed series.
    """
    p = np.asarray(points_lps, dtype=np.float64)
    m = np.asarray(moving_to_fixed_lps, dtype=np.float64)
    if p.shape[-1] != 3 or m.shape != (4, 4):
        raise InputError("apply_to_points: points must be (..., 3) and the transform 4x4")
    return p @ m[:3, :3].T + m[:3, 3]


def rotation_angle_deg(matrix: ArrayLike) -> float:
    """Rotation angle (degrees) of the 3x3 part of a rigid 4x4 (or 3x3) matrix."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    c = (np.trace(r) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def describe_registration(reg: Registration | None, moving: str = "TOF", fixed: str = "T2") -> str:
    """One sentence for the report.

    Parameters
    ----------
    reg : Registration or None
        The registration of the moving series onto the fixed one (None: none).
    moving, fixed : str
        Role names of the two series.

    Returns
    -------
    str
        "TOF registered to T2 (rigid, estimated residual 0.12 mm)" or
        "TOF not registered to T2"; a forced transform and warnings are appended.
    """
    if reg is None or reg.method == "identity":
        return f"{moving} not registered to {fixed}"
    if math.isfinite(reg.residual_mm):
        quality = f"estimated residual {reg.residual_mm:.2f} mm"
    else:
        quality = "residual not estimated"
    text = f"{moving} registered to {fixed} ({reg.method}, {quality})"
    if reg.forced:
        text += "; accepted beyond the plausibility limits (forced)"
    for w in reg.warnings:
        text += f"; {w}"
    return text
