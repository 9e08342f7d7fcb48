"""DICOM objects a PACS displays: the report as Encapsulated PDF, the key images as
Secondary Capture (true colour), and a Key Object Selection pointing at them.

All three join the study of the reference (T2) series: patient and study
attributes are copied from one of its image headers (already de-identified when
the report is), the frame of reference is not claimed (the images are
renderings). Checked with dicom3tools ``dciodvfy`` in the tests.
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid

from nvcview import __version__
from nvcview.report.content import KeyImage, ReportModel

#: Series numbers of the objects nvcview adds to a study (SEG 901, SR 902).
PDF_SERIES_NUMBER = 903
KEY_IMAGE_SERIES_NUMBER = 904
KOS_SERIES_NUMBER = 905

_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)


def _now() -> tuple[str, str]:
    t = _dt.datetime.now(_dt.UTC)
    return t.strftime("%Y%m%d"), t.strftime("%H%M%S")


def encapsulated_pdf(
    pdf: bytes,
    model: ReportModel,
    ref: pydicom.Dataset,
    *,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    series_number: int = PDF_SERIES_NUMBER,
) -> FileDataset:
    """The PDF report as an Encapsulated PDF Storage object in the reference's study.

    Parameters
    ----------
    pdf : bytes
        The PDF file (:func:`nvcview.report.pdf.build_pdf`).
    model : ReportModel
        For the document title and status.
    ref : pydicom.Dataset
        A header of the reference series (patient and study attributes are copied).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = pydicom.uid.UID(sop_uid or generate_uid())
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    for kw in _PATIENT_STUDY:
        if kw in ref:
            setattr(ds, kw, ref[kw].value)
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        if kw not in ds:
            setattr(ds, kw, "")
    for kw in ("StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        if kw not in ds:
            setattr(ds, kw, "")
    day, time = _now()
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = "nvcview report (PDF)"
    ds.Manufacturer = "nvcview"
    ds.SoftwareVersions = __version__
    ds.ConversionType = "WSD"  # workstation
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = day, time
    ds.AcquisitionDateTime = day + time
    ds.BurnedInAnnotation = "NO" if model.header["deidentified"] else "YES"
    ds.DocumentTitle = "Neurovascular conflict of the facial nerve: MRI report"
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    data = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocument = data
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _png_rgb(png: bytes) -> np.ndarray:
    from matplotlib import image as mpimg

    arr = mpimg.imread(io.BytesIO(png), format="png")
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


def _orientation(k: KeyImage) -> tuple[str, str] | None:
    """Patient orientation (row direction, column direction) of a plane image: the
    patient axis nearest each screen direction (oblique planes are approximated)."""
    if not k.plane:
        return None
    letters = []
    for vec in (k.plane["u"], k.plane["v"]):
        v = np.asarray(vec, dtype=float)
        i = int(np.argmax(np.abs(v)))
        letters.append(("L", "P", "H")[i] if v[i] > 0 else ("R", "A", "F")[i])
    return letters[0], letters[1]


def key_image_dataset(
    k: KeyImage,
    ref: pydicom.Dataset,
    *,
    series_uid: str,
    instance_number: int,
    sop_uid: str | None = None,
    series_number: int = KEY_IMAGE_SERIES_NUMBER,
    side: str | None = None,
) -> hd.sc.SCImage:
    """One key image as a true-colour Secondary Capture in the reference's study.

    The image is a rendering (with outlines, legend and burned-in text), so no
    frame of reference is claimed; ``side`` ("left"/"right") is the side of the
    cerebellopontine angle shown (General Series Laterality); the caption goes into Image Comments and the
    source image (the acquired slice it was taken from) into Source Image Sequence.
    """
    rgb = _png_rgb(k.png)
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref,
        pixel_array=rgb,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid or generate_uid(),
        instance_number=instance_number,
        manufacturer="nvcview",
        patient_orientation=_orientation(k) or ("L", "P"),
    )
    sc.SeriesDescription = "nvcview key images"
    # General Series Laterality (2C): the side of the cerebellopontine angle shown
    sc.Laterality = {"left": "L", "right": "R"}.get(side or "", "")
    sc.BurnedInAnnotation = "YES"
    sc.ImageComments = f"{k.title}. {k.location}"[:10240]
    sc.DerivationDescription = f"rendered by nvcview {__version__}: {k.caption}"[:1024]
    sc.SoftwareVersions = __version__
    sc.SpecificCharacterSet = "ISO_IR 192"
    if k.source and k.source.get("sop_instance_uid"):
        item = Dataset()
        item.ReferencedSOPClassUID = ref.SOPClassUID
        item.ReferencedSOPInstanceUID = k.source["sop_instance_uid"]
        if k.source.get("frame_number"):
            item.ReferencedFrameNumber = int(k.source["frame_number"])
        sc.SourceImageSequence = [item]
    return sc


def key_object_selection(
    images: Sequence[pydicom.Dataset],
    others: Sequence[pydicom.Dataset],
    model: ReportModel,
    *,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    series_number: int = KOS_SERIES_NUMBER,
) -> hd.ko.KeyObjectSelectionDocument:
    """A Key Object Selection ("For Surgery") referencing the key images and the reports.

    Parameters
    ----------
    images : sequence of pydicom.Dataset
        The key image Secondary Captures.
    others : sequence of pydicom.Dataset
        Further objects to flag (the Encapsulated PDF, the SR).
    """
    content = hd.ko.KeyObjectSelection(
        document_title=codes.DCM.ForSurgery,
        referenced_objects=[*images, *others],
        description=("nvcview: " + model.conclusion)[:1024],
    )
    return hd.ko.KeyObjectSelectionDocument(
        evidence=[*images, *others],
        content=content,
        series_instance_uid=series_uid or generate_uid(),
        series_number=series_number,
        sop_instance_uid=sop_uid or generate_uid(),
        instance_number=1,
        manufacturer="nvcview",
    )
