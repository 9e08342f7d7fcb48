"""A whole study from landmarks and one seed per vessel: the core behind ``nvcview segment``.

Order (each step's voxels are off limits to the next, so no structure takes
another's voxels whatever the click order):

1. arteries (and any bright vessel) on the TOF, all seeds at once
   (:func:`nvcview.segment.vessel.grow_vessels`), carried onto the T2 grid
   through ``moving_to_fixed_lps``;
2. the facial nerve on the T2 from RExP -> (clicks) -> RDP -> IAC
   (:func:`nvcview.segment.nerve.segment_nerve`), then CN VIII (when given) from its
   root to its porus with the same function;
3. veins as dark flow voids on the T2, kept out of the brainstem estimate and
   stopped ``vein_length_mm`` along the vessel from the seed.

The label map is on the T2 grid; positions are LPS mm on the T2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.segment.nerve import brainstem_estimate, segment_nerve
from nvcview.segment.vessel import grow_vessels
from nvcview.structures import VESSEL_PHRASES, VESSEL_TYPES, Structure, assign_colors

#: label values written by :func:`segment_study`; vessels from VESSEL_LABEL_START on
NERVE_LABEL = 2
CN8_LABEL = 3
VESSEL_LABEL_START = 4
#: display names of the vessel types
VESSEL_NAMES = {k: v for k, v in VESSEL_PHRASES.items() if k != "unknown"}


@dataclass
class StudySegmentation:
    """Outcome of :func:`segment_study`.

    Attributes
    ----------
    labels : ndarray of uint8
        Label map on the T2 grid.
    structures : list of Structure
        One row per label value present.
    centreline_lps : (N, 3) ndarray
        Facial nerve centreline RExP -> IAC, LPS mm.
    nerve_radius_mm : (N,) ndarray
        Nerve radius along the centreline, mm.
    notes : list of str
        What was done (for the review's audit / the user).
    """

    labels: np.ndarray
    structures: list[Structure]
    centreline_lps: np.ndarray
    nerve_radius_mm: np.ndarray
    notes: list[str] = field(default_factory=list)


def segment_study(
    t2: np.ndarray,
    t2_affine: np.ndarray,
    tof: np.ndarray | None,
    tof_affine: np.ndarray | None,
    landmarks: Mapping[str, ArrayLike],
    vessels: Sequence[tuple[str, ArrayLike]],
    side: str,
    *,
    moving_to_fixed_lps: np.ndarray | None = None,
    centreline_clicks: Sequence[ArrayLike] = (),
    vein_length_mm: float = 12.0,
    cn8_points: Sequence[ArrayLike] = (),
) -> StudySegmentation:
    """Segment the facial nerve and the given vessels of one study.

    Parameters
    ----------
    t2 : ndarray
        Heavily T2-weighted volume (the reference grid).
    t2_affine : (4, 4) ndarray
        T2 index -> LPS mm.
    tof, tof_affine : ndarray, (4, 4) ndarray or None
        TOF angiogram and its affine (None: arteries are refused).
    landmarks : mapping
        "RExP", "RDP", "IAC" -> (3,) LPS mm on the T2.
    vessels : sequence of (type, seed)
        Vessel type (one of AICA, PICA, VA, basilar, vein, other) and a seed, LPS mm
        on the T2. Veins grow on the T2 (flow voids), the others on the TOF.
    side : {"left", "right"}
        Side of the nerve (names the structures).
    moving_to_fixed_lps : (4, 4) ndarray, optional
        TOF LPS -> T2 LPS from a registration; identity when None.
    centreline_clicks : sequence of (3,)
        Extra points on the nerve between the RDP and the IAC (or the RExP and the
        RDP), in order along the nerve.
    vein_length_mm : float
        Veins stop this far along the vessel from their seed, mm.
    cn8_points : sequence of (3,)
        The vestibulocochlear nerve (VIII), LPS mm on the T2, in order from its root at
        the brainstem to the IAC porus (at least two; empty: VIII is not segmented).
        Segmented after VII (VII keeps its voxels) with the same core function.

    Returns
    -------
    StudySegmentation
    """
    if side not in ("left", "right"):
        raise InputError(f"side must be left or right, got {side!r}")
    missing = [k for k in ("RExP", "RDP", "IAC") if k not in landmarks]
    if missing:
        raise InputError(f"the landmarks {', '.join(missing)} are needed to segment the nerve")
    t2 = np.asarray(t2)
    t2_affine = np.asarray(t2_affine, float)
    labels = np.zeros(t2.shape[:3], np.uint8)
    structures = [
        Structure(label=NERVE_LABEL, name=f"{side} facial nerve (VII)", kind="nerve", nerve="VII")
    ]
    notes: list[str] = []
    cn8 = [np.asarray(p, float).reshape(3) for p in cn8_points]
    if len(cn8) == 1:
        raise InputError("CN VIII needs at least two points (its root and the IAC porus)")
    if cn8:
        structures.append(Structure(label=CN8_LABEL, name=f"{side} vestibulocochlear nerve (VIII)",
                                    kind="nerve", nerve="VIII"))  # fmt: skip
    rexp, rdp, iac = (np.asarray(landmarks[k], float) for k in ("RExP", "RDP", "IAC"))
    clicks = [np.asarray(c, float) for c in centreline_clicks]
    # clicks go between the landmarks they lie nearest to along the straight course
    medial = [c for c in clicks if np.linalg.norm(c - rexp) < np.linalg.norm(c - iac)
              and np.linalg.norm(c - rdp) + np.linalg.norm(c - rexp)
              < np.linalg.norm(c - rdp) + np.linalg.norm(c - iac)]  # fmt: skip
    lateral = [c for c in clicks if not any(c is m for m in medial)]
    medial.sort(key=lambda c: float(np.linalg.norm(c - rexp)))
    lateral.sort(key=lambda c: float(np.linalg.norm(c - rdp)))
    path = [rexp, *medial, rdp, *lateral, iac]
    arteries: dict[int, np.ndarray] = {}
    veins: dict[int, np.ndarray] = {}
    counts: dict[str, int] = {}
    next_label = VESSEL_LABEL_START
    for vtype, seed in vessels:
        if vtype not in VESSEL_TYPES:
            raise InputError(f"unknown vessel type {vtype!r} (one of {', '.join(VESSEL_TYPES)})")
        counts[vtype] = counts.get(vtype, 0) + 1
        name = VESSEL_NAMES.get(vtype, vtype)
        name = name if vtype == "basilar" else f"{side} {name}"
        if counts[vtype] > 1:
            name += f" {counts[vtype]}"
        structures.append(Structure(label=next_label, name=name, kind="vessel", vessel_type=vtype))
        (veins if vtype == "vein" else arteries)[next_label] = np.asarray(seed, float)
        next_label += 1
    if arteries:
        if tof is None or tof_affine is None:
            raise InputError("arteries are grown on the TOF: the study has no TOF series")
        res = grow_vessels(
            tof, tof_affine, arteries, labels.shape, t2_affine,
            moving_to_fixed_lps=moving_to_fixed_lps, allowed=labels == 0,
        )  # fmt: skip
        for k, m in res.masks.items():
            labels[m & (labels == 0)] = k
            notes.append(f"label {k}: {int(m.sum())} voxels grown on the TOF")
    all_pts = np.array([*path, *cn8, *arteries.values(), *veins.values()])
    # the estimate must reach as far as a vein may grow from its seed
    brainstem = brainstem_estimate(
        t2, t2_affine, all_pts, nerve_points_lps=np.array(path),
        margin_mm=max(8.0, vein_length_mm + 3.0),
    )  # fmt: skip
    nerve = segment_nerve(t2, t2_affine, path, allowed=labels == 0, brainstem=brainstem)
    labels[nerve.mask & (labels == 0)] = NERVE_LABEL
    notes.append(f"facial nerve: {int(nerve.mask.sum())} voxels along {len(path)} points")
    if cn8:
        n8 = segment_nerve(t2, t2_affine, cn8, allowed=labels == 0, brainstem=brainstem)
        labels[n8.mask & (labels == 0)] = CN8_LABEL
        notes.append(f"CN VIII: {int(n8.mask.sum())} voxels along {len(cn8)} points")
    if veins:
        # a vein runs on the pons surface and is as dark as it: keep one voxel off the
        # estimate, whose edge can lie a voxel inside the true surface next to a vein
        off_pons = ~ndimage.binary_dilation(brainstem)
        rv = grow_vessels(
            t2, t2_affine, veins, labels.shape, t2_affine,
            allowed=(labels == 0) & off_pons, bright=False, max_length_mm=vein_length_mm,
        )  # fmt: skip
        for k, m in rv.masks.items():
            labels[m & (labels == 0)] = k
            notes.append(f"label {k}: {int(m.sum())} voxels of flow void on the T2")
    present = set(np.unique(labels).tolist())
    for s in structures:
        if s.label not in present:
            notes.append(f"label {s.label} ({s.name}) is empty")
    assign_colors(structures)  # one colour per structure (two AICAs differ)
    return StudySegmentation(labels, structures, nerve.centreline_lps, nerve.radius_mm, notes)
