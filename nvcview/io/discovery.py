"""Find DICOM image files under a path and read their headers (never their pixels).

Each image slice becomes one :class:`FrameRecord`: a single-frame file gives one
record, an enhanced multi-frame file one record per frame (with the per-frame
functional groups resolved against the shared ones). Patient identifiers are
collected apart, per series, in :class:`~nvcview.io.image.PatientInfo`.

Skipped quietly (debug log): files that are not DICOM, DICOMDIR, and non-image
objects (structured reports, presentation states, key object selections, raw
data, ...). Files that look like DICOM but cannot be parsed are reported in
:attr:`ScanResult.unreadable` so that the caller can name them.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import re
import struct
import warnings
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from nvcview.errors import InputError
from nvcview.io.image import PatientInfo

log = logging.getLogger(__name__)

#: SOP classes that are never image slices (DICOMDIR, SR family, presentation
#: states, key objects, raw data, spectroscopy, waveforms, encapsulated documents)
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.1.3.10",  # Media Storage Directory (DICOMDIR)
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, spatial registration, fiducials, segmentation
    "1.2.840.10008.5.1.4.1.1.4.2",  # MR spectroscopy
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA
    "1.2.840.10008.5.1.4.1.1.481.",  # RT objects
)

#: Deflated Explicit VR Little Endian (the whole dataset is zlib-compressed)
DEFLATED = "1.2.840.10008.1.2.1.99"

#: transfer syntaxes whose native pixel data can be read straight from disk
NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")

#: Explicit VR Big Endian (retired, still met in old archives)
BIG_ENDIAN = "1.2.840.10008.1.2.2"


@dataclass
class FrameRecord:
    """Header facts of one image slice (one file, or one frame of a multi-frame file).

    Geometry is patient LPS mm as stored by DICOM: ``ipp`` (ImagePositionPatient,
    centre of the first transmitted pixel), ``iop`` (row then column direction
    cosines), ``pixel_spacing`` (row spacing, column spacing) in mm.
    """

    path: str
    frame: int | None = None  #: 0-based frame index in a multi-frame file
    series_uid: str = ""
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    modality: str = ""
    series_description: str = ""
    protocol_name: str = ""
    sequence_name: str = ""
    scanning_sequence: str = ""
    sequence_variant: str = ""
    mr_acquisition_type: str = ""
    image_type: tuple[str, ...] = ()
    angio_flag: str = ""
    contrast_agent: str = ""
    series_number: int | None = None
    instance_number: int | None = None
    acquisition_number: int | None = None
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    ipp: np.ndarray | None = None
    iop: np.ndarray | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    echo_number: int | None = None
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None
    flip_angle_deg: float | None = None
    temporal_position: int | None = None
    stack_id: str | None = None
    trigger_time_ms: float | None = None
    slope: float = 1.0
    intercept: float = 0.0
    bits_allocated: int = 16
    bits_stored: int = 16
    #: None when the header lacks it (resolved per stack, with a warning)
    pixel_representation: int | None = 0
    samples_per_pixel: int = 1
    photometric: str = "MONOCHROME2"
    transfer_syntax: str = ""
    #: byte offset of the (7FE0,0010) element in the file, when known
    pixel_element_offset: int | None = None
    file_size: int = 0
    #: magnitude / phase / real / imaginary ("M", "P", "R", "I"), when the header says
    complex_part: str | None = None
    #: why this image cannot be part of a volume (mosaic, legacy multi-frame...), if so
    problem: str | None = None
    #: something assumed while reading the header (reported as a warning of its volume)
    note: str | None = None

    @property
    def label(self) -> str:
        """File name (and frame) for messages; no PHI."""
        name = os.path.basename(self.path)
        return name if self.frame is None else f"{name} frame {self.frame + 1}"


@dataclass
class ScanResult:
    """Everything found under a path, from headers only."""

    root: str
    records: list[FrameRecord] = field(default_factory=list)
    patients: dict[str, PatientInfo] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


_TEXT_VRS = frozenset(
    ("AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR")
)
_BINARY_VRS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}


@functools.cache
def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag


def _value(ds: Dataset, keyword: str):
    """Value of ``keyword`` in ``ds``, decoding raw ASCII/binary elements directly.

    pydicom converts raw elements on attribute access, which dominates header-only
    scans of large series; the common value representations are decoded here and
    anything else (non-ASCII text, sequences, unusual VRs) goes through pydicom.
    """
    tag = _tag(keyword)
    elem = ds.get_item(tag)
    if elem is None:
        return None
    if not isinstance(elem, RawDataElement):
        return elem.value
    raw = elem.value
    if raw is None or len(raw) == 0:
        return None
    vr = elem.VR or dictionary_VR(tag)
    if vr in _TEXT_VRS:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return ds[tag].value
        text = text.strip(" \x00")
        if "\\" in text:
            return [part.strip(" \x00") for part in text.split("\\")]
        return text
    code = _BINARY_VRS.get(vr)
    encoding = ds.original_encoding
    if code is not None and encoding is not None and encoding[1] is not None:
        size = struct.calcsize(code)
        if len(raw) % size == 0:
            values = struct.unpack(("<" if encoding[1] else ">") + code * (len(raw) // size), raw)
            return values[0] if len(values) == 1 else list(values)
    return ds[tag].value


def _str(ds: Dataset, keyword: str) -> str:
    value = _value(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, list | pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    value = _value(ds, keyword)
    if value is None or value == "":
        return None
    if isinstance(value, list | pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
        if value is None:
            return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(ds: Dataset, keyword: str) -> float | None:
    value = _value(ds, keyword)
    if value is None or value == "":
        return None
    if isinstance(value, list | pydicom.multival.MultiValue):
        if not len(value):
            return None
        value = value[0]
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


class HeaderValueError(ValueError):
    """An attribute is present but its value cannot be used (no PHI in the message)."""


def _vector(ds: Dataset, keyword: str, n: int) -> np.ndarray | None:
    """``n`` finite numbers, None when absent; :class:`HeaderValueError` when unusable."""
    value = _value(ds, keyword)
    if value is None or value == "":
        return None
    if not isinstance(value, list | pydicom.multival.MultiValue):
        value = [value]
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise HeaderValueError(f"{keyword} is not a list of numbers") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise HeaderValueError(f"{keyword} holds {arr.size} value(s) where {n} are required")
    return arr


def _count(ds: Dataset, keyword: str, default: int | None) -> int | None:
    """A positive integer attribute (Rows, Columns, NumberOfFrames); raise when unusable."""
    value = _value(ds, keyword)
    if value is None or value == "":
        return default
    if isinstance(value, list | pydicom.multival.MultiValue):
        if len(value) != 1:
            raise HeaderValueError(f"{keyword} holds {len(value)} values where 1 is required")
        value = value[0]
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise HeaderValueError(f"{keyword} {str(value)[:12]!r} is not a whole number") from None
    if number <= 0:
        raise HeaderValueError(f"{keyword} is {number}; an image needs at least 1")
    return number


_COMPLEX_WORDS = {
    "M": "M",
    "MAGNITUDE": "M",
    "P": "P",
    "PHASE": "P",
    "PHASE MAP": "P",
    "R": "R",
    "REAL": "R",
    "I": "I",
    "IMAGINARY": "I",
}


def complex_part_of(image_type: tuple[str, ...], enhanced: bool = False) -> str | None:
    """Magnitude/phase/real/imaginary flag from ImageType or FrameType values.

    Classic objects put it in value 3 (``ORIGINAL\\PRIMARY\\M\\ND``, Philips also
    ``M_FFE``/``P_SE``); enhanced ones in value 4 (``...\\M_FFE`` or ``...\\PHASE``).
    """
    for value in image_type[3:4] if enhanced else image_type[2:3]:
        word = value.strip().upper()
        if word in _COMPLEX_WORDS:
            return _COMPLEX_WORDS[word]
        head = re.split(r"[_ ]", word, maxsplit=1)[0]
        if head in ("M", "P", "R", "I") and "_" in word:
            return head
    return None


def patient_info(ds: Dataset) -> PatientInfo:
    """Collect the identifying attributes of a dataset (kept apart from series metadata)."""
    return PatientInfo(
        patient_name=_str(ds, "PatientName"),
        patient_id=_str(ds, "PatientID"),
        patient_birth_date=_str(ds, "PatientBirthDate"),
        patient_sex=_str(ds, "PatientSex"),
        accession_number=_str(ds, "AccessionNumber"),
        study_date=_str(ds, "StudyDate"),
        study_time=_str(ds, "StudyTime"),
        institution_name=_str(ds, "InstitutionName"),
        referring_physician_name=_str(ds, "ReferringPhysicianName"),
    )


def _sop_class(ds: Dataset) -> str:
    sop = _str(ds, "SOPClassUID")
    if not sop and hasattr(ds, "file_meta"):
        sop = _str(ds.file_meta, "MediaStorageSOPClassUID")
    return sop


def is_non_image(ds: Dataset, path: str) -> str | None:
    """Return why ``ds`` is not an image slice, or None when it is one."""
    sop = _sop_class(ds)
    if os.path.basename(path).upper() == "DICOMDIR" or "DirectoryRecordSequence" in ds:
        return "DICOMDIR"
    for prefix in NON_IMAGE_SOP_PREFIXES:
        if sop.startswith(prefix):
            return f"non-image object (SOP class {sop})"
    if "Rows" not in ds or "Columns" not in ds:
        return "no image pixel module (Rows/Columns)"
    return None


#: attributes that describe the whole series: decoded once per series during a scan
_SERIES_FIELDS = (
    "study_uid",
    "sop_class_uid",
    "modality",
    "series_description",
    "protocol_name",
    "sequence_name",
    "scanning_sequence",
    "sequence_variant",
    "mr_acquisition_type",
    "angio_flag",
    "contrast_agent",
    "series_number",
)


def _series_fields(ds: Dataset) -> dict:
    return dict(
        study_uid=_str(ds, "StudyInstanceUID"),
        sop_class_uid=_str(ds, "SOPClassUID"),
        modality=_str(ds, "Modality"),
        series_description=_str(ds, "SeriesDescription"),
        protocol_name=_str(ds, "ProtocolName"),
        sequence_name=_str(ds, "SequenceName") or _str(ds, "PulseSequenceName"),
        scanning_sequence=_str(ds, "ScanningSequence"),
        sequence_variant=_str(ds, "SequenceVariant"),
        mr_acquisition_type=_str(ds, "MRAcquisitionType"),
        angio_flag=_str(ds, "AngioFlag"),
        contrast_agent=_str(ds, "ContrastBolusAgent"),
        series_number=_int(ds, "SeriesNumber"),
    )


def _base_record(ds: Dataset, path: str, series_cache: dict | None = None) -> FrameRecord:
    """Record of one file; series-level attributes come from ``series_cache`` when known."""
    ts = ""
    if hasattr(ds, "file_meta"):
        ts = _str(ds.file_meta, "TransferSyntaxUID")
    spacing = _vector(ds, "PixelSpacing", 2)
    series_uid = _str(ds, "SeriesInstanceUID")
    cached = None if series_cache is None else series_cache.get(series_uid)
    if cached is None:
        series = _series_fields(ds)
        if series_cache is not None:
            series_cache[series_uid] = series
    else:
        series = cached
    return FrameRecord(
        path=path,
        series_uid=series_uid,
        frame_of_reference_uid=_str(ds, "FrameOfReferenceUID"),
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        image_type=tuple(v.strip().upper() for v in _str(ds, "ImageType").split("\\") if v),
        instance_number=_int(ds, "InstanceNumber"),
        acquisition_number=_int(ds, "AcquisitionNumber"),
        rows=_count(ds, "Rows", 0) or 0,
        columns=_count(ds, "Columns", 0) or 0,
        number_of_frames=_count(ds, "NumberOfFrames", 1) or 1,
        ipp=_vector(ds, "ImagePositionPatient", 3),
        iop=_vector(ds, "ImageOrientationPatient", 6),
        pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
        slice_thickness=_float(ds, "SliceThickness"),
        echo_number=_int(ds, "EchoNumbers"),
        echo_time_ms=_float(ds, "EchoTime"),
        repetition_time_ms=_float(ds, "RepetitionTime"),
        flip_angle_deg=_float(ds, "FlipAngle"),
        temporal_position=_int(ds, "TemporalPositionIdentifier"),
        trigger_time_ms=_float(ds, "TriggerTime"),
        slope=_float(ds, "RescaleSlope") or 1.0,
        intercept=_float(ds, "RescaleIntercept") or 0.0,
        bits_allocated=_int(ds, "BitsAllocated") or 16,
        bits_stored=_int(ds, "BitsStored") or _int(ds, "BitsAllocated") or 16,
        pixel_representation=_int(ds, "PixelRepresentation"),
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1,
        photometric=_str(ds, "PhotometricInterpretation") or "MONOCHROME2",
        transfer_syntax=ts,
        **series,
    )


def _item(seq_parent: Dataset | None, keyword: str) -> Dataset | None:
    if seq_parent is None:
        return None
    seq = seq_parent.get(keyword, None)
    if not seq:
        return None
    return seq[0]


def _group(per_frame: Dataset | None, shared: Dataset | None, keyword: str) -> Dataset | None:
    """Functional group item ``keyword``: per-frame value, else the shared one."""
    return _item(per_frame, keyword) or _item(shared, keyword)


def _frame_records(ds: Dataset, base: FrameRecord) -> list[FrameRecord]:
    """One record per frame of an enhanced multi-frame object."""
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame_seq = ds.get("PerFrameFunctionalGroupsSequence", None) or []
    n = base.number_of_frames
    if len(per_frame_seq) != n:  # checked before building a record per declared frame
        raise HeaderValueError(
            f"NumberOfFrames is {n} but the file describes {len(per_frame_seq)} frame(s) "
            "(per-frame functional groups)"
        )
    out = []
    for k in range(n):
        pf = per_frame_seq[k] if k < len(per_frame_seq) else None
        rec = dataclasses.replace(base, frame=k)
        pos = _group(pf, shared, "PlanePositionSequence")
        rec.ipp = _vector(pos, "ImagePositionPatient", 3) if pos is not None else None
        ori = _group(pf, shared, "PlaneOrientationSequence")
        rec.iop = _vector(ori, "ImageOrientationPatient", 6) if ori is not None else base.iop
        meas = _group(pf, shared, "PixelMeasuresSequence")
        if meas is not None:
            sp = _vector(meas, "PixelSpacing", 2)
            rec.pixel_spacing = None if sp is None else (float(sp[0]), float(sp[1]))
            rec.slice_thickness = _float(meas, "SliceThickness")
        pvt = _group(pf, shared, "PixelValueTransformationSequence")
        if pvt is not None:
            rec.slope = _float(pvt, "RescaleSlope") or 1.0
            rec.intercept = _float(pvt, "RescaleIntercept") or 0.0
        echo = _group(pf, shared, "MREchoSequence")
        if echo is not None:
            rec.echo_time_ms = _float(echo, "EffectiveEchoTime")
        timing = _group(pf, shared, "MRTimingAndRelatedParametersSequence")
        if timing is not None:
            rec.repetition_time_ms = _float(timing, "RepetitionTime")
            rec.flip_angle_deg = _float(timing, "FlipAngle")
        content = _group(pf, None, "FrameContentSequence")
        if content is not None:
            rec.stack_id = _str(content, "StackID") or None
            rec.temporal_position = _int(content, "TemporalPositionIndex")
        ftype = _group(pf, shared, "MRImageFrameTypeSequence")
        if ftype is not None and _str(ftype, "FrameType"):
            rec.image_type = tuple(v.upper() for v in _str(ftype, "FrameType").split("\\"))
        rec.complex_part = complex_part_of(rec.image_type, enhanced=True)
        if ftype is not None:
            component = _str(ftype, "ComplexImageComponent").upper()
            if component in _COMPLEX_WORDS:
                rec.complex_part = _COMPLEX_WORDS[component]
        out.append(rec)
    return out


_PIXEL_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")

#: bytes read at first for a header; most image headers (and small files) fit
HEAD_BYTES = 32 * 1024

#: the header is read in growing chunks until the pixel data tag shows; past this many
#: bytes without one, the file is parsed from disk directly
MAX_HEAD_BYTES = 16 * 1024 * 1024


def _parse_header(fh) -> tuple[Dataset, int | None]:
    """Parse an open file-like object up to its pixel data (see :func:`_read_header`)."""
    try:
        ds = pydicom.dcmread(fh, stop_before_pixels=True)
    except InvalidDicomError:
        # no 128-byte preamble / "DICM": try only files that start like a dataset
        # (an element of group 0002 or 0008) and keep it only if it names a series
        fh.seek(0)
        if fh.read(2) not in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
            raise
        fh.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
        if "SOPClassUID" not in ds and "SeriesInstanceUID" not in ds:
            raise
    offset = fh.tell()
    tag = fh.read(4)
    return ds, (offset if tag in _PIXEL_TAGS else None)


def _pixel_tag_in(buf: bytes, start: int) -> bool:
    """True when the (7FE0,0010) tag appears in ``buf`` after ``start``.

    Only explicit VR big endian files (transfer syntax 1.2.840.10008.1.2.2, named in
    the file meta group near the start) store it byte-swapped; searching for one
    pattern instead of two halves the cost of this scan.
    """
    if buf.find(_PIXEL_TAGS[0], start) >= 0:
        return True
    return buf.find(BIG_ENDIAN.encode() + b"\x00", 0, 4096) >= 0 and (
        buf.find(_PIXEL_TAGS[1], start) >= 0
    )


def _read_header(path: str, keep: dict | None = None) -> tuple[Dataset, int | None]:
    """Parse a file up to its pixel data; return the dataset and the pixel element offset.

    The header is read in a few large reads (``os.pread``) and parsed once from memory
    (pydicom issues many small reads): first :data:`HEAD_BYTES`, then chunks of four
    times as much until the bytes of the pixel data tag have been read (Siemens CSA
    headers run to 30-60 KB). Only when parsing from memory fails (the tag bytes
    turned up inside another value, e.g. an icon image) is the file parsed from disk.
    ``keep``, when given, receives the bytes read (``"head"``) and the file size.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        if keep is not None:
            keep["size"] = os.fstat(fd).st_size
        buf = os.pread(fd, HEAD_BYTES, 0)
        if len(buf) >= 136 and buf[128:132] != b"DICM" and buf[132:134] == b"\x02\x00":
            # preamble and file meta group where they belong but the marker damaged:
            # read it as the DICOM file it is (the offsets stay those of the file)
            log.debug("%s: damaged DICM marker", path)
            buf = buf[:128] + b"DICM" + buf[132:]
        if len(buf) < HEAD_BYTES:  # the whole file is in memory
            return _parse_header(io.BytesIO(buf))
        chunk = 4 * HEAD_BYTES
        searched = 0
        while not _pixel_tag_in(buf, max(0, searched - 3)) and len(buf) < MAX_HEAD_BYTES:
            searched = len(buf)
            more = os.pread(fd, chunk, len(buf))
            if not more:
                break
            buf += more
            chunk *= 2
    finally:
        os.close(fd)
    if keep is not None:
        keep["head"] = buf
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a cut header may look odd: re-read below
            ds, offset = _parse_header(io.BytesIO(buf))
        if offset is not None:
            return ds, offset
    except Exception:  # tag bytes inside another value: parse the file itself
        pass
    with open(path, "rb") as fh:
        return _parse_header(fh)


