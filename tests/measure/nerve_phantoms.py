"""A small analytic CPA: a straight facial nerve from the RExP to the IAC and vessels
placed at a known arc length, side, gap, crossing angle, indentation or deviation.

All positions are patient LPS mm (x left, y posterior, z superior).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from capsule_phantoms import Capsule, Minus, grid_affine, tube, voxelise

from nvcview.io.image import Image, make_volume
from nvcview.structures import Structure

RExP = np.array([0.0, 0.0, 0.0])
IAC = np.array([14.0, -6.0, 2.0])  # left-lateral, anterior, a little superior
NERVE_DIR = (IAC - RExP) / np.linalg.norm(IAC - RExP)
RDP_ARC = 4.0
NERVE_RADIUS = 0.9


def side_vector(side: str) -> np.ndarray:
    """Unit vector perpendicular to the nerve pointing to the patient's ``side``."""
    ref = {
        "superior": np.array([0.0, 0.0, 1.0]),
        "inferior": np.array([0.0, 0.0, -1.0]),
        "anterior": np.array([0.0, -1.0, 0.0]),
        "posterior": np.array([0.0, 1.0, 0.0]),
    }[side]
    v = ref - np.dot(ref, NERVE_DIR) * NERVE_DIR
    return v / np.linalg.norm(v)


@dataclass
class VesselSpec:
    """A vessel crossing the nerve at ``arc_mm`` from the RExP on ``side``."""

    arc_mm: float
    gap_mm: float = 0.0
    side: str = "superior"
    radius: float = 1.0
    angle_deg: float = 90.0  # crossing angle with the nerve
    indent_mm: float = 0.0
    vessel_type: str = "AICA"


@dataclass
class NervePhantom:
    labels: Image
    structures: list[Structure]
    landmarks: dict
    centreline: np.ndarray
    vessel_axes: dict = field(default_factory=dict)


def _vessel_capsule(spec: VesselSpec, axis_point: np.ndarray, pushed_mm: float = 0.0) -> Capsule:
    n = side_vector(spec.side)
    w = np.cross(NERVE_DIR, n)
    a = np.radians(spec.angle_deg)
    direction = np.cos(a) * NERVE_DIR + np.sin(a) * w
    # axis_point is on the straight nerve; a deviated nerve has moved pushed_mm away
    clear = NERVE_RADIUS + spec.radius + spec.gap_mm - spec.indent_mm - pushed_mm
    centre = axis_point + n * clear
    return Capsule(centre - 7 * direction, centre + 7 * direction, spec.radius)


def make_nerve_phantom(
    vessels: list[VesselSpec],
    spacing=(0.39, 0.39, 0.5),
    rotation: np.ndarray | None = None,
    deviation_mm: float = 0.0,
    cn8_offset_mm: float | None = None,
    extra: list | None = None,
) -> NervePhantom:
    """Nerve (label 1), vessels (labels 2, 3, ...), optional CN VIII (label 9).

    ``deviation_mm`` bends the nerve away from the first vessel as a Gaussian bump
    (sigma 2 mm of arc) centred on that vessel's arc length; the vessel sits where
    the nerve would have run (the nerve wraps around it). ``extra`` holds
    (Structure, shape) pairs added as further labels.
    """
    length = float(np.linalg.norm(IAC - RExP))
    s = np.linspace(0, length, 41 if deviation_mm else 2)
    axis = RExP + s[:, None] * NERVE_DIR
    if deviation_mm and vessels:
        bump = deviation_mm * np.exp(-((s - vessels[0].arc_mm) ** 2) / (2 * 2.0**2))
        axis = axis - bump[:, None] * side_vector(vessels[0].side)
    nerve = tube(axis, NERVE_RADIUS)
    shapes, structures = [], [Structure(1, "facial nerve", "nerve", nerve="VII")]
    caps = []
    for spec in vessels:
        pushed = deviation_mm if not caps else 0.0
        caps.append(_vessel_capsule(spec, RExP + spec.arc_mm * NERVE_DIR, pushed))
    for k, (cap, spec) in enumerate(zip(caps, vessels, strict=True)):
        if spec.indent_mm > 0 or (deviation_mm and k == 0):
            nerve = Minus(nerve, cap)
    shapes.append(nerve)
    for i, (cap, spec) in enumerate(zip(caps, vessels, strict=True)):
        shapes.append(cap)
        structures.append(Structure(2 + i, f"{spec.vessel_type} {i}", "vessel", spec.vessel_type))
    labels_of = [1] + [2 + i for i in range(len(vessels))]
    if cn8_offset_mm is not None:
        off = side_vector("inferior") * cn8_offset_mm
        shapes.append(Capsule(RExP + off, IAC + off, 0.9))
        structures.append(Structure(9, "vestibulocochlear nerve", "nerve", nerve="VIII"))
        labels_of.append(9)
    for st, shape in extra or []:
        shapes.append(shape)
        structures.append(st)
        labels_of.append(st.label)
    lo = np.min([axis.min(axis=0) - 6, axis.max(axis=0) - 6], axis=0)
    hi = np.max([axis.min(axis=0) + 6, axis.max(axis=0) + 6], axis=0)
    centre = (lo + hi) / 2
    extent = float(np.max(hi - lo))
    shape = tuple(int(np.ceil(extent / sp)) for sp in spacing)
    aff = grid_affine(spacing, np.eye(3) if rotation is None else rotation, centre, shape)
    lab = voxelise(shapes, aff, shape, supersample=3)
    arr = np.asarray(labels_of, dtype=np.uint8)[np.maximum(lab.astype(int) - 1, 0)]
    arr[lab == 0] = 0
    landmarks = {"RExP": RExP, "RDP": RExP + RDP_ARC * NERVE_DIR, "IAC": IAC}
    return NervePhantom(
        labels=Image(volume=make_volume(arr, aff)),
        structures=structures,
        landmarks=landmarks,
        centreline=axis,
        vessel_axes={2 + i: c for i, c in enumerate(caps)},
    )


