"""Strict-JSON conversion of the plain data our documents hold."""

from __future__ import annotations

import math

import numpy as np


def plain_json(value: object) -> object:
    """Convert numpy scalars/arrays and tuples (recursively) into strict-JSON Python values.

    Non-finite floats become ``None`` (JSON has no NaN/inf).
    """
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain_json(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
