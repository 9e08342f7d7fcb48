"""Interpolate an unevenly spaced stack onto a regular grid along its slice normal.

Only used when the caller allows it (``load(..., allow_resample=True)``): slices
that lie on one line along the normal but with uneven gaps (or missing slices)
are resampled linearly between the two nearest acquired slices, never
extrapolated. The result carries a warning that says so, since values in a gap
are made up from their neighbours.
"""

from __future__ import annotations

import numpy as np

from nvcview.io.stacks import IrregularStack


def regular_grid(
    array: np.ndarray, irregular: IrregularStack, origin_lps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str]:
    """Resample ``(slice, row, column)`` data onto evenly spaced slices.

    Parameters
    ----------
    array : ndarray, shape (n, rows, columns)
        Slices sorted along the normal (as in ``irregular.positions_mm``).
    irregular : IrregularStack
        Slice positions (mm along the normal from the first slice) and in-plane axes.
    origin_lps : ndarray, shape (3,)
        ImagePositionPatient of the first slice, LPS mm.

    Returns
    -------
    array, affine, warning
        float32 array on the regular grid, its index -> LPS affine, and a message
        describing what was interpolated.
    """
    pos = np.asarray(irregular.positions_mm, dtype=np.float64)
    gaps = np.diff(pos)
    base = float(np.min(gaps))
    ratios = gaps / base
    if np.all(np.abs(ratios - np.round(ratios)) <= 0.02):
        spacing = base  # missing slices: keep the acquired spacing
    else:
        spacing = float(np.median(gaps))  # uneven: the typical gap
    n_new = int(round(pos[-1] / spacing)) + 1
    spacing = pos[-1] / (n_new - 1)
    targets = np.arange(n_new) * spacing
    upper = np.clip(np.searchsorted(pos, targets, side="right"), 1, len(pos) - 1)
    lower = upper - 1
    weight = (targets - pos[lower]) / (pos[upper] - pos[lower])
    weight = np.clip(weight, 0.0, 1.0).astype(np.float32)
    out = np.empty((n_new, *array.shape[1:]), dtype=np.float32)
    for k in range(n_new):
        w = weight[k]
        a = array[lower[k]].astype(np.float32)
        if w > 0:
            a = a * (1 - w) + array[upper[k]].astype(np.float32) * w
        out[k] = a
    affine = np.eye(4)
    affine[:3, 0] = irregular.normal * spacing
    affine[:3, 1:3] = irregular.inplane
    affine[:3, 3] = origin_lps
    exact = np.isclose(weight, 0.0) | np.isclose(weight, 1.0)
    warning = (
        f"resampled: {len(pos)} unevenly spaced slices (gaps {gaps.min():.3f} to "
        f"{gaps.max():.3f} mm) interpolated linearly onto {n_new} slices at {spacing:.3f} mm; "
        f"{int(np.count_nonzero(~exact))} slice(s) are interpolated, not acquired"
    )
    return out, affine, warning