def make_curved_nerve_phantom(
    bend_radius_mm: float,
    contact_arc_mm: float = 6.0,
    side: str = "outer",
    gap_mm: float = 0.0,
    vessel_radius: float = 1.0,
    indent_mm: float = 0.0,
    displace_mm: float = 0.0,
    spacing=(0.39, 0.39, 0.5),
    rotation: np.ndarray | None = None,
    length_mm: float = 16.0,
) -> NervePhantom:
    """A facial nerve (label 1) bending on a circle of ``bend_radius_mm`` and one vessel
    (label 2) crossing it at right angles at ``contact_arc_mm`` from the RExP.

    ``side`` is "outer"/"inner" (in the plane of the bend) or "above" (out of it).
    ``indent_mm`` carves the vessel that deep into the nerve; ``displace_mm`` pushes
    the nerve away from the vessel as a Gaussian bump (sigma 2 mm of arc) with the
    vessel sitting where the nerve would have run. The centreline is the nerve axis
    (after any displacement), LPS mm.
    """
    s = np.linspace(0.0, length_mm, 33)  # 0.5 mm segments: sagitta < 0.01 mm at 6 mm radius
    theta = s / bend_radius_mm
    e1 = NERVE_DIR
    e2 = side_vector("superior")  # the bend turns towards superior
    axis0 = RExP + bend_radius_mm * (
        np.sin(theta)[:, None] * e1 + (1 - np.cos(theta))[:, None] * e2
    )
    tan = np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2
    inward = -np.sin(theta)[:, None] * e1 + np.cos(theta)[:, None] * e2  # towards the bend centre
    k = int(np.argmin(np.abs(s - contact_arc_mm)))
    normal = {
        "outer": -inward[k],
        "inner": inward[k],
        "above": np.cross(e1, e2),
    }[side]
    axis = axis0.copy()
    if displace_mm:
        bump = displace_mm * np.exp(-((s - contact_arc_mm) ** 2) / (2 * 2.0**2))
        axis = axis - bump[:, None] * normal
    nerve = tube(axis, NERVE_RADIUS)
    clear = NERVE_RADIUS + vessel_radius + gap_mm - indent_mm - displace_mm
    centre = axis[k] + normal * (clear + displace_mm * 0)  # displacement already in axis
    if displace_mm:
        centre = axis0[k] + normal * (NERVE_RADIUS + vessel_radius + gap_mm - displace_mm)
    w = np.cross(tan[k], normal)
    vessel = Capsule(centre - 7 * w, centre + 7 * w, vessel_radius)
    if indent_mm > 0 or displace_mm:
        nerve = Minus(nerve, vessel)
    lo = axis.min(axis=0) - 6
    hi = axis.max(axis=0) + 6
    grid_centre = (lo + hi) / 2
    shape = tuple(int(np.ceil(float(np.max(hi - lo)) / sp)) for sp in spacing)
    aff = grid_affine(spacing, np.eye(3) if rotation is None else rotation, grid_centre, shape)
    arr = voxelise([nerve, vessel], aff, shape, supersample=3)
    structures = [
        Structure(1, "facial nerve", "nerve", nerve="VII"),
        Structure(2, "AICA", "vessel", "AICA"),
    ]
    rdp = int(np.argmin(np.abs(s - RDP_ARC)))
    landmarks = {"RExP": axis[0], "RDP": axis[rdp], "IAC": axis[-1]}
    return NervePhantom(
        labels=Image(volume=make_volume(arr, aff)),
        structures=structures,
        landmarks=landmarks,
        centreline=axis,
        vessel_axes={2: vessel},
    )
