"""Read the pixel data of an ordered stack into one preallocated 3D array.

Uncompressed little-endian files are read straight from disk into the output
(``readinto`` at the pixel element offset found during discovery, no copy);
everything else (JPEG 2000, JPEG lossless / baseline, JPEG-LS, RLE, deflate,
big endian, multi-frame) decodes through pydicom's pixel handlers
(pylibjpeg-openjpeg, pylibjpeg-rle, pyjpegls, python-gdcm). Files are read by
a thread pool: I/O and the decoders release the GIL.

Values get the standard modality transform (RescaleSlope/RescaleIntercept, or
the per-frame Pixel Value Transformation of enhanced objects). The output stays
integer when the transform is integer-exact, else it is float32.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom
from pydicom.pixels import pixel_array as _pixel_array

from nvcview.errors import InputError
from nvcview.io.discovery import DEFLATED, NATIVE_LITTLE_ENDIAN, FrameRecord


def stored_dtype(rec: FrameRecord) -> np.dtype:
    """Numpy dtype of the stored (pre-rescale) pixel values."""
    if rec.bits_allocated not in (8, 16, 32):
        raise InputError(f"{rec.path}: unsupported BitsAllocated {rec.bits_allocated}")
    kind = "i" if rec.pixel_representation == 1 else "u"
    return np.dtype(f"<{kind}{rec.bits_allocated // 8}")


def _stored_range(rec: FrameRecord) -> tuple[int, int]:
    bits = min(rec.bits_stored, rec.bits_allocated)
    if rec.pixel_representation == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def output_dtype(records: list[FrameRecord]) -> np.dtype:
    """Smallest dtype that holds the rescaled values exactly (integer), else float32."""
    base = stored_dtype(records[0])
    slopes = {r.slope for r in records}
    inters = {r.intercept for r in records}
    identity = slopes == {1.0} and inters == {0.0}
    if identity:
        return base
    integer = all(float(s).is_integer() for s in slopes) and all(
        float(i).is_integer() for i in inters
    )
    if not integer:
        return np.dtype(np.float32)
    lo, hi = float("inf"), float("-inf")
    for r in records:
        a, b = _stored_range(r)
        vals = (a * r.slope + r.intercept, b * r.slope + r.intercept)
        lo = min(lo, *vals)
        hi = max(hi, *vals)
    for cand in (np.uint8, np.int8, np.uint16, np.int16, np.int32):
        info = np.iinfo(cand)
        if info.min <= lo and hi <= info.max and np.dtype(cand).itemsize >= base.itemsize:
            return np.dtype(cand)
    return np.dtype(np.float32) if max(abs(lo), abs(hi)) < 2**24 else np.dtype(np.float64)


def _native_length(path: str, offset: int) -> tuple[int, int] | None:
    """(value offset, value length) of an uncompressed pixel element at ``offset``."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12)
    if len(head) < 8 or head[:4] != b"\xe0\x7f\x10\x00":
        return None
    if head[4:6] in (b"OW", b"OB"):  # explicit VR: tag, VR, 2 reserved, 4-byte length
        if len(head) < 12:
            return None
        (length,) = struct.unpack("<I", head[8:12])
        return offset + 12, length
    (length,) = struct.unpack("<I", head[4:8])  # implicit VR
    return offset + 8, length


def _fast_path_ok(rec: FrameRecord) -> bool:
    return (
        rec.frame is None
        and rec.transfer_syntax in NATIVE_LITTLE_ENDIAN
        and rec.pixel_element_offset is not None
        and rec.samples_per_pixel == 1
        and rec.bits_allocated in (8, 16, 32)
        and 0 < rec.bits_stored <= rec.bits_allocated
    )


def _fix_high_bits(arr: np.ndarray, rec: FrameRecord) -> None:
    """Clear (unsigned) or sign-extend (signed) bits above BitsStored, in place."""
    shift = rec.bits_allocated - rec.bits_stored
    if shift <= 0:
        return
    if rec.pixel_representation == 1:
        arr <<= shift
        arr >>= shift
    elif arr.max(initial=0) >> rec.bits_stored:
        arr &= (1 << rec.bits_stored) - 1


def _read_native(rec: FrameRecord, dest: np.ndarray) -> None:
    """Read an uncompressed slice straight into ``dest`` (stored dtype, shape rows x cols)."""
    assert rec.pixel_element_offset is not None  # checked by _fast_path_ok
    loc = _native_length(rec.path, rec.pixel_element_offset)
    need = dest.nbytes
    if loc is None:
        raise InputError(f"{rec.path}: pixel data element not where the header said")
    start, length = loc
    if length != 0xFFFFFFFF and length < need:
        raise InputError(
            f"{rec.path}: pixel data too short ({length} bytes for a "
            f"{rec.rows}x{rec.columns} image of {need} bytes)"
        )
    with open(rec.path, "rb") as fh:
        fh.seek(start)
        got = fh.readinto(dest.data.cast("B"))
    if got != need:
        raise InputError(f"{rec.path}: truncated file: pixel data has {got} of {need} bytes")


