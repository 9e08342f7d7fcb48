"""``make_phantom``: the synthetic CPA study in memory (images, labels, exact truth)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.uid import generate_uid

from nvcview.io.image import Image, PatientInfo, SeriesMeta, make_volume
from nvcview.structures import Structure
from nvcview_sample.anatomy import Anatomy, build_anatomy
from nvcview_sample.geometry import rotation_matrix
from nvcview_sample.realistic import random_motion, realistic_description, render_realistic
from nvcview_sample.render import grid_affine, render
from nvcview_sample.truth import compute_truth

#: slab centre for the left side (LPS mm); mirrored for the right
SLAB_CENTRE_LEFT = np.array([13.0, -1.0, 2.0])
#: in-plane centre of the full 512 x 512 field of view (the head)
FULL_FOV_CENTRE = np.array([0.0, 5.0, 2.0])
#: oblique acquisition: rotation of the grids about x then y (degrees)
OBLIQUE_DEG = (7.0, -5.0)


@dataclass(frozen=True)
class SeriesSpec:
    """Acquisition of one synthetic series."""

    role: str
    description: str
    sequence_name: str
    scanning_sequence: str
    sequence_variant: str
    spacing_mm: tuple[float, float, float]  # (slice, row, column)
    slab_mm: tuple[float, float, float]  # (slice, row, column) extent of the small slab
    echo_time_ms: float
    repetition_time_ms: float
    flip_angle_deg: float
    series_number: int


T2_SPEC = SeriesSpec(
    role="T2",
    description="t2_ciss3d_tra_CPA (nvcview phantom)",
    sequence_name="*ciss3d",
    scanning_sequence="GR",
    sequence_variant="SS",
    spacing_mm=(0.5, 0.4, 0.4),
    slab_mm=(24.0, 36.0, 36.0),
    echo_time_ms=2.95,
    repetition_time_ms=5.9,
    flip_angle_deg=50.0,
    series_number=3,
)
TOF_SPEC = SeriesSpec(
    role="TOF",
    description="tof_fl3d_tra_CPA (nvcview phantom)",
    sequence_name="*fl3d1r_t70",
    scanning_sequence="GR",
    sequence_variant="SP",
    spacing_mm=(0.7, 0.35, 0.35),
    slab_mm=(24.0, 36.0, 36.0),
    echo_time_ms=3.6,
    repetition_time_ms=23.0,
    flip_angle_deg=18.0,
    series_number=4,
)


@dataclass
class Phantom:
    """A synthetic CPA study with its exact answer.

    Attributes
    ----------
    t2, tof : Image
        The two series (uint16 arrays, axes (slice, row, column), affines index -> LPS mm),
        sharing study and frame of reference.
    labels : Image
        uint8 label map on the T2 grid (values = ``Structure.label``).
    structures : list of Structure
    landmarks : dict
        "RExP", "RDP", "IAC" -> (3,) LPS mm.
    centreline : (N, 3) ndarray
        VII axis from the RExP to the IAC, LPS mm.
    truth : dict
        Same content as ``truth.json``.
    anatomy : Anatomy
        The analytic shapes (for tests and demos that want more than the truth).
    """

    t2: Image
    tof: Image
    labels: Image
    structures: list[Structure]
    landmarks: dict[str, np.ndarray]
    centreline: np.ndarray
    truth: dict
    anatomy: Anatomy


def settings_dict(
    seed: int,
    side: str,
    gap_mm: float,
    segment: str,
    indent_mm: float,
    oblique: bool,
    full_size: bool,
    realistic: bool = False,
    motion: bool = False,
) -> dict:
    """The parameters of a phantom as recorded in truth.json.

    ``realistic`` and ``motion`` are recorded only when set, so the clean phantom's
    settings (and the UIDs drawn from them) are those of earlier versions.
    """
    out = {
        "seed": int(seed),
        "side": side,
        "gap_mm": float(gap_mm),
        "segment": segment,
        "indent_mm": float(indent_mm),
        "oblique": bool(oblique),
        "full_size": bool(full_size),
    }
    if realistic:
        out["realistic"] = True
    if motion:
        out["motion"] = True
    return out


def phantom_uid(settings: dict, what: str) -> str:
    """Deterministic DICOM UID for a phantom's study/series/frame of reference/instance."""
    key = [f"{k}={settings[k]}" for k in sorted(settings)]
    return generate_uid(entropy_srcs=["nvcview-phantom", *key, what])


