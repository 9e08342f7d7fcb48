"""Write a phantom series as classic MR Image Storage files, one per slice.

Headers are those of a real 3D acquisition (patient, study, series, frame of
reference, equipment, image plane, MR image modules) with an obviously fake
patient. Geometry comes from the image's affine: array axes (slice, row, column)
map to ImagePositionPatient of each slice, the row/column cosines of
ImageOrientationPatient and PixelSpacing (row spacing, column spacing).
Pixel values are the uint16 array itself (rescale slope 1, intercept 0).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage

from nvcview import __version__
from nvcview.errors import InputError
from nvcview.fsutil import atomic_path
from nvcview.io.image import Image

#: "acquisition" date and time of every phantom (fixed: files are deterministic)
ACQ_DATE = "20250101"
ACQ_TIME = "120000"


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if len(text) > 16:
        text = f"{value:.8g}"
    return text


def slice_geometry(affine: np.ndarray, k: int) -> tuple[list[str], list[str], list[str], float]:
    """ImagePositionPatient, ImageOrientationPatient, PixelSpacing of slice ``k``.

    Parameters
    ----------
    affine : (4, 4) ndarray
        Index (slice, row, column) -> LPS mm.
    k : int
        Slice index.

    Returns
    -------
    ipp, iop, pixel_spacing : lists of DS strings
    slice_spacing_mm : float
    """
    col_vec = affine[:3, 1]  # moving down one row
    row_vec = affine[:3, 2]  # moving right one column
    dy, dx = float(np.linalg.norm(col_vec)), float(np.linalg.norm(row_vec))
    dz = float(np.linalg.norm(affine[:3, 0]))
    pos = affine[:3, :3] @ np.array([k, 0.0, 0.0]) + affine[:3, 3]
    iop = [*(row_vec / dx), *(col_vec / dy)]
    return [_ds(v) for v in pos], [_ds(round(v, 8)) for v in iop], [_ds(dy), _ds(dx)], dz


def series_datasets(image: Image, spec, uid_for) -> list[Dataset]:
    """One MR Image Storage dataset per slice of ``image``.

    Parameters
    ----------
    image : Image
        uint16 volume with meta (UIDs, description, sequence) and patient filled.
    spec : SeriesSpec
        Acquisition parameters (sequence, TE, TR, flip angle).
    uid_for : callable
        ``uid_for(name) -> str``: deterministic UID of an instance name.
    """
    arr = np.asarray(image.array)
    if arr.ndim != 3:
        raise InputError(f"series {image.meta.series_description!r}: expected a 3D volume")
    if arr.dtype != np.uint16:
        if arr.min() < 0 or arr.max() > 65535:
            raise InputError("pixel values must fit uint16")
        arr = arr.astype(np.uint16)
    affine = np.asarray(image.affine, dtype=np.float64)
    m, p = image.meta, image.patient
    n_slices, rows, cols = arr.shape
    normal = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    bits = max(12, int(arr.max()).bit_length())
    out = []
    for k in range(n_slices):
        ipp, iop, pix, dz = slice_geometry(affine, k)
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = uid_for(f"{m.role}-instance-{k}")
        ds.StudyDate = p.study_date or ACQ_DATE
        ds.SeriesDate = p.study_date or ACQ_DATE
        ds.AcquisitionDate = p.study_date or ACQ_DATE
        ds.ContentDate = p.study_date or ACQ_DATE
        ds.StudyTime = p.study_time or ACQ_TIME
        ds.SeriesTime = p.study_time or ACQ_TIME
        ds.AcquisitionTime = p.study_time or ACQ_TIME
        ds.ContentTime = p.study_time or ACQ_TIME
        ds.AccessionNumber = p.accession_number
        ds.Modality = "MR"
        ds.Manufacturer = "nvcview"
        ds.InstitutionName = p.institution_name
        ds.ReferringPhysicianName = p.referring_physician_name
        ds.StudyDescription = "MRI CPA hemifacial spasm protocol (synthetic phantom)"
        ds.SeriesDescription = m.series_description
        ds.ManufacturerModelName = "nvcview_sample phantom"
        ds.PatientName = p.patient_name
        ds.PatientID = p.patient_id
        ds.PatientBirthDate = p.patient_birth_date
        ds.PatientSex = p.patient_sex
        ds.PatientAge = "055Y"
        ds.BodyPartExamined = "HEAD"
        ds.ScanningSequence = spec.scanning_sequence
        ds.SequenceVariant = spec.sequence_variant
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.SequenceName = spec.sequence_name
        ds.AngioFlag = "Y" if m.role == "TOF" else "N"
        ds.SliceThickness = _ds(dz)
        ds.RepetitionTime = _ds(spec.repetition_time_ms)
        ds.EchoTime = _ds(spec.echo_time_ms)
        ds.NumberOfAverages = "1"
        ds.ImagingFrequency = "123.2"
        ds.ImagedNucleus = "1H"
        ds.EchoNumbers = "1"
        ds.MagneticFieldStrength = "3"
        ds.SpacingBetweenSlices = _ds(dz)
        ds.EchoTrainLength = "1"
        ds.SoftwareVersions = f"nvcview {__version__}"
        ds.ProtocolName = m.series_description.split(" ")[0]
        ds.PercentSampling = "100"
        ds.PercentPhaseFieldOfView = "100"
        ds.PixelBandwidth = "289" if m.role == "T2" else "186"
        ds.ReceiveCoilName = "HeadNeck_20"
        ds.TransmitCoilName = "Body"
        ds.AcquisitionMatrix = [0, cols, rows, 0]
        ds.InPlanePhaseEncodingDirection = "ROW"
        ds.VariableFlipAngleFlag = "N"
        ds.FlipAngle = _ds(spec.flip_angle_deg)
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = m.study_uid
        ds.SeriesInstanceUID = m.series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = str(m.series_number or 1)
        ds.AcquisitionNumber = "1"
        ds.InstanceNumber = str(k + 1)
        ds.PatientOrientation = ""
        ds.ImagePositionPatient = ipp
        ds.ImageOrientationPatient = iop
        ds.FrameOfReferenceUID = m.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(np.dot(normal, [float(v) for v in ipp])))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.PixelSpacing = pix
        ds.BitsAllocated = 16
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
        ds.WindowCenter = "500" if m.role == "T2" else "450"
        ds.WindowWidth = "1200" if m.role == "T2" else "1000"
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
        ds.PixelData = np.ascontiguousarray(arr[k]).tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = f"NVCVIEW_{__version__}"[:16]
        ds.file_meta = meta
        out.append(ds)
    return out


def write_series(image: Image, spec, folder: str | os.PathLike, uid_for) -> list[Path]:
    """Write ``image`` as ``folder/IM0001.dcm ...`` (atomic per file); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, ds in enumerate(series_datasets(image, spec, uid_for)):
        path = folder / f"IM{k + 1:04d}.dcm"
        with atomic_path(path) as tmp:
            pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
        paths.append(path)
    return paths
