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

from nvcview.structures import PRIVATE_SCHEME, VESSEL_TABLE

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
    # position along the nerve, with its sign in the concept name itself
    "NVC013": "Distance from RDP along nerve; negative = medial (brainstem)",
    "NVC014": "Arc length from root exit point along the facial nerve",
    "NVC015": "Deviation of the nerve course",
    "NVC016": "Gap from the vessel to the vestibulocochlear nerve",
    "NVC017": "Local nerve thinning toward the vessel (engine estimate)",
    "NVC025": "Conflict grade suggested by nvcview",
    "NVC026": "Conflict grade given by the reader",
    "NVC040": "Side of the nerve the vessel comes from",
    "NVC041": "Vessel multiplicity",
    "NVC042": "Single vessel",
    "NVC043": "Multiple vessels",
    "NVC044": "Tandem compression",
    "NVC045": "Reader confidence",
    "NVC046": "Low confidence",
    "NVC047": "Medium confidence",
    "NVC048": "High confidence",
    "NVC050": "Vertebral artery dominance",
    "NVC051": "Codominant vertebral arteries",
    "NVC052": "Side of symptoms",
    "NVC053": "Contact (gap below the resolution limit)",
    "NVC054": "Near the nerve (gap within the near threshold)",
    "NVC055": "Relation to the vestibulocochlear nerve",
    "NVC056": "Side reviewed as",
    "NVC057": "Symptomatic side",
    "NVC058": "Contralateral side as control",
    "NVC059": "Vessel label in the review label map",
    "NVC060": "nvcview case identifier",
    "NVC061": "nvcview review identifier",
    "NVC062": "Overall impression",
    "NVC063": "Other cause of hemifacial spasm",
    "NVC064": "Approach anatomy",
    "NVC065": "Closest points: nerve surface, then vessel surface",
    "NVC066": "Vessel type as named in nvcview",
    "NVC067": "Registration of a series to the reference series",
    "NVC068": "Registration warning",
    "NVC018": "Gap uncertainty interval, lower bound",
    "NVC019": "Gap uncertainty interval, upper bound",
    "NVC069": "Method of the gap uncertainty interval",
    "NVC070": "Indentation depth from which indentation is called",
    "NVC071": "Nerve displacement from which deviation is called",
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

#: SR codes of the vessel types: derived from :data:`nvcview.structures.VESSEL_TABLE`, the
#: one vessel-type table (a new vessel type gets its code there).
VESSEL_CODES: dict[str, hd.sr.CodedConcept] = {
    v.name: hd.sr.CodedConcept(value=v.code[0], scheme_designator=v.code[1], meaning=v.code[2])
    for v in VESSEL_TABLE
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
RDP_SIGNED = _p("NVC013")
REXP_ARC = _p("NVC014")
DEVIATION = _p("NVC015")
GAP_TO_CN8 = _p("NVC016")
THINNING = _p("NVC017")
SUGGESTED_GRADE = _p("NVC025")
READER_GRADE = _p("NVC026")
SIDE_OF_NERVE = _p("NVC040")
SIDE_OF_NERVE_CODES = {
    "anterior": sct(codes.SCT.Anterior),
    "posterior": sct(codes.SCT.Posterior),
    "superior": sct(codes.SCT.Superior),
    "inferior": sct(codes.SCT.Inferior),
}
MULTIPLICITY = _p("NVC041")
MULTIPLICITY_CODES = {"single": _p("NVC042"), "multiple": _p("NVC043"), "tandem": _p("NVC044")}
CONFIDENCE = _p("NVC045")
CONFIDENCE_CODES = {"low": _p("NVC046"), "medium": _p("NVC047"), "high": _p("NVC048")}
VA_DOMINANCE = _p("NVC050")
SYMPTOM_SIDE = _p("NVC052")
CONTACT = _p("NVC053")
NEAR = _p("NVC054")
YES = sct(codes.SCT.Yes)
NO = sct(codes.SCT.No)
RELATION_TO_CN8 = _p("NVC055")
SIDE_ROLE = _p("NVC056")
SIDE_ROLE_CODES = {"symptomatic": _p("NVC057"), "control": _p("NVC058")}
VESSEL_LABEL = _p("NVC059")
CASE_ID = _p("NVC060")
REVIEW_ID = _p("NVC061")
OVERALL_IMPRESSION = _p("NVC062")
OTHER_CAUSE = _p("NVC063")
APPROACH_ANATOMY = _p("NVC064")
CLOSEST_POINTS = _p("NVC065")
VESSEL_TYPE = _p("NVC066")
REGISTRATION = _p("NVC067")
REGISTRATION_WARNING = _p("NVC068")
GAP_LOW = _p("NVC018")
GAP_HIGH = _p("NVC019")
GAP_INTERVAL_METHOD = _p("NVC069")
INDENTATION_THRESHOLD = _p("NVC070")
DEVIATION_THRESHOLD = _p("NVC071")
CONCLUSION = sct(codes.DCM.Conclusion)  # DCM 121077
IMPRESSION = sct(codes.DCM.Impression)  # DCM 121073
COMMENT = sct(codes.DCM.Comment)  # DCM 121106
QUALITATIVE_EVALUATIONS = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")


def va_dominance_code(value: str | None) -> hd.sr.CodedConcept | None:
    """VA dominance as a code: left / right (SCT) or codominant (private)."""
    return {"left": LEFT, "right": RIGHT, "codominant": _p("NVC051")}.get(value or "")


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
