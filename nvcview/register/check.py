"""Checking an alignment: the quick misalignment check of a study, and check images.

- :func:`check_alignment` is the check run when a study is opened: is the moving
  series (TOF) misaligned with the reference (T2) by more than
  :data:`MISALIGNMENT_WARN_MM` in the CPA region? (The one threshold and wording:
  front ends show :attr:`AlignmentCheck.message`.)
- :func:`checkerboard`, :func:`edge_overlay` build arrays for checking a
  registration by eye (the viewer shows them as layers). Both take the fixed series
  and the moving series already resampled onto the fixed grid
  (:func:`nvcview.register.resample_to`), so every output lies on the fixed grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.io.grids import grid_mismatch
from nvcview.io.image import Image

#: estimated misalignment (mm, in the CPA region) above which the reader is told to
#: register the series before fusing them
MISALIGNMENT_WARN_MM = 0.5


@dataclass(frozen=True)
class AlignmentCheck:
    """The result of :func:`check_alignment` for one pair of series.

    Attributes
    ----------
    misalignment_mm : float
        Largest displacement (mm) over the CPA region's corners and centre between
        the series' DICOM geometry and a quick registration of the moving series onto
        the fixed one.
    fixed_series_uid, moving_series_uid : str
        The series checked (the check belongs to this pair only).
    moving, fixed : str
        How the series are called in the message ("TOF", "T2").
    """

    misalignment_mm: float
    fixed_series_uid: str = ""
    moving_series_uid: str = ""
    moving: str = "TOF"
    fixed: str = "T2"
    region_lps: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def misaligned(self) -> bool:
        """More than :data:`MISALIGNMENT_WARN_MM` apart: register before fusing."""
        return bool(self.misalignment_mm > MISALIGNMENT_WARN_MM)

    @property
    def message(self) -> str:
        """The sentence shown to the reader (a warning when :attr:`misaligned`)."""
        return alignment_message(self.misalignment_mm, self.moving, self.fixed)


def alignment_message(misalignment_mm: float, moving: str = "TOF", fixed: str = "T2") -> str:
    """The reader's sentence for an estimated misalignment (mm) in the CPA region."""
    mm = float(misalignment_mm)
    if mm > MISALIGNMENT_WARN_MM:
        return (
            f"{fixed} and {moving} look misaligned by about {mm:.1f} mm in the CPA "
            f"(more than {MISALIGNMENT_WARN_MM:g} mm): register {moving} to {fixed} "
            "before fusing"
        )
    return f"{fixed} and {moving} agree within {max(mm, 0.05):.1f} mm in the CPA (estimate)."


def check_alignment(
    fixed: Image,
    moving: Image,
    *,
    landmarks: Mapping[str, ArrayLike] | None = None,
    side: str | None = None,
    cancel: Callable[[], bool] | None = None,
    moving_name: str = "TOF",
    fixed_name: str = "T2",
) -> AlignmentCheck:
    """The alignment check of a study being opened: T2 vs TOF in the CPA region.

    Cheap by design: a ~50 mm box around the side's landmarks (else the volume
    centre), metric samples capped (8,000), two block-averaged levels
    (:func:`nvcview.register.estimate_misalignment`); about a second on a
    512 x 512 x 170 TOF onto a 512 x 512 x 160 T2 (benchmarks/bench_register.py).

    Parameters
    ----------
    fixed, moving : Image
        Reference (T2) and moving (TOF) series; affines index -> LPS mm.
    landmarks : mapping, optional
        Name -> (3,) LPS mm, centring the region.
    side : {"left", "right"}, optional
        Selects side-prefixed landmarks.
    cancel : callable, optional
        Polled at every optimiser iteration: True stops the check
        (:class:`~nvcview.register.RegistrationCancelledError`).

    Returns
    -------
    AlignmentCheck

    Raises
    ------
    RegistrationError
        No overlap or an empty region (naming the series).
    """
    from nvcview.register.region import cpa_region
    from nvcview.register.rigid import estimate_misalignment

    mm = estimate_misalignment(fixed, moving, landmarks=landmarks, side=side, cancel=cancel)
    return AlignmentCheck(
        misalignment_mm=float(mm),
        fixed_series_uid=fixed.meta.series_uid or "",
        moving_series_uid=moving.meta.series_uid or "",
        moving=moving_name,
        fixed=fixed_name,
        region_lps=cpa_region(fixed, landmarks, side, 50.0),
    )


