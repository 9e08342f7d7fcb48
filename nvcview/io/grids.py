"""The one grid rule: when two volumes lie on the same voxel grid, and re-indexing.

Two grids (affine index -> LPS mm + shape) are **the same** when every voxel centre
of one lies within :data:`GRID_TOL_VOXELS` of the smallest voxel size of the
matching voxel centre of the other (checked at the 8 corners; the affines are
linear). That accepts float32 NIfTI headers and the rounding of other tools (a
label map shifted 0.003 mm on 0.4 mm voxels, 0.0075 voxel) and refuses a shift or
a different spacing. This module is the only place that decides it: the review
store (``nvcview measure``, ``report``, ``batch``), the case layer and the viewer
all call :func:`grid_mismatch` / :func:`same_grid`.

Two files can also hold the same voxel grid in different array orders: our DICOM
volumes are ``(slice, row, column)``, while label maps drawn in 3D Slicer or
ITK-SNAP (and ``nvcview convert`` output) are NIfTI ``(column, row, slice)``,
possibly flipped. :func:`same_voxels` tells when that is all that differs (same
tolerance), and :func:`conform_to` permutes and flips the array (through
``highdicom.Volume.match_geometry``) so that index ``(a0, a1, a2)`` means the
same LPS point in both, refusing, with a :class:`GeometryError`, grids that
would need interpolation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from nvcview.errors import GeometryError
from nvcview.io.image import Image, SeriesMeta, index_to_lps

if TYPE_CHECKING:
    import highdicom as hd

__all__ = [
    "GRID_TOL_VOXELS",
    "conform_to",
    "grid_mismatch",
    "grid_tolerance_mm",
    "same_grid",
    "same_voxels",
]

#: Two grids are the same when no voxel centre of one is further than this fraction
#: of the reference's smallest voxel size from the matching voxel centre of the other
#: (0.004 mm on 0.4 mm voxels). The one grid tolerance of nvcview.
GRID_TOL_VOXELS = 0.01


def _volume(obj: Any) -> hd.Volume:
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


def grid_tolerance_mm(ref_affine: npt.ArrayLike) -> float:
    """The grid tolerance in mm for a reference grid: :data:`GRID_TOL_VOXELS` x its
    smallest voxel size.

    Parameters
    ----------
    ref_affine : (4, 4) array-like
        Index -> LPS mm of the reference grid.
    """
    a = np.asarray(ref_affine, dtype=np.float64)
    return GRID_TOL_VOXELS * float(np.min(np.linalg.norm(a[:3, :3], axis=0)))


def grid_mismatch(
    affine: npt.ArrayLike,
    shape: tuple[int, ...] | list[int],
    ref_affine: npt.ArrayLike,
    ref_shape: tuple[int, ...] | list[int],
) -> str | None:
    """Why a grid differs from a reference grid (one readable phrase), or None when equal.

    Same axis order: index ``(i, j, k)`` must mean the same LPS point (within
    :func:`grid_tolerance_mm`) in both. Use :func:`conform_to` first for a grid stored in
    another axis order.

    Parameters
    ----------
    affine, ref_affine : (4, 4) array-like
        Index -> LPS mm of the grid and of the reference grid.
    shape, ref_shape : sequence of int
        Their array shapes (the first three axes are spatial).
    """
    aff = np.asarray(affine, dtype=np.float64)
    ref = np.asarray(ref_affine, dtype=np.float64)
    shape3 = tuple(int(s) for s in tuple(shape)[:3])
    ref3 = tuple(int(s) for s in tuple(ref_shape)[:3])
    if shape3 != ref3:
        return f"shape {shape3} != reference shape {ref3}"
    a, b = _corners(aff, shape3), _corners(ref, shape3)
    dist = float(np.max(np.linalg.norm(a - b, axis=1)))
    if dist > grid_tolerance_mm(ref):
        sp = np.round(np.linalg.norm(aff[:3, :3], axis=0), 4).tolist()
        rsp = np.round(np.linalg.norm(ref[:3, :3], axis=0), 4).tolist()
        return (
            f"voxels lie up to {dist:.3g} mm away from the reference grid's "
            f"(voxel size {sp} mm vs {rsp} mm, first voxel at "
            f"{np.round(a[0], 3).tolist()} vs {np.round(b[0], 3).tolist()} LPS mm)"
        )
    return None


def same_grid(a: Image | hd.Volume, b: Image | hd.Volume) -> bool:
    """True when two volumes lie on the same grid in the same axis order (:func:`grid_mismatch`).

    Parameters
    ----------
    a, b : Image or highdicom.Volume
        Volumes to compare; ``b`` is the reference (its voxel size sets the tolerance).
    """
    va, vb = _volume(a), _volume(b)
    return grid_mismatch(va.affine, va.spatial_shape, vb.affine, vb.spatial_shape) is None


def same_voxels(a: Image | hd.Volume, b: Image | hd.Volume, tol_mm: float | None = None) -> bool:
    """True when two volumes sample the same LPS points, whatever their axis order.

    Parameters
    ----------
    a, b : Image or highdicom.Volume
        Volumes to compare; ``b`` is the reference.
    tol_mm : float, optional
        Largest distance (mm) between matching corner voxel centres; default
        :func:`grid_tolerance_mm` of ``b`` (the one grid rule).
    """
    va, vb = _volume(a), _volume(b)
    tol = grid_tolerance_mm(vb.affine) if tol_mm is None else float(tol_mm)
    sa, sb = va.spatial_shape, vb.spatial_shape
    if sorted(sa) != sorted(sb):
        return False
    spa = np.sort(np.linalg.norm(va.affine[:3, :3], axis=0))
    spb = np.sort(np.linalg.norm(vb.affine[:3, :3], axis=0))
    if not np.allclose(spa, spb, atol=tol):
        return False
    # each axis of a must step one voxel along one axis of b (equal extents along
    # swapped axes, e.g. 10 x 2 mm and 19 x 1 mm... give the same corners)
    steps = np.abs(np.linalg.solve(vb.affine[:3, :3], va.affine[:3, :3]))
    if not np.allclose(np.sort(steps, axis=None), [0] * 6 + [1] * 3, atol=1e-3):
        return False
    ca, cb = _corners(va.affine, sa), _corners(vb.affine, sb)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    return bool(np.all(dist.min(axis=1) <= tol) and np.all(dist.min(axis=0) <= tol))


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
    image: Image | hd.Volume,
    reference: Image | hd.Volume,
    *,
    tol_mm: float | None = None,
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
    tol_mm : float, optional
        Tolerance (mm) for voxel centres to coincide; default :func:`grid_tolerance_mm`
        of the reference (the one grid rule).
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
    tol = grid_tolerance_mm(ref.affine) if tol_mm is None else float(tol_mm)
    ok = same_voxels(vol, ref, tol) if not allow_pad_crop else _on_lattice(vol, ref, tol)
    if not ok:
        raise GeometryError(
            f"{name}: grid {tuple(vol.spatial_shape)} at {np.round(vol.spacing, 4).tolist()} mm "
            f"does not sample the same points as the reference grid "
            f"{tuple(ref.spatial_shape)} at {np.round(ref.spacing, 4).tolist()} mm "
            "(shifted, rotated or differently sized); it would need resampling"
        )
    # geometry already checked in mm above; highdicom's tolerance is in index units
    index_tol = max(1e-3, 1.01 * tol / float(np.min(ref.spacing)))
    try:
        matched = vol.match_geometry(ref, constant_value=pad_value, tol=index_tol)
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