def _looks_like_dicom(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) >= 132 and head[128:132] == b"DICM"


def read_file_records(
    path: str,
    known_series: Collection[str] = frozenset(),
    series_cache: dict | None = None,
) -> tuple[list[FrameRecord], PatientInfo | None, str | None]:
    """Read one file's header into records.

    Parameters
    ----------
    path : str
        File to read.
    known_series : set of str
        Series whose patient information was already collected (not read again).
    series_cache : dict, optional
        SeriesInstanceUID -> series-level attributes, filled and reused across calls.

    Returns
    -------
    records, patient, skip_reason
        ``skip_reason`` is set (and records empty) for files that are not image slices.

    Raises
    ------
    InputError
        The file cannot be read, or looks like DICOM (has the "DICM" marker) but
        cannot be parsed.
    """
    try:
        keep: dict = {}
        ds, pixel_offset = _read_header(path, keep)
    except OSError as exc:  # permissions, vanished file, I/O error: not "not DICOM"
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except Exception as exc:  # parsers of arbitrary bytes raise many kinds
        if _looks_like_dicom(path):
            raise InputError(f"{path}: unreadable or truncated DICOM file ({exc})") from exc
        return [], None, "not a DICOM file"
    try:
        return _records_of(ds, path, pixel_offset, known_series, series_cache, keep)
    except InputError:
        raise
    except HeaderValueError as exc:
        raise InputError(f"{path}: unusable DICOM header: {exc}") from exc
    except Exception as exc:  # pydicom decodes values lazily: bad VRs, DS, lengths...
        raise InputError(f"{path}: unreadable DICOM header ({_describe_exception(exc)})") from exc


