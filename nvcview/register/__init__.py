"""Rigid T2 <- TOF (and T1) registration in the CPA region (patient LPS mm).

Re-exports only; see :mod:`nvcview.register.rigid`, :mod:`nvcview.register.model`,
:mod:`nvcview.register.resample`,
:mod:`nvcview.register.check`.
"""

from __future__ import annotations

from nvcview.register.check import checkerboard, edge_overlay
from nvcview.register.model import (
    Registration,
    RegistrationCancelledError,
    RegistrationError,
    RegistrationRefusedError,
    apply_to_points,
    describe_registration,
)
from nvcview.register.resample import placed, resample_to, through_review
from nvcview.register.rigid import estimate_misalignment, identity_registration, register_series

__all__ = [
    "Registration",
    "RegistrationCancelledError",
    "RegistrationError",
    "RegistrationRefusedError",
    "apply_to_points",
    "checkerboard",
    "describe_registration",
    "edge_overlay",
    "estimate_misalignment",
    "identity_registration",
    "placed",
    "register_series",
    "resample_to",
    "through_review",
]
