"""Bounds on what a review folder may ask of us, checked before anything is allocated.

A review folder can come from anywhere (a colleague's USB stick, a PACS export, an
attacker). Every size it declares is checked here against fixed limits, the reference
grid and the file's real size *before* JSON is parsed deeply, arrays are allocated or
the measurement engine runs. Each refusal is one :class:`~nvcview.errors.SchemaError`
(document fields) or :class:`~nvcview.errors.InputError` (label map files) naming the
file and the field.

The limits are generous for real CPA studies (a 0.3 mm whole-head CISS is about
800 x 800 x 600 = 4e8 voxels; a nerve path has tens of points, a review.json a few
hundred kilobytes) and small enough that a hostile file cannot make nvcview use more
than about 1 GB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nvcview.errors import GeometryError, InputError, SchemaError

#: review.json larger than this is refused before it is read (bytes)
MAX_REVIEW_BYTES = 16 * 1024 * 1024
#: deepest nesting of JSON arrays/objects in a review.json (the schema needs 4)
MAX_JSON_DEPTH = 32
#: free text: ``impression`` and reader-call ``comment`` (characters)
MAX_TEXT_CHARS = 100_000
#: any other string (ids, names, UIDs, paths, dates) (characters)
MAX_SHORT_CHARS = 4096
#: ``labelmap_path`` (characters; a file name, at most a sub-folder or two)
MAX_LABELMAP_PATH_CHARS = 255
#: points in ``nerve_path_lps``
MAX_PATH_POINTS = 100_000
#: entries of any other list (structures, landmarks, calls, measurements, series)
MAX_ITEMS = 65_536
#: voxels of the reference grid / a label map (uint16 at this size is 1 GiB)
MAX_VOXELS = 512 * 1024 * 1024
#: voxels along one axis
MAX_AXIS = 65_535
#: largest ratio of decompressed to compressed size deflate can reach (zlib's bound)
MAX_DEFLATE_RATIO = 1032
#: largest absolute LPS coordinate / voxel size accepted in affines and points (mm)
MAX_COORD_MM = 1e5
#: settings: upper bounds (the engine's cost grows with these); others default to 50 mm
SETTINGS_MAX = {
    "contact_factor": 10.0,
    "surface_sigma_mm": 5.0,
    "surface_min_sigma_vox": 10.0,
}
SETTINGS_DEFAULT_MAX_MM = 50.0
#: columns of an affine must be orthogonal to this tolerance (cosine of the angle)
ORTHOGONAL_TOL = 1e-3

_TEXT_FIELDS = {"impression", "comment"}


def json_depth(value: object) -> int:
    """Nesting depth of a parsed JSON value (iterative: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            if d > MAX_JSON_DEPTH:
                return d
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            if d > MAX_JSON_DEPTH:
                return d
            stack.extend((x, d + 1) for x in v)
    return deepest


def largest_field(path: str | Path, keys: list[str]) -> tuple[str, int] | None:
    """The field taking most bytes of a large JSON file, guessed without parsing it.

    Finds where each ``"key":`` first occurs (memory-mapped, nothing loaded) and
    measures the span to the next one. Returns ``(key, bytes)`` or None.
    """
    import mmap

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            at = sorted((pos, k) for k in keys if (pos := mm.find(b'"' + k.encode() + b'"')) >= 0)
            size = len(mm)
    except (OSError, ValueError):
        return None
    if not at:
        return None
    spans = [(nxt - pos, k) for (pos, k), (nxt, _) in zip(at, [*at[1:], (size, "")], strict=True)]
    n, k = max(spans)
    return k, n


def check_review_file_size(size: int, source: str | Path, keys: list[str] | None = None) -> None:
    """Refuse a ``review.json`` larger than :data:`MAX_REVIEW_BYTES` before reading it.

    With ``keys`` (the schema's top-level fields) the message names the field that
    takes most of the file.
    """
    if size > MAX_REVIEW_BYTES:
        big = largest_field(source, keys) if keys else None
        where = f"field '{big[0]}' takes {big[1] / 1e6:.1f} MB; " if big else ""
        raise SchemaError(
            f"{source}: {where}file is {size / 1e6:.1f} MB, larger than the "
            f"{MAX_REVIEW_BYTES // 2**20} MiB a review.json may have"
        )


def _field(path: list[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out or "(top level)"


def _check_strings(doc: dict, source: str | Path) -> None:
    stack: list[tuple[object, list[str | int]]] = [(doc, [])]
    while stack:
        v, path = stack.pop()
        if isinstance(v, dict):
            if len(v) > MAX_ITEMS:
                raise SchemaError(f"{source}: field '{_field(path)}': more than {MAX_ITEMS} keys")
            for k, x in v.items():
                if len(k) > MAX_SHORT_CHARS:
                    raise SchemaError(
                        f"{source}: field '{_field(path)}': a key longer than "
                        f"{MAX_SHORT_CHARS} characters"
                    )
                stack.append((x, [*path, k]))
        elif isinstance(v, list):
            limit = MAX_PATH_POINTS if path == ["nerve_path_lps"] else MAX_ITEMS
            if len(v) > limit:
                what = "points" if path == ["nerve_path_lps"] else "entries"
                raise SchemaError(
                    f"{source}: field '{_field(path)}': {len(v)} {what}, more than the "
                    f"{limit} allowed"
                )
            stack.extend((x, [*path, i]) for i, x in enumerate(v))
        elif isinstance(v, str):
            last = next((p for p in reversed(path) if isinstance(p, str)), "")
            if path == ["labelmap_path"]:
                limit = MAX_LABELMAP_PATH_CHARS
            elif last in _TEXT_FIELDS:
                limit = MAX_TEXT_CHARS
            else:
                limit = MAX_SHORT_CHARS
            if len(v) > limit:
                raise SchemaError(
                    f"{source}: field '{_field(path)}': {len(v)} characters, more than the "
                    f"{limit} allowed"
                )
        elif (
            isinstance(v, float)
            and path
            and path[0]
            in (
                "landmarks",
                "nerve_path_lps",
                "reference_affine",
            )
        ):
            if math.isfinite(v) and abs(v) > MAX_COORD_MM:
                raise SchemaError(
                    f"{source}: field '{_field(path)}': {abs(v):.3g} mm is outside the "
                    f"+-{MAX_COORD_MM:g} mm a patient can be"
                )


def check_grid(
    affine: object, shape: Sequence[int] | None, source: str | Path, what: str = "reference"
) -> None:
    """Refuse a grid that is too large, degenerate or not orthogonal.

    Parameters
    ----------
    affine : array-like or None
        4x4 index -> LPS mm matrix (``reference_affine``).
    shape : sequence of int or None
        Array shape (``reference_shape``).
    source : str or Path
        File named in the message.
    what : str
        ``"reference"`` names the fields ``reference_shape`` / ``reference_affine``;
        anything else is used as it is (e.g. ``"NIfTI header dim"``).
    """
    shape_field = f"field '{what}_shape'" if what == "reference" else what
    aff_field = f"field '{what}_affine'" if what == "reference" else what
    if shape is not None:
        dims = [int(s) for s in shape]
        if any(d < 1 or d > MAX_AXIS for d in dims):
            raise SchemaError(
                f"{source}: {shape_field}: {dims} has an axis outside 1..{MAX_AXIS} voxels"
            )
        n = math.prod(dims)
        if n > MAX_VOXELS:
            raise SchemaError(
                f"{source}: {shape_field}: {dims} is {n:.3g} voxels, more than the "
                f"{MAX_VOXELS:.3g} nvcview handles (about {n * 2 / 1e9:.1f} GB as 16-bit labels)"
            )
    if affine is not None:
        a = np.asarray(affine, dtype=np.float64)
        if a.shape != (4, 4) or not np.all(np.isfinite(a)):
            raise SchemaError(f"{source}: {aff_field}: must be a finite 4x4 matrix")
        cols = a[:3, :3]
        norms = np.linalg.norm(cols, axis=0)
        if np.any(norms <= 1e-6) or np.any(norms > MAX_COORD_MM):
            raise SchemaError(
                f"{source}: {aff_field}: voxel size {np.round(norms, 6).tolist()} mm is not "
                "a usable grid"
            )
        unit = cols / norms
        gram = unit.T @ unit
        off = float(np.max(np.abs(gram - np.eye(3))))
        if off > ORTHOGONAL_TOL:
            raise SchemaError(
                f"{source}: {aff_field}: the axes are not orthogonal (cosine {off:.3g} between "
                "two axes); a sheared grid cannot be a scanner's"
            )


def check_settings(settings: object, source: str | Path) -> None:
    """Refuse measurement settings above the bounds in :data:`SETTINGS_MAX`."""
    if not isinstance(settings, dict):
        return
    for k, v in settings.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        top = SETTINGS_MAX.get(k, SETTINGS_DEFAULT_MAX_MM)
        if math.isfinite(float(v)) and float(v) > top:
            unit = "" if k in ("contact_factor", "surface_min_sigma_vox") else " mm"
            raise SchemaError(
                f"{source}: field 'settings.{k}': {float(v):g}{unit} is above the "
                f"{top:g}{unit} allowed"
            )


def check_document(doc: dict, source: str | Path) -> None:
    """Check a parsed ``review.json`` against every bound before it is validated or used.

    Raises
    ------
    SchemaError
        Naming the file and the field: nesting too deep, a text or list too long, a
        grid too large or not orthogonal, a setting out of range.
    """
    depth = json_depth(doc)
    if depth > MAX_JSON_DEPTH:
        raise SchemaError(
            f"{source}: nested more than {MAX_JSON_DEPTH} levels deep (a review needs 4): "
            "not a review document"
        )
    _check_strings(doc, source)
    shape = doc.get("reference_shape")
    affine = doc.get("reference_affine")
    try:
        if (
            isinstance(shape, list)
            and len(shape) == 3
            and all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
        ):
            check_grid(None, shape, source)
        if (
            isinstance(affine, list)
            and len(affine) == 4
            and all(
                isinstance(r, list)
                and len(r) == 4
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in r)
                for r in affine
            )
        ):
            check_grid(affine, None, source)
    except (TypeError, ValueError) as exc:  # malformed: left to the schema's message
        del exc
    check_settings(doc.get("settings"), source)


# ------------------------------------------------------------------ NIfTI label maps


def check_nifti_header(
    path: str | os.PathLike, reference_shape: Sequence[int] | None = None
) -> tuple[int, ...]:
    """Read only the header of a label map and refuse what cannot be loaded safely.

    Checks, before any voxel is read: the declared shape is 3D (or 4D with one
    volume), within :data:`MAX_VOXELS`, the same voxel count and axis lengths (in any
    order) as ``reference_shape`` when given, and holdable by the file: an
    uncompressed file must be at least header + data long, a gzip file at least
    1/:data:`MAX_DEFLATE_RATIO` of the data.

    Parameters
    ----------
    path : path-like
        ``.nii`` / ``.nii.gz`` label map.
    reference_shape : sequence of int, optional
        Shape of the review's reference grid.

    Returns
    -------
    tuple of int
        The declared shape.

    Raises
    ------
    InputError
        Naming the file and what the header declares (``GeometryError`` for a shape
        that is not the reference grid's).
    """
    import nibabel as nib

    path = Path(path)
    try:
        size = os.stat(path).st_size
        img = nib.load(str(path))  # lazy: the header only, no voxel is read
        header: Any = img.header
        shape = tuple(int(s) for s in header.get_data_shape())
        itemsize = int(np.dtype(header.get_data_dtype()).itemsize)
        offset = int(getattr(header, "get_data_offset", lambda: 352)())
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many kinds on broken headers
        raise InputError(f"{path}: not a readable NIfTI file ({type(exc).__name__})") from exc
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{path}: NIfTI header dim: expected a 3D label map, got shape {shape}")
    try:
        check_grid(None, shape, path, what="NIfTI header dim")
    except SchemaError as exc:
        raise InputError(str(exc)) from None
    if reference_shape is not None:
        ref = sorted(int(s) for s in reference_shape)
        if sorted(shape) != ref:
            want = tuple(int(s) for s in reference_shape)
            raise GeometryError(
                f"{path}: label map does not match the reference grid (NIfTI header dim, "
                f"field 'reference_shape'): shape {shape} != reference shape {want}"
            )
    need = math.prod(shape) * itemsize
    gz = path.name.lower().endswith(".gz")
    if gz and size * MAX_DEFLATE_RATIO < need:
        raise InputError(
            f"{path}: NIfTI header dim: declares {list(shape)} voxels ({need / 1e6:.1f} MB) but "
            f"the compressed file of {size} bytes cannot hold them (truncated or forged)"
        )
    if not gz and size < offset + need:
        raise InputError(
            f"{path}: NIfTI header dim: declares {list(shape)} voxels ({need / 1e6:.1f} MB) but "
            f"the file has only {size} bytes (truncated)"
        )
    return shape
