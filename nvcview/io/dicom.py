"""DICOM folders and files into :class:`~nvcview.io.image.Image` volumes (patient LPS mm).

Pipeline: :func:`nvcview.io.discovery.scan` reads headers only, then
:func:`nvcview.io.stacks.group_stacks` splits series into stacks and checks their
geometry, and only the chosen stack's pixel data is read
(:func:`nvcview.io.pixels.read_stack_pixels`, threaded). The array layout is
``(slice, row, column)`` with an affine from that index to LPS mm, wrapped as a
``highdicom.Volume``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from nvcview.errors import AmbiguousSeriesError, GeometryError, InputError
from nvcview.io.discovery import ScanResult, scan
from nvcview.io.image import Image, PatientInfo, SeriesMeta, describe_orientation, make_volume
from nvcview.io.pixels import read_stack_pixels
from nvcview.io.resample import regular_grid
from nvcview.io.roles import check_role, guess_role
from nvcview.io.stacks import DEFAULT_TOLERANCES, GeometryTolerances, Stack, group_stacks

log = logging.getLogger(__name__)

__all__ = [
    "discover",
    "list_dicom_series",
    "list_dicom_series_with_patient",
    "load_dicom",
    "load_dicom_volumes",
    "stack_meta",
]


def discover(
    path: str | os.PathLike,
    tolerances: GeometryTolerances = DEFAULT_TOLERANCES,
    recursive: bool = True,
) -> tuple[ScanResult, list[Stack]]:
    """Scan ``path`` (headers only) and split what it holds into stacks.

    Raises
    ------
    InputError
        Nothing that looks like a DICOM image was found (the message says what was seen).
    """
    result = scan(path, recursive)
    if not result.records:
        n_seen = len(result.skipped) + len(result.unreadable)
        detail = f"{n_seen} file(s) looked at"
        if result.unreadable:
            detail += f"; unreadable: {os.path.basename(result.unreadable[0][0])}"
            detail += f" ({result.unreadable[0][1].split(': ', 1)[-1]})"
        elif result.skipped:
            examples: dict[str, str] = {}
            for file, reason in result.skipped:
                examples.setdefault(reason, os.path.basename(file))
            detail += "; " + ", ".join(f"{r} (e.g. {examples[r]})" for r in sorted(examples)[:3])
        raise InputError(f"{path}: no DICOM image files found ({detail})")
    stacks = group_stacks(result.records, tolerances)
    bad = _unreadable_list(result.unreadable)
    if result.unreadable:
        log.info("%s: %d unreadable file(s) skipped: %s", path, len(result.unreadable), bad)
    for stack in stacks:
        _check_truncation(stack)
        if result.unreadable:
            stack.warnings.append(UNREADABLE_WARNING + bad)
            if stack.error is not None:
                stack.error += f" (unreadable file(s) skipped: {bad})"
    log.debug(
        "%s: %d slices in %d stacks (%d files skipped, %d unreadable)",
        path,
        len(result.records),
        len(stacks),
        len(result.skipped),
        len(result.unreadable),
    )
    return result, stacks


UNREADABLE_WARNING = "unreadable file(s) skipped in this folder: "


def _unreadable_list(unreadable: list[tuple[str, str]]) -> str:
    """The first five unreadable files' names (and how many more)."""
    bad = ", ".join(os.path.basename(p) for p, _ in unreadable[:5])
    if len(unreadable) > 5:
        bad += f" and {len(unreadable) - 5} more"
    return bad


def _check_truncation(stack: Stack) -> None:
    """Mark a stack unusable when an uncompressed file is shorter than its image."""
    if stack.error is not None:
        return
    for rec in stack.records:
        if rec.frame is not None or rec.pixel_element_offset is None or not rec.file_size:
            continue
        if rec.transfer_syntax not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
            continue
        need = rec.rows * rec.columns * rec.bits_allocated // 8 * rec.samples_per_pixel
        if rec.file_size < rec.pixel_element_offset + 8 + need:
            stack.file_error = True
            stack.error = (
                f"series {stack.volume_id}: {rec.path}: truncated file (pixel data shorter "
                f"than a {rec.rows}x{rec.columns} image)"
            )
            return


def _source_path(stack: Stack) -> str:
    paths = sorted({r.path for r in stack.records})
    if len(paths) == 1:
        return paths[0]
    return os.path.commonpath(paths)


