"""Put a volume on the index grid of another one without resampling.

Two files can hold the same voxel grid in different array orders: our DICOM
volumes are ``(slice, row, column)``, while label maps drawn in 3D Slicer or
ITK-SNAP (and ``nvcview convert`` output) are NIfTI ``(column, row, slice)``,
possibly flipped. :func:`conform_to` permutes and flips the array (through
``highdicom.Volume.match_geometry``) so that index ``(a0, a1, a2)`` means the
same LPS point in both, and refuses, with a :class:`GeometryError`, grids that
would need interpolation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nvcview.errors import GeometryError
from nvcview.io.image import Image, SeriesMeta, index_to_lps

if TYPE_CHECKING:
    import highdicom as hd

__all__ = ["conform_to", "same_grid"]


def _volume(obj) -> hd.Volume:
    return obj.volume if isinstance(obj, Image) else obj


def _corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    idx = np.array(
        [
            [i, j, k]
            for i in (0, shape[0] - 1)
            for j in (0, shape[1] - 1)
            for k in (0, shape[2] - 1)
        ],
        dtype=np.float64,
    )
    return index_to_lps(affine, idx)


def same_grid(a, b, tol_mm: float = 0.01) -> bool:
    """True when two volumes sample the same LPS points, whatever their axis order.

    Parameters
    ----------
    a, b : Image or highdicom.Volume
        Volumes to compare.
    tol_mm : float
        Largest distance (mm) between matching corner voxel centres.
    """
    va, vb = _volume(a), _volume(b)
    sa, sb = va.spatial_shape, vb.spatial_shape
    if sorted(sa) != sorted(sb):
        return False
    spa = np.sort(np.linalg.norm(va.affine[:3, :3], axis=0))
    spb = np.sort(np.linalg.norm(vb.affine[:3, :3], axis=0))
    if not np.allclose(spa, spb, atol=tol_mm):
        return False
    # each axis of a must step one voxel along one axis of b (equal extents along
    # swapped axes, e.g. 10 x 2 mm and 19 x 1 mm... give the same corners)
    steps = np.abs(np.linalg.solve(vb.affine[:3, :3], va.affine[:3, :3]))
    if not np.allclose(np.sort(steps, axis=None), [0] * 6 + [1] * 3, atol=1e-3):
        return False
    ca, cb = _corners(va.affine, sa), _corners(vb.affine, sb)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    return bool(np.all(dist.min(axis=1) <= tol_mm) and np.all(dist.min(axis=0) <= tol_mm))


def _on_lattice(vol: hd.Volume, ref: hd.Volume, tol_mm: float) -> bool:
    """True when every voxel centre of ``vol`` is a voxel centre of ``ref``'s (infinite) grid."""
    inv = np.linalg.inv(ref.affine)
    steps = inv[:3, :3] @ vol.affine[:3, :3]  # vol axis steps in reference index units
    if not np.allclose(np.abs(steps), np.round(np.abs(steps)), atol=1e-3):
        return False
    if not np.allclose(np.sort(np.abs(np.round(steps)), axis=None), [0] * 6 + [1] * 3):
        return False  # each axis must step exactly one reference voxel along one axis
    corners = _corners(vol.affine, vol.spatial_shape)
    idx = corners @ inv[:3, :3].T + inv[:3, 3]
    off = (idx - np.round(idx)) @ ref.affine[:3, :3].T
    return bool(np.max(np.linalg.norm(off, axis=1)) <= tol_mm)


def conform_to(
    image,
    reference,
    *,
    tol_mm: float = 0.01,
    allow_pad_crop: bool = False,
    pad_value: float = 0,
    name: str = "volume",
) -> Image:
    """Return ``image`` re-indexed (permuted / flipped, never resampled) onto ``reference``.

    Parameters
    ----------
    image : Image or highdicom.Volume
        Volume to re-index, e.g. a label map read from NIfTI.
    reference : Image or highdicom.Volume
        Volume whose index grid the result must share (e.g. the T2 loaded from DICOM).
    tol_mm : float
        Tolerance (mm) for voxel centres to coincide (float32 NIfTI headers round).
    allow_pad_crop : bool
        Also accept a sub- or super-grid of the reference (a cropped label map):
        the result is padded with ``pad_value`` / cropped to the reference extent.
    pad_value : float
        Value for padded voxels.
    name : str
        What ``image`` is, for error messages.

    Returns
    -------
    Image
        Same values, array index meaning the same LPS point as in ``reference``;
        ``affine`` equal to the reference affine.

    Raises
    ------
    GeometryError
        The grids differ by more than a permutation/flip (or padding, when allowed).
    """
    vol, ref = _volume(image), _volume(reference)
    ok = same_grid(vol, ref, tol_mm) if not allow_pad_crop else _on_lattice(vol, ref, tol_mm)
    if not ok:
        raise GeometryError(
            f"{name}: grid {tuple(vol.spatial_shape)} at {np.round(vol.spacing, 4).tolist()} mm "
            f"does not sample the same points as the reference grid "
            f"{tuple(ref.spatial_shape)} at {np.round(ref.spacing, 4).tolist()} mm "
            "(shifted, rotated or differently sized); it would need resampling"
        )
    try:  # geometry already checked in mm above; highdicom's tolerance is in index units
        matched = vol.match_geometry(ref, constant_value=pad_value, tol=1e-3)
    except RuntimeError as exc:
        raise GeometryError(f"{name}: cannot be put on the reference grid ({exc})") from exc
    import highdicom as hd

    out = hd.Volume(
        array=matched.array,
        affine=np.asarray(ref.affine, dtype=np.float64),
        coordinate_system="PATIENT",
        frame_of_reference_uid=vol.frame_of_reference_uid or ref.frame_of_reference_uid,
    )
    if isinstance(image, Image):
        meta = SeriesMeta(**{**image.meta.__dict__})
        meta.shape = tuple(int(s) for s in out.array.shape)
        meta.spacing_mm = tuple(float(s) for s in out.spacing)
        return Image(volume=out, meta=meta, patient=image.patient)
    return Image(volume=out)
