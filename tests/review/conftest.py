"""Small reviews and label maps built in code for the review tests."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.io.image import PatientInfo, make_volume
from nvcview.review.model import ReaderCall, Review, SeriesRef
from nvcview.structures import Structure


def oblique_affine() -> np.ndarray:
    """A tilted 0.5 x 0.6 x 0.7 mm grid (index -> LPS mm), so axis mix-ups show."""
    t = np.radians(12.0)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.5, 0.6, 0.7])
    aff[:3, 3] = [-20.5, 14.25, -3.0]
    return aff


def make_labels(shape=(16, 18, 20), affine=None):
    """Facial nerve (1) and an AICA loop (2) touching it, on an oblique grid."""
    arr = np.zeros(shape, np.uint8)
    arr[3:13, 8:10, 9:11] = 1
    arr[6:9, 10:13, 9:11] = 2
    return make_volume(arr, oblique_affine() if affine is None else affine)


def make_review(**kw) -> Review:
    """A complete draft review with PHI, landmarks, a nerve path and a reader call."""
    base = dict(
        case_id="case-7",
        reader="reader-a",
        side="left",
        study_uid="1.2.3.4",
        patient=PatientInfo(patient_name="Doe^Jane", patient_id="PID123"),
        series=[
            SeriesRef("1.2.3.4.5", "T2", "dicom/T2", "CISS", "ci3d1", [0.5, 0.6, 0.7]),
            SeriesRef("1.2.3.4.6", "TOF", "dicom/TOF"),
        ],
        reference_series_uid="1.2.3.4.5",
        structures=[
            Structure(1, "facial nerve", "nerve", nerve="VII"),
            Structure(2, "left AICA", "vessel", "AICA"),
        ],
        landmarks={"RExP": [-19.0, 18.5, 3.5], "RDP": [-17.25, 19.0, 3.5], "IAC": [-14, 20, 4]},
        nerve_path_lps=[[-19.0, 18.5, 3.5], [-17.25, 19.0, 3.5], [-14.0, 20.0, 4.0]],
        calls=[ReaderCall(2, "contact", "high", "loop at the RDP")],
        impression="AICA contact at the RDP",
        va_dominance="left",
    )
    base.update(kw)
    return Review(**base)


@pytest.fixture
def review() -> Review:
    return make_review()


@pytest.fixture
def labels():
    return make_labels()