def _decode(path: str, transfer_syntax: str, index: int | None = None) -> np.ndarray:
    """Stored values of one file (or one frame) through pydicom's pixel handlers."""
    if transfer_syntax == DEFLATED:  # pixel_array(path) does not inflate the dataset
        return _pixel_array(pydicom.dcmread(path), index=index, raw=True)
    return _pixel_array(path, index=index, raw=True)


def _read_decoded(rec: FrameRecord) -> np.ndarray:
    """Decode one slice (or one frame) through pydicom's pixel handlers."""
    try:
        arr = _decode(rec.path, rec.transfer_syntax, rec.frame)
    except Exception as exc:  # decoders raise many kinds
        raise InputError(
            f"{rec.label if rec.frame is not None else rec.path}: pixel data could not be "
            f"decoded (transfer syntax {rec.transfer_syntax}: {exc})"
        ) from exc
    return arr


def _apply_rescale(src: np.ndarray, rec: FrameRecord, dest: np.ndarray) -> None:
    if rec.slope == 1.0 and rec.intercept == 0.0:
        dest[...] = src
    elif dest.dtype.kind == "f":
        np.multiply(src, rec.slope, out=dest, casting="unsafe")
        dest += rec.intercept
    else:
        tmp = src.astype(np.int64) * int(rec.slope) + int(rec.intercept)
        dest[...] = tmp


def available_memory() -> int | None:
    """Bytes this process may still allocate (MemAvailable, capped by RLIMIT_AS), if known."""
    limit = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limit = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as fh:
                used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            room = max(0, soft - used)
            limit = room if limit is None else min(limit, room)
    except (ImportError, OSError, ValueError):
        pass
    return limit


def read_stack_pixels(
    records: list[FrameRecord],
    *,
    max_workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Read an ordered stack into a ``(slices, rows, columns)`` array with rescale applied.

    Parameters
    ----------
    records : list of FrameRecord
        Slices in the output order (already sorted along the normal).
    max_workers : int, optional
        Threads used for reading; default ``min(8, cpu count)``.
    progress : callable, optional
        Called with the number of files done after each file (single-frame files
        count one each, a multi-frame file once).

    Raises
    ------
    InputError
        A file is truncated or its pixel data cannot be decoded (the message names it).
    """
    first = records[0]
    if any(r.samples_per_pixel != 1 for r in records):
        raise InputError(
            f"{first.path}: colour images (SamplesPerPixel {first.samples_per_pixel}) are "
            "not supported as volumes"
        )
    sdt = stored_dtype(first)
    odt = output_dtype(records)
    shape = (len(records), first.rows, first.columns)
    need = int(np.prod(shape, dtype=np.int64)) * odt.itemsize
    room = available_memory()
    if room is not None and need > room:
        raise InputError(
            f"{first.path}: the volume ({'x'.join(map(str, shape))} voxels) needs "
            f"{need / 2**30:.1f} GiB but only {room / 2**30:.1f} GiB of memory is available"
        )
    out = np.empty(shape, dtype=odt)
    direct = odt == sdt
    # group frames by file so that a multi-frame file is decoded once
    multi: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.frame is not None:
            multi.setdefault(r.path, []).append(i)

    def one(i: int) -> None:
        rec = records[i]
        if _fast_path_ok(rec):
            if direct:
                _read_native(rec, out[i])
                _fix_high_bits(out[i], rec)
            else:
                buf = np.empty((rec.rows, rec.columns), dtype=stored_dtype(rec))
                _read_native(rec, buf)
                _fix_high_bits(buf, rec)
                _apply_rescale(buf, rec, out[i])
        else:
            arr = _read_decoded(rec)
            if arr.shape != (rec.rows, rec.columns):
                raise InputError(
                    f"{rec.path}: decoded pixel array has shape {arr.shape}, "
                    f"expected {(rec.rows, rec.columns)}"
                )
            _apply_rescale(arr, rec, out[i])

    def one_file(path: str) -> None:
        idx = multi[path]
        try:
            arr = _decode(path, records[idx[0]].transfer_syntax)
        except Exception as exc:
            raise InputError(f"{path}: pixel data could not be read or decoded ({exc})") from exc
        if arr.ndim == 2:
            arr = arr[None]
        for i in idx:
            rec = records[i]
            if rec.frame >= arr.shape[0] or arr.shape[1:] != (rec.rows, rec.columns):
                raise InputError(
                    f"{path}: frame {(rec.frame or 0) + 1} missing from the pixel data "
                    f"(decoded {arr.shape[0]} frames of {arr.shape[1:]})"
                )
            _apply_rescale(arr[rec.frame], rec, out[i])

    singles = [i for i, r in enumerate(records) if r.frame is None]
    workers = max_workers or min(8, os.cpu_count() or 1)
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one, i) for i in singles]
        futures += [pool.submit(one_file, p) for p in multi]
        for fut in futures:
            try:
                fut.result()
            except OSError as exc:  # a file vanished or became unreadable since the scan
                raise InputError(
                    f"{exc.filename or first.path}: cannot be read ({exc.strerror or exc})"
                ) from exc
            done += 1
            if progress is not None:
                progress(done)
    return out
