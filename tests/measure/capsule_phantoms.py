"""Analytic test phantoms: capsules (swept spheres) voxelised with partial-volume supersampling.

Everything is built in patient LPS mm; the grids may be oblique and anisotropic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from nvcview.io.image import Image, make_volume


@dataclass
class Capsule:
    """Segment ``p0``-``p1`` (LPS mm) swept by a sphere of ``radius`` mm."""

    p0: np.ndarray
    p1: np.ndarray
    radius: float

    def signed_distance(self, xyz: np.ndarray) -> np.ndarray:
        """Signed distance (mm, negative inside) of (..., 3) LPS points."""
        d = self.p1 - self.p0
        t = np.clip(((xyz - self.p0) @ d) / (d @ d), 0.0, 1.0)
        foot = self.p0 + t[..., None] * d
        return np.linalg.norm(xyz - foot, axis=-1) - self.radius


@dataclass
class Union:
    """Union of shapes (signed distance = min of the parts')."""

    parts: list

    def signed_distance(self, xyz: np.ndarray) -> np.ndarray:
        return np.min([p.signed_distance(xyz) for p in self.parts], axis=0)


@dataclass
class Minus:
    """Shape ``a`` with shape ``b`` carved out (an indented nerve)."""

    a: object
    b: object

    def signed_distance(self, xyz: np.ndarray) -> np.ndarray:
        return np.maximum(self.a.signed_distance(xyz), -self.b.signed_distance(xyz))


def tube(points: np.ndarray, radius: float) -> Union:
    """A tube of ``radius`` mm along a polyline (LPS mm): a chain of capsules."""
    pts = np.asarray(points, dtype=float)
    return Union([Capsule(a, b, radius) for a, b in zip(pts[:-1], pts[1:], strict=True)])


def grid_affine(
    spacing: tuple[float, float, float], rotation: np.ndarray, centre: np.ndarray, shape
) -> np.ndarray:
    """4x4 index -> LPS affine with given spacing and rotation, centred on ``centre``."""
    lin = rotation @ np.diag(spacing)
    aff = np.eye(4)
    aff[:3, :3] = lin
    aff[:3, 3] = centre - lin @ ((np.asarray(shape) - 1) / 2.0)
    return aff


def voxelise(
    capsules: list, affine: np.ndarray, shape: tuple[int, int, int], supersample: int = 4
) -> np.ndarray:
    """Label map (uint8, shape i -> label i+1) by partial-volume supersampling.

    Each voxel takes the class that covers the largest fraction of it, background
    (CSF) included, as a reader would paint it: a voxel between two close
    structures that is mostly CSF stays background (an earlier rule labelled
    any voxel the shapes together half covered, which closed sub-voxel gaps that
    the image would still show). Shapes are assumed not to overlap.
    """
    frac = coverage(capsules, affine, shape, supersample)
    background = 1.0 - np.clip(np.sum(frac, axis=0), 0.0, 1.0)
    return np.argmax(np.concatenate([background[None], frac]), axis=0).astype(np.uint8)


def coverage(
    capsules: list, affine: np.ndarray, shape: tuple[int, int, int], supersample: int = 4
) -> np.ndarray:
    """Fraction of each voxel covered by each shape, (len(capsules), *shape) float32
    (``supersample`` sub-samples per axis near the surfaces)."""
    s = supersample
    off = (np.arange(s) + 0.5) / s - 0.5
    sub = np.stack(np.meshgrid(off, off, off, indexing="ij"), -1).reshape(-1, 3)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    idx = idx.reshape(-1, 3).astype(float)
    centres = idx @ affine[:3, :3].T + affine[:3, 3]
    half_diag = 0.5 * float(np.sqrt((np.linalg.norm(affine[:3, :3], axis=0) ** 2).sum()))
    frac = []
    for cap in capsules:
        sd = cap.signed_distance(centres)
        f = (sd < 0).astype(np.float32)
        band = np.flatnonzero(np.abs(sd) <= half_diag)  # only these need supersampling
        acc = np.zeros(len(band), np.float32)
        for o in sub:
            xyz = (idx[band] + o) @ affine[:3, :3].T + affine[:3, 3]
            acc += cap.signed_distance(xyz) <= 0
        f[band] = acc / len(sub)
        frac.append(f.reshape(shape))
    return np.stack(frac)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    return Rotation.random(random_state=rng).as_matrix()


def capsule_pair(
    rng: np.random.Generator,
    gap_mm: float,
    centre: np.ndarray | None = None,
    radii: tuple[float, float] = (0.8, 1.6),
) -> tuple[Capsule, Capsule]:
    """Two capsules in random orientations whose surfaces are exactly ``gap_mm`` apart
    (radii drawn uniformly from ``radii``, mm)."""
    centre = np.zeros(3) if centre is None else np.asarray(centre, float)
    while True:
        ta, tb = rng.normal(size=(2, 3))
        ta /= np.linalg.norm(ta)
        tb /= np.linalg.norm(tb)
        n = np.cross(ta, tb)
        if np.linalg.norm(n) > 0.3:  # not near-parallel (keeps the closest point unique)
            break
    n /= np.linalg.norm(n)
    ra, rb = rng.uniform(*radii, size=2)
    half = 5.0
    ca = centre
    cb = centre + n * (ra + rb + gap_mm)
    return (
        Capsule(ca - half * ta, ca + half * ta, ra),
        Capsule(cb - half * tb, cb + half * tb, rb),
    )


def pair_image(
    caps: tuple[Capsule, Capsule],
    spacing=(0.4, 0.4, 0.8),
    rotation: np.ndarray | None = None,
    extent_mm: float = 16.0,
) -> Image:
    """Voxelised label map (1 = first capsule, 2 = second) on a grid centred between them."""
    rotation = np.eye(3) if rotation is None else rotation
    centre = (caps[0].p0 + caps[0].p1 + caps[1].p0 + caps[1].p1) / 4
    shape = tuple(int(np.ceil(extent_mm / s)) for s in spacing)
    aff = grid_affine(spacing, rotation, centre, shape)
    return Image(volume=make_volume(voxelise(list(caps), aff, shape), aff))


#: T2 (CISS-like) signal of CSF, nerve and artery and the Rician noise sigma: the
#: realistic sample phantom's values (nvcview_sample.render.SIGNAL, realistic.py)
CSF_SIGNAL, NERVE_SIGNAL, ARTERY_SIGNAL, T2_NOISE = 1000.0, 170.0, 70.0, 45.0


def pair_scan(
    caps: tuple[Capsule, Capsule],
    rng: np.random.Generator,
    spacing=(0.4, 0.4, 0.8),
    rotation: np.ndarray | None = None,
    extent_mm: float = 16.0,
    noise: float = T2_NOISE,
) -> tuple[Image, Image]:
    """A T2-like scan of a nerve (first capsule) and an artery (second) in CSF, and the
    label map a user would get from it.

    The image is the partial-volume mix of the tissues' signals (supersampled
    coverage) with Rician noise (``noise``; CSF / sigma 22 at the default). The labels
    are the image thresholded half-way between CSF and the structures, each dark
    voxel given to the capsule nearer to it (a grow from a seed in each, split where
    they meet). Returns (image, labels) on one grid.
    """
    rotation = np.eye(3) if rotation is None else rotation
    centre = (caps[0].p0 + caps[0].p1 + caps[1].p0 + caps[1].p1) / 4
    shape = tuple(int(np.ceil(extent_mm / s)) for s in spacing)
    aff = grid_affine(spacing, rotation, centre, shape)
    frac = coverage(list(caps), aff, shape)
    clean = CSF_SIGNAL * (1.0 - frac.sum(axis=0)) + NERVE_SIGNAL * frac[0] + ARTERY_SIGNAL * frac[1]
    noisy = np.hypot(clean + rng.normal(0.0, noise, shape), rng.normal(0.0, noise, shape))
    dark = noisy < 0.5 * (CSF_SIGNAL + 0.5 * (NERVE_SIGNAL + ARTERY_SIGNAL))
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    xyz = idx.reshape(-1, 3) @ aff[:3, :3].T + aff[:3, 3]
    nearer_a = (caps[0].signed_distance(xyz) <= caps[1].signed_distance(xyz)).reshape(shape)
    labels = np.where(dark, np.where(nearer_a, 1, 2), 0).astype(np.uint8)
    # a user's grow keeps the connected structure, not noise specks in the CSF
    for lab in (1, 2):
        comp, n = ndimage.label(labels == lab)
        if n > 1:
            sizes = ndimage.sum(np.ones(shape), comp, index=np.arange(1, n + 1))
            labels[(comp > 0) & (comp != 1 + int(np.argmax(sizes)))] = 0
    image = Image(volume=make_volume(np.clip(np.rint(noisy), 0, 4095).astype(np.uint16), aff))
    return image, Image(volume=make_volume(labels, aff))