def stack_meta(stack: Stack) -> SeriesMeta:
    """Non-identifying description of a stack (no pixel data needed)."""
    first = stack.records[0]
    warnings = list(stack.warnings)
    if stack.error is not None:
        warnings.insert(0, f"not loadable: {stack.error}")
    elif len(stack.records) == 1:
        warnings.insert(0, "single 2D image, not a volume")
    if stack.is_localizer:
        warnings.append("localizer")
    if first.photometric == "MONOCHROME1":
        warnings.append("MONOCHROME1: low values are displayed white (values not inverted)")
    if stack.affine is not None:
        norms = np.linalg.norm(stack.affine[:3, :3], axis=0)
        spacing = tuple(round(float(s), 6) for s in norms)  # DS strings carry ~1e-9 noise
        orientation = describe_orientation(stack.affine, slice_axis=0)
    else:
        spacing, orientation = (), ""
    tes = {r.echo_time_ms for r in stack.records}
    return SeriesMeta(
        series_uid=stack.series_uid,
        study_uid=first.study_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        modality=first.modality,
        series_description=first.series_description,
        sequence_name=first.sequence_name,
        mr_acquisition_type=first.mr_acquisition_type,
        series_number=first.series_number,
        echo_time_ms=first.echo_time_ms if len(tes) == 1 else None,
        repetition_time_ms=first.repetition_time_ms,
        role=guess_role(first),
        volume_id=stack.volume_id,
        source_path=_source_path(stack),
        n_files=len({r.path for r in stack.records}),
        shape=stack.shape,
        spacing_mm=spacing,
        orientation=orientation,
        warnings=warnings,
        loadable=stack.error is None and len(stack.records) > 1,
    )


def list_dicom_series(
    path: str | os.PathLike, tolerances: GeometryTolerances = DEFAULT_TOLERANCES
) -> list[SeriesMeta]:
    """Describe every stack under ``path`` from headers only.

    Stacks that cannot be loaded are listed too, with the reason in ``warnings``.
    """
    _, stacks = discover(path, tolerances)
    return [stack_meta(s) for s in stacks]


def list_dicom_series_with_patient(
    path: str | os.PathLike, tolerances: GeometryTolerances = DEFAULT_TOLERANCES
) -> list[tuple[SeriesMeta, PatientInfo]]:
    """Like :func:`list_dicom_series`, with each volume's patient information (PHI) beside it."""
    result, stacks = discover(path, tolerances)
    return [(stack_meta(s), result.patients.get(s.series_uid, PatientInfo())) for s in stacks]


def _describe(stack: Stack) -> str:
    meta = stack_meta(stack)
    shape = "x".join(str(s) for s in meta.shape)
    desc = meta.series_description or "(no description)"
    flag = ""
    if stack.error is not None:
        flag = " [not loadable]"
    elif len(stack.records) == 1:
        flag = " [2D]"
    elif stack.is_localizer:
        flag = " [localizer]"
    return f"{meta.volume_id} '{desc}' {shape} {meta.role}{flag}"


def _choose(path: str, stacks: list[Stack], series_uid: str | None) -> Stack:
    if series_uid is not None:
        wanted = str(series_uid).strip()
        exact = [s for s in stacks if s.volume_id == wanted]
        if exact:
            return exact[0]
        same = [s for s in stacks if s.series_uid == wanted]
        if not same and wanted.isdigit():
            same = [s for s in stacks if s.records[0].series_number == int(wanted)]
        if len(same) == 1:
            return same[0]
        if len(same) > 1:
            raise AmbiguousSeriesError(
                f"{path}: series {wanted} holds {len(same)} volumes; choose one by volume id: "
                + "; ".join(_describe(s) for s in same),
                candidates=[stack_meta(s) for s in same],
            )
        raise InputError(
            f"{path}: no series {wanted}; found: " + "; ".join(_describe(s) for s in stacks)
        )
    volumes = [s for s in stacks if len(s.records) > 1 and not s.is_localizer]
    if len(volumes) == 1:
        return volumes[0]
    if not volumes:
        if len(stacks) == 1:
            return stacks[0]
        if all(len(s.records) == 1 for s in stacks):
            raise InputError(
                f"{path}: only single 2D images found ({len(stacks)} stacks), no volume"
            )
        volumes = stacks
    raise AmbiguousSeriesError(
        f"{path}: {len(volumes)} volumes found; choose one with series_uid (--series): "
        + "; ".join(_describe(s) for s in volumes),
        candidates=[stack_meta(s) for s in volumes],
    )


