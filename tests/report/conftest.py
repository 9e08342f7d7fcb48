"""Small synthetic CPA cases for the report tests, built in code.

Geometry (patient LPS mm): a left facial nerve runs laterally (+x) from the
brainstem surface at x = -4 to the IAC at x = 12; an AICA loop runs
anterior-posterior across it and touches its upper surface at x = 2; a
vertebral artery runs cranio-caudally 4.7 mm away. Arrays are (z, y, x) like a
stack of axial DICOM slices.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from nvcview.io.image import Image, PatientInfo, SeriesMeta, make_volume
from nvcview.measure.records import VesselMeasurement
from nvcview.review.model import ReaderCall, Review, SeriesRef
from nvcview.review.store import save_review
from nvcview.structures import Structure

PHI = {
    "name": "Zzyzxa^Quetzalina",
    "id": "PID8842197",
    "birth_date": "19470312",
    "accession": "ACC5519023",
}
SPACING = 0.5
SHAPE = (28, 64, 72)  # z, y, x
ORIGIN = np.array([-8.0, -16.0, -7.0])
NERVE_R = 0.8
AICA_R = 0.9
VA_R = 1.5
VA_XY = (-1.0, 6.0)


def affine() -> np.ndarray:
    a = np.eye(4)
    a[:3, 0] = [0, 0, SPACING]  # a0: slices along +z (S)
    a[:3, 1] = [0, SPACING, 0]  # a1: rows along +y (P)
    a[:3, 2] = [SPACING, 0, 0]  # a2: columns along +x (L)
    a[:3, 3] = ORIGIN
    return a


def world_grid() -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1)
    return idx @ affine()[:3, :3].T + affine()[:3, 3]


def nerve_centreline() -> np.ndarray:
    x = np.linspace(-4.0, 12.0, 33)
    return np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)


def build_labels() -> np.ndarray:
    p = world_grid()
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    lab = np.zeros(SHAPE, np.uint8)
    lab[x < -4.0] = 1  # brainstem
    nerve = (x >= -4.0) & (x <= 12.0) & (y**2 + z**2 <= NERVE_R**2)
    lab[nerve] = 2
    aica_c = NERVE_R + AICA_R  # touches the nerve's top surface at x = 2
    lab[((x - 2.0) ** 2 + (z - aica_c) ** 2 <= AICA_R**2) & (lab == 0)] = 3
    lab[((x - VA_XY[0]) ** 2 + (y - VA_XY[1]) ** 2 <= VA_R**2) & (lab == 0)] = 4
    return lab


def structures() -> list[Structure]:
    return [
        Structure(1, "brainstem", "brainstem"),
        Structure(2, "left facial nerve", "nerve", nerve="VII"),
        Structure(3, "left AICA", "vessel", vessel_type="AICA"),
        Structure(4, "left VA", "vessel", vessel_type="VA"),
    ]


def images(labels: np.ndarray) -> tuple[Image, Image, Image]:
    rng = np.random.default_rng(0)
    t2 = np.full(SHAPE, 900.0)
    t2[labels == 1] = 350.0
    t2[labels >= 2] = 120.0
    t2 += rng.normal(0, 25, SHAPE)
    tof = np.full(SHAPE, 80.0) + rng.normal(0, 10, SHAPE)
    tof[labels >= 3] = 700.0
    aff = affine()
    for_uid = generate_uid()
    mk = lambda arr, role: Image(  # noqa: E731
        make_volume(arr, aff, for_uid),
        SeriesMeta(
            role=role,
            series_description=f"{role} synthetic",
            shape=SHAPE,
            spacing_mm=(SPACING,) * 3,
            frame_of_reference_uid=for_uid,
        ),
    )
    return mk(t2.astype(np.int16), "T2"), mk(tof.astype(np.int16), "TOF"), mk(labels, "labels")


def measurements() -> list[VesselMeasurement]:
    top = (2.0, 0.0, NERVE_R)
    va_gap = float(np.hypot(*VA_XY) - VA_R - NERVE_R)
    d = np.array([VA_XY[0], VA_XY[1], 0.0])
    d /= np.linalg.norm(d)
    return [
        VesselMeasurement(
            vessel_label=3,
            vessel_name="left AICA",
            vessel_type="AICA",
            nerve_label=2,
            gap_mm=0.0,
            nerve_point_lps=top,
            vessel_point_lps=top,
            resolution_mm=SPACING,
            contact=True,
            arc_length_from_rexp_mm=6.0,
            dist_from_rdp_mm=-2.1,
            segment="AS",
            crossing_angle_deg=88.5,
            vessel_diameter_mm=1.8,
            side_of_nerve="superior",
            indentation_depth_mm=0.4,
            suggested_grade="indentation",
            reader_grade=None,
            gap_to_cn8_mm=None,
            relation_to_cn8="CN VIII not marked",
            multiplicity="single",
        ),
        VesselMeasurement(
            vessel_label=4,
            vessel_name="left VA",
            vessel_type="VA",
            nerve_label=2,
            gap_mm=round(va_gap, 4),
            nerve_point_lps=tuple(d * NERVE_R),
            vessel_point_lps=(VA_XY[0] - d[0] * VA_R, VA_XY[1] - d[1] * VA_R, 0.0),
            resolution_mm=SPACING,
            contact=False,
            near=True,
            arc_length_from_rexp_mm=3.0,
            dist_from_rdp_mm=-5.1,
            segment="AS",
            crossing_angle_deg=80.0,
            vessel_diameter_mm=3.0,
            side_of_nerve="posterior",
            suggested_grade="none",
            multiplicity="single",
        ),
    ]


def write_mr_series(
    image: Image,
    folder: Path,
    patient: PatientInfo,
    study_uid: str,
    series_uid: str,
    number: int,
    description: str,
) -> list[Path]:
    """Write an (z, y, x) axial image as single-frame MR DICOM files."""
    folder.mkdir(parents=True, exist_ok=True)
    aff = image.affine
    arr = np.asarray(image.array)
    paths = []
    for k in range(arr.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName = patient.patient_name
        ds.PatientID = patient.patient_id
        ds.PatientBirthDate = patient.patient_birth_date
        ds.PatientSex = "F"
        ds.AccessionNumber = patient.accession_number
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240105"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
        ds.ReferringPhysicianName = "Refer^Doc"
        ds.InstitutionName = "Synthetic Hospital"
        ds.Modality = "MR"
        ds.Manufacturer = "nvcview-tests"
        ds.SeriesNumber = number
        ds.InstanceNumber = k + 1
        ds.SeriesDescription = description
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.EchoTime = 3.0
        ds.RepetitionTime = 6.0
        ds.EchoTrainLength = 1
        ds.FrameOfReferenceUID = image.volume.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [float(v) for v in aff[:3, :3] @ [k, 0, 0] + aff[:3, 3]]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [SPACING, SPACING]
        ds.SliceThickness = SPACING
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.PixelData = np.ascontiguousarray(arr[k].astype(np.int16)).tobytes()
        p = folder / f"{k:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def make_case(root: Path) -> dict:
    """Write a synthetic DICOM study and a review folder; return what the tests need."""
    labels = build_labels()
    t2, tof, lab = images(labels)
    patient = PatientInfo(
        patient_name=PHI["name"],
        patient_id=PHI["id"],
        patient_birth_date=PHI["birth_date"],
        patient_sex="F",
        accession_number=PHI["accession"],
        study_date="20240105",
    )
    study_uid = generate_uid()
    t2_uid, tof_uid = generate_uid(), generate_uid()
    write_mr_series(t2, root / "dicom" / "T2", patient, study_uid, t2_uid, 3, "3D CISS")
    write_mr_series(tof, root / "dicom" / "TOF", patient, study_uid, tof_uid, 4, "3D TOF")
    folder = root / "review"
    ms = measurements()
    review = Review(
        case_id=PHI["id"],  # a case id that is the patient id must not leak either
        reader="Dr Reader",
        side="left",
        status="final",
        study_uid=study_uid,
        patient=patient,
        series=[
            SeriesRef(t2_uid, "T2", str(root / "dicom" / "T2"), "3D CISS", "CISS", [SPACING] * 3),
            SeriesRef(tof_uid, "TOF", str(root / "dicom" / "TOF"), "3D TOF", "fl3d", [SPACING] * 3),
        ],
        reference_series_uid=t2_uid,
        structures=structures(),
        landmarks={"RExP": [-4.0, 0.0, 0.0], "RDP": [4.1, 0.0, 0.0], "IAC": [12.0, 0.0, 0.0]},
        nerve_path_lps=nerve_centreline().tolist(),
        calls=[ReaderCall(3, "indentation", "high", "clear dent")],
        impression=f"Offending AICA. Patient {PHI['name']} informed.",
        measurements=ms,
        modified=_dt.datetime(2024, 1, 5, tzinfo=_dt.UTC).isoformat(),
    )
    save_review(review, folder, labels=lab)
    return {
        "review": review,
        "folder": folder,
        "t2": t2,
        "tof": tof,
        "labels": lab,
        "measurements": ms,
        "study_uid": study_uid,
        "t2_uid": t2_uid,
        "tof_uid": tof_uid,
    }


@pytest.fixture(scope="session")
def synth_case(tmp_path_factory) -> dict:
    return make_case(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def synth_images() -> tuple[Image, Image, Image]:
    return images(build_labels())


def read_dicom(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


# --- a bilateral case: symptomatic left side with an AICA contact, right side as control
BI_SHAPE = (24, 48, 84)  # z, y, x
BI_ORIGIN = np.array([-21.0, -12.0, -6.0])
PICA_R = 0.9
CONTROL_GAP = 1.5  # right PICA below the right facial nerve, CSF between


def bi_affine() -> np.ndarray:
    a = affine()
    a[:3, 3] = BI_ORIGIN
    return a


def build_bilateral_labels() -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in BI_SHAPE], indexing="ij"), axis=-1)
    p = idx @ bi_affine()[:3, :3].T + bi_affine()[:3, 3]
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    lab = np.zeros(BI_SHAPE, np.uint8)
    lab[np.abs(x) < 4.0] = 1  # brainstem in the middle
    rr = y**2 + z**2 <= NERVE_R**2
    lab[(x >= 4.0) & (x <= 16.0) & rr] = 2  # left facial nerve (+x = patient left)
    lab[((x - 8.0) ** 2 + (z - NERVE_R - AICA_R) ** 2 <= AICA_R**2) & (lab == 0)] = 3
    cn8 = (x >= 4.0) & (x <= 16.0) & ((y - 3.0) ** 2 + z**2 <= NERVE_R**2)
    lab[cn8 & (lab == 0)] = 4  # left CN VIII, posterior of VII
    lab[(x <= -4.0) & (x >= -16.0) & rr] = 5  # right facial nerve
    zc = -(NERVE_R + CONTROL_GAP + PICA_R)
    lab[((x + 9.0) ** 2 + (z - zc) ** 2 <= PICA_R**2) & (lab == 0)] = 6
    return lab


def make_bilateral_case(root: Path) -> dict:
    """Write a bilateral synthetic DICOM study and its review (with the control side and
    reader findings); return what the tests need."""
    from nvcview.review.model import ContralateralSide, ReaderFinding

    labels = build_bilateral_labels()
    rng = np.random.default_rng(1)
    t2 = np.full(BI_SHAPE, 900.0)
    t2[labels == 1] = 350.0
    t2[labels >= 2] = 120.0
    t2 += rng.normal(0, 25, BI_SHAPE)
    tof = np.full(BI_SHAPE, 80.0) + rng.normal(0, 10, BI_SHAPE)
    tof[(labels == 3) | (labels == 6)] = 700.0
    for_uid = generate_uid()
    mk = lambda arr, role: Image(  # noqa: E731
        make_volume(arr, bi_affine(), for_uid),
        SeriesMeta(role=role, shape=BI_SHAPE, spacing_mm=(SPACING,) * 3),
    )
    t2i, tofi, labi = (
        mk(t2.astype(np.int16), "T2"),
        mk(tof.astype(np.int16), "TOF"),
        mk(labels, "labels"),
    )
    patient = PatientInfo(
        patient_name="Bilat^Case",
        patient_id="BI0001",
        patient_birth_date="19600101",
        patient_sex="M",
        accession_number="ACCBI1",
        study_date="20240201",
    )
    study_uid, t2_uid, tof_uid = generate_uid(), generate_uid(), generate_uid()
    write_mr_series(t2i, root / "dicom" / "T2", patient, study_uid, t2_uid, 5, "3D CISS")
    write_mr_series(tofi, root / "dicom" / "TOF", patient, study_uid, tof_uid, 6, "3D TOF")
    x = np.linspace(4.0, 16.0, 25)
    left_path = np.stack([x, 0 * x, 0 * x], axis=1).tolist()
    right_path = np.stack([-x, 0 * x, 0 * x], axis=1).tolist()
    review = Review(
        case_id="BI-case",
        reader="Dr Reader",
        side="left",
        status="final",
        study_uid=study_uid,
        patient=patient,
        series=[
            SeriesRef(t2_uid, "T2", str(root / "dicom" / "T2"), "3D CISS", "CISS", [SPACING] * 3),
            SeriesRef(tof_uid, "TOF", str(root / "dicom" / "TOF"), "3D TOF", "fl3d", [SPACING] * 3),
        ],
        reference_series_uid=t2_uid,
        structures=[
            Structure(1, "brainstem", "brainstem"),
            Structure(2, "left facial nerve", "nerve", nerve="VII"),
            Structure(3, "left AICA", "vessel", vessel_type="AICA"),
            Structure(4, "left vestibulocochlear nerve", "nerve", nerve="VIII"),
        ],
        landmarks={"RExP": [4.0, 0.0, 0.0], "RDP": [10.0, 0.0, 0.0], "IAC": [16.0, 0.0, 0.0]},
        nerve_path_lps=left_path,
        calls=[ReaderCall(3, "contact", "high", "")],
        contralateral=ContralateralSide(
            structures=[
                Structure(5, "right facial nerve", "nerve", nerve="VII"),
                Structure(6, "right PICA", "vessel", vessel_type="PICA"),
            ],
            landmarks={
                "RExP": [-4.0, 0.0, 0.0],
                "RDP": [-10.0, 0.0, 0.0],
                "IAC": [-16.0, 0.0, 0.0],
            },
            nerve_path_lps=right_path,
        ),
        other_causes={
            "cpa_mass": ReaderFinding("none_seen"),
            "epidermoid": ReaderFinding("none_seen"),
            "vascular_malformation": ReaderFinding("none_seen"),
            "brainstem_lesion": ReaderFinding("uncertain", "small T2 focus in the left pons"),
        },
        approach_anatomy={
            "petrosal_vein": ReaderFinding("of_note", "large, crosses the approach"),
            "jugular_bulb": ReaderFinding("unremarkable"),
        },
        overall_impression="nvc_likely",
        va_dominance="right",
        modified=_dt.datetime(2024, 2, 1, 9, 30, tzinfo=_dt.UTC).isoformat(),
    )
    folder = root / "review"
    save_review(review, folder, labels=labi)
    return {"review": review, "folder": folder, "root": root, "study_uid": study_uid}


@pytest.fixture(scope="session")
def bilateral_case(tmp_path_factory) -> dict:
    return make_bilateral_case(tmp_path_factory.mktemp("bilateral"))


@pytest.fixture(scope="session")
def bilateral_report(bilateral_case, tmp_path_factory) -> dict:
    """Every format of the bilateral case's report, written once through the CLI."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("bilateral-out")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "report",
            str(bilateral_case["folder"]),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return {**bilateral_case, "out": out, "stdout": res.stdout}
