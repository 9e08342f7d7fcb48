"""A small two-series case built in code (T2 + TOF on different grids, same frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvcview.io.image import Image, SeriesMeta, index_to_lps, make_volume


@dataclass
class MiniCase:
    """T2 (0.5 mm) and TOF (0.6 mm, shifted origin) of a left CPA with known truth."""

    t2: Image
    tof: Image
    nerve_start: np.ndarray  # LPS mm, medial end of the nerve
    nerve_end: np.ndarray  # LPS mm, lateral end
    vessel_seed: np.ndarray  # LPS mm, on the vessel axis
    gap_mm: float  # surface gap nerve-vessel
    nerve_r: float
    vessel_r: float


def _grid(shape, spacing, origin):
    aff = np.eye(4)
    aff[:3, :3] = np.diag(spacing)
    aff[:3, 3] = origin
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return aff, index_to_lps(aff, idx.reshape(-1, 3)).reshape(*shape, 3)


def _seg_dist(p, a, b):
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def make_minicase(gap_mm: float = 1.0) -> MiniCase:
    """Nerve along +x (towards the patient's left) at x 6..16 mm; an artery crossing it."""
    nerve_r, vessel_r = 1.0, 1.2
    a, b = np.array([6.0, 0.0, 0.0]), np.array([16.0, 0.0, 0.0])
    # vessel: along y (anterior-posterior), above the nerve by the gap
    vz = nerve_r + gap_mm + vessel_r
    va, vb = np.array([11.0, -8.0, vz]), np.array([11.0, 8.0, vz])
    aff2, lps2 = _grid((48, 44, 28), (0.5, 0.5, 0.5), (0.0, -11.0, -6.0))
    t2 = np.full(lps2.shape[:3], 1000.0, np.float32)  # CSF
    t2[lps2[..., 0] < 4.0] = 500.0  # brainstem (medial, grey)
    t2[_seg_dist(lps2, a, b) <= nerve_r] = 120.0
    t2[_seg_dist(lps2, va, vb) <= vessel_r] = 80.0  # flow void
    aff3, lps3 = _grid((42, 40, 26), (0.6, 0.6, 0.6), (0.2, -11.7, -6.3))
    tof = np.full(lps3.shape[:3], 150.0, np.float32)
    tof[_seg_dist(lps3, va, vb) <= vessel_r] = 900.0
    rng = np.random.default_rng(0)
    tof += rng.normal(0, 15, tof.shape).astype(np.float32)
    frame = "1.2.826.0.1.3680043.8.498.1"
    im2 = Image(
        make_volume(t2, aff2, frame),
        SeriesMeta(
            series_uid="1.2.3.2", role="T2", series_description="CISS", frame_of_reference_uid=frame
        ),
    )
    im3 = Image(
        make_volume(tof, aff3, frame),
        SeriesMeta(
            series_uid="1.2.3.3",
            role="TOF",
            series_description="TOF 3D",
            frame_of_reference_uid=frame,
        ),
    )
    return MiniCase(im2, im3, a, b, (va + vb) / 2, gap_mm, nerve_r, vessel_r)