def series_grid(
    spec: SeriesSpec, side: str, oblique: bool, full_size: bool
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine (index -> LPS mm) and shape of one series."""
    sign = np.array([1.0 if side == "left" else -1.0, 1.0, 1.0])
    n_slices = int(round(spec.slab_mm[0] / spec.spacing_mm[0]))
    if full_size:
        shape = (n_slices, 512, 512)
        centre = FULL_FOV_CENTRE.copy()
    else:
        shape = (
            n_slices,
            int(round(spec.slab_mm[1] / spec.spacing_mm[1])),
            int(round(spec.slab_mm[2] / spec.spacing_mm[2])),
        )
        centre = SLAB_CENTRE_LEFT * sign
    rot = None
    if oblique:
        rot = rotation_matrix([0, 1, 0], OBLIQUE_DEG[1]) @ rotation_matrix(
            [1, 0, 0], OBLIQUE_DEG[0]
        )
    return grid_affine(centre, spec.spacing_mm, shape, rot), shape


def phantom_patient(seed: int) -> PatientInfo:
    """An obviously fake patient."""
    return PatientInfo(
        patient_name="PHANTOM^CPA",
        patient_id=f"NVCPHANTOM{int(seed):04d}",
        patient_birth_date="19700101",
        patient_sex="O",
        accession_number=f"PH{int(seed):08d}",
        study_date="20250101",
        study_time="120000",
        institution_name="nvcview synthetic phantom",
        referring_physician_name="",
    )


def make_phantom(
    seed: int = 0,
    side: str = "left",
    gap_mm: float = 0.0,
    segment: str = "AS",
    indent_mm: float = 0.0,
    oblique: bool = False,
    full_size: bool = False,
    realistic: bool = False,
    motion: bool | np.ndarray | None = None,
) -> Phantom:
    """Build the synthetic cerebellopontine-angle study in memory.

    Parameters
    ----------
    seed : int
        Noise and small anatomical variations; the same seed gives the same study
        (pixels, UIDs, truth).
    side : {"left", "right"}
        Side of the conflict (patient left = +x in LPS).
    gap_mm : float
        Exact minimum surface gap between the AICA and VII, mm (0 = touching).
    segment : {"RExP", "AS", "RDP", "cisternal"}
        Where the AICA comes closest: 0.5 mm from the exit point, midway along the
        attached segment, at the detachment point, or 6 mm lateral of the RDP.
    indent_mm : float
        If > 0, the AICA dents VII by this depth (mm); requires ``gap_mm == 0``.
    oblique : bool
        Rotate both acquisition grids by a few degrees about two axes (same anatomy).
    full_size : bool
        512 x 512 matrices instead of the small CPA slab.
    realistic : bool
        Render the realistic variant (:mod:`nvcview_sample.realistic`): supersampled
        partial volume, TOF inflow signal falling along the arteries, veins dark on
        TOF, a smooth bias field, Rician noise at CISS-like SNR. The anatomy, labels
        and truth are those of the clean phantom with the same parameters.
    motion : None, True or (4, 4) array
        Only with ``realistic``: the patient moves between the T2 and the TOF. True
        draws a small rigid motion from the seed (<= 1.5 degrees, <= 1.2 mm); an
        array is the map TOF LPS -> T2 LPS itself. Stored as
        ``truth["motion"]["tof_to_t2_lps"]`` (what a registration should find).

    Returns
    -------
    Phantom

    Raises
    ------
    ValueError
        Parameters out of range (unknown side or segment, negative gap, an
        indentation deeper than 60% of the nerve radius).
    """
    has_motion = motion is not None and motion is not False
    if has_motion and not realistic:
        raise ValueError("motion between the series needs realistic=True")
    settings = settings_dict(
        seed, side, gap_mm, segment, indent_mm, oblique, full_size, realistic, has_motion
    )
    anatomy = build_anatomy(
        seed=seed, side=side, gap_mm=gap_mm, segment=segment, indent_mm=indent_mm
    )
    study_uid = phantom_uid(settings, "study")
    for_uid = phantom_uid(settings, "frame-of-reference")
    patient = phantom_patient(seed)
    images = {}
    label_array = None
    series_info = {}
    tof_to_t2 = None
    if has_motion:
        if motion is True:
            centre = SLAB_CENTRE_LEFT * np.array([1.0 if side == "left" else -1.0, 1.0, 1.0])
            tof_to_t2 = random_motion(np.random.default_rng([int(seed), 5]), centre)
        else:
            tof_to_t2 = np.asarray(motion, dtype=np.float64)
            if tof_to_t2.shape != (4, 4) or not np.allclose(
                tof_to_t2[:3, :3] @ tof_to_t2[:3, :3].T, np.eye(3), atol=1e-6
            ):
                raise ValueError("motion must be True or a rigid 4x4 matrix (TOF LPS -> T2 LPS)")
    for spec, stream in ((T2_SPEC, 2), (TOF_SPEC, 3)):
        affine, shape = series_grid(spec, side, oblique, full_size)
        rng = np.random.default_rng([int(seed), stream])
        if realistic:
            rng = np.random.default_rng([int(seed), stream, 7])
            moved = tof_to_t2 if spec.role == "TOF" else None
            arr, lab = render_realistic(
                anatomy, affine, shape, spec.role, rng, moved, with_labels=spec.role == "T2"
            )
            if lab is not None:
                label_array = lab
        else:
            arr, lab = render(anatomy, affine, shape, spec.role, rng, with_labels=spec.role == "T2")
            if lab is not None:
                label_array = lab
        meta = SeriesMeta(
            series_uid=phantom_uid(settings, f"series-{spec.role}"),
            study_uid=study_uid,
            frame_of_reference_uid=for_uid,
            modality="MR",
            series_description=spec.description,
            sequence_name=spec.sequence_name,
            mr_acquisition_type="3D",
            series_number=spec.series_number,
            echo_time_ms=spec.echo_time_ms,
            repetition_time_ms=spec.repetition_time_ms,
            role=spec.role,
            source_path="",
            n_files=shape[0],
            shape=tuple(int(s) for s in shape),
            spacing_mm=tuple(float(s) for s in spec.spacing_mm),
            orientation="axial oblique" if oblique else "axial",
        )
        images[spec.role] = Image(
            volume=make_volume(arr, affine, for_uid), meta=meta, patient=patient
        )
        series_info[spec.role] = {
            "series_uid": meta.series_uid,
            "description": spec.description,
            "sequence_name": spec.sequence_name,
            "voxel_size_mm": list(spec.spacing_mm),
            "shape": list(shape),
            "affine_index_to_lps": affine.tolist(),
            "array_axes": ["slice", "row", "column"],
        }
    t2 = images["T2"]
    labels_meta = SeriesMeta(
        series_uid=t2.meta.series_uid,
        study_uid=study_uid,
        frame_of_reference_uid=for_uid,
        series_description="phantom ground-truth labels (aligned to T2)",
        role="labels",
        shape=t2.meta.shape,
        spacing_mm=t2.meta.spacing_mm,
        orientation=t2.meta.orientation,
    )
    labels = Image(
        volume=make_volume(label_array, t2.affine, for_uid), meta=labels_meta, patient=patient
    )
    truth = compute_truth(anatomy)
    truth["settings"] = settings
    truth["study_uid"] = study_uid
    truth["frame_of_reference_uid"] = for_uid
    truth["series"] = series_info
    truth["reference_series_uid"] = t2.meta.series_uid
    if realistic:
        truth["realistic"] = realistic_description()
        truth["motion"] = {
            "tof_to_t2_lps": (np.eye(4) if tof_to_t2 is None else tof_to_t2).tolist(),
            "moved": bool(has_motion),
        }
    structures = [Structure.from_dict(s) for s in truth["structures"]]
    return Phantom(
        t2=t2,
        tof=images["TOF"],
        labels=labels,
        structures=structures,
        landmarks={k: np.array(v, dtype=np.float64) for k, v in anatomy.landmarks.items()},
        centreline=anatomy.centreline.copy(),
        truth=truth,
        anatomy=anatomy,
    )
