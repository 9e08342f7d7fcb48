"""The realistic variant of the phantom: what a real CISS and TOF add to the clean images.

Only used with ``make_phantom(realistic=True)``; the clean renderer
(:mod:`nvcview_sample.render`) is untouched, so the clean phantom stays
bit-identical for the exact-answer tests.

What it adds, each a documented constant:

- partial volume from supersampling: voxels near any surface are the mean of
  2 x 2 x 2 sub-samples (hard edges a sub-voxel wide), the rest are sampled once;
- TOF inflow: arterial signal falls with the path length from where the blood
  enters the slab (vertebral arteries at the bottom, then basilar, PICA, AICA),
  ``S = S0 exp(-s / TOF_DECAY_MM)``; veins are saturated (dark) on TOF;
- a smooth multiplicative bias field (a few low-frequency cosines, +-15 %);
- Rician noise at CISS-like SNR (CSF / sigma ~ 22 on T2, artery / sigma ~ 30 on TOF);
- optional small rigid motion between the T2 and the TOF (the TOF is rendered
  from the anatomy moved by the truth transform, stored in truth.json).

The label map is the clean one (voxel centres inside the analytic shapes).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from nvcview_sample.anatomy import Anatomy
from nvcview_sample.geometry import arc_lengths, rotation_matrix
from nvcview_sample.render import SIGNAL, Layer, layers

#: Rician noise standard deviation (T2, TOF), same units as ``render.SIGNAL``
REALISTIC_NOISE_SIGMA = (45.0, 30.0)
#: e-folding length of the TOF arterial signal along the blood path, mm
TOF_DECAY_MM = 90.0
#: TOF signal of saturated venous blood (dark), T2 flow void of veins
VEIN_SIGNAL = (150.0, 60.0)
#: peak relative amplitude of the bias field
BIAS_AMPLITUDE = 0.15
#: wavelength range of the bias field cosines, mm
BIAS_WAVELENGTH_MM = (90.0, 220.0)
#: sub-samples per axis in voxels near a surface
SUPERSAMPLE = 2
#: default random motion: at most this rotation (degrees) and translation (mm)
MOTION_MAX_DEG = 1.5
MOTION_MAX_MM = 1.2

_ARTERIES = ("VA", "basilar", "PICA", "AICA")


def inflow_offsets(anatomy: Anatomy) -> dict[str, float]:
    """Path length (mm) of the blood from the slab entry to each artery's first vertex."""
    t = anatomy.tubes
    va = t["VA"].points
    va_len = float(arc_lengths(va)[-1])
    va_arc = arc_lengths(va)
    pica0 = int(np.argmin(np.linalg.norm(va - t["PICA"].points[0], axis=1)))
    bas = t["basilar"].points
    bas_arc = arc_lengths(bas)
    aica0 = int(np.argmin(np.linalg.norm(bas - t["AICA"].points[0], axis=1)))
    return {
        "VA": 0.0,
        "basilar": va_len,
        "PICA": float(va_arc[pica0]),
        "AICA": va_len + float(bas_arc[aica0]),
    }


def _artery_value(points: np.ndarray, s0: float, base: float):
    tree = cKDTree(points)
    arc = arc_lengths(points)

    def value(p: np.ndarray) -> np.ndarray:
        _, idx = tree.query(p)
        return base * np.exp(-(s0 + arc[idx]) / TOF_DECAY_MM)

    return value


def realistic_layers(anatomy: Anatomy, contrast: str) -> list[tuple[Layer, object]]:
    """The drawing order of :func:`render.layers` with a value (constant or function) each."""
    ci = 0 if contrast == "T2" else 1
    offsets = inflow_offsets(anatomy)
    key_of = {id(tube): key for key, tube in anatomy.tubes.items()}
    contra_va = anatomy.contra_tubes[2] if len(anatomy.contra_tubes) > 2 else None
    out: list[tuple[Layer, object]] = []
    for layer in layers(anatomy):
        value: object = SIGNAL[layer.tissue][ci]
        owner = getattr(layer.sdf, "__self__", None)
        key = key_of.get(id(owner)) if owner is not None else None
        if key == "vein":
            value = VEIN_SIGNAL[ci]
        elif contrast == "TOF" and key in _ARTERIES:
            value = _artery_value(owner.points, offsets[key], 1000.0)
        elif contrast == "TOF" and owner is not None and owner is contra_va:
            value = _artery_value(owner.points, 0.0, 1000.0)
        out.append((layer, value))
    return out


