"""Group slices into stacks (one regular 3D grid each) and derive their geometry.

A DICOM series is split into separate stacks when its slices differ in plane
orientation (localizers, multi-planar reformats), in matrix size, or when the
same position repeats (echoes, temporal phases, acquisitions, enhanced stacks).
Each stack is then ordered by position along the slice normal (never by file
name or InstanceNumber) and checked: every slice must sit on one regular grid,
otherwise the stack is marked with a :class:`GeometryError` naming the series
and the problem (missing slice, uneven spacing, inconsistent orientation or
pixel spacing, missing position/orientation).

The resulting affine maps array index ``(k, r, c)`` (slice, row, column) to
patient LPS mm, the layout highdicom uses.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from nvcview.errors import GeometryError
from nvcview.io.discovery import FrameRecord


@dataclass(frozen=True)
class GeometryTolerances:
    """Thresholds of the geometry checks (settings, not hidden constants).

    Attributes
    ----------
    orientation_same : float
        Largest difference of direction cosines treated as the same plane
        (0.01 is about 0.6 degrees, the order of dcm2niix's tolerance).
    orientation_warn : float
        Differences of direction cosines above this (but below ``orientation_same``)
        are accepted with a warning.
    distinct_plane_deg : float
        Orientation clusters of one series further apart than this many degrees
        are separate stacks (localizer planes, reformats); closer clusters mean an
        inconsistent series, which is refused.
    position_abs_mm : float
        Absolute tolerance (mm) on slice positions against the regular grid.
    position_rel : float
        Tolerance on slice positions as a fraction of the slice spacing; the
        larger of the two tolerances applies.
    pixel_spacing_rel : float
        Relative tolerance on PixelSpacing between slices of one stack.
    """

    orientation_same: float = 1e-2
    orientation_warn: float = 1e-4
    distinct_plane_deg: float = 10.0
    position_abs_mm: float = 1e-2
    position_rel: float = 2e-2
    pixel_spacing_rel: float = 1e-3


DEFAULT_TOLERANCES = GeometryTolerances()


@dataclass
class IrregularStack:
    """Geometry of a stack whose slices lie on one line but not on a regular grid.

    Attributes
    ----------
    positions_mm : ndarray, shape (n,)
        Distance of each (sorted) slice from the first along the normal, mm.
    normal : ndarray, shape (3,)
        Unit slice normal (row x column direction), LPS.
    inplane : ndarray, shape (3, 2)
        Affine columns for the row and column array axes (direction x spacing, mm).
    """

    positions_mm: np.ndarray
    normal: np.ndarray
    inplane: np.ndarray


@dataclass
class Stack:
    """Slices of one volume, ordered along the slice normal, with their geometry.

    Attributes
    ----------
    series_uid : str
        SeriesInstanceUID the slices came from.
    volume_id : str
        ``series_uid`` alone, or ``series_uid#suffix`` when the series holds
        several stacks (``#echo2``, ``#t3``, ``#coronal``, ``#256x256``...).
    records : list of FrameRecord
        Ordered by increasing position along the slice normal (``row x column``).
    affine : ndarray, shape (4, 4) or None
        Array index ``(k, r, c)`` -> patient LPS mm; None when the geometry is unusable.
    error : str or None
        Why the stack cannot be loaded as a volume (None when it can).
    warnings : list of str
        Non-fatal findings (tolerated orientation jitter...).
    """

    series_uid: str
    volume_id: str
    records: list[FrameRecord]
    affine: np.ndarray | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    is_localizer: bool = False
    #: a file of the stack is truncated or undecodable (reported before geometry)
    file_error: bool = False
    #: set when the only problem is uneven spacing / missing slices along the normal
    irregular: IrregularStack | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        first = self.records[0]
        return (len(self.records), first.rows, first.columns)

    @property
    def is_volume(self) -> bool:
        """True when the stack has more than one slice and usable geometry."""
        return self.error is None and len(self.records) > 1

    def raise_if_unusable(self) -> None:
        """Raise :class:`GeometryError` with the stored reason when not loadable."""
        if self.error is not None:
            raise GeometryError(self.error)


def _iop(rec: FrameRecord) -> np.ndarray:
    """ImageOrientationPatient of a record already checked to have one."""
    assert rec.iop is not None
    return rec.iop


def _ipp(rec: FrameRecord) -> np.ndarray:
    """ImagePositionPatient of a record already checked to have one."""
    assert rec.ipp is not None
    return rec.ipp


def _plane_name(iop: np.ndarray) -> str:
    normal = np.cross(iop[:3], iop[3:])
    return ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(normal)))]


def _angle_deg(iop_a: np.ndarray, iop_b: np.ndarray) -> float:
    na = np.cross(iop_a[:3], iop_a[3:])
    nb = np.cross(iop_b[:3], iop_b[3:])
    ra = iop_a[:3] / np.linalg.norm(iop_a[:3])
    rb = iop_b[:3] / np.linalg.norm(iop_b[:3])
    cos_n = abs(np.dot(na, nb)) / (np.linalg.norm(na) * np.linalg.norm(nb))
    cos_r = np.dot(ra, rb)
    return float(np.degrees(max(np.arccos(min(1.0, cos_n)), np.arccos(np.clip(cos_r, -1, 1)))))


def _cluster_orientations(
    records: list[FrameRecord], tol: GeometryTolerances
) -> list[list[FrameRecord]]:
    clusters: list[tuple[np.ndarray, list[FrameRecord]]] = []
    for rec in records:
        for ref, members in clusters:
            if np.max(np.abs(rec.iop - ref)) <= tol.orientation_same:
                members.append(rec)
                break
        else:
            clusters.append((_iop(rec), [rec]))
    return [members for _, members in clusters]


#: attributes that tell apart slices repeating the same position, in the order tried
_REPEAT_KEYS = (
    ("stack", lambda r: r.stack_id, "stack{}"),
    ("echo", lambda r: r.echo_number, "echo{}"),
    ("echo time", lambda r: r.echo_time_ms, "te{:g}"),
    ("temporal position", lambda r: r.temporal_position, "t{}"),
    ("trigger time", lambda r: r.trigger_time_ms, "trig{:g}"),
    ("acquisition", lambda r: r.acquisition_number, "acq{}"),
    ("image type", lambda r: r.complex_part or "_".join(r.image_type[2:3]) or None, "{}"),
    ("file", lambda r: r.path if r.frame is not None else None, "file{}"),
)

#: pairs of attributes tried together when no single one separates the repeats
_PAIR_KEYS = (
    ("echo", "image type"),
    ("echo time", "image type"),
    ("echo", "temporal position"),
    ("echo", "acquisition"),
    ("stack", "echo"),
    ("temporal position", "image type"),
)

_COMPLEX_SUFFIX = {"M": "", "P": "_ph", "R": "_real", "I": "_imag"}


def _pair_name(names: tuple[str, str], values: tuple) -> str:
    """Volume id suffix of a pair split; echo x magnitude/phase as dcm2niix (e1, e1_ph)."""
    fmts = {name: fmt for name, _, fmt in _REPEAT_KEYS}
    first, second = names
    if first == "echo" and second == "image type":
        return f"e{values[0]}" + _COMPLEX_SUFFIX.get(str(values[1]), f"_{values[1]}")
    return "_".join(fmts[n].format(v) for n, v in zip(names, values, strict=True))


def _position_key(rec: FrameRecord) -> tuple[float, float, float]:
    return tuple(np.round(rec.ipp, 2)) if rec.ipp is not None else (np.nan,) * 3


def _has_repeats(records: list[FrameRecord]) -> bool:
    keys = [_position_key(r) for r in records]
    return len(set(keys)) < len(keys)


def _split_repeats(records: list[FrameRecord]) -> tuple[list[tuple[str, list]], str | None]:
    """Split records with repeated positions by the first attribute that separates them."""
    if not _has_repeats(records):
        return [("", records)], None
    tried = []
    columns: dict[str, list] = {}
    for name, getter, fmt in _REPEAT_KEYS:
        values = [getter(r) for r in records]
        if any(v is None for v in values) or len(set(values)) < 2:
            continue
        columns[name] = values
        tried.append(f"{name} ({len(set(values))} values)")
        groups: dict = defaultdict(list)
        for v, r in zip(values, records, strict=True):
            groups[v].append(r)
        if all(not _has_repeats(g) for g in groups.values()):
            ordered = sorted(groups.items(), key=lambda kv: str(kv[0]).zfill(12))
            if fmt == "file{}":
                return [(f"file{i + 1}", g) for i, (_, g) in enumerate(ordered)], None
            return [(fmt.format(v), g) for v, g in ordered], None
    for names in _PAIR_KEYS:
        if not all(n in columns for n in names):
            continue
        pairs = list(zip(columns[names[0]], columns[names[1]], strict=True))
        groups = defaultdict(list)
        for v, r in zip(pairs, records, strict=True):
            groups[v].append(r)
        if all(not _has_repeats(g) for g in groups.values()):
            ordered = sorted(groups.items(), key=lambda kv: tuple(str(x).zfill(12) for x in kv[0]))
            if names[0] == "echo time":  # enhanced objects: echoes numbered by rising TE
                tes = sorted({float(v) for v in columns["echo time"]})
                rank = {te: i + 1 for i, te in enumerate(tes)}
                return [
                    (_pair_name(("echo", names[1]), (rank[v[0]], v[1])), g) for v, g in ordered
                ], None
            return [(_pair_name(names, v), g) for v, g in ordered], None
    n_pos = len({_position_key(r) for r in records})
    if tried:
        detail = (
            "neither "
            + ", ".join(tried)
            + " nor a pair of them tells them apart (each still leaves repeated positions)"
        )
    else:
        detail = "no echo, phase, acquisition, image type or stack attribute tells them apart"
    return [("", records)], f"{len(records)} slices at only {n_pos} distinct positions; {detail}"


def group_stacks(
    records: list[FrameRecord], tol: GeometryTolerances = DEFAULT_TOLERANCES
) -> list[Stack]:
    """Split all records into stacks and compute each stack's geometry.

    Parameters
    ----------
    records : list of FrameRecord
        Slices of any number of series.
    tol : GeometryTolerances
        Geometry check thresholds.

    Returns
    -------
    list of Stack
        Sorted by series number, then volume id. Stacks whose geometry is unusable
        are returned with ``error`` set, so that listing never fails.
    """
    by_series: dict[str, list[FrameRecord]] = defaultdict(list)
    seen: dict[tuple[str, int | None], FrameRecord] = {}
    duplicates: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        if rec.sop_instance_uid:
            key = (rec.sop_instance_uid, rec.frame)
            if key in seen:  # the same image exported twice: keep the first copy
                duplicates[rec.series_uid].append(rec.label)
                continue
            seen[key] = rec
        by_series[rec.series_uid].append(rec)
    stacks: list[Stack] = []
    for uid, recs in by_series.items():
        found = _series_stacks(uid, recs, tol)
        if duplicates.get(uid):
            dup = duplicates[uid]
            for stack in found:
                stack.warnings.append(
                    f"{len(dup)} duplicate image(s) (same SOPInstanceUID) ignored, e.g. {dup[0]}"
                )
        stacks.extend(found)
    stacks.sort(
        key=lambda s: (
            s.records[0].series_number if s.records[0].series_number is not None else 1 << 30,
            s.volume_id,
        )
    )
    return stacks


def _series_stacks(
    uid: str, recs: list[FrameRecord], tol: GeometryTolerances, prefix: tuple[str, ...] = ()
) -> list[Stack]:
    # enhanced objects name their stacks (StackID): those are always separate volumes
    stack_ids = {r.stack_id for r in recs}
    if not prefix and len(stack_ids) > 1 and None not in stack_ids:
        out = []
        for sid in sorted(stack_ids, key=lambda v: str(v).zfill(12)):
            sub = [r for r in recs if r.stack_id == sid]
            out.extend(_series_stacks(uid, sub, tol, prefix=(f"stack{sid}",)))
        return out
    base_id = uid + ("#" + "_".join(prefix) if prefix else "")
    label = f"series {base_id}"
    problems = [r for r in recs if r.problem]
    if problems:
        good = [r for r in recs if not r.problem]
        vid = base_id + ("_" if prefix else "#") + "unsupported" if good else base_id
        more = f" ({len(problems)} such files)" if len(problems) > 1 else ""
        bad = Stack(uid, vid, problems, error=f"series {vid}: {problems[0].problem}{more}")
        return [bad] + (_series_stacks(uid, good, tol, prefix) if good else [])
    missing = [r for r in recs if r.ipp is None or r.iop is None]
    if missing:
        which = "ImagePositionPatient" if missing[0].ipp is None else "ImageOrientationPatient"
        if missing[0].number_of_frames > 1 and missing[0].frame is None:
            msg = (
                f"{label}: {missing[0].label} is a multi-frame object without per-frame "
                "geometry (no functional groups); it cannot be placed in patient space"
            )
        else:
            msg = (
                f"{label}: {missing[0].label} has no {which} "
                f"({len(missing)} of {len(recs)} slices lack geometry); the slices cannot "
                "be placed in patient space"
            )
        return [Stack(uid, base_id, recs, error=msg)]
    for r in recs:
        norms = np.linalg.norm(_iop(r)[:3]), np.linalg.norm(_iop(r)[3:])
        if not all(abs(v - 1.0) <= 0.01 for v in norms):
            msg = (
                f"{label}: {r.label} has an ImageOrientationPatient whose row and column "
                f"directions are not unit vectors (lengths {norms[0]:.3f} and {norms[1]:.3f}); "
                "its slice plane is unknown"
            )
            return [Stack(uid, base_id, recs, error=msg)]
    # orientation clusters; near-but-distinct clusters mean an inconsistent series
    clusters = _cluster_orientations(recs, tol)
    if len(clusters) > 1:
        worst = 0.0
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                angle = _angle_deg(_iop(clusters[i][0]), _iop(clusters[j][0]))
                if angle < tol.distinct_plane_deg:
                    worst = max(worst, angle)
        if worst > 0:
            odd = min(clusters, key=len)[0]
            msg = (
                f"{label}: inconsistent ImageOrientationPatient between slices (differs by "
                f"{worst:.2f} degrees, e.g. {odd.label}); not one volume"
            )
            return [Stack(uid, base_id, recs, error=msg)]
    # (volume id suffixes, records, error) for each stack
    parts: list[tuple[list[str], list[FrameRecord], str | None]] = []
    plane_names = [_plane_name(_iop(c[0])) for c in clusters]
    for ci, cluster in enumerate(clusters):
        suffix_o = []
        if len(clusters) > 1:
            name = plane_names[ci]
            suffix_o = [name if plane_names.count(name) == 1 else f"{name}{ci + 1}"]
        by_size: dict[tuple[int, int], list[FrameRecord]] = defaultdict(list)
        for r in cluster:
            by_size[(r.rows, r.columns)].append(r)
        for size, group in by_size.items():
            suffix_s = [f"{size[0]}x{size[1]}"] if len(by_size) > 1 else []
            split, err = _split_repeats(group)
            for suffix_r, sub in split:
                parts.append((suffix_o + suffix_s + ([suffix_r] if suffix_r else []), sub, err))
    out = []
    for suffixes, sub, err in parts:
        suffixes = list(prefix) + suffixes
        vid = uid + ("#" + "_".join(suffixes) if suffixes else "")
        stack = Stack(uid, vid, sub)
        if err:
            stack.error = f"series {vid}: {err}"
        else:
            _check_pixel_format(stack)
            if stack.error is None:
                _orient_stack(stack, tol)
        stack.is_localizer = _is_localizer(stack, len(clusters))
        out.append(stack)
    return out


#: pixel format attributes that must agree between the slices of one volume
_FORMAT_FIELDS = (
    ("BitsAllocated", "bits_allocated"),
    ("BitsStored", "bits_stored"),
    ("PixelRepresentation", "pixel_representation"),
    ("SamplesPerPixel", "samples_per_pixel"),
    ("PhotometricInterpretation", "photometric"),
)


def _check_pixel_format(stack: Stack) -> None:
    """Slices of one volume must store their pixels alike; fill a missing PixelRepresentation.

    A missing PixelRepresentation (type 1) takes the value of the other slices, or 0
    (unsigned) when no slice has one; either way a warning says what was assumed.
    """
    recs = stack.records
    label = f"series {stack.volume_id}"
    noted = [r for r in recs if r.note]
    if noted:
        more = f" (and {len(noted) - 1} more file(s))" if len(noted) > 1 else ""
        stack.warnings.append(f"{noted[0].label}: {noted[0].note}{more}")
    reps = [r.pixel_representation for r in recs]
    lacking = [r for r in recs if r.pixel_representation is None]
    if lacking:
        known = {v for v in reps if v is not None}
        if len(known) > 1:
            pass  # reported below as inconsistent
        else:
            value = known.pop() if known else 0
            for r in lacking:
                r.pixel_representation = value
            where = (
                f"{lacking[0].label}"
                + (f" and {len(lacking) - 1} more" if len(lacking) > 1 else "")
                if len(lacking) < len(recs)
                else "every file"
            )
            kind = "signed" if value == 1 else "unsigned"
            source = "as in the other slices" if len(lacking) < len(recs) else "by default"
            stack.warnings.append(
                f"PixelRepresentation missing in {where}: pixels read as {kind} ({source})"
            )
    for keyword, attr in _FORMAT_FIELDS:
        values = [getattr(r, attr) for r in recs]
        distinct = set(values)
        if len(distinct) > 1:
            common = max(distinct, key=values.count)
            odd = next(r for r in recs if getattr(r, attr) != common)
            stack.error = (
                f"{label}: slices store their pixels differently ({keyword} {common} in most, "
                f"{getattr(odd, attr)} in {odd.label}); not one volume"
            )
            stack.file_error = True
            return


def _is_localizer(stack: Stack, n_planes: int) -> bool:
    image_type = set(stack.records[0].image_type)
    if image_type & {"LOCALIZER", "SCOUT", "LOCALISER"}:
        return True
    words = (stack.records[0].series_description + " " + stack.records[0].protocol_name).lower()
    return n_planes >= 3 and any(w in words for w in ("loc", "scout", "survey", "plane"))


def _orient_stack(stack: Stack, tol: GeometryTolerances) -> None:
    """Sort the stack along its normal, check it is one regular grid, set the affine."""
    recs = stack.records
    label = f"series {stack.volume_id}"
    iops = np.array([r.iop for r in recs])
    spread = float(np.max(np.abs(iops - iops[0]))) if len(recs) > 1 else 0.0
    if spread > tol.orientation_warn:
        stack.warnings.append(
            f"orientation cosines vary by up to {spread:.1e} between slices (tolerated)"
        )
    n_for = len({r.frame_of_reference_uid for r in recs})
    if n_for > 1:
        stack.warnings.append(
            f"slices carry {n_for} different FrameOfReferenceUIDs; overlay with other series "
            "by frame of reference is unreliable"
        )
    iop = iops.mean(axis=0) if spread > 0 else iops[0]
    row = iop[:3] / np.linalg.norm(iop[:3])
    col = iop[3:] / np.linalg.norm(iop[3:])
    cos = float(np.dot(row, col))
    if abs(cos) > 1e-3:
        stack.error = f"{label}: ImageOrientationPatient row and column are not orthogonal"
        return
    if cos != 0.0:  # cosines rounded in the header: split the correction between both
        row, col = row - cos / 2 * col, col - cos / 2 * row
        row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
        if abs(cos) > tol.orientation_warn:
            stack.warnings.append(
                f"ImageOrientationPatient row and column are {np.degrees(abs(cos)):.3f} "
                "degrees from orthogonal (orthogonalised)"
            )
    normal = np.cross(row, col)
    missing_ps = [r for r in recs if r.pixel_spacing is None]
    if missing_ps:
        stack.error = f"{label}: {missing_ps[0].label} has no PixelSpacing"
        return
    spacings = np.array([r.pixel_spacing for r in recs], dtype=np.float64)
    if np.any(spacings <= 0):
        stack.error = f"{label}: non-positive PixelSpacing"
        return
    ps_spread = np.max(np.abs(spacings - spacings[0]) / spacings[0])
    if ps_spread > tol.pixel_spacing_rel:
        odd = recs[int(np.argmax(np.max(np.abs(spacings - spacings[0]), axis=1)))]
        stack.error = (
            f"{label}: inconsistent PixelSpacing between slices "
            f"({spacings[0].tolist()} mm vs {list(odd.pixel_spacing or ())} mm in {odd.label})"
        )
        return
    pix = spacings[0]
    dist = np.array([np.dot(_ipp(r), normal) for r in recs])
    order = np.argsort(dist, kind="stable")
    recs = [recs[i] for i in order]
    dist = dist[order]
    stack.records = recs
    lin = np.zeros((3, 3))
    lin[:, 1] = col * pix[0]  # down the rows: column direction x row spacing
    lin[:, 2] = row * pix[1]  # along a row: row direction x column spacing
    n = len(recs)
    if n == 1:
        thick = recs[0].slice_thickness or 1.0
        lin[:, 0] = normal * thick
    else:
        gaps = np.diff(dist)
        if np.min(gaps) < tol.position_abs_mm:
            i = int(np.argmin(gaps))
            stack.error = (
                f"{label}: two slices at the same position ({recs[i].label}, {recs[i + 1].label})"
            )
            return
        origin = _ipp(recs[0])
        step = (_ipp(recs[-1]) - origin) / (n - 1)
        spacing = float(np.dot(step, normal))
        ptol = max(tol.position_abs_mm, tol.position_rel * spacing)
        expected = recs[0].ipp + np.outer(np.arange(n), step)
        actual = np.array([r.ipp for r in recs])
        dev = np.linalg.norm(actual - expected, axis=1)
        offsets = actual - recs[0].ipp
        inplane = offsets - np.outer(offsets @ normal, normal)
        shear = np.outer(np.arange(n), inplane[-1] / (n - 1))  # a steady shift: gantry tilt
        off_line = np.linalg.norm(inplane - shear, axis=1)
        if np.max(dev) > ptol and np.max(off_line) > ptol:
            i = int(np.argmax(off_line))
            stack.error = (
                f"{label}: slice positions are not on one line: {recs[i].label} is "
                f"{off_line[i]:.3f} mm off in the slice plane (ImagePositionPatient); "
                "not one regular volume"
            )
            return
        if np.max(dev) > ptol:
            # missing slices: every gap is a whole multiple of the smallest one
            base = float(np.min(gaps))
            ratios = gaps / base
            multiples = np.abs(ratios - np.round(ratios)) * base <= ptol
            if np.all(multiples) and np.max(ratios) >= 1.5:
                i = int(np.argmax(gaps))
                n_missing = int(np.sum(np.round(ratios) - 1))
                stack.error = (
                    f"{label}: missing slice(s): gap of {gaps[i]:.3f} mm between "
                    f"{recs[i].label} and {recs[i + 1].label} where the spacing is "
                    f"{base:.3f} mm ({n_missing} slice(s) missing)"
                )
            else:
                stack.error = (
                    f"{label}: uneven slice spacing ({gaps.min():.3f} to {gaps.max():.3f} mm); "
                    "the slices do not form a regular grid"
                )
            # slices on one line along the normal can be interpolated onto a regular grid
            offsets = actual - recs[0].ipp
            inplane = offsets - np.outer(offsets @ normal, normal)
            if np.max(np.linalg.norm(inplane, axis=1)) <= ptol:
                stack.irregular = IrregularStack(
                    positions_mm=dist - dist[0], normal=normal, inplane=lin[:, 1:].copy()
                )
                stack.error += (
                    "; allow resampling (load(..., allow_resample=True), "
                    "`nvcview convert --resample`) to interpolate onto a regular grid"
                )
            return
        lateral = step - spacing * normal
        # the volume is an orthogonal grid (highdicom refuses others): every slice must
        # lie within the tolerance of the grid stepping straight along the normal
        ortho = origin + np.outer(np.arange(n), spacing * normal)
        off_grid = float(np.max(np.linalg.norm(actual - ortho, axis=1)))
        if np.linalg.norm(lateral) > ptol or off_grid > ptol:
            stack.error = (
                f"{label}: slice positions are not along the slice normal (sheared stack, "
                f"e.g. gantry tilt: {np.linalg.norm(lateral):.3f} mm lateral shift per slice)"
            )
            return
        lin[:, 0] = spacing * normal
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[:3, 3] = recs[0].ipp
    stack.affine = affine
