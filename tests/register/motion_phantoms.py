"""Phantom studies whose TOF was acquired after a KNOWN rigid head motion.

Built from ``nvcview_sample``: the clean analytic anatomy is rendered on the T2 grid
as it is, and on the TOF grid with the patient moved by ``M`` (a rotation about the
head centre plus a shift). Rendering the moved anatomy is exact: TOF voxel ``i``
shows the anatomy found at ``inv(M) @ A_tof @ i`` before the motion, and the TOF keeps
its scanner affine ``A_tof``. So the true ``moving_to_fixed_lps`` is ``inv(M)``, and
the TOF-grid label map (vessels segmented on the TOF) is exact too. Both images then
get a smooth multiplicative bias field (fixed to the scanner) and Rician noise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from nvcview_sample import make_phantom
from nvcview_sample.geometry import rotation_matrix
from nvcview_sample.phantom import Phantom
from nvcview_sample.render import render

from nvcview.io.image import Image, make_volume

#: rotations are about the head centre (LPS mm), as a head turns on the pillow
HEAD_CENTRE = np.array([0.0, 5.0, 2.0])
NOISE_SIGMA = {"T2": 22.0, "TOF": 18.0}


@dataclass
class MovedStudy:
    """A phantom study with a moved TOF.

    Attributes
    ----------
    t2, tof : Image
        Noisy, bias-corrupted series; the TOF shows the moved anatomy on its grid.
    tof_labels : Image
        Exact label map on the TOF grid (of the moved anatomy).
    phantom : Phantom
        The motion-free study (T2 labels, landmarks and truth in T2 space).
    motion_lps : (4, 4) ndarray
        Head motion between the two acquisitions (original -> moved positions).
    true_moving_to_fixed : (4, 4) ndarray
        ``inv(motion_lps)``: the transform a perfect registration finds.
    """

    t2: Image
    tof: Image
    tof_labels: Image
    phantom: Phantom
    motion_lps: np.ndarray
    true_moving_to_fixed: np.ndarray


def rigid_motion(
    shift_mm: tuple[float, float, float], rotation_deg: tuple[float, float, float]
) -> np.ndarray:
    """4x4 rigid motion: rotations about x, y, z (degrees) around HEAD_CENTRE, then a shift."""
    r = (
        rotation_matrix([0, 0, 1], rotation_deg[2])
        @ rotation_matrix([0, 1, 0], rotation_deg[1])
        @ rotation_matrix([1, 0, 0], rotation_deg[0])
    )
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = HEAD_CENTRE - r @ HEAD_CENTRE + np.asarray(shift_mm, float)
    return m


def _bias(affine: np.ndarray, shape: tuple[int, ...], strength: float, phase: float) -> np.ndarray:
    """Smooth multiplicative field over the scanner's frame (1 +- strength)."""
    idx = np.indices(shape).reshape(3, -1).T.astype(np.float64)
    p = idx @ affine[:3, :3].T + affine[:3, 3]
    f = np.sin(p[:, 0] / 23.0 + phase) * np.cos(p[:, 1] / 31.0 - phase) + 0.5 * np.sin(
        p[:, 2] / 19.0
    )
    return (1.0 + strength * f / 1.5).reshape(shape)


def _corrupt(
    clean: np.ndarray, affine: np.ndarray, role: str, rng: np.random.Generator, bias: float
) -> np.ndarray:
    signal = clean * _bias(affine, clean.shape, bias, 0.3 if role == "T2" else 1.1)
    s = NOISE_SIGMA[role]
    noisy = np.hypot(signal + rng.normal(0.0, s, clean.shape), rng.normal(0.0, s, clean.shape))
    return np.clip(np.rint(noisy), 0, 4095).astype(np.uint16)


@lru_cache(maxsize=4)
def _base(oblique: bool, seed: int, gap_mm: float) -> tuple[Phantom, np.ndarray]:
    ph = make_phantom(seed=seed, gap_mm=gap_mm, oblique=oblique)
    t2_clean, _ = render(ph.anatomy, ph.t2.affine, ph.t2.array.shape, "T2", None)
    return ph, t2_clean


def moved_study(
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    *,
    oblique: bool = False,
    seed: int = 0,
    gap_mm: float = 0.6,
    bias: float = 0.15,
) -> MovedStudy:
    """A small CPA study (48x90x90 T2, 34x103x103 TOF) with the TOF after a known motion."""
    ph, t2_clean = _base(oblique, seed, gap_mm)
    motion = rigid_motion(shift_mm, rotation_deg)
    tof_affine = ph.tof.affine
    shape = ph.tof.array.shape
    tof_clean, tof_lab = render(
        ph.anatomy, np.linalg.inv(motion) @ tof_affine, shape, "TOF", None, with_labels=True
    )
    assert tof_lab is not None
    rng = np.random.default_rng([seed, 77])
    for_uid = ph.t2.meta.frame_of_reference_uid
    t2 = Image(
        volume=make_volume(
            _corrupt(t2_clean, ph.t2.affine, "T2", rng, bias), ph.t2.affine, for_uid
        ),
        meta=dataclasses.replace(ph.t2.meta),
        patient=ph.t2.patient,
    )
    tof = Image(
        volume=make_volume(_corrupt(tof_clean, tof_affine, "TOF", rng, bias), tof_affine, for_uid),
        meta=dataclasses.replace(ph.tof.meta),
        patient=ph.tof.patient,
    )
    labels = Image(
        volume=make_volume(tof_lab, tof_affine, for_uid),
        meta=dataclasses.replace(ph.tof.meta, role="labels"),
        patient=ph.tof.patient,
    )
    return MovedStudy(
        t2=t2,
        tof=tof,
        tof_labels=labels,
        phantom=ph,
        motion_lps=motion,
        true_moving_to_fixed=np.linalg.inv(motion),
    )


def tre_mm(found: np.ndarray, truth: np.ndarray, centre: np.ndarray, radius_mm: float = 25.0):
    """Target registration errors (mm) on a 2.5 mm lattice within ``radius_mm`` of ``centre``.

    Points are positions in the moving (TOF) series; the error of each is the distance
    between where ``found`` and ``truth`` map it.
    """
    g = np.arange(-radius_mm, radius_mm + 1e-9, 2.5)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pts = pts[np.linalg.norm(pts, axis=1) <= radius_mm] + centre
    a = pts @ found[:3, :3].T + found[:3, 3]
    b = pts @ truth[:3, :3].T + truth[:3, 3]
    return np.linalg.norm(a - b, axis=1)
