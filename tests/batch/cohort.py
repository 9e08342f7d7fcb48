"""Small review folders for the batch tests, written with the real review store.

Each review has a tiny label map (nerve + two vessels) and stored measurements
with known values, so ``nvcview batch --stored`` can be checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nvcview.io.image import PatientInfo, make_volume
from nvcview.measure.records import VesselMeasurement
from nvcview.review.model import ReaderCall, Review, SeriesRef
from nvcview.review.store import save_review
from nvcview.structures import Structure

#: fake but PHI-shaped identifiers; the de-identification test looks for them in the bytes
PATIENT = PatientInfo(
    patient_name="Doe^Jane",
    patient_id="MRN-0042-XYZ",
    patient_birth_date="19610917",
    patient_sex="F",
    accession_number="ACC-99-1234",
    study_date="20240312",
    study_time="101500",
    institution_name="Saint Example Hospital",
)

AFFINE = np.diag([0.5, 0.5, 0.6, 1.0])


def labels_array(shift: int = 0) -> np.ndarray:
    """A 12^3 label map: nerve 1 along axis 0, AICA 2 touching it, PICA 3 apart."""
    arr = np.zeros((12, 12, 12), dtype=np.uint8)
    arr[1:11, 5:7, 5:7] = 1
    arr[4:6, 7 + shift : 9 + shift, 4:8] = 2
    arr[8:10, 1:3, 4:8] = 3
    return arr


def measurement(label: int, vtype: str, gap: float, grade: str, dist: float) -> VesselMeasurement:
    return VesselMeasurement(
        vessel_label=label,
        vessel_name=f"left {vtype}",
        vessel_type=vtype,
        nerve_label=1,
        gap_mm=gap,
        nerve_point_lps=(2.5, 3.0, 3.3),
        vessel_point_lps=(2.5, 3.0 + gap, 3.3),
        resolution_mm=0.5,
        contact=gap < 0.5,
        dist_from_rdp_mm=dist,
        segment="AS" if dist < 0 else "proximal cisternal",
        crossing_angle_deg=60.0,
        suggested_grade=grade,
    )


def write_review(
    folder: Path,
    *,
    case_id: str,
    reader: str,
    gaps: tuple[float, float] = (0.0, 2.0),
    grades: tuple[str, str] = ("contact", "none"),
    dists: tuple[float, float] = (-2.0, 5.0),
    patient: PatientInfo | None = PATIENT,
) -> Path:
    """Write one review folder and return it."""
    review = Review(
        case_id=case_id,
        reader=reader,
        side="left",
        patient=patient,
        study_uid="1.2.826.0.1.3680043.8.498.424242",
        series=[
            SeriesRef("1.2.3.1", "T2", description="CISS", voxel_size_mm=[0.5, 0.5, 0.6]),
            SeriesRef("1.2.3.2", "TOF", description="TOF 3D", voxel_size_mm=[0.4, 0.4, 0.8]),
        ],
        reference_series_uid="1.2.3.1",
        reference_affine=AFFINE.tolist(),
        reference_shape=[12, 12, 12],
        structures=[
            Structure(1, "facial nerve", "nerve", nerve="VII"),
            Structure(2, "left AICA", "vessel", vessel_type="AICA"),
            Structure(3, "left PICA", "vessel", vessel_type="PICA"),
        ],
        landmarks={"RExP": [0.5, 3.0, 3.3], "RDP": [2.0, 3.0, 3.3], "IAC": [5.0, 3.0, 3.3]},
        calls=[ReaderCall(2, grade=grades[0], confidence="high")],
        measurements=[
            measurement(2, "AICA", gaps[0], grades[0], dists[0]),
            measurement(3, "PICA", gaps[1], grades[1], dists[1]),
        ],
    )
    save_review(review, folder, make_volume(labels_array(), AFFINE))
    return folder


def write_phantom_case(root: Path, name: str, *, seed: int, side: str, gap_mm: float) -> Path:
    """A phantom case (nvcview_sample) under ``root/name`` with two readers.

    ``review/`` is the ground-truth review (reader "truth"); ``reader2/`` is a
    copy whose reader grades the phantom's conflict vessel "indentation" and puts
    the RDP 1 mm further along the nerve. Returns the case folder.
    """
    import json
    import shutil

    from nvcview_sample import write_sample

    case = root / name
    paths = write_sample(case, seed=seed, side=side, gap_mm=gap_mm)
    second = case / "reader2"
    shutil.copytree(paths.review_dir, second, ignore=shutil.ignore_patterns(".*", "audit.jsonl"))
    doc = json.loads((second / "review.json").read_text(encoding="utf-8"))
    doc["reader"] = "reader2"
    label = json.loads(paths.truth.read_text(encoding="utf-8"))["conflict"]["vessel_label"]
    doc["calls"] = [c for c in doc["calls"] if c["vessel_label"] != label] + [
        {"vessel_label": label, "grade": "indentation", "confidence": "medium", "comment": ""}
    ]
    rdp = np.asarray(doc["landmarks"]["RDP"], dtype=float)
    iac = np.asarray(doc["landmarks"]["IAC"], dtype=float)
    doc["landmarks"]["RDP"] = (rdp + (iac - rdp) / np.linalg.norm(iac - rdp)).tolist()
    (second / "review.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return case
