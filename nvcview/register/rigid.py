"""Rigid registration of a moving series (TOF, T1) onto the reference T2 in the CPA region.

SimpleITK's ``ImageRegistrationMethod``: Mattes mutual information (multi-modal),
a rigid (Euler) transform centred on the region, regular-step gradient descent
with physical-shift scales, three resolution levels (shrink 4/2/1, smoothing
1/0.5/0 mm). Only a box of about 50 mm around the CPA enters the metric: the
fixed image is cropped to it and the moving one to it plus a margin, which
makes the registration independent of the field of view (and fast).

ITK optimises the transform mapping *fixed* physical points to *moving* ones;
the stored ``moving_to_fixed_lps`` is its inverse. ITK physical space is LPS,
like ours, so no axis flips are involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.register.model import (
    Registration,
    RegistrationCancelledError,
    RegistrationError,
    RegistrationRefusedError,
    apply_to_points,
    rotation_angle_deg,
)
from nvcview.register.region import (
    box_corners,
    cpa_region,
    cropped,
    image_bounds_lps,
    intersect,
    series_name,
)

if TYPE_CHECKING:  # SimpleITK is imported lazily (0.7 s) by the functions that need it
    import SimpleITK as sitk

METRIC = "MattesMutualInformation"
#: refuse transforms that move the region's centre farther than this (mm) unless forced
MAX_SHIFT_MM = 10.0
#: ... or rotate by more than this (degrees)
MAX_ROTATION_DEG = 10.0
#: margin (mm) around the region kept of the moving image (room for motion and smoothing)
MOVING_MARGIN_MM = 12.0
#: smallest region, in fixed voxels along each axis, that a registration accepts
MIN_REGION_VOXELS = 8


@dataclass(frozen=True)
class Schedule:
    """Optimiser settings of one registration run."""

    shrink: tuple[int, ...] = (4, 2, 1)
    smoothing_mm: tuple[float, ...] = (1.0, 0.5, 0.0)
    sampling: float = 0.15
    #: at most this many random metric samples per level (bounds the cost on big boxes)
    max_samples: int = 20_000
    bins: int = 24
    max_iterations: int = 200
    learning_rate_mm: float = 1.0
    min_step_mm: float = 1e-3
    seed: int = 20240601
    interpolator: str = "linear"


DEFAULT_SCHEDULE = Schedule()
#: the quick alignment check: half and full resolution, few samples, a coarser stop
#: (the coarse-only levels mistook noise for up to 0.3 mm of motion on still studies)
QUICK_SCHEDULE = Schedule(
    shrink=(2, 1), smoothing_mm=(0.5, 0.0), sampling=0.1, max_samples=8_000, min_step_mm=5e-3
)
#: perturbation of the start for the residual estimate (mm and degrees)
PERTURB_MM = 0.8
PERTURB_DEG = 0.8
#: metric samples of each residual run (a precision check: fewer samples, a slightly
#: larger, i.e. conservative, spread)
RESIDUAL_SAMPLES = 12_000


def to_sitk(array: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A SimpleITK image of an array with an index -> LPS affine (any array order).

    SimpleITK's index (i, j, k) addresses ``array[k, j, i]``, so its spacing and
    direction come from the affine's columns in reverse order.
    """
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    spacing, direction, origin = sitk_geometry(affine)
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    img.SetOrigin(origin)
    return img


def sitk_geometry(affine: np.ndarray) -> tuple[list[float], list[float], list[float]]:
    """SimpleITK (spacing, direction, origin) of an index -> LPS affine of a numpy array."""
    a = np.asarray(affine, dtype=np.float64)
    cols = a[:3, :3][:, ::-1]
    spacing = np.linalg.norm(cols, axis=0)
    return (
        [float(s) for s in spacing],
        [float(v) for v in (cols / spacing).ravel()],
        [float(v) for v in a[:3, 3]],
    )


