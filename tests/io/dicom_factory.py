"""Write small synthetic DICOM series with pydicom, with their true geometry beside them.

The truth is kept as what the scanner meant: ``positions`` (LPS mm of every voxel
centre) and ``values`` (rescaled numbers), independent of any reader's array order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

#: JPEG Lossless, Non-Hierarchical, First-Order Prediction (process 14, selection value 1)
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.70"


def transcode_jpeg_lossless(path: Path) -> None:
    """Re-encode a file in place as JPEG lossless with GDCM (pydicom cannot encode it)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read(), path
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change(), path
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write(), path
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == (
        JPEG_LOSSLESS
    )


PLANES = {
    # row direction (along a row, increasing column), column direction (down the rows)
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


def rotation(ax_deg: float, ay_deg: float, az_deg: float = 0.0) -> np.ndarray:
    """Rotation matrix about x, then y, then z (degrees)."""
    a, b, c = np.radians([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def orientation(plane: str = "axial", tilt_deg: tuple[float, float, float] = (0, 0, 0)):
    """(row, col) unit vectors for a plane, optionally rotated (double oblique)."""
    row, col = (np.array(v) for v in PLANES[plane])
    rot = rotation(*tilt_deg)
    return rot @ row, rot @ col


@dataclass
class SyntheticSeries:
    """What was written, and where every stored voxel truly lies."""

    folder: Path
    series_uid: str
    paths: list[Path]
    stored: np.ndarray  #: (slices, rows, cols) stored values in acquisition order
    affine: np.ndarray  #: index (k, r, c) -> LPS mm, in acquisition order
    slope: float
    intercept: float

    @property
    def values(self) -> np.ndarray:
        """Rescaled values (what PACS displays) as float64."""
        return self.stored.astype(np.float64) * self.slope + self.intercept


def _fmt(v: float) -> str:
    return f"{v:.10g}"[:16]


def _image_dataset(
    *,
    sop_class: str = MRImageStorage,
    series_uid: str,
    study_uid: str,
    for_uid: str,
    description: str,
    series_number: int,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.PatientName = "Phantom^Test"
    ds.PatientID = "PHANTOM-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = for_uid
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.SeriesDate = "20260101"
    ds.AcquisitionTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "ACC123"
    ds.Modality = "MR"
    ds.Manufacturer = "nvcview-tests"
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.PatientPosition = "HFS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.MRAcquisitionType = "3D"
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SP"
    ds.RepetitionTime = 5.0
    ds.MagneticFieldStrength = 3
    return ds


def write_series(
    folder: str | Path,
    *,
    shape: tuple[int, int, int] = (12, 20, 16),
    spacing: tuple[float, float, float] = (0.7, 0.5, 0.6),
    plane: str = "axial",
    tilt_deg: tuple[float, float, float] = (0, 0, 0),
    origin: tuple[float, float, float] = (-20.5, -30.25, 10.0),
    order: str = "normal",
    dtype: type = np.uint16,
    bits_stored: int | None = None,
    slope: float = 1.0,
    intercept: float = 0.0,
    description: str = "T2 CISS 3D",
    sequence_name: str = "*ci3d1",
    series_uid: str | None = None,
    study_uid: str | None = None,
    for_uid: str | None = None,
    series_number: int = 5,
    echo_number: int | None = None,
    echo_time: float = 2.5,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "M", "ND"),
    compress: str | None = None,
    prefix: str = "IM",
    seed: int = 0,
    stored: np.ndarray | None = None,
    instance_offset: int = 0,
    patient_position: str = "HFS",
) -> SyntheticSeries:
    """Write one single-frame-per-file series; return what was written.

    ``spacing`` is (slice step, row spacing, column spacing) in mm; ``order`` is
    "normal", "reverse" or "shuffle" (of file names and InstanceNumbers).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, rows, cols = shape
    info = np.iinfo(dtype)
    bits = bits_stored or info.bits
    lo = max(info.min, -(1 << (bits - 1)) if info.min < 0 else 0)
    hi = min(info.max, (1 << (bits - 1)) - 1 if info.min < 0 else (1 << bits) - 1)
    if stored is None:
        stored = rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    row, col = orientation(plane, tilt_deg)
    normal = np.cross(row, col)
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing[0]
    affine[:3, 1] = col * spacing[1]
    affine[:3, 2] = row * spacing[2]
    affine[:3, 3] = origin
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    for_uid = for_uid or generate_uid()
    file_order = list(range(n))
    if order == "reverse":
        file_order = file_order[::-1]
    elif order == "shuffle":
        rng.shuffle(file_order)
    paths = []
    for slot, k in enumerate(file_order):
        ds = _image_dataset(
            series_uid=series_uid,
            study_uid=study_uid,
            for_uid=for_uid,
            description=description,
            series_number=series_number,
        )
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.SequenceName = sequence_name
        ds.PatientPosition = patient_position
        ds.ImageType = list(image_type)
        ds.InstanceNumber = instance_offset + slot + 1
        ipp = affine[:3, 3] + k * affine[:3, 0]
        ds.ImagePositionPatient = [_fmt(v) for v in ipp]
        ds.ImageOrientationPatient = [_fmt(v) for v in (*row, *col)]
        ds.PixelSpacing = [_fmt(spacing[1]), _fmt(spacing[2])]
        ds.SliceThickness = _fmt(spacing[0])
        ds.SpacingBetweenSlices = _fmt(spacing[0])
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated = info.bits
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 1 if info.min < 0 else 0
        if slope != 1.0 or intercept != 0.0:
            ds.RescaleSlope = _fmt(slope)
            ds.RescaleIntercept = _fmt(intercept)
            ds.RescaleType = "US"
        ds.EchoTime = echo_time
        if echo_number is not None:
            ds.EchoNumbers = echo_number
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        if compress == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = compress  # the whole dataset is zlib-deflated
        elif compress and compress != JPEG_LOSSLESS:
            ds.compress(compress)
        path = folder / f"{prefix}{slot + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        if compress == JPEG_LOSSLESS:
            transcode_jpeg_lossless(path)
        paths.append(path)
    return SyntheticSeries(folder, series_uid, paths, stored, affine, slope, intercept)


def write_enhanced(
    path: str | Path,
    *,
    shape: tuple[int, int, int] = (10, 18, 14),
    spacing: tuple[float, float, float] = (0.8, 0.5, 0.6),
    plane: str = "axial",
    tilt_deg: tuple[float, float, float] = (10, -15, 5),
    origin: tuple[float, float, float] = (12.0, -40.0, 3.5),
    slope: float = 1.5,
    intercept: float = -10.0,
    order: str = "shuffle",
    seed: int = 1,
    description: str = "3D TOF enhanced",
) -> SyntheticSeries:
    """Write one Enhanced MR Image Storage file with per-frame geometry."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, rows, cols = shape
    stored = rng.integers(0, 4095, size=shape, endpoint=True).astype(np.uint16)
    row, col = orientation(plane, tilt_deg)
    normal = np.cross(row, col)
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing[0]
    affine[:3, 1] = col * spacing[1]
    affine[:3, 2] = row * spacing[2]
    affine[:3, 3] = origin
    series_uid = generate_uid()
    ds = _image_dataset(
        sop_class=EnhancedMRImageStorage,
        series_uid=series_uid,
        study_uid=generate_uid(),
        for_uid=generate_uid(),
        description=description,
        series_number=7,
    )
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ANGIO", "NONE"]
    ds.InstanceNumber = 1
    ds.ContentDate = "20260101"
    ds.ContentTime = "120000"
    ds.AcquisitionDateTime = "20260101120000"
    ds.NumberOfFrames = n
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PulseSequenceName = "fl3d_tof"
    ds.AngioFlag = "Y"
    shared = Dataset()
    meas = Dataset()
    meas.PixelSpacing = [_fmt(spacing[1]), _fmt(spacing[2])]
    meas.SliceThickness = _fmt(spacing[0])
    shared.PixelMeasuresSequence = [meas]
    ori = Dataset()
    ori.ImageOrientationPatient = [_fmt(v) for v in (*row, *col)]
    shared.PlaneOrientationSequence = [ori]
    pvt = Dataset()
    pvt.RescaleSlope = _fmt(slope)
    pvt.RescaleIntercept = _fmt(intercept)
    pvt.RescaleType = "US"
    shared.PixelValueTransformationSequence = [pvt]
    echo = Dataset()
    echo.EffectiveEchoTime = 3.4
    shared.MREchoSequence = [echo]
    ds.SharedFunctionalGroupsSequence = [shared]
    frame_order = list(range(n))
    if order == "shuffle":
        rng.shuffle(frame_order)
    elif order == "reverse":
        frame_order = frame_order[::-1]
    per_frame = []
    frames = []
    for k in frame_order:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [_fmt(v) for v in affine[:3, 3] + k * affine[:3, 0]]
        item.PlanePositionSequence = [pos]
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        content.DimensionIndexValues = [1, k + 1]
        item.FrameContentSequence = [content]
        per_frame.append(item)
        frames.append(stored[k])
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.ascontiguousarray(np.stack(frames)).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return SyntheticSeries(path.parent, series_uid, [path], stored, affine, slope, intercept)


def world_samples(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) LPS positions of every voxel and their (N,) values (float64)."""
    idx = np.indices(array.shape).reshape(3, -1).T.astype(np.float64)
    pos = idx @ affine[:3, :3].T + affine[:3, 3]
    return pos, array.reshape(-1).astype(np.float64)


def assert_same_world(
    array_a: np.ndarray,
    affine_a: np.ndarray,
    array_b: np.ndarray,
    affine_b: np.ndarray,
    atol_mm: float = 1e-3,
    label: str = "",
    sample: int | None = None,
) -> None:
    """Assert two volumes put the same values at the same LPS positions, voxel for voxel.

    Every voxel of A is mapped through A's affine to LPS, then through B's inverse
    affine to an index of B; that index must be integral (within ``atol_mm`` once
    mapped back to mm), inside B, and hold the same value. Voxel counts must match,
    so the correspondence is one to one. With ``sample``, only that many random voxels
    of A are checked (for large real volumes).
    """
    assert array_a.size == array_b.size, f"{label}: {array_a.shape} vs {array_b.shape}"
    if sample is None:
        pos, val = world_samples(array_a, affine_a)
    else:
        rng = np.random.default_rng(0)
        flat_a = rng.choice(array_a.size, size=min(sample, array_a.size), replace=False)
        idx_a = np.array(np.unravel_index(flat_a, array_a.shape)).T.astype(np.float64)
        pos = idx_a @ affine_a[:3, :3].T + affine_a[:3, 3]
        val = array_a.reshape(-1)[flat_a].astype(np.float64)
    inv = np.linalg.inv(affine_b)
    idx = pos @ inv[:3, :3].T + inv[:3, 3]
    rnd = np.rint(idx)
    back = rnd @ affine_b[:3, :3].T + affine_b[:3, 3]
    err = np.linalg.norm(back - pos, axis=1)
    assert err.max() <= atol_mm, f"{label}: positions differ by up to {err.max():.2e} mm"
    rnd = rnd.astype(int)
    inside = np.all((rnd >= 0) & (rnd < np.array(array_b.shape)), axis=1)
    assert inside.all(), f"{label}: {np.count_nonzero(~inside)} voxels fall outside B"
    flat = np.ravel_multi_index(tuple(rnd.T), array_b.shape)
    assert len(np.unique(flat)) == flat.size, f"{label}: mapping is not one to one"
    other = array_b.reshape(-1)[flat].astype(np.float64)
    np.testing.assert_allclose(val, other, rtol=0, atol=1e-4 * max(1.0, np.abs(val).max()))


def read_dataset(path: Path) -> Dataset:
    """Full read (for tests that corrupt files)."""
    return pydicom.dcmread(path)


def write_enhanced_echoes(
    path: str | Path,
    *,
    echo_times: tuple[float, ...] = (4.6, 9.2),
    parts: tuple[str, ...] = ("M", "P"),
    where: str = "frame_type",
    shape: tuple[int, int, int] = (6, 8, 7),
    spacing: tuple[float, float, float] = (1.0, 0.8, 0.9),
    tilt_deg: tuple[float, float, float] = (5, 0, 0),
    seed: int = 4,
) -> tuple[str, dict[tuple[int, str], SyntheticSeries]]:
    """Philips-like enhanced MR: every echo x magnitude/phase volume at the same positions.

    ``where`` says where the M/P flag is: "frame_type" (FrameType value 4, ``M_FFE`` /
    ``P_FFE``, as Philips writes it) or "component" (ComplexImageComponent only, value 4
    neutral). Frames are interleaved (echo, part, slice) in shuffled order; the returned
    dict maps (echo number, part) to that volume's truth.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, rows, cols = shape
    row, col = orientation("axial", tilt_deg)
    normal = np.cross(row, col)
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing[0]
    affine[:3, 1] = col * spacing[1]
    affine[:3, 2] = row * spacing[2]
    affine[:3, 3] = (-10.0, 20.0, 5.0)
    series_uid = generate_uid()
    ds = _image_dataset(
        sop_class=EnhancedMRImageStorage,
        series_uid=series_uid,
        study_uid=generate_uid(),
        for_uid=generate_uid(),
        description="B0 field map dual echo",
        series_number=9,
    )
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "MIXED", "MIXED"]
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = "20260101", "120000"
    ds.AcquisitionDateTime = "20260101120000"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    shared = Dataset()
    meas = Dataset()
    meas.PixelSpacing = [_fmt(spacing[1]), _fmt(spacing[2])]
    meas.SliceThickness = _fmt(spacing[0])
    shared.PixelMeasuresSequence = [meas]
    ori = Dataset()
    ori.ImageOrientationPatient = [_fmt(v) for v in (*row, *col)]
    shared.PlaneOrientationSequence = [ori]
    ds.SharedFunctionalGroupsSequence = [shared]
    truth = {}
    frames = []
    for e, te in enumerate(echo_times, start=1):
        for part in parts:
            stored = rng.integers(0, 4095, size=shape, endpoint=True).astype(np.uint16)
            truth[(e, part)] = SyntheticSeries(
                path.parent, series_uid, [path], stored, affine, 1.0, 0.0
            )
            for k in range(n):
                frames.append((te, part, k, stored[k]))
    order = rng.permutation(len(frames))
    per_frame, data = [], []
    for i in order:
        te, part, k, pixels = frames[i]
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [_fmt(v) for v in affine[:3, 3] + k * affine[:3, 0]]
        item.PlanePositionSequence = [pos]
        echo = Dataset()
        echo.EffectiveEchoTime = te
        item.MREchoSequence = [echo]
        ftype = Dataset()
        word = {"M": "M_FFE", "P": "P_FFE"}[part] if where == "frame_type" else "FFE"
        ftype.FrameType = ["ORIGINAL", "PRIMARY", "M" if part == "M" else "P", word]
        if where == "component":
            ftype.FrameType = ["ORIGINAL", "PRIMARY", "MIXED", "NONE"]
            ftype.ComplexImageComponent = {"M": "MAGNITUDE", "P": "PHASE"}[part]
        item.MRImageFrameTypeSequence = [ftype]
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        item.FrameContentSequence = [content]
        per_frame.append(item)
        data.append(pixels)
    ds.NumberOfFrames = len(per_frame)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.ascontiguousarray(np.stack(data)).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return series_uid, truth