def bias_field(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field at (P, 3) LPS mm points, mean ~1, within +-BIAS_AMPLITUDE."""
    f = np.zeros(len(points))
    n = 3
    for _ in range(n):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        wavelength = rng.uniform(*BIAS_WAVELENGTH_MM)
        phase = rng.uniform(0, 2 * np.pi)
        f += np.cos(points @ direction * (2 * np.pi / wavelength) + phase)
    return 1.0 + BIAS_AMPLITUDE * f / n


def _composite(
    drawn, pts: np.ndarray, width: float, lab: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Composited value and the smallest |signed distance| over layers at points.

    With ``lab`` given, it receives the label map rule of :func:`render.render`.
    """
    value = np.zeros(len(pts))
    near = np.full(len(pts), np.inf)
    for layer, v in drawn:
        sd = layer.sdf(pts)
        near = np.minimum(near, np.abs(sd))
        if lab is not None and layer.label:
            lab[sd < 0] = layer.label
        frac = np.clip(0.5 - sd / width, 0.0, 1.0)
        hit = frac > 0
        if not np.any(hit):
            continue
        val = v(pts[hit]) if callable(v) else float(v)
        value[hit] += frac[hit] * (val - value[hit])
    return value, near


def render_realistic(
    anatomy: Anatomy,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    contrast: str,
    rng: np.random.Generator,
    anatomy_from_grid: np.ndarray | None = None,
    chunk_voxels: int = 400_000,
    with_labels: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render one realistic series (uint16).

    Parameters
    ----------
    anatomy : Anatomy
        Shapes in LPS mm (the T2 frame).
    affine : (4, 4) ndarray
        Index (slice, row, column) -> LPS mm of the series as stored.
    shape : tuple
        (slices, rows, columns).
    contrast : {"T2", "TOF"}
    rng : numpy Generator
        Bias field and noise.
    anatomy_from_grid : (4, 4) ndarray, optional
        Rigid map from this series' LPS to the anatomy's (the patient moved): the
        voxel at LPS ``q`` shows the anatomy at ``anatomy_from_grid @ q``.
    with_labels : bool
        Also return the uint8 label map (voxel centres, as the clean renderer).

    Returns
    -------
    image : ndarray of uint16, shape ``shape``
    labels : ndarray of uint8 or None
    """
    ci = 0 if contrast == "T2" else 1
    drawn = realistic_layers(anatomy, contrast)
    eff = np.asarray(affine, float)
    if anatomy_from_grid is not None:
        eff = np.asarray(anatomy_from_grid, float) @ eff
    spacing = np.linalg.norm(eff[:3, :3], axis=0)
    sub_width = float(spacing.mean()) / SUPERSAMPLE
    reach = 0.5 * float(np.linalg.norm(spacing)) + sub_width
    n_slices, n_rows, n_cols = shape
    per_slice = n_rows * n_cols
    step = max(1, chunk_voxels // per_slice)
    offs = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    sub = np.stack(np.meshgrid(offs, offs, offs, indexing="ij"), -1).reshape(-1, 3)
    image = np.empty(shape, dtype=np.float64)
    labels = np.zeros(shape, dtype=np.uint8) if with_labels else None
    rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    for k0 in range(0, n_slices, step):
        k1 = min(n_slices, k0 + step)
        kk = np.arange(k0, k1)[:, None, None] * np.ones((1, n_rows, n_cols))
        idx = np.stack([kk.ravel(), np.tile(rr.ravel(), k1 - k0), np.tile(cc.ravel(), k1 - k0)], 1)
        pts = idx @ eff[:3, :3].T + eff[:3, 3]
        lab = np.zeros(len(pts), dtype=np.uint8) if labels is not None else None
        value, near = _composite(drawn, pts, sub_width, lab)
        if labels is not None and lab is not None:
            labels[k0:k1] = lab.reshape(k1 - k0, n_rows, n_cols)
        edge = np.flatnonzero(near < reach)
        if len(edge):
            acc = np.zeros(len(edge))
            for o in sub:
                p = (idx[edge] + o) @ eff[:3, :3].T + eff[:3, 3]
                acc += _composite(drawn, p, sub_width)[0]
            value[edge] = acc / len(sub)
        image[k0:k1] = value.reshape(k1 - k0, n_rows, n_cols)
    # the bias field belongs to the coil, i.e. the scanner frame of this series
    grid_pts = _grid_points(np.asarray(affine, float), shape)
    image *= bias_field(grid_pts, rng).reshape(shape)
    sigma = REALISTIC_NOISE_SIGMA[ci]
    image = np.hypot(image + rng.normal(0.0, sigma, shape), rng.normal(0.0, sigma, shape))
    return np.clip(np.rint(image), 0, 4095).astype(np.uint16), labels


def realistic_description() -> dict:
    """What the realistic variant adds, for truth.json."""
    return {
        "noise_sigma": {"T2": REALISTIC_NOISE_SIGMA[0], "TOF": REALISTIC_NOISE_SIGMA[1]},
        "noise": "rician",
        "bias_amplitude": BIAS_AMPLITUDE,
        "supersample": SUPERSAMPLE,
        "tof_decay_mm": TOF_DECAY_MM,
        "vein_signal": {"T2": VEIN_SIGNAL[0], "TOF": VEIN_SIGNAL[1]},
    }


def _grid_points(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def random_motion(rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    """A small rigid motion (4x4, LPS mm) about ``centre``: rotation <= MOTION_MAX_DEG, shift
    <= MOTION_MAX_MM."""
    axis = rng.normal(size=3)
    rot = rotation_matrix(axis, float(rng.uniform(0.5, 1.0)) * MOTION_MAX_DEG)
    shift = rng.normal(size=3)
    shift *= float(rng.uniform(0.5, 1.0)) * MOTION_MAX_MM / np.linalg.norm(shift)
    return rigid(rot, shift, centre)


def rigid(rot: np.ndarray, shift: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """4x4 map ``p -> rot (p - centre) + centre + shift``."""
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = np.asarray(centre, float) - rot @ np.asarray(centre, float) + np.asarray(shift)
    return m
