"""Keyed pseudonyms for batch exports: the one scheme of :mod:`nvcview.case.pseudonym`."""

from nvcview.case.pseudonym import (
    DEFAULT_KEY,
    MAX_SHIFT_DAYS,
    MIN_KEY_BYTES,
    Pseudonymizer,
    patient_identity,
    read_key_file,
)

__all__ = [
    "DEFAULT_KEY",
    "MAX_SHIFT_DAYS",
    "MIN_KEY_BYTES",
    "Pseudonymizer",
    "patient_identity",
    "read_key_file",
]
