"""Build a review from a label map made in 3D Slicer or ITK-SNAP.

The label map (NIfTI) plus a structure table (ITK-SNAP label description, Slicer
colour table, CSV/JSON, or ``"1=facial nerve,2=AICA"``) and optionally Slicer
markups for landmarks and the nerve path become a :class:`Review` that the
measurement engine, reports and batch runs understand.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nvcview.errors import GeometryError, InputError
from nvcview.io.grids import grid_mismatch
from nvcview.io.image import Image
from nvcview.review.colortable import parse_structure_spec, read_label_table
from nvcview.review.model import Review, SeriesRef
from nvcview.review.slicer import apply_markups, read_markups
from nvcview.structures import Structure

log = logging.getLogger(__name__)


def _grid_problem(a: Image, b: Image) -> str | None:
    return grid_mismatch(a.affine, a.array.shape, b.affine, b.array.shape)


def review_from_labelmap(
    labels_path: str | os.PathLike,
    *,
    table: str | os.PathLike | None = None,
    structures: str | Sequence[Structure] | None = None,
    markups: Sequence[str | os.PathLike] = (),
    reference: str | os.PathLike | None = None,
    reader: str = "",
    case_id: str = "",
    side: str | None = None,
) -> tuple[Review, Image]:
    """Make a review (in memory) from a label map and its structure table.

    Parameters
    ----------
    labels_path : path-like
        Integer label map (``.nii``/``.nii.gz``; RAS on disk, LPS in memory).
    table : path-like, optional
        Label table file (see :mod:`nvcview.review.colortable`).
    structures : str or sequence of Structure, optional
        Instead of ``table``: ``"1=facial nerve,2=AICA"`` or Structure objects.
    markups : sequence of path-like
        Slicer ``.mrk.json`` files: points -> landmarks, a curve -> nerve path.
    reference : path-like, optional
        The series the labels were drawn on (DICOM folder/file or NIfTI); the label
        map must lie on its grid.
    reader, case_id, side : str
        Review fields.

    Returns
    -------
    (Review, Image)
        The review (``labelmap_path`` "labels.nii.gz", reference grid filled) and the
        label map.

    Raises
    ------
    InputError
        No structure table, unreadable files, non-integer label map.
    GeometryError
        The label map is not on the reference series' grid.
    """
    from nvcview.io.nifti import read_nifti

    labels_path = Path(labels_path)
    if table is not None and structures is not None:
        raise InputError("give either a label table file or a structure list, not both")
    if table is not None:
        table_structures = read_label_table(table)
    elif isinstance(structures, str):
        table_structures = parse_structure_spec(structures)
    elif structures is not None:
        table_structures = list(structures)
    else:
        raise InputError(
            f"{labels_path}: a structure table is needed to know what each label is "
            "(an ITK-SNAP/Slicer/CSV/JSON table, or '1=facial nerve,2=AICA')"
        )
    from nvcview.review.limits import check_nifti_header

    check_nifti_header(labels_path)  # declared size vs the file's, before any allocation
    image = read_nifti(labels_path)
    arr = image.array
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InputError(f"{labels_path}: not a label map (non-integer values)")
    present = {int(v) for v in np.unique(arr)} - {0}
    missing = present - {s.label for s in table_structures}
    if missing:
        log.warning(
            "%s: label values %s are not in the structure table", labels_path.name, sorted(missing)
        )
    ref = None
    if reference is not None:
        from nvcview.io import load
        from nvcview.io.grids import conform_to

        ref = load(reference)
        # the same grid in another axis order (DICOM (slice, row, column) vs NIfTI
        # (i, j, k), flipped rows...) is the same grid: compared in world space and
        # re-indexed onto the reference, never resampled
        try:
            image = conform_to(image, ref, name=str(labels_path))
        except GeometryError as exc:
            same_order = tuple(image.array.shape) == tuple(ref.array.shape)
            if same_order or sorted(image.array.shape) != sorted(ref.array.shape):
                why = _grid_problem(image, ref) or str(exc).removeprefix(f"{labels_path}: ")
            else:  # the same voxel counts in another order: say what world space says
                why = str(exc).removeprefix(f"{labels_path}: ")
            raise GeometryError(
                f"{labels_path}: label map is not on the grid of the reference series "
                f"{reference}: {why}"
            ) from None
        arr = image.array
    review = Review(
        case_id=case_id,
        reader=reader,
        side=side,
        structures=table_structures,
        reference_affine=np.asarray(image.affine, dtype=float).tolist(),
        reference_shape=[int(s) for s in arr.shape],
    )
    if ref is not None:
        review.reference_series_uid = ref.meta.series_uid
        review.study_uid = ref.meta.study_uid
        review.series.append(
            SeriesRef(
                series_uid=ref.meta.series_uid,
                role=ref.meta.role if ref.meta.role in ("T2", "TOF", "T1") else "other",
                # absolute: a path relative to today's working directory would be
                # resolved against the review folder later
                path=str(Path(reference).absolute()) if reference is not None else "",
                description=ref.meta.series_description,
                sequence_name=ref.meta.sequence_name,
                voxel_size_mm=[float(s) for s in ref.spacing_mm],
            )
        )
    for m in markups:
        apply_markups(review, read_markups(m))
    return review, image


def import_review(
    labels_path: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    actor: str | None = None,
    **kwargs,
) -> Path:
    """:func:`review_from_labelmap`, then save it as a review folder; returns review.json."""
    from nvcview.review.store import save_review

    review, image = review_from_labelmap(labels_path, **kwargs)
    return save_review(review, folder, image, actor=actor)