def _matrix_of(transform: sitk.Euler3DTransform) -> np.ndarray:
    """4x4 matrix of a SimpleITK matrix-offset transform (maps fixed -> moving points)."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    centre = np.asarray(transform.GetCenter(), dtype=np.float64)
    t = np.asarray(transform.GetTranslation(), dtype=np.float64)
    m[:3, 3] = t + centre - m[:3, :3] @ centre
    return m


def _euler(centre: np.ndarray, params: ArrayLike | None = None) -> sitk.Euler3DTransform:
    import SimpleITK as sitk

    tx = sitk.Euler3DTransform()
    tx.SetCenter([float(c) for c in centre])
    if params is not None:
        tx.SetParameters([float(p) for p in np.asarray(params, dtype=np.float64).ravel()])
    return tx


#: callbacks a caller (the viewer's worker) passes to follow or stop a registration
ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


def _shrunk(image: sitk.Image, factor: int) -> sitk.Image:
    """``image`` block-averaged by ``factor`` along each axis (1: the image itself).

    The coarse levels of the pyramid are built once per image by a cheap bin
    average instead of letting ITK Gaussian-smooth the full-resolution moving box
    at every level (that smoothing was most of the cost of the coarse levels).
    """
    import SimpleITK as sitk

    if factor <= 1:
        return image
    size = image.GetSize()
    f = [int(min(factor, max(1, n // 4))) for n in size]
    return sitk.BinShrink(image, f)


def _level(
    fixed: sitk.Image,
    moving: sitk.Image,
    start: sitk.Euler3DTransform,
    schedule: Schedule,
    level: int,
    names: tuple[str, str],
    cancel: CancelFn | None,
    count: list[int],
) -> tuple[sitk.Euler3DTransform, float, str]:
    """One resolution level (images already shrunk); returns (transform, metric, stop)."""
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=schedule.bins)
    # gradients at the samples only (the default filters the whole moving box)
    reg.SetMetricUseMovingImageGradientFilter(False)
    reg.SetMetricUseFixedImageGradientFilter(False)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    n_vox = float(np.prod(fixed.GetSize()))
    # coarser levels need fewer samples (they only have to get near the optimum)
    samples = schedule.max_samples / max(1, schedule.shrink[level])
    fraction = float(min(schedule.sampling, samples / n_vox))
    reg.SetMetricSamplingPercentage(fraction, schedule.seed + level)
    reg.SetInterpolator(sitk.sitkBSpline if schedule.interpolator == "bspline" else sitk.sitkLinear)
    # the step starts smaller at each finer level (the coarse level did the big moves)
    rate = schedule.learning_rate_mm / (2.0**level)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=rate,
        minStep=schedule.min_step_mm,
        numberOfIterations=schedule.max_iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-10,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    sigma = float(schedule.smoothing_mm[level])
    reg.SetShrinkFactorsPerLevel([1])
    reg.SetSmoothingSigmasPerLevel([sigma])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(start, inPlace=False)

    def on_iteration() -> None:
        count[0] += 1
        if cancel is not None and cancel():
            reg.StopRegistration()

    reg.AddCommand(sitk.sitkIterationEvent, on_iteration)
    try:
        out = reg.Execute(fixed, moving)
    except RuntimeError as exc:
        text = str(exc)
        if "outside" in text or "samples" in text.lower():
            raise RegistrationError(
                f"registration of {names[1]} onto {names[0]}: the series do not overlap "
                "in the CPA region (too few samples map inside the moving image)"
            ) from None
        first = text.strip().splitlines()[-1] if text.strip() else "unknown error"
        raise RegistrationError(
            f"registration of {names[1]} onto {names[0]} failed: {first}"
        ) from None
    if cancel is not None and cancel():
        raise RegistrationCancelledError(
            f"registration of {names[1]} onto {names[0]} cancelled; nothing applied"
        )
    final = sitk.Euler3DTransform(sitk.CompositeTransform(out).GetNthTransform(0))
    return final, float(reg.GetMetricValue()), reg.GetOptimizerStopConditionDescription()


def _run(
    fixed: sitk.Image,
    moving: sitk.Image,
    start: sitk.Euler3DTransform,
    schedule: Schedule,
    names: tuple[str, str],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    span: tuple[float, float] = (0.0, 1.0),
    what: str = "registering",
) -> tuple[sitk.Euler3DTransform, float, int, str]:
    """One multi-resolution registration; returns (transform, metric, iterations, stop).

    Coarse to fine over ``schedule.shrink`` (each level a single-level ITK run on
    block-averaged images, starting from the previous level's result). ``progress``
    gets ``(fraction, text)`` within ``span`` after each level; ``cancel`` is polled at
    every iteration (the optimiser stops, :class:`RegistrationCancelledError`).
    """
    count = [0]
    tx = start
    value, stop = math.nan, ""
    n = len(schedule.shrink)
    # work per level ~ samples; the finest levels hold most of it
    weights = np.array([1.0 / f for f in schedule.shrink])
    done = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    for level, factor in enumerate(schedule.shrink):
        if cancel is not None and cancel():
            raise RegistrationCancelledError(
                f"registration of {names[1]} onto {names[0]} cancelled; nothing applied"
            )
        f_l, m_l = _shrunk(fixed, factor), _shrunk(moving, factor)
        tx, value, stop = _level(f_l, m_l, tx, schedule, level, names, cancel, count)
        if progress is not None:
            frac = span[0] + (span[1] - span[0]) * float(done[level + 1])
            progress(frac, f"{what}: level {level + 1} of {n} done")
    return tx, value, count[0], stop


def _prepare(
    fixed: Image,
    moving: Image,
    landmarks: Mapping[str, ArrayLike] | None,
    side: str | None,
    region_mm: float,
) -> tuple[np.ndarray, sitk.Image, sitk.Image, tuple[str, str]]:
    """Check the input, crop both series to the region; returns (region, fixed, moving, names)."""
    names = (series_name(fixed, "fixed series"), series_name(moving, "moving series"))
    for img, name in zip((fixed, moving), names, strict=True):
        if img.array.ndim != 3 or min(img.array.shape) < 2:
            raise InputError(f"{name}: a 3D volume is needed to register (shape {img.array.shape})")
    region = cpa_region(fixed, landmarks, side, region_mm)
    in_fixed = intersect(region, image_bounds_lps(fixed))
    if in_fixed is None:
        raise RegistrationError(
            f"registration of {names[1]} onto {names[0]}: the CPA region lies outside "
            f"{names[0]} (empty region)"
        )
    in_both = intersect(in_fixed, image_bounds_lps(moving))
    if in_both is None:
        raise RegistrationError(
            f"registration of {names[1]} onto {names[0]}: the series do not overlap "
            "in the CPA region"
        )
    farr, faff = cropped(fixed, in_both)
    if min(farr.shape) < MIN_REGION_VOXELS:
        raise RegistrationError(
            f"registration of {names[1]} onto {names[0]}: the region shared by the series "
            f"is too thin ({farr.shape} voxels of {names[0]})"
        )
    margin = np.array([[-MOVING_MARGIN_MM] * 3, [MOVING_MARGIN_MM] * 3])
    marr, maff = cropped(moving, in_both + margin)
    for arr, name in ((farr, names[0]), (marr, names[1])):
        if min(arr.shape) < 2 or float(arr.std()) <= 1e-6 * max(1.0, float(np.abs(arr).max())):
            raise RegistrationError(
                f"registration of {names[1]} onto {names[0]}: {name} is empty "
                "(constant) in the CPA region"
            )
    return in_both, to_sitk(farr, faff), to_sitk(marr, maff), names


def _corner_spread(matrices: list[np.ndarray], region: np.ndarray) -> float:
    """Largest distance (mm), over the region's corners and centre, between transforms."""
    pts = np.vstack([box_corners(region), region.mean(axis=0)])
    mapped = [apply_to_points(pts, m) for m in matrices]
    return float(
        max(
            np.linalg.norm(a - b, axis=1).max()
            for i, a in enumerate(mapped)
            for b in mapped[i + 1 :]
        )
    )


def register_series(
    fixed: Image,
    moving: Image,
    *,
    landmarks: Mapping[str, ArrayLike] | None = None,
    side: str | None = None,
    region_mm: float = 50.0,
    force: bool = False,
    estimate_residual: bool = True,
    schedule: Schedule = DEFAULT_SCHEDULE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Registration:
    """Rigidly register ``moving`` (TOF, T1) onto ``fixed`` (T2) in the CPA region.

    Parameters
    ----------
    fixed, moving : Image
        The reference series and the series to align to it (any grids, orientations
        and array orders; affines index -> LPS mm).
    landmarks : mapping, optional
        Name -> (3,) LPS mm; the side's "IAC", "RExP", "RDP" centre the region (see
        :func:`nvcview.register.region.side_landmarks`). None: the fixed volume's centre.
    side : {"left", "right"}, optional
        Selects side-prefixed landmarks ("left IAC", "IAC_left").
    region_mm : float
        Edge of the cubic region (mm) the metric is evaluated in.
    force : bool
        Accept a transform moving the region's centre by more than 10 mm or rotating
        by more than 10 degrees, or an optimiser that did not converge (flagged
        ``forced`` in the result).
    estimate_residual : bool
        Run two more registrations from perturbed starts (0.8 mm, 0.8 degrees) and
        report the largest distance between the results over the region's corners
        and centre as ``residual_mm``; False leaves it NaN (faster).
    schedule : Schedule
        Optimiser settings (the default suits 0.3-0.8 mm CPA series).
    progress : callable, optional
        ``progress(fraction, text)`` after each resolution level and residual run
        (fraction 0-1 of the work); called in the thread that registers.
    cancel : callable, optional
        Polled at every optimiser iteration; when it returns True the optimiser
        stops and :class:`RegistrationCancelledError` is raised (nothing returned,
        so nothing can be applied).

    Returns
    -------
    Registration
        ``moving_to_fixed_lps`` maps LPS mm positions of the moving series' anatomy
        to the same anatomy's LPS mm positions in the fixed series.

    Raises
    ------
    RegistrationError
        No overlap, an empty region, or no convergence (naming both series).
    RegistrationRefusedError
        The transform moves the region by more than 10 mm / 10 degrees and ``force``
        is False.
    RegistrationCancelledError
        ``cancel`` returned True.
    """
    warnings: list[str] = []
    f_for, m_for = fixed.meta.frame_of_reference_uid, moving.meta.frame_of_reference_uid
    if f_for and m_for and f_for != m_for:
        warnings.append(
            "the series have different frames of reference (FrameOfReferenceUID): "
            "registered from their DICOM geometry anyway; check the result"
        )
    region, f_img, m_img, names = _prepare(fixed, moving, landmarks, side, region_mm)
    centre = region.mean(axis=0)
    span = (0.0, 0.7 if estimate_residual else 1.0)
    tx, value, iterations, stop = _run(
        f_img, m_img, _euler(centre), schedule, names, progress=progress, cancel=cancel, span=span
    )
    forced = False
    if "Maximum number of iterations" in stop:
        msg = (
            f"registration of {names[1]} onto {names[0]} did not converge "
            f"({schedule.max_iterations} iterations at the finest level)"
        )
        if not force:
            raise RegistrationError(msg + "; not applied (use force to accept it)")
        warnings.append(msg + "; accepted (forced)")
        forced = True
    fixed_to_moving = _matrix_of(tx)
    moving_to_fixed = np.linalg.inv(fixed_to_moving)
    moving_to_fixed[3] = (0.0, 0.0, 0.0, 1.0)
    shift = float(np.linalg.norm(apply_to_points(centre, moving_to_fixed) - centre))
    angle = rotation_angle_deg(moving_to_fixed)
    if shift > MAX_SHIFT_MM or angle > MAX_ROTATION_DEG:
        msg = (
            f"registration of {names[1]} onto {names[0]} moves the CPA region by "
            f"{shift:.1f} mm and {angle:.1f} degrees (limits {MAX_SHIFT_MM:g} mm, "
            f"{MAX_ROTATION_DEG:g} degrees)"
        )
        if not force:
            raise RegistrationRefusedError(msg + "; refused (use force to accept it)")
        warnings.append(msg + "; accepted (forced)")
        forced = True
    residual = math.nan
    if estimate_residual:
        residual = _residual(
            f_img, m_img, tx, centre, region, schedule, names, moving_to_fixed, progress, cancel
        )
    return Registration(
        moving_to_fixed_lps=moving_to_fixed,
        residual_mm=residual,
        metric=METRIC,
        metric_value=value,
        iterations=iterations,
        region_lps=region,
        method="rigid",
        moving_series_uid=moving.meta.series_uid,
        fixed_series_uid=fixed.meta.series_uid,
        warnings=tuple(warnings),
        forced=forced,
        who="nvcview",
    )


def _residual(
    f_img: sitk.Image,
    m_img: sitk.Image,
    tx: sitk.Euler3DTransform,
    centre: np.ndarray,
    region: np.ndarray,
    schedule: Schedule,
    names: tuple[str, str],
    moving_to_fixed: np.ndarray,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> float:
    """Consistency check: re-register from two perturbed starts (finest level only)."""
    fine = Schedule(
        shrink=(1,),
        smoothing_mm=(0.0,),
        sampling=schedule.sampling,
        max_samples=min(schedule.max_samples, RESIDUAL_SAMPLES),
        bins=schedule.bins,
        max_iterations=schedule.max_iterations,
        learning_rate_mm=0.5,
        min_step_mm=schedule.min_step_mm,
        seed=schedule.seed + 1,
    )
    base = np.asarray(tx.GetParameters(), dtype=np.float64)
    rad = math.radians(PERTURB_DEG)
    results = [moving_to_fixed]
    for i, sign in enumerate((1.0, -1.0)):
        delta = (
            sign * np.array([rad, -rad, rad, PERTURB_MM, PERTURB_MM, -PERTURB_MM]) / math.sqrt(3.0)
        )
        start = _euler(centre, base + delta)
        out, _, _, _ = _run(
            f_img,
            m_img,
            start,
            fine,
            names,
            progress=progress,
            cancel=cancel,
            span=(0.7 + 0.15 * i, 0.85 + 0.15 * i),
            what="estimating the residual",
        )
        m = np.linalg.inv(_matrix_of(out))
        m[3] = (0.0, 0.0, 0.0, 1.0)
        results.append(m)
    return _corner_spread(results, region)


def estimate_misalignment(
    fixed: Image,
    moving: Image,
    *,
    landmarks: Mapping[str, ArrayLike] | None = None,
    side: str | None = None,
    region_mm: float = 50.0,
    cancel: CancelFn | None = None,
) -> float:
    """Quick check on opening a study: how far (mm) the series are misaligned in the CPA.

    A coarse registration (two levels, no residual estimate); returns the largest
    displacement (mm) it finds over the region's corners and centre. More than 0.5 mm
    means the series should be registered before fusing
    (:func:`nvcview.register.check.check_alignment` wraps it for a study being opened).

    Parameters
    ----------
    cancel : callable, optional
        Polled at every optimiser iteration (as in :func:`register_series`).

    Raises
    ------
    RegistrationError
        As :func:`register_series` (no overlap, empty region); a transform beyond the
        plausibility limits is measured, not refused.
    RegistrationCancelledError
        ``cancel`` returned True.
    """
    reg = register_series(
        fixed,
        moving,
        landmarks=landmarks,
        side=side,
        region_mm=region_mm,
        force=True,
        estimate_residual=False,
        schedule=QUICK_SCHEDULE,
        cancel=cancel,
    )
    return _corner_spread([np.eye(4), reg.moving_to_fixed_lps], reg.region_lps)


def identity_registration(fixed: Image, moving: Image, **kw: Any) -> Registration:
    """A Registration recording that the series were not registered (identity)."""
    return Registration(
        moving_to_fixed_lps=np.eye(4),
        method="identity",
        metric="",
        moving_series_uid=moving.meta.series_uid,
        fixed_series_uid=fixed.meta.series_uid,
        **kw,
    )