def load_dicom(
    path: str | os.PathLike,
    series_uid: str | None = None,
    *,
    tolerances: GeometryTolerances = DEFAULT_TOLERANCES,
    max_workers: int | None = None,
    allow_resample: bool = False,
    role: str | None = None,
) -> Image:
    """Load one volume from a DICOM folder or file.

    Parameters
    ----------
    path : path-like
        Folder (searched recursively) or a single DICOM file (single- or multi-frame).
    series_uid : str, optional
        SeriesInstanceUID, a volume id from :func:`list_dicom_series`
        (``<uid>#echo2``...), or a SeriesNumber. Needed when ``path`` holds more than
        one volume (localizers and single 2D images are not counted).
    tolerances : GeometryTolerances
        Geometry check thresholds.
    max_workers : int, optional
        Threads for reading pixel data.
    allow_resample : bool
        When the only problem is uneven slice spacing or missing slices (slices still
        on one line along the normal), interpolate linearly onto a regular grid
        instead of refusing; ``meta.warnings`` then says so. Off by default.
    role : str, optional
        One of :data:`~nvcview.io.image.ROLES`: overrides the role guessed from the
        headers (``meta.role``).

    Returns
    -------
    Image
        ``volume.array`` is ``(slice, row, column)``, ``volume.affine`` maps that index to
        patient LPS mm; values have the modality rescale applied.

    Raises
    ------
    AmbiguousSeriesError
        Several volumes and no (or an ambiguous) ``series_uid``; lists the candidates.
    GeometryError
        Missing slice, uneven spacing, inconsistent orientation or pixel spacing,
        missing position/orientation.
    InputError
        No DICOM, unreadable/truncated file, a single 2D image, unknown series.
    """
    path = str(path)
    result, stacks = discover(path, tolerances)
    stack = _choose(path, stacks, series_uid)
    if stack.file_error:
        raise InputError(f"{path}: {stack.error}")
    extra_warning = None
    if os.path.isfile(path) and len(stack.records) == 1 and stack.records[0].frame is None:
        # one slice of a series picked in a file browser: take the whole series from its
        # folder, as ITK-SNAP and dcm2niix do, when the folder holds the rest of it
        folder = os.path.dirname(os.path.abspath(path))
        sib_result, sib_stacks = discover(folder, tolerances, recursive=False)
        mine = [s for s in sib_stacks if any(os.path.samefile(r.path, path) for r in s.records)]
        if mine and len(mine[0].records) > 1:
            result, stack = sib_result, mine[0]
            extra_warning = (
                f"loaded the whole series ({len(stack.records)} slices) from the folder of "
                f"{os.path.basename(path)}"
            )
            path = folder
            if stack.file_error:
                raise InputError(f"{path}: {stack.error}")
    return _load_stack(
        path,
        result,
        stack,
        max_workers=max_workers,
        allow_resample=allow_resample,
        role=role,
        extra_warning=extra_warning,
    )


def _load_stack(
    path: str,
    result: ScanResult,
    stack: Stack,
    *,
    max_workers: int | None = None,
    allow_resample: bool = False,
    role: str | None = None,
    extra_warning: str | None = None,
    neighbours: list | None = None,
) -> Image:
    """Check and read one discovered stack (its headers already scanned into ``result``).

    ``neighbours`` are the records checked for images left out at either end of the
    volume (:func:`_left_out`); all of ``result.records`` when None.
    """
    single = len(stack.records) == 1 and stack.records[0].number_of_frames == 1
    if stack.records[0].problem or (
        stack.error is not None and not single and not (allow_resample and stack.irregular)
    ):  # mosaic, legacy multi-frame, geometry: said before "a single 2D image"
        cls = InputError if stack.file_error or stack.records[0].problem else GeometryError
        raise cls(f"{path}: {stack.error}")
    if single:
        rec = stack.records[0]
        raise InputError(
            f"{path}: series {stack.volume_id} is a single 2D image "
            f"({rec.rows}x{rec.columns}, {rec.label}), not a volume"
        )
    resampled = stack.error  # only an irregular stack with allow_resample gets here
    array = read_stack_pixels(stack.records, max_workers=max_workers)
    first = stack.records[0]
    affine = stack.affine
    meta = stack_meta(stack)
    if resampled is not None:
        assert stack.irregular is not None and first.ipp is not None
        array, affine, warning = regular_grid(array, stack.irregular, first.ipp)
        meta.warnings = [warning] + [w for w in meta.warnings if not w.startswith("not loadable")]
        meta.shape = array.shape
        meta.spacing_mm = tuple(round(float(s), 6) for s in np.linalg.norm(affine[:3, :3], axis=0))
        meta.orientation = describe_orientation(affine, slice_axis=0)
        log.info("%s: %s", meta.volume_id, warning)
    if extra_warning:
        meta.warnings.insert(0, extra_warning)
    meta.warnings.extend(_left_out(stack, result.records if neighbours is None else neighbours))
    if role is not None:
        meta.role = check_role(role)
    assert affine is not None  # a loadable stack has its affine
    volume = make_volume(array, affine, first.frame_of_reference_uid or None)
    patient = result.patients.get(stack.series_uid, PatientInfo())
    log.info("loaded %s: shape %s, spacing %s mm", meta.volume_id, meta.shape, meta.spacing_mm)
    return Image(volume=volume, meta=meta, patient=patient)


