"""The CPA region a registration is evaluated in, and crops of images to it (LPS mm)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from nvcview.errors import InputError
from nvcview.io.image import Image, index_to_lps

#: landmarks the region is centred on (IAC and the root exit zone)
REGION_LANDMARKS = ("RExP", "RDP", "IAC")
SIDES = ("left", "right")


def series_name(image: Image, fallback: str) -> str:
    """A PHI-free name for error messages: description or path, and the series UID."""
    meta = image.meta
    name = meta.series_description or meta.source_path or fallback
    if meta.series_uid:
        name += f" [{meta.series_uid}]"
    return name


def side_landmarks(
    landmarks: Mapping[str, ArrayLike] | None, side: str | None
) -> dict[str, np.ndarray]:
    """The IAC/REZ landmarks of one side, LPS mm.

    Names are "RExP", "RDP", "IAC"; with ``side`` given, "<side> RExP",
    "RExP_<side>" or "RExP (<side>)" are taken before the plain name, and the
    other side's prefixed names are ignored.
    """
    if not landmarks:
        return {}
    if side is not None and side not in SIDES:
        raise InputError(f"side must be one of {SIDES}, not {side!r}")
    out: dict[str, np.ndarray] = {}
    for name in REGION_LANDMARKS:
        keys = [name]
        if side is not None:
            keys = [f"{side} {name}", f"{name}_{side}", f"{name} ({side})", name]
        for key in keys:
            if key in landmarks and landmarks[key] is not None:
                p = np.asarray(landmarks[key], dtype=np.float64).reshape(-1)
                if p.shape != (3,) or not np.all(np.isfinite(p)):
                    raise InputError(f"landmark {key!r} must be 3 finite LPS mm coordinates")
                out[name] = p
                break
    return out


def image_bounds_lps(image: Image) -> np.ndarray:
    """(2, 3) min/max LPS mm over the centres of the image's corner voxels."""
    shape = np.asarray(image.array.shape[:3])
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape], indexing="ij")).reshape(3, -1).T
    pts = index_to_lps(image.affine, corners)
    return np.stack([pts.min(axis=0), pts.max(axis=0)])


def cpa_region(
    fixed: Image,
    landmarks: Mapping[str, ArrayLike] | None = None,
    side: str | None = None,
    region_mm: float = 50.0,
) -> np.ndarray:
    """The box a registration is evaluated in, (2, 3) min/max LPS mm corners.

    A cube of edge ``region_mm`` centred on the mean of the side's IAC/REZ landmarks
    (grown to hold all of them), or on the centre of the fixed volume when no
    landmark is given. Not clipped to the images.
    """
    if not np.isfinite(region_mm) or region_mm <= 0:
        raise InputError(f"region size must be a positive number of mm, not {region_mm}")
    pts = side_landmarks(landmarks, side)
    if pts:
        p = np.stack(list(pts.values()))
        centre = p.mean(axis=0)
        half = np.maximum(region_mm / 2.0, np.abs(p - centre).max(axis=0) + 5.0)
    else:
        centre = image_bounds_lps(fixed).mean(axis=0)
        half = np.full(3, region_mm / 2.0)
    return np.stack([centre - half, centre + half])


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Intersection of two (2, 3) LPS boxes, or None when they do not overlap."""
    lo = np.maximum(a[0], b[0])
    hi = np.minimum(a[1], b[1])
    if np.any(hi <= lo):
        return None
    return np.stack([lo, hi])


def box_corners(box: ArrayLike) -> np.ndarray:
    """(8, 3) corners of a (2, 3) min/max box."""
    b = np.asarray(box, dtype=np.float64)
    return np.array([[b[i, 0], b[j, 1], b[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def crop_index_box(image: Image, box_lps: np.ndarray, margin_vox: int = 1) -> tuple[slice, ...]:
    """Array slices of the voxels whose index box covers an LPS box (clipped to the array)."""
    inv = np.linalg.inv(image.affine)
    ijk = box_corners(box_lps) @ inv[:3, :3].T + inv[:3, 3]
    lo = np.floor(ijk.min(axis=0)).astype(int) - margin_vox
    hi = np.ceil(ijk.max(axis=0)).astype(int) + margin_vox + 1
    shape = np.asarray(image.array.shape[:3])
    lo = np.clip(lo, 0, shape)
    hi = np.clip(hi, 0, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def cropped(image: Image, box_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float32 voxels of ``image`` covering ``box_lps`` and their index -> LPS affine."""
    sl = crop_index_box(image, box_lps)
    arr = np.asarray(image.array[sl], dtype=np.float32)
    aff = np.array(image.affine, dtype=np.float64)
    aff[:3, 3] = index_to_lps(image.affine, np.array([s.start for s in sl], dtype=np.float64))
    return arr, aff
