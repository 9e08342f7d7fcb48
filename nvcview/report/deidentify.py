"""De-identification of report outputs: pseudonym, UID remapping, PHI removal.

The pseudonym is ``NVC-`` plus 10 base32 characters of
``HMAC-SHA256(key, patient id | study uid | case id)``: the same case gets the
same pseudonym in every run with the same key. Without a key a fixed
project key is used, which keeps pseudonyms stable but lets anyone who knows a
patient id recompute its pseudonym: pass a secret key for real exports.

New DICOM UIDs are derived the same way (``2.25.`` UIDs from the key and the
original UID), so the SR and SEG of one de-identified study agree with each
other across runs without revealing the original UIDs.

Free text (impression, comments) is scrubbed of the patient's identifiers, taken
from the review's patient block and from the DICOM headers of its series, of every
full date in the usual written forms, and of numbers announced as record numbers;
the report then says so (:data:`SCRUB_NOTE`). Error messages of a de-identified run
lose paths and UIDs (:func:`scrub_error_message`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence

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


_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    "|janv(?:ier)?|f[ée]vr(?:ier)?|mars|avr(?:il)?|mai|juin|juil(?:let)?|ao[uû]t"
    "|d[ée]c(?:embre)?|januar|februar|m[äa]rz|juni|juli|oktober|dezember"
)
#: full dates in the forms people write them (ISO, DICOM DA, dotted, slashed, words)
DATE_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?<!\d)(?:18|19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?!\d)",
        r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:\d{4}|\d{2})(?!\d)",
        r"(?<!\d)(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:\d{4}|\d{2})(?!\d)",
        r"(?<!\d)(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)",
        rf"\b(?:{_MONTHS})\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+\d{{4}}\b",
        rf"\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?:{_MONTHS})\.?,?\s+\d{{4}}\b",
    )
]
#: a record number announced as one ("MRN 998877", "Patient ID: AB-1234", "Acc# 55")
ID_PATTERN = re.compile(
    r"\b(?:MRN|PID|NHS|IPP|patient\s+id|record(?:\s+(?:no|number))?|acc(?:ession)?"
    r"(?:\s+(?:no|number))?|ID)\b\.?\s*[:#]?\s*(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{2,}",
    re.IGNORECASE,
)
#: said in every de-identified report whose free text was scrubbed
SCRUB_NOTE = (
    "[De-identified: patient names, record numbers and dates were removed from this text "
    "by pattern matching; check before sharing.]"
)


def identifiers_of(*patients: PatientInfo | None) -> list[str]:
    """Identifier values (name and its parts, ids, accession, institution) to remove."""
    values: list[str] = []
    for patient in patients:
        if patient is None:
            continue
        values += [
            patient.patient_id,
            patient.patient_birth_date,
            patient.accession_number,
            patient.institution_name,
        ]
        for name in (patient.patient_name, patient.referring_physician_name):
            name = name or ""
            values += [name, name.replace("^", " ").strip()]
            values += [p for p in re.split(r"[\^\s,]+", name) if len(p) > 1]
    return [v for v in values if v and v.strip()]


def scrub_text(
    text: str,
    patient: PatientInfo | None,
    case_id: str = "",
    *,
    also: Sequence[PatientInfo | None] = (),
) -> str:
    """Remove identifiers and dates from free text (impression, comments).

    Parameters
    ----------
    text : str
        The free text.
    patient : PatientInfo or None
        The review's patient block.
    case_id : str
        The case id (often a record number).
    also : sequence of PatientInfo
        Identifiers read from the DICOM headers of the review's series (used when the
        review carries no patient block, e.g. one made by ``measure --save-review``).

    Returns
    -------
    str
        Names, ids and accession numbers of the patient replaced by ``[removed]``;
        every full date (``1958-03-14``, ``14.03.1958``, ``03/14/1958``, ``19580314``,
        ``March 14, 1958``, ``14 March 1958``) by ``[date]``; numbers announced as
        record numbers (``MRN 998877``) by ``[removed]``.
    """
    if not text:
        return text
    values = identifiers_of(patient, *also) + [case_id]
    for v in sorted({v for v in values if v}, key=len, reverse=True):
        text = _replace_ci(text, v, "[removed]")
    for pat in DATE_PATTERNS:
        text = pat.sub("[date]", text)
    return ID_PATTERN.sub("[removed]", text)


def scrub_review_text(review: Review, headers: Sequence[PatientInfo | None] = ()) -> Review:
    """A copy of the review whose free text (impression, call comments) is scrubbed.

    The impression ends with :data:`SCRUB_NOTE`, so every report format says so.
    ``headers`` are the patient blocks of the loaded DICOM series.
    """
    import dataclasses

    calls = [
        dataclasses.replace(
            c, comment=scrub_text(c.comment, review.patient, review.case_id, also=headers)
        )
        for c in review.calls
    ]
    impression = scrub_text(review.impression, review.patient, review.case_id, also=headers)
    if impression or any(c.comment for c in calls):
        impression = (impression.rstrip() + "\n\n" if impression else "") + SCRUB_NOTE
    return dataclasses.replace(review, impression=impression, calls=calls)


_UID = re.compile(r"(?<![\d.])\d+(?:\.\d+){3,}(?![\d.])")
_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?[^\s'\"():;,]*[/\\][^\s'\"():;,]*")


def scrub_error_message(message: str, paths: Sequence[str] = ()) -> str:
    """An error message fit for a de-identified run: no paths, no DICOM UIDs.

    Folder and file paths (folders are often named after patients) become
    ``[path]``, keeping a trailing nvcview file name (``review.json``...); UIDs
    become ``[uid]``.
    """
    for p in sorted({str(p) for p in paths if p and len(str(p)) > 1}, key=len, reverse=True):
        message = message.replace(p, "[path]")

    def path(m: re.Match) -> str:
        tail = re.split(r"[/\\]", m.group(0))[-1]
        known = ("review.json", "labels.nii.gz", "audit.jsonl", ".history", ".review.lock")
        return "[path]/" + tail if tail in known else "[path]"

    message = _PATHLIKE.sub(path, message)
    return _UID.sub("[uid]", message)


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
