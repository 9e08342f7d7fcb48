"""Phantoms for the 3D scene, built in code: the sample CPA and a noisy oblique case."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nvcview.io.image import Image, SeriesMeta, make_volume
from nvcview.structures import Structure


@dataclass
class Case:
    labels: Image
    structures: list[Structure]
    landmarks: dict
    side: str


def _capsule_sd(xyz: np.ndarray, p0, p1, r: float) -> np.ndarray:
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = np.clip(((xyz - p0) @ d) / (d @ d), 0.0, 1.0)
    return np.linalg.norm(xyz - (p0 + t[..., None] * d), axis=-1) - r


def noisy_oblique_case(gap_mm: float = 0.8, seed: int = 3, side: str = "right") -> Case:
    """A right CPA on an oblique, anisotropic grid (0.45 x 0.45 x 0.7 mm, 20 deg tilt).

    Facial nerve (capsule r 0.9 mm) running laterally from a brainstem slab, an AICA
    loop crossing it ``gap_mm`` above, CN VIII below; boundary voxels flipped at random
    (a rough hand segmentation).
    """
    rng = np.random.default_rng(seed)
    lat = -1.0 if side == "right" else 1.0  # +x is the patient's left
    rot = Rotation.from_euler("xz", [20, 12], degrees=True).as_matrix()
    spacing = np.array([0.45, 0.45, 0.7])
    lin = rot @ np.diag(spacing)
    shape = (70, 64, 40)
    centre = np.array([lat * 12.0, 0.0, 0.0])
    aff = np.eye(4)
    aff[:3, :3] = lin
    aff[:3, 3] = centre - lin @ ((np.array(shape) - 1) / 2)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    xyz = idx.reshape(-1, 3) @ lin.T + aff[:3, 3]
    xyz = xyz.reshape(*shape, 3)
    nerve_r, vessel_r = 0.9, 1.1
    n0, n1 = np.array([lat * 6.0, 0.0, 0.0]), np.array([lat * 20.0, -3.0, 2.0])
    mid = (n0 + n1) / 2
    v_off = nerve_r + gap_mm + vessel_r
    v0 = mid + np.array([0.0, -6.0, v_off])
    v1 = mid + np.array([0.0, 6.0, v_off])
    shapes = {
        1: xyz[..., 0] * lat - 6.5,  # brainstem: medial slab
        2: _capsule_sd(xyz, n0, n1, nerve_r),
        3: _capsule_sd(xyz, n0 + [0, 1.5, -3.2], n1 + [0, 1.5, -3.0], 0.9),
        4: _capsule_sd(xyz, v0, v1, vessel_r),
    }
    labels = np.zeros(shape, np.uint8)
    for lab in (1, 3, 2, 4):
        sd = shapes[lab]
        inside = sd < 0
        edge = np.abs(sd) < 0.25
        flip = edge & (rng.random(shape) < 0.3)
        labels[(inside ^ flip) & ((labels == 0) | (lab != 1))] = lab
    labels[(labels == 1) & (shapes[1] >= 0)] = 0
    meta = SeriesMeta(series_description="noisy oblique labels", source_path="noisy.nii.gz")
    structures = [
        Structure(1, "brainstem", "brainstem"),
        Structure(2, f"{side} facial nerve (VII)", "nerve", nerve="VII"),
        Structure(3, f"{side} vestibulocochlear nerve (VIII)", "nerve", nerve="VIII"),
        Structure(4, f"{side} AICA", "vessel", vessel_type="AICA"),
    ]
    return Case(Image(make_volume(labels, aff), meta), structures, {"RExP": n0}, side)


@pytest.fixture(scope="session")
def sample_phantom():
    from nvcview_sample import make_phantom

    return make_phantom(gap_mm=0.0)


@pytest.fixture(scope="session")
def noisy_case() -> Case:
    return noisy_oblique_case()
