"""Rasterise the analytic anatomy into T2 (CISS-like) and TOF images and a label map.

Each shape contributes a partial-volume fraction ``clip(0.5 - sdf / w, 0, 1)``
(a linear ramp one voxel wide across the surface, ``w`` = mean voxel size), and
shapes are composited in a fixed order (later ones cover earlier ones). The label
map takes, at each voxel centre, the last labelled shape whose signed distance is
negative, i.e. the structure covering more than half of the voxel. Noise is
Rician (magnitude of complex Gaussian noise added to the signal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nvcview_sample.anatomy import Anatomy
from nvcview_sample.shapes import Ellipsoid

#: (T2, TOF) signal of each tissue, arbitrary units (CSF bright on T2, arteries on TOF)
SIGNAL = {
    "background": (0.0, 0.0),
    "bone": (40.0, 45.0),
    "parenchyma": (380.0, 260.0),
    "csf": (1000.0, 90.0),
    "brainstem": (330.0, 280.0),
    "nerve": (170.0, 150.0),
    "vein": (200.0, 190.0),
    "artery_large": (70.0, 950.0),
    "artery_small": (80.0, 850.0),
}
#: Rician noise standard deviation (T2, TOF)
NOISE_SIGMA = (22.0, 18.0)
CONTRASTS = ("T2", "TOF")
#: unlabelled midline shapes drawn for context (LPS mm)
CLIVUS_BODY = Ellipsoid([0.0, -23.0, -6.0], [12.0, 9.0, 40.0])
FOURTH_VENTRICLE = Ellipsoid([0.0, 19.0, 6.0], [5.0, 3.5, 9.0])
PETROUS_THICKNESS_MM = 22.0
_VESSEL_TISSUE = {
    "VA": "artery_large",
    "basilar": "artery_large",
    "PICA": "artery_small",
    "AICA": "artery_small",
    "vein": "vein",
}


@dataclass
class Layer:
    """One shape drawn on the images: signed distance, tissue, label (0 = unlabelled)."""

    sdf: Callable[[np.ndarray], np.ndarray]
    tissue: str
    label: int = 0


def grid_affine(
    centre: np.ndarray,
    spacing: tuple[float, float, float],
    shape: tuple[int, int, int],
    rotation: np.ndarray | None = None,
) -> np.ndarray:
    """Index -> LPS affine of an axial (optionally rotated) grid centred on ``centre``.

    Array axes follow highdicom: (slice, row, column). Unrotated, columns run to
    the patient's left (+x), rows to posterior (+y) and slices to superior (+z),
    i.e. ImageOrientationPatient (1, 0, 0, 0, 1, 0).

    Parameters
    ----------
    centre : (3,) ndarray
        Grid centre, LPS mm.
    spacing : tuple
        (slice, row, column) spacing in mm.
    shape : tuple
        (slices, rows, columns).
    rotation : (3, 3) ndarray, optional
        Rotation applied to the grid axes about its centre (oblique acquisition).
    """
    r = np.eye(3) if rotation is None else np.asarray(rotation, float)
    axes = np.stack([r[:, 2] * spacing[0], r[:, 1] * spacing[1], r[:, 0] * spacing[2]], axis=1)
    aff = np.eye(4)
    aff[:3, :3] = axes
    aff[:3, 3] = np.asarray(centre, float) - axes @ ((np.asarray(shape, float) - 1) / 2)
    return aff


def layers(anatomy: Anatomy) -> list[Layer]:
    """The drawing order of the phantom, back to front."""
    a = anatomy
    sign = 1.0 if a.side == "left" else -1.0

    def petrous_sdf(i: int):
        plane, ridge = a.petrous[i]
        canal = a.canals[i]
        side = sign if i == 0 else -sign

        def f(p):
            # a slab of bone behind the posterior petrous surface, PETROUS_THICKNESS_MM
            # thick, lateral of the brainstem and above the skull base
            lateral = 14.0 - side * p[:, 0]
            box = np.maximum(lateral, -PETROUS_THICKNESS_MM - plane.sdf(p))
            box = np.maximum(np.maximum(box, -25.0 - p[:, 2]), a.skull_inner.sdf(p))
            solid = np.maximum(np.maximum(plane.sdf(p), ridge.sdf(p)), box)
            return np.maximum(solid, -canal.sdf(p))

        return f

    def clivus_sdf(p):
        return np.maximum(a.clivus.sdf(p), CLIVUS_BODY.sdf(p))

    out = [
        Layer(a.head.sdf, "bone"),
        Layer(a.skull_inner.sdf, "parenchyma"),
        Layer(a.cistern.sdf, "csf"),
        *[Layer(e.sdf, "parenchyma") for e in a.cerebellum],
        Layer(FOURTH_VENTRICLE.sdf, "csf"),
        Layer(clivus_sdf, "bone"),
        Layer(petrous_sdf(0), "bone"),
        Layer(petrous_sdf(1), "bone"),
        Layer(a.brainstem_sdf, "brainstem", 1),
    ]
    contra = a.contra_tubes
    out += [Layer(t.sdf, "nerve") for t in contra[:2]]
    out += [Layer(a.tubes["VIII"].sdf, "nerve", 3), Layer(a.tubes["VII"].sdf, "nerve", 2)]
    out += [Layer(t.sdf, "artery_large") for t in contra[2:]]
    for key, label in (("basilar", 8), ("VA", 4), ("PICA", 5), ("vein", 7), ("AICA", 6)):
        out.append(Layer(a.tubes[key].sdf, _VESSEL_TISSUE[key], label))
    return out


def render(
    anatomy: Anatomy,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    contrast: str,
    rng: np.random.Generator | None,
    with_labels: bool = False,
    chunk_voxels: int = 600_000,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render one series.

    Parameters
    ----------
    anatomy : Anatomy
        Shapes in LPS mm.
    affine : (4, 4) ndarray
        Index (slice, row, column) -> LPS mm.
    shape : tuple
        (slices, rows, columns).
    contrast : {"T2", "TOF"}
    rng : numpy Generator or None
        Noise source; None renders the noise-free image.
    with_labels : bool
        Also return the uint8 label map on this grid.

    Returns
    -------
    image : ndarray of uint16, shape ``shape``
    labels : ndarray of uint8 or None
    """
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}")
    ci = CONTRASTS.index(contrast)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    width = float(spacing.mean())
    drawn = layers(anatomy)
    n_slices, n_rows, n_cols = shape
    per_slice = n_rows * n_cols
    step = max(1, chunk_voxels // per_slice)
    image = np.empty(shape, dtype=np.float64)
    labels = np.zeros(shape, dtype=np.uint8) if with_labels else None
    rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    for k0 in range(0, n_slices, step):
        k1 = min(n_slices, k0 + step)
        kk = np.arange(k0, k1)[:, None, None] * np.ones((1, n_rows, n_cols))
        idx = np.stack([kk.ravel(), np.tile(rr.ravel(), k1 - k0), np.tile(cc.ravel(), k1 - k0)], 1)
        pts = idx @ affine[:3, :3].T + affine[:3, 3]
        value = np.zeros(len(pts))
        lab = np.zeros(len(pts), dtype=np.uint8)
        for layer in drawn:
            sd = layer.sdf(pts)
            frac = np.clip(0.5 - sd / width, 0.0, 1.0)
            value += frac * (SIGNAL[layer.tissue][ci] - value)
            if with_labels and layer.label:
                lab[sd < 0] = layer.label
        image[k0:k1] = value.reshape(k1 - k0, n_rows, n_cols)
        if labels is not None:
            labels[k0:k1] = lab.reshape(k1 - k0, n_rows, n_cols)
    if rng is not None:
        sigma = NOISE_SIGMA[ci]
        image = np.hypot(image + rng.normal(0.0, sigma, shape), rng.normal(0.0, sigma, shape))
    image = np.clip(np.rint(image), 0, 4095).astype(np.uint16)
    return image, labels
