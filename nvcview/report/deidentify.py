"""De-identification of report outputs: pseudonym, UID remapping, PHI removal.

The pseudonym is ``NVC-`` plus 10 base32 characters of
``HMAC-SHA256(key, patient id | study uid | case id)``: the same case gets the
same pseudonym in every run with the same key. Without a key a fixed
project key is used, which keeps pseudonyms stable but lets anyone who knows a
patient id recompute its pseudonym: pass a secret key for real exports.

New DICOM UIDs are derived the same way (``2.25.`` UIDs from the key and the
original UID), so the SR and SEG of one de-identified study agree with each
other across runs without revealing the original UIDs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import uuid

import pydicom

from nvcview.io.image import PatientInfo
from nvcview.review.model import Review

#: Used when no secret key is given (stable, but not secret: see the module docstring).
DEFAULT_KEY = b"nvcview-report-pseudonym-v1"

#: Attributes emptied (type 2 in most IODs) in de-identified DICOM outputs.
EMPTIED = (
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDate",
    "StudyTime",
)
#: Attributes removed from de-identified DICOM outputs.
REMOVED = (
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientComments",
    "EthnicGroup",
    "MilitaryRank",
    "IssuerOfPatientID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "DeviceSerialNumber",
    "RequestAttributesSequence",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence",
    "PerformedProcedureStepID",
    "ScheduledProcedureStepID",
    "RequestedProcedureID",
    "AcquisitionDateTime",
    "PatientBirthTime",
)
#: UIDs replaced by derived ones (besides every "...InstanceUID"), at any depth.
UID_KEYWORDS = frozenset(
    {
        "FrameOfReferenceUID",
        "ReferencedFrameOfReferenceUID",
        "RelatedFrameOfReferenceUID",
        "SynchronizationFrameOfReferenceUID",
        "ConcatenationUID",
        "DimensionOrganizationUID",
        "IrradiationEventUID",
        "TrackingUID",
        "StorageMediaFileSetUID",
    }
)


def _maps_uid(keyword: str) -> bool:
    return keyword.endswith("InstanceUID") or keyword in UID_KEYWORDS


def _digest(key: bytes | None, kind: str, value: str) -> bytes:
    return hmac.new(key or DEFAULT_KEY, f"{kind}:{value}".encode(), hashlib.sha256).digest()


def identity_of(review: Review) -> str:
    """The identifier a pseudonym is derived from: patient id, else study UID, else case id."""
    p = review.patient
    return (p.patient_id if p and p.patient_id else "") or review.study_uid or review.case_id


def pseudonym(review: Review, key: bytes | None = None) -> str:
    """Stable pseudonym of a review's patient, e.g. ``"NVC-K3M9Q2ZB7A"``."""
    d = _digest(key, "patient", identity_of(review))
    return "NVC-" + base64.b32encode(d).decode("ascii")[:10]


def map_uid(uid: str, key: bytes | None = None) -> str:
    """A new UID derived from ``uid`` (deterministic for one key)."""
    d = _digest(key, "uid", str(uid))
    return "2.25." + str(uuid.UUID(bytes=d[:16], version=4).int)


def deidentify_dataset(
    ds: pydicom.Dataset, pseudonym_text: str, key: bytes | None = None
) -> pydicom.Dataset:
    """A de-identified copy of a DICOM dataset (headers; pixel data untouched).

    Patient name and ID become the pseudonym; birth date, accession number and
    other identifying attributes are emptied or removed, every other person
    name emptied, private tags removed, and instance, study, series and
    frame-of-reference UIDs (at any depth) replaced by derived UIDs.
    """
    out = copy.deepcopy(ds)
    out.remove_private_tags()
    for kw in REMOVED:
        if kw in out:
            delattr(out, kw)
    for kw in EMPTIED:
        if kw in out:
            setattr(out, kw, "")

    def scrub(dataset: pydicom.Dataset, elem) -> None:
        if elem.VR == "UI" and elem.value and _maps_uid(elem.keyword):
            if elem.VM > 1:
                elem.value = [map_uid(v, key) for v in elem.value]
            else:
                elem.value = map_uid(elem.value, key)
        elif elem.VR == "PN" and elem.value:
            elem.value = ""

    out.walk(scrub)
    out.PatientName = pseudonym_text + "^"  # one-component PN: family name only
    out.PatientID = pseudonym_text
    if getattr(out, "file_meta", None) is not None and "SOPInstanceUID" in out:
        out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = "nvcview: pseudonym, identifiers removed, UIDs replaced"
    return out


def scrub_text(text: str, patient: PatientInfo | None, case_id: str = "") -> str:
    """Remove the patient's identifiers from free text (impression, comments)."""
    if not text:
        return text
    values = []
    if patient is not None:
        values += [patient.patient_id, patient.patient_birth_date, patient.accession_number]
        name = patient.patient_name or ""
        values += [name] + [p for p in name.replace("^", " ").split() if len(p) > 1]
    values.append(case_id)
    for v in sorted({v for v in values if v}, key=len, reverse=True):
        text = _replace_ci(text, v, "[removed]")
    return text


def _replace_ci(text: str, needle: str, repl: str) -> str:
    low, n = text.lower(), needle.lower()
    out, i = [], 0
    while True:
        j = low.find(n, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j] + repl)
        i = j + len(needle)