def load_dicom_volumes(
    path: str | os.PathLike,
    *,
    tolerances: GeometryTolerances = DEFAULT_TOLERANCES,
    max_workers: int | None = None,
) -> tuple[list[Image], list[SeriesMeta]]:
    """Load every loadable volume under ``path``, reading each file's header once.

    One :func:`discover` of ``path``; each loadable stack is then read as
    ``load_dicom(meta.source_path, series_uid=meta.volume_id)`` would read it (the
    left-out-slice check looks at the images under the stack's own folder or file),
    without scanning that folder again.

    Parameters
    ----------
    path : path-like
        A DICOM folder (searched recursively) or file.
    tolerances : GeometryTolerances
        Geometry check thresholds.
    max_workers : int, optional
        Threads for reading pixel data.

    Returns
    -------
    images : list of Image
        The loaded volumes (arrays ``(slice, row, column)``, affines to patient LPS mm),
        in discovery order.
    skipped : list of SeriesMeta
        Stacks that cannot be loaded (2D images, localizers, bad geometry), with the
        reason in ``warnings``.

    Raises
    ------
    InputError
        Nothing that looks like a DICOM image under ``path``.
    """
    path = str(path)
    result, stacks = discover(path, tolerances)
    images: list[Image] = []
    skipped: list[SeriesMeta] = []
    for stack in stacks:
        meta = stack_meta(stack)
        if not meta.loadable:
            skipped.append(meta)
            continue
        src = meta.source_path or path
        under = os.path.join(os.path.abspath(src), "") if os.path.isdir(src) else None
        near = [r for r in result.records if _in_source(r.path, src, under)]
        if result.unreadable:  # name only those of the stack's own folder, as load() does
            own = [u for u in result.unreadable if _in_source(u[0], src, under)]
            stack.warnings = [w for w in stack.warnings if not w.startswith(UNREADABLE_WARNING)]
            if own:
                stack.warnings.append(UNREADABLE_WARNING + _unreadable_list(own))
        where = src if os.path.exists(src) else path
        images.append(_load_stack(where, result, stack, max_workers=max_workers, neighbours=near))
    return images, skipped


def _in_source(file: str, src: str, under: str | None) -> bool:
    """Whether ``file`` is the source file ``src``, or lies in the folder ``under``."""
    return file == src if under is None else os.path.abspath(file).startswith(under)


def _left_out(stack: Stack, records: list) -> list[str]:
    """Warnings for images that sit on the loaded grid, just past either end, but were not
    taken into the volume (another matrix size, another series UID after a damaged byte,
    another pixel format...): the volume may be short of a slice that the folder holds."""
    if stack.affine is None or not records:
        return []
    mine = {id(r) for r in stack.records}
    first = stack.records[0]
    inv = np.linalg.inv(stack.affine)
    n = len(stack.records)
    out = []
    for rec in records:
        if id(rec) in mine or rec.ipp is None or rec.iop is None:
            continue
        if rec.frame_of_reference_uid != first.frame_of_reference_uid:
            continue
        if np.max(np.abs(rec.iop - first.iop)) > 1e-2:
            continue
        idx = inv[:3, :3] @ rec.ipp + inv[:3, 3]
        if np.max(np.abs(idx[1:])) > 0.5 or abs(idx[0] - np.round(idx[0])) > 0.1:
            continue
        k = int(np.round(idx[0]))
        if k not in (-1, n):
            continue
        why = []
        if (rec.rows, rec.columns) != (first.rows, first.columns):
            why.append(f"matrix {rec.rows}x{rec.columns}, not {first.rows}x{first.columns}")
        if rec.series_uid != first.series_uid:
            why.append("another SeriesInstanceUID")
        where = "before the first" if k == -1 else "after the last"
        reason = f" ({', '.join(why)})" if why else ""
        out.append(
            f"{rec.label}{reason} lies on this volume's grid one slice {where} slice but was "
            "not included: the volume may be missing an end slice"
        )
    return out[:5]


def is_dicom_path(path: str | os.PathLike) -> bool:
    """True for folders and for files that carry the DICOM "DICM" marker."""
    p = Path(path)
    if p.is_dir():
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"