def _same_grid(fixed: Image, moving_on_fixed: Image) -> None:
    why = grid_mismatch(
        moving_on_fixed.affine, moving_on_fixed.array.shape, fixed.affine, fixed.array.shape
    )
    if why is not None:
        raise InputError(
            "registration check: the moving series must first be resampled onto the fixed "
            f"grid (resample_to): {why}"
        )


#: percentiles are taken over at most about this many voxels (a regular subsample)
PERCENTILE_SAMPLES = 1_000_000


def normalised(array: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.5) -> np.ndarray:
    """Intensities scaled to 0..1 between two percentiles (float32).

    The percentiles come from a regular subsample of at most about a million voxels
    (the full sort of a 512 x 512 x 160 volume took seconds).
    """
    a = np.asarray(array, dtype=np.float32)
    step = max(1, int(np.ceil(a.size / PERCENTILE_SAMPLES)))
    lo, hi = np.percentile(a.reshape(-1)[::step], [low_pct, high_pct])
    if hi <= lo:
        return np.zeros_like(a)
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0)


def checkerboard(fixed: Image, moving_on_fixed: Image, tile_mm: float = 8.0) -> np.ndarray:
    """Fixed and moving in alternating cubes of ``tile_mm`` (LPS mm), both scaled 0..1.

    Tiles are cut in patient space (by the voxels' LPS positions), so they are cubes of
    the same size in mm on any grid. A misregistration shows as edges that jump at the
    tile borders.

    Returns
    -------
    ndarray of float32, the fixed grid's shape.
    """
    _same_grid(fixed, moving_on_fixed)
    if not tile_mm > 0:
        raise InputError(f"checkerboard tile must be a positive size in mm, not {tile_mm}")
    shape = fixed.array.shape
    a = fixed.affine
    take_moving = np.zeros(shape, dtype=bool)
    idx = [
        np.arange(shape[0])[:, None, None],
        np.arange(shape[1])[None, :, None],
        np.arange(shape[2])[None, None, :],
    ]
    for axis in range(3):  # x, y, z of each voxel centre, separably
        # only the index axes this patient axis depends on are broadcast (one for an
        # axis-aligned grid: a 1-D array, not a full volume per axis)
        coord: np.ndarray | float = float(a[axis, 3])
        for j in range(3):
            if abs(a[axis, j]) > 1e-9:
                coord = coord + a[axis, j] * idx[j]
        odd = np.floor(np.asarray(coord) / tile_mm).astype(np.int64) % 2 == 1
        take_moving ^= odd
    return np.where(take_moving, normalised(moving_on_fixed.array), normalised(fixed.array))


def edge_overlay(
    moving_on_fixed: Image, sigma_mm: float = 0.6, fraction: float = 0.25
) -> np.ndarray:
    """Boolean edges of the moving series on the fixed grid, to draw over the fixed one.

    Edges are voxels whose Gaussian gradient magnitude (``sigma_mm``, in mm along each
    axis) exceeds ``fraction`` of its 99.5th percentile.
    """
    if not sigma_mm > 0 or not 0 < fraction < 1:
        raise InputError("edge overlay: sigma_mm must be > 0 and fraction in (0, 1)")
    spacing = np.asarray(moving_on_fixed.spacing_mm)
    grad = ndimage.gaussian_gradient_magnitude(
        normalised(moving_on_fixed.array), sigma=sigma_mm / spacing
    )
    top = float(np.percentile(grad, 99.5))
    if top <= 0:
        return np.zeros(grad.shape, dtype=bool)
    return grad > fraction * top


def region_pair(fixed: Image, moving_on_fixed: Image, box_lps: np.ndarray) -> tuple[Image, Image]:
    """Both images cropped to the voxels covering an LPS box (the registration's region).

    The check views need only the CPA region the registration was made in; cropping
    first keeps them cheap on 512 x 512 x 160 series. Affines keep world positions.
    """
    from nvcview.io.image import make_volume
    from nvcview.register.region import cropped

    _same_grid(fixed, moving_on_fixed)
    out = []
    for img in (fixed, moving_on_fixed):
        arr, aff = cropped(img, np.asarray(box_lps, float).reshape(2, 3))
        if min(arr.shape) < 1:
            raise InputError("registration check: the region lies outside the fixed series")
        out.append(Image(volume=make_volume(arr, aff), meta=img.meta, patient=img.patient))
    return out[0], out[1]
