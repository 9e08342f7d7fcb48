"""The in-memory image type: a highdicom Volume with series metadata beside it.

Coordinates: ``image.volume.affine`` maps array index ``(a0, a1, a2, 1)`` to
patient LPS millimetres ``(x, y, z, 1)``. Nothing here thinks in RAS.
Patient identifiers live in :class:`PatientInfo`, apart from everything else,
so that de-identification is dropping one field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # highdicom costs ~0.5 s to import: only when a volume is made
    import highdicom as hd

ROLES = ("T2", "TOF", "T1", "labels", "other")


@dataclass
class PatientInfo:
    """Protected health information (PHI). Never logged, dropped when de-identified."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    accession_number: str = ""
    study_date: str = ""
    study_time: str = ""
    institution_name: str = ""
    referring_physician_name: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SeriesMeta:
    """Non-identifying description of one volume (one series, or one stack of it).

    Attributes
    ----------
    series_uid, study_uid, frame_of_reference_uid : str
        DICOM UIDs (empty for NIfTI). Series sharing a frame of reference overlay
        by their affines.
    modality, series_description, sequence_name, mr_acquisition_type : str
        As in the DICOM header (SequenceName falls back to PulseSequenceName).
    series_number : int or None
        SeriesNumber.
    echo_time_ms, repetition_time_ms : float or None
        EchoTime / RepetitionTime in ms (echo time None when the stack mixes echoes).
    role : str
        One of :data:`ROLES`, guessed from the headers ("T2" = CISS/SPACE/FIESTA-like).
    volume_id : str
        ``series_uid``, or ``series_uid#suffix`` when one series holds several
        stacks (``#echo2``, ``#te6.8``, ``#t3``, ``#coronal``, ``#256x256``...);
        accepted by ``nvcview.load(path, series_uid=...)``.
    source_path : str
        The file, or the folder holding the volume's files.
    n_files : int
        Number of files the volume was read from.
    shape : tuple of int
        Array shape; DICOM volumes are ``(slices, rows, columns)``.
    spacing_mm : tuple of float
        Voxel size along the three array axes, mm.
    orientation : str
        Slice plane, e.g. "axial", "coronal oblique".
    warnings : list of str
        Problems found (tolerated jitter, not loadable and why, localizer, resampled...).
    loadable : bool
        True when the stack itself is a 3D volume that ``nvcview.load`` accepts; False
        for single 2D images and stacks refused for their geometry or files (the reason
        is in ``warnings``). Listing one file of a series describes that file (a 2D
        image), but ``nvcview.load`` of that file loads the whole series from its folder.
    """

    series_uid: str = ""
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    modality: str = ""
    series_description: str = ""
    sequence_name: str = ""
    mr_acquisition_type: str = ""
    series_number: int | None = None
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None
    role: str = "other"  # one of ROLES: a guess from the headers
    #: identifier of the volume when one series holds several stacks/echoes
    volume_id: str = ""
    source_path: str = ""
    n_files: int = 0
    shape: tuple[int, ...] = ()
    spacing_mm: tuple[float, ...] = ()
    orientation: str = ""  # e.g. "axial", "coronal oblique"
    warnings: list[str] = field(default_factory=list)
    loadable: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["spacing_mm"] = [float(s) for s in self.spacing_mm]
        return d


@dataclass
class Image:
    """A volume placed in patient space, with its series metadata and PHI apart."""

    volume: hd.Volume
    meta: SeriesMeta = field(default_factory=SeriesMeta)
    patient: PatientInfo = field(default_factory=PatientInfo)

    @property
    def array(self) -> np.ndarray:
        return self.volume.array

    @property
    def affine(self) -> np.ndarray:
        """4x4 array index -> LPS mm."""
        return self.volume.affine

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along the three array axes, in mm."""
        sx, sy, sz = (float(s) for s in self.volume.spacing)
        return (sx, sy, sz)


def make_volume(
    array: np.ndarray, affine: np.ndarray, frame_of_reference_uid: str | None = None
) -> hd.Volume:
    """Wrap an array and an index->LPS affine as a ``highdicom.Volume`` (patient frame).

    The array is made C-contiguous (row-major) when it is not: every volume leaving
    nvcview's I/O has the same, explicit memory order.
    """
    import highdicom as hd

    return hd.Volume(
        array=np.ascontiguousarray(array),
        affine=np.asarray(affine, dtype=np.float64),
        coordinate_system="PATIENT",
        frame_of_reference_uid=frame_of_reference_uid,
    )


def index_to_lps(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Map (..., 3) array indices to (..., 3) LPS mm through a 4x4 affine."""
    ijk = np.asarray(ijk, dtype=np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def lps_to_index(affine: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Map (..., 3) LPS mm to fractional (..., 3) array indices."""
    inv = np.linalg.inv(affine)
    xyz = np.asarray(xyz, dtype=np.float64)
    return xyz @ inv[:3, :3].T + inv[:3, 3]


def describe_orientation(affine: np.ndarray, tol_deg: float = 1.0, slice_axis: int = 2) -> str:
    """Name the slice plane of an affine: axial/coronal/sagittal, with "oblique" if tilted.

    Parameters
    ----------
    affine : ndarray, shape (4, 4)
        Array index -> patient LPS mm.
    tol_deg : float
        Tilt (degrees) of the slice normal or of an in-plane axis from the nearest
        patient axis above which the plane is called oblique.
    slice_axis : int
        Array axis that runs across slices: 2 for NIfTI-style ``(i, j, k)`` arrays,
        0 for DICOM/highdicom-style ``(slice, row, column)`` arrays.
    """
    normal = affine[:3, slice_axis] / np.linalg.norm(affine[:3, slice_axis])
    names = ("sagittal", "coronal", "axial")  # normal along x (L), y (P), z (S)
    k = int(np.argmax(np.abs(normal)))
    angle = np.degrees(np.arccos(min(1.0, abs(normal[k]))))
    inplane = [i for i in range(3) if i != slice_axis]
    axes = affine[:3, inplane] / np.linalg.norm(affine[:3, inplane], axis=0)
    inplane_tilt = max(
        np.degrees(np.arccos(min(1.0, np.max(np.abs(axes[:, i]))))) for i in range(2)
    )
    oblique = angle > tol_deg or inplane_tilt > tol_deg
    return names[k] + (" oblique" if oblique else "")
