"""Show a moving series (or its labels) on the fixed grid through a registration."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume


def resample_to(
    moving: Image,
    fixed: Image,
    moving_to_fixed_lps: ArrayLike,
    *,
    order: int = 1,
    fill: float = 0.0,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    slabs: int = 8,
) -> Image:
    """Resample ``moving`` onto the grid of ``fixed`` through a registration.

    The output voxel at fixed index ``f`` (LPS position ``p = A_fixed @ f``) takes the
    moving value at LPS position ``inv(moving_to_fixed_lps) @ p``, i.e. where the
    anatomy now at ``p`` in the fixed series was seen in the moving one.

    Parameters
    ----------
    moving : Image
        Series (or label map) to resample; affine index -> LPS mm.
    fixed : Image
        Gives the output grid (shape, affine, frame of reference).
    moving_to_fixed_lps : array-like, shape (4, 4)
        ``Registration.moving_to_fixed_lps`` (identity: overlay by DICOM geometry).
    order : {0, 1, 3}
        0 for label maps: label-preserving linear interpolation (each output voxel
        takes the label with the largest linearly interpolated share, ITK's
        ``LabelImageGenericInterpolateImageFunction``; surfaces move by less than
        with nearest neighbour); 1 linear, 3 B-spline for intensities.
    fill : float
        Value outside the moving series.
    progress : callable, optional
        ``progress(fraction, text)`` after each slab of the output (called in the
        thread that resamples).
    cancel : callable, optional
        Polled before each slab; True stops with
        :class:`~nvcview.register.RegistrationCancelledError` (nothing returned).
    slabs : int
        With ``progress`` or ``cancel``, the output is made in this many slabs along
        its first array axis (same values as in one piece).

    Returns
    -------
    Image
        The moving data on the fixed grid, same dtype as the moving array, with the
        moving series' metadata (shape and spacing of the fixed grid).

    Raises
    ------
    RegistrationCancelledError
        ``cancel`` returned True.
    """
    import SimpleITK as sitk

    from nvcview.register.rigid import sitk_geometry, to_sitk

    m = np.asarray(moving_to_fixed_lps, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise InputError("resample_to: moving_to_fixed_lps must be a finite 4x4 matrix")
    interp = {0: sitk.sitkLabelLinear, 1: sitk.sitkLinear, 3: sitk.sitkBSpline}
    if order not in interp:
        raise InputError(f"resample_to: order must be 0, 1 or 3, not {order}")
    src = np.asarray(moving.array)
    if src.dtype == np.bool_:
        src = src.astype(np.uint8)
    fixed_to_moving = np.linalg.inv(m)
    tx = sitk.AffineTransform(3)
    tx.SetMatrix([float(v) for v in fixed_to_moving[:3, :3].ravel()])
    tx.SetTranslation([float(v) for v in fixed_to_moving[:3, 3]])
    out_shape = tuple(int(n) for n in fixed.array.shape[:3])
    pixel = sitk.sitkUnknown if order == 0 else sitk.sitkFloat32
    source = to_sitk(src, moving.affine)
    n_slabs = 1 if progress is None and cancel is None else max(1, min(int(slabs), out_shape[0]))
    edges = np.linspace(0, out_shape[0], n_slabs + 1).round().astype(int)
    arr = np.empty(out_shape, dtype=src.dtype)
    for i0, i1 in zip(edges[:-1], edges[1:], strict=True):
        if cancel is not None and cancel():
            from nvcview.register.model import RegistrationCancelledError

            raise RegistrationCancelledError(
                "resampling cancelled; the series is shown as it was acquired"
            )
        if i1 <= i0:
            continue
        sub = np.array(fixed.affine, dtype=np.float64, copy=True)
        sub[:3, 3] = fixed.affine[:3, :3] @ np.array([i0, 0, 0]) + fixed.affine[:3, 3]
        spacing, direction, origin = sitk_geometry(sub)
        out = sitk.Resample(
            source,
            [out_shape[2], out_shape[1], int(i1 - i0)],
            tx,
            interp[order],
            origin,
            spacing,
            direction,
            float(fill),
            pixel,
        )
        view = sitk.GetArrayViewFromImage(out)  # no copy; written once into ours
        if np.issubdtype(src.dtype, np.integer) and order > 0:
            info = np.iinfo(src.dtype)
            tmp = np.rint(view)
            np.clip(tmp, info.min, info.max, out=tmp)
            arr[i0:i1] = tmp
        else:
            arr[i0:i1] = view
        del view, out
        if progress is not None:
            progress(float(i1) / out_shape[0], f"resampling: {int(i1)} of {out_shape[0]} planes")
    meta = dataclasses.replace(
        moving.meta,
        shape=tuple(int(s) for s in arr.shape),
        spacing_mm=fixed.spacing_mm,
        orientation=fixed.meta.orientation,
        warnings=[*moving.meta.warnings, "resampled onto the fixed grid through a registration"],
    )
    vol = make_volume(arr, fixed.affine, fixed.volume.frame_of_reference_uid)
    return Image(volume=vol, meta=meta, patient=moving.patient)


def placed(image: Image, moving_to_fixed_lps: ArrayLike) -> Image:
    """The same voxels placed in the fixed series' frame through a registration.

    No resampling: the affine becomes ``moving_to_fixed_lps @ affine``, so index
    ``i`` of ``image`` now lies at the LPS mm position (fixed frame) of the anatomy
    it shows. Code that samples images at LPS positions (key images, point probes)
    reads a registered series through this.

    Parameters
    ----------
    image : Image
        The moving series (affine index -> LPS mm of its own acquisition).
    moving_to_fixed_lps : array-like, shape (4, 4)
        ``Registration.moving_to_fixed_lps``.

    Returns
    -------
    Image
        Same array and metadata, affine composed with the transform.
    """
    m = np.asarray(moving_to_fixed_lps, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise InputError("placed: moving_to_fixed_lps must be a finite 4x4 matrix")
    vol = make_volume(image.array, m @ image.affine, image.volume.frame_of_reference_uid)
    return Image(volume=vol, meta=image.meta, patient=image.patient)


def through_review(image: Image | None, review: Any) -> Image | None:
    """``image`` as the review registered it onto its reference (itself when not registered).

    The one place that decides which transform applies to a series: the
    registration the review stores for the image's SeriesInstanceUID
    (:meth:`nvcview.review.model.Review.registration_for`), applied with
    :func:`placed`.

    Parameters
    ----------
    image : Image or None
        A moving series of the review (TOF, T1).
    review : Review
        The review holding the registrations.
    """
    if image is None or not image.meta.series_uid:
        return image
    reg = review.registration_for(image.meta.series_uid)
    if reg is None or np.allclose(reg.moving_to_fixed_lps, np.eye(4)):
        return image
    return placed(image, reg.moving_to_fixed_lps)