def _describe_exception(exc: BaseException) -> str:
    """Exception text for a message, with quoted values (possibly PHI) elided."""
    text = " ".join(str(exc).split())[:200]
    text = re.sub(r"'([^']{5,})'", "'...'", text)
    text = re.sub(r'"([^"]{5,})"', '"..."', text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _records_of(
    ds: Dataset,
    path: str,
    pixel_offset: int | None,
    known_series: Collection[str],
    series_cache: dict | None,
    keep: dict,
) -> tuple[list[FrameRecord], PatientInfo | None, str | None]:
    reason = is_non_image(ds, path)
    if reason and reason.startswith("no image pixel") and pixel_offset is not None:
        missing = [k for k in ("Rows", "Columns") if k not in ds]
        raise HeaderValueError(
            f"it holds pixel data but no {' or '.join(missing)}, so its image size is unknown"
        )
    deflated = hasattr(ds, "file_meta") and _str(ds.file_meta, "TransferSyntaxUID") == DEFLATED
    if (
        pixel_offset is None
        and not deflated  # inflated in memory: no file offset to find
        and (reason is None or reason.startswith("no image pixel"))
    ):
        sop = pydicom.uid.UID(_sop_class(ds))
        if "Rows" in ds or "Image Storage" in sop.name:
            raise InputError(
                f"{path}: unreadable or truncated DICOM file (it ends before the pixel data)"
            )
    if reason:
        return [], None, reason
    base = _base_record(ds, path, series_cache)
    base.pixel_element_offset = pixel_offset
    base.file_size = int(keep.get("size", 0))
    if base.rows <= 0 or base.columns <= 0:
        raise HeaderValueError(f"image size {base.rows}x{base.columns} (Rows x Columns)")
    if pixel_offset is not None:
        check_pixel_data_size(base, keep.get("head"))
    enhanced = "PerFrameFunctionalGroupsSequence" in ds
    if not enhanced:
        base.complex_part = complex_part_of(base.image_type)
    if "MOSAIC" in base.image_type:
        base.problem = (
            f"{base.label} is a Siemens mosaic (ImageType MOSAIC: many slices tiled in one "
            "2D image); mosaics are not supported: convert the series with dcm2niix"
        )
    if enhanced:
        records = _frame_records(ds, base)
    elif base.number_of_frames > 1:
        base.frame = None
        base.problem = (
            f"{base.label} is a multi-frame image ({base.number_of_frames} frames) without "
            "per-frame geometry (one ImagePositionPatient for all frames); its frames "
            "cannot be placed in patient space"
        )
        records = [base]
    else:
        records = [base]
    patient = None if base.series_uid in known_series else patient_info(ds)
    return records, patient, None


def _check_native_length(rec: FrameRecord, length: int, need: int, declared: str) -> None:
    """Uncompressed pixel data must hold what Rows x Columns x frames x bits declare."""
    ts = rec.transfer_syntax
    if ts not in NATIVE_LITTLE_ENDIAN and ts not in (BIG_ENDIAN, DEFLATED):
        raise HeaderValueError(
            f"transfer syntax {ts} is compressed but the pixel data is not encapsulated"
        )
    if length < need:
        raise HeaderValueError(f"pixel data holds {length} bytes but {declared}")
    if length > need + 1:  # padded exports exist (pydicom's MR_small_padded)
        rec.note = (
            f"pixel data holds {length - need} bytes more than {declared}; "
            "the extra bytes were taken as padding and ignored"
        )


_ITEM = b"\xfe\xff\x00\xe0"
_SEQ_END = b"\xfe\xff\xdd\xe0"
#: RLE can at best turn 2 bytes into 128 (a replicate run): a bound on any real file
RLE_MAX_RATIO = 64


def _pixel_element(
    fd: int, offset: int, big_endian: bool, known: bytes | None = None
) -> tuple[int, int, bool]:
    """(value offset, value length, explicit VR OB/OW) of the pixel element at ``offset``."""
    if known is not None and len(known) >= offset + 12:
        head = known[offset : offset + 12]
    else:
        head = os.pread(fd, 12, offset)
    if len(head) < 8:
        raise HeaderValueError("the file ends inside the pixel data element")
    order = ">" if big_endian else "<"
    if head[4:6] in (b"OB", b"OW"):
        if len(head) < 12:
            raise HeaderValueError("the file ends inside the pixel data element")
        return offset + 12, struct.unpack(order + "I", head[8:12])[0], True
    return offset + 8, struct.unpack("<I", head[4:8])[0], False


def _fragments(fd: int, start: int, file_size: int) -> tuple[int, int, bytes]:
    """Count the fragments of encapsulated pixel data: (frames' fragments, bytes, first)."""
    pos, n, total, first = start, 0, 0, b""
    bot_seen = False
    while pos + 8 <= file_size:
        head = os.pread(fd, 8, pos)
        if head[:4] == _SEQ_END:
            break
        if head[:4] != _ITEM:
            raise HeaderValueError("encapsulated pixel data is not a sequence of items")
        (length,) = struct.unpack("<I", head[4:8])
        if pos + 8 + length > file_size:
            raise HeaderValueError("the file ends inside the compressed pixel data")
        if bot_seen:
            n += 1
            total += length
            if not first:
                first = os.pread(fd, min(length, 4096), pos + 8)
        bot_seen = True
        pos += 8 + length
    return n, total, first


def _codestream_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG / JPEG-LS SOF or JPEG 2000 SIZ marker, when found."""
    siz = data.find(b"\xff\x4f\xff\x51")
    if siz >= 0 and len(data) >= siz + 4 + 2 + 2 + 16:
        x, y, xo, yo = struct.unpack(">IIII", data[siz + 8 : siz + 24])
        return y - yo, x - xo
    if not data.startswith(b"\xff\xd8"):
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        sof = (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7
        if sof and pos + 9 <= len(data):
            y, x = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return (y, x) if y else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def check_pixel_data_size(rec: FrameRecord, head: bytes | None = None) -> None:
    """Compare the declared image size with the pixel data actually in the file.

    Called during the header scan, before anything is allocated or a record is made per
    declared frame: Rows x Columns x NumberOfFrames x BitsAllocated x SamplesPerPixel
    must match the length of uncompressed pixel data (one pad byte allowed); for
    compressed data the frames must have their fragments, JPEG / JPEG 2000 codestreams
    the declared size, and RLE at most :data:`RLE_MAX_RATIO` times its bytes.

    A file cut short inside consistent pixel data is left to the stack's truncation
    check (:func:`nvcview.io.dicom.discover`), which names it as truncated.

    Raises
    ------
    HeaderValueError
        What was declared and what the file holds.
    """
    if rec.pixel_element_offset is None or not rec.file_size:
        return
    ts = rec.transfer_syntax
    bits = rec.bits_allocated
    if bits not in (1, 8, 16, 32, 64):
        raise HeaderValueError(f"BitsAllocated {bits} is not a supported pixel size")
    samples = rec.rows * rec.columns * max(1, rec.samples_per_pixel)
    need = (samples * rec.number_of_frames * bits + 7) // 8
    declared = (
        f"Rows x Columns {rec.rows}x{rec.columns} x {rec.number_of_frames} frame(s) x "
        f"{bits} bits declare {need} bytes"
    )
    if head is not None and len(head) >= rec.pixel_element_offset + 12:
        start, length, _ = _pixel_element(-1, rec.pixel_element_offset, ts == BIG_ENDIAN, head)
        if length != 0xFFFFFFFF:  # uncompressed: the bytes already read tell it all
            _check_native_length(rec, length, need, declared)
            return
    fd = os.open(rec.path, os.O_RDONLY)
    try:
        start, length, _ = _pixel_element(fd, rec.pixel_element_offset, ts == BIG_ENDIAN)
        if length != 0xFFFFFFFF:
            _check_native_length(rec, length, need, declared)
            return
        if ts in NATIVE_LITTLE_ENDIAN or ts == BIG_ENDIAN:
            raise HeaderValueError("uncompressed transfer syntax with encapsulated pixel data")
        n_frag, total, first = _fragments(fd, start, rec.file_size)
    finally:
        os.close(fd)
    if n_frag < rec.number_of_frames:
        raise HeaderValueError(
            f"{rec.number_of_frames} frame(s) declared but the compressed pixel data holds "
            f"{n_frag} fragment(s)"
        )
    if ts == "1.2.840.10008.1.2.5" and need > RLE_MAX_RATIO * total + 4096:
        raise HeaderValueError(
            f"{declared} but the RLE data ({total} bytes) cannot decode to more than "
            f"{RLE_MAX_RATIO * total}"
        )
    size = _codestream_size(first)
    if size is not None and size != (rec.rows, rec.columns):
        raise HeaderValueError(
            f"the compressed image is {size[0]}x{size[1]} but Rows x Columns declare "
            f"{rec.rows}x{rec.columns}"
        )


def iter_files(path: Path, recursive: bool = True) -> Iterable[str]:
    """All regular files under ``path`` (sorted, hidden files skipped)."""
    if path.is_file():
        yield str(path)
        return
    if not recursive:
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.is_file() and not entry.name.startswith("."):
                yield entry.path
        return
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            yield os.path.join(dirpath, name)


def scan(path: str | os.PathLike, recursive: bool = True) -> ScanResult:
    """Read the headers of every DICOM image file under ``path``.

    Parameters
    ----------
    path : path-like
        A folder (searched recursively unless ``recursive`` is False) or a single file.

    Raises
    ------
    InputError
        ``path`` does not exist, or is a single file that is not a readable DICOM image.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    result = ScanResult(root=str(root))
    series_cache: dict[str, dict] = {}
    for file in iter_files(root, recursive):
        try:
            # pydicom warns about every out-of-standard value (common in vendor files);
            # keep them out of the user's terminal
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                records, patient, reason = read_file_records(
                    file, result.patients.keys(), series_cache
                )
            if caught:  # the messages may quote header values (PHI): count them only
                log.debug("%s: %d pydicom warning(s) while reading the header", file, len(caught))
        except InputError as exc:
            if root.is_file():
                raise
            log.debug("skipping %s", exc)
            result.unreadable.append((file, str(exc)))
            continue
        if reason:
            if root.is_file():
                raise InputError(f"{root}: {reason}, not a DICOM image")
            log.debug("skipping %s: %s", file, reason)
            result.skipped.append((file, reason))
            continue
        result.records.extend(records)
        if patient is not None and records:
            result.patients.setdefault(records[0].series_uid, patient)
    return result
