"""Codes used in the DICOM SR and SEG (standard ones, and nvcview's private scheme).

Standard: SNOMED CT (SCT) and DICOM (DCM) codes as listed in pydicom's code
dictionary, UCUM units. Where no standard code was found (AICA, PICA, the
conflict grade and the REZ segment), codes of the private coding scheme
``99NVCVIEW`` are used; they are listed in docs/report.md and declared in the
objects' Coding Scheme Identification Sequence.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

PRIVATE_SCHEME = "99NVCVIEW"
PRIVATE_SCHEME_NAME = "nvcview private codes"


def private(value: str, meaning: str) -> hd.sr.CodedConcept:
    """A code of the private scheme :data:`PRIVATE_SCHEME`."""
    return hd.sr.CodedConcept(value=value, scheme_designator=PRIVATE_SCHEME, meaning=meaning)


def sct(code) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)


#: Private codes: code value -> meaning (documented in docs/report.md).
PRIVATE_CODES = {
    "NVC001": "Anterior inferior cerebellar artery",
    "NVC002": "Posterior inferior cerebellar artery",
    "NVC010": "Arc length from root detachment point along the facial nerve",
    "NVC011": "Indentation depth of the nerve",
    "NVC012": "Resolution limit of the gap",
    "NVC020": "Neurovascular conflict grade",
    "NVC021": "No neurovascular contact",
    "NVC022": "Neurovascular contact",
    "NVC023": "Nerve indentation by vessel",
    "NVC024": "Nerve deviation by vessel",
    "NVC030": "Facial nerve segment",
    "NVC031": "Root exit point",
    "NVC032": "Attached segment",
    "NVC033": "Root detachment point / transition zone",
    "NVC034": "Proximal cisternal segment",
    "NVC035": "Distal cisternal segment",
}


def _p(value: str) -> hd.sr.CodedConcept:
    return private(value, PRIVATE_CODES[value])


FACIAL_NERVE = sct(codes.SCT.FacialNerve)  # 56052001
VESTIBULOCOCHLEAR_NERVE = sct(codes.SCT.VestibulocochlearNerve)  # 8598002
LEFT = sct(codes.SCT.Left)  # 7771000
RIGHT = sct(codes.SCT.Right)  # 24028007
LENGTH = sct(codes.SCT.Length)  # 410668003
DISTANCE = sct(codes.DCM.Distance)  # 121206
DIAMETER = sct(codes.SCT.Diameter)  # 81827009
ANGLE = sct(codes.SCT.Angle)  # 1483009
MM = hd.sr.CodedConcept("mm", "UCUM", "millimeter")
DEG = hd.sr.CodedConcept("deg", "UCUM", "degree")
ANATOMICAL_STRUCTURE = sct(codes.SCT.AnatomicalStructure)
IMAGING_PROCEDURE = sct(codes.SCT.ImagingProcedure)

VESSEL_CODES = {
    "AICA": _p("NVC001"),
    "PICA": _p("NVC002"),
    "VA": sct(codes.SCT.VertebralArtery),  # 85234005
    "basilar": sct(codes.SCT.BasilarArtery),  # 59011009
    "vein": sct(codes.SCT.Vein),  # 29092000
    "other": sct(codes.SCT.BloodVessel),  # 59820001
    "unknown": sct(codes.SCT.BloodVessel),
}
GRADE_NAME = _p("NVC020")
GRADE_CODES = {
    "none": _p("NVC021"),
    "contact": _p("NVC022"),
    "indentation": _p("NVC023"),
    "deviation": _p("NVC024"),
}
SEGMENT_NAME = _p("NVC030")
SEGMENT_CODES = {
    "RExP": _p("NVC031"),
    "AS": _p("NVC032"),
    "RDP/TZ": _p("NVC033"),
    "proximal cisternal": _p("NVC034"),
    "distal cisternal": _p("NVC035"),
}
RDP_DISTANCE = _p("NVC010")
INDENTATION_DEPTH = _p("NVC011")
RESOLUTION_LIMIT = _p("NVC012")


def structure_code(structure) -> hd.sr.CodedConcept:
    """Property type code of a :class:`nvcview.structures.Structure`."""
    if structure.kind == "vessel":
        return VESSEL_CODES.get(structure.vessel_type or "unknown", VESSEL_CODES["unknown"])
    if structure.kind == "nerve":
        return VESTIBULOCOCHLEAR_NERVE if structure.nerve == "VIII" else FACIAL_NERVE
    if structure.kind == "brainstem":
        return sct(codes.SCT.BrainStem)
    return sct(codes.SCT.Tissue)


def laterality(side: str | None) -> hd.sr.CodedConcept | None:
    return {"left": LEFT, "right": RIGHT}.get(side or "")


def add_private_scheme(ds: Dataset) -> None:
    """Declare the private coding scheme in a dataset (Coding Scheme Identification)."""
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "nvcview project"
    ds.CodingSchemeIdentificationSequence = [item]
