"""The cerebellopontine angle built from analytic shapes, in patient LPS mm.

The anatomy is designed for the patient's left side (the facial nerve runs
towards +x) and mirrored through the mid-sagittal plane (x -> -x) for the right.
Origin: mid-sagittal plane, roughly at the pontomedullary junction.

Facial nerve (VII): leaves the pons at the root exit point (RExP) at the lateral
end of the pontomedullary sulcus, runs *attached* to the pons surface (its axis
lies on the surface offset by the nerve radius along the outward normal, so the
tube touches the pons), leaves it at the root detachment point (RDP), then
crosses the cistern to the internal auditory canal (IAC) laterally, anteriorly
and slightly superiorly. CN VIII runs posterior-inferior of VII into the same
canal. The AICA makes a loop whose apex is placed at an exact distance from
VII's axis at the chosen segment; the design is then corrected by translating
the loop along the contact direction until the exact polyline distance gives
the requested gap to machine precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from nvcview_sample.geometry import (
    arc_lengths,
    hermite,
    perp,
    polyline_closest,
    resample,
    spline_through,
    tangent_at,
    unit,
)
from nvcview_sample.shapes import MIRROR_X, Ellipsoid, HalfSpace, Tube

#: where the AICA touches VII (parameter of make_phantom)
CONTACT_SEGMENTS = ("RExP", "AS", "RDP", "cisternal")
SIDES = ("left", "right")
#: largest gap the design supports at each segment (mm): the nerve bends at the RDP,
#: so a vessel far from it there would come closer to the cisternal segment instead
MAX_GAP_MM = {"RExP": 3.0, "AS": 3.0, "RDP": 1.5, "cisternal": 3.0}
#: largest indentation (mm); the facial nerve radius is 0.8-0.95 mm
MAX_INDENT_MM = 0.5
#: polyline sampling step of every tube centreline (mm)
STEP_MM = 0.1
#: arc length of the RExP contact from the exit point, and of the cisternal one past the RDP (mm)
REXP_CONTACT_ARC_MM = 0.5
CISTERNAL_CONTACT_PAST_RDP_MM = 6.0

#: label, key, display name (side prefixed later), kind, vessel type, nerve
STRUCTURE_TABLE = (
    (1, "brainstem", "brainstem", "brainstem", None, None),
    (2, "VII", "facial nerve (VII)", "nerve", None, "VII"),
    (3, "VIII", "vestibulocochlear nerve (VIII)", "nerve", None, "VIII"),
    (4, "VA", "vertebral artery", "vessel", "VA", None),
    (5, "PICA", "PICA", "vessel", "PICA", None),
    (6, "AICA", "AICA", "vessel", "AICA", None),
    (7, "vein", "vein of the middle cerebellar peduncle", "vessel", "vein", None),
    (8, "basilar", "basilar artery", "vessel", "basilar", None),
)
#: keys of the structures drawn on the symptomatic side only (others are midline)
MIDLINE_KEYS = ("brainstem", "basilar")


@dataclass
class Anatomy:
    """Every shape of the phantom, LPS mm, for one side.

    Attributes
    ----------
    side : str
        "left" or "right": the symptomatic side, where VII and the conflict are.
    tubes : dict
        key (see :data:`STRUCTURE_TABLE`) -> :class:`Tube` for nerves and vessels
        of the symptomatic side plus the basilar artery.
    contra_tubes : list of Tube
        Unlabelled normal nerves and vertebral artery of the other side (images only).
    pons, medulla : Ellipsoid
        The brainstem is their union.
    centreline : (N, 3) ndarray
        VII axis from the RExP to the IAC porus, LPS mm (``tubes["VII"]`` continues
        into the canal).
    landmarks : dict
        "RExP", "RDP", "IAC" -> (3,) LPS mm, all on the VII centreline.
    rdp_arc_mm : float
        Arc length of the RDP from the RExP along the centreline.
    contact : dict
        The AICA design: requested segment, arc length, gap, indentation, contact
        direction and vessel direction at the apex.
    params : dict
        Radii and other numbers drawn from the seed.
    """

    side: str
    pons: Ellipsoid
    medulla: Ellipsoid
    cerebellum: list[Ellipsoid]
    cistern: Ellipsoid
    head: Ellipsoid
    skull_inner: Ellipsoid
    clivus: HalfSpace
    petrous: list[tuple[HalfSpace, HalfSpace]]
    canals: list[Tube]
    tubes: dict[str, Tube]
    contra_tubes: list[Tube]
    centreline: np.ndarray
    landmarks: dict[str, np.ndarray]
    rdp_arc_mm: float
    contact: dict
    params: dict = field(default_factory=dict)

    def brainstem_sdf(self, p: np.ndarray) -> np.ndarray:
        """Signed distance (mm, approximate off the surface) to the pons-medulla union."""
        return np.minimum(self.pons.sdf(p), self.medulla.sdf(p))

    def mirrored(self) -> Anatomy:
        """The same anatomy reflected through the mid-sagittal plane (x -> -x)."""
        m = MIRROR_X

        def vec(v):
            return None if v is None else np.asarray(v) @ m

        contact = dict(self.contact)
        for k in ("direction", "vessel_direction", "nerve_tangent", "apex"):
            contact[k] = vec(contact[k])
        return replace(
            self,
            side="right" if self.side == "left" else "left",
            pons=self.pons.mirrored(),
            medulla=self.medulla.mirrored(),
            cerebellum=[e.mirrored() for e in self.cerebellum],
            cistern=self.cistern.mirrored(),
            head=self.head.mirrored(),
            skull_inner=self.skull_inner.mirrored(),
            clivus=self.clivus.mirrored(),
            petrous=[(a.mirrored(), b.mirrored()) for a, b in self.petrous],
            canals=[t.transformed(m) for t in self.canals],
            tubes={k: t.transformed(m) for k, t in self.tubes.items()},
            contra_tubes=[t.transformed(m) for t in self.contra_tubes],
            centreline=self.centreline @ m,
            landmarks={k: v @ m for k, v in self.landmarks.items()},
            contact=contact,
        )


def _attached_segment(
    pons: Ellipsoid, radius: float, start: tuple[float, float], end: tuple[float, float]
) -> np.ndarray:
    """Nerve axis lying on the pons: surface points offset by ``radius`` along the normal."""
    t = np.linspace(0.0, 1.0, 600)
    pts = []
    for f in t:
        az = start[0] + f * (end[0] - start[0])
        el = start[1] + f * (end[1] - start[1])
        s = pons.surface_point(az, el)
        pts.append(s + radius * pons.normal(s))
    return resample(np.array(pts), STEP_MM)


def _contact_arc(segment: str, rdp_arc: float, total: float) -> float:
    if segment == "RExP":
        return REXP_CONTACT_ARC_MM
    if segment == "AS":
        return 0.5 * rdp_arc
    if segment == "RDP":
        return rdp_arc
    arc = rdp_arc + CISTERNAL_CONTACT_PAST_RDP_MM
    if arc > total - 2.0:
        raise ValueError("phantom design: cisternal contact would fall inside the IAC")
    return arc


#: basilar point where the AICA arises (canonical left frame, LPS mm)
AICA_ORIGIN = np.array([0.0, -10.5, 2.0])


def _aica_polyline(
    apex: np.ndarray,
    u: np.ndarray,
    d: np.ndarray,
    loop_radius: float,
    distal: np.ndarray,
    pons: Ellipsoid | None = None,
) -> np.ndarray:
    """AICA centreline: basilar -> circular loop whose apex is ``apex`` -> distal branch.

    The loop lies in the plane (u, d) and bends away from the nerve along ``d``, so
    its apex is its point closest to a nerve lying on the other side of ``apex``.
    With ``pons`` given, the proximal limb passes through a waypoint lifted 3 mm
    off the pons so that it runs in the cistern rather than through the brainstem.
    """
    tm = np.radians(75.0)
    t = np.linspace(-tm, tm, 200)[:, None]
    arc = apex + loop_radius * np.sin(t) * u + loop_radius * (1 - np.cos(t)) * d
    tan0 = unit(np.cos(tm) * u - np.sin(tm) * d)
    tan1 = unit(np.cos(tm) * u + np.sin(tm) * d)
    start_tan = np.array([1.0, 0.15, -0.1])
    if pons is None:
        prox = hermite(AICA_ORIGIN, start_tan, arc[0], tan0, 600)
    else:
        mid = 0.5 * (AICA_ORIGIN + arc[0])
        for _ in range(60):
            if pons.sdf(mid[None, :])[0] >= 3.0:
                break
            mid = pons.centre + 1.03 * (mid - pons.centre)
        chord = unit(arc[0] - AICA_ORIGIN)
        prox = np.concatenate(
            [
                hermite(AICA_ORIGIN, start_tan, mid, chord, 300)[:-1],
                hermite(mid, chord, arc[0], tan0, 300),
            ]
        )
    distal_end = arc[-1] + 9.0 * unit(tan1 + distal)
    dist = hermite(arc[-1], tan1, distal_end, distal, 400)
    return resample(np.concatenate([prox[:-1], arc, dist[1:]]), STEP_MM)


def _design_aica(
    *,
    pons: Ellipsoid,
    brainstem_sdf,
    vii: np.ndarray,
    vii_axis: np.ndarray,
    viii: np.ndarray,
    r7: float,
    r8: float,
    r_aica: float,
    s_contact: float,
    attached: bool,
    target: float,
    crossing_deg: float,
    loop_radius: float,
) -> tuple[np.ndarray, dict]:
    """Place the AICA loop: exact ``target`` (gap, or minus the indentation) to VII at arc
    ``s_contact``, and clear of CN VIII and the brainstem.

    A few contact directions and loop orientations are tried in a fixed order; the
    first one that keeps >= 0.8 mm from VIII and 0.3 mm from the brainstem, with its
    closest approach to VII at the requested place, wins (the same for a given seed);
    failing that, the best one keeping >= 0.3 mm from VIII and outside the brainstem.
    """
    p_c, t_c = tangent_at(vii_axis, s_contact)
    if attached:
        surf = p_c - r7 * unit(p_c - pons.centre)
        n = pons.normal(surf)
        tilts = [
            n + [0.0, -0.5, -0.15],
            n + [0.0, -0.8, 0.2],
            n + [0.0, -1.5, 0.1],
            n + [0.0, -1.2, -0.3],
        ]
    else:
        tilts = [[0.0, -1.0, -0.5], [0.0, -1.0, 0.3], [0.3, -0.6, -1.0], [0.0, -0.5, 1.0]]
    # binormal directions: the axis point stays the closest one at any distance there
    bend = tangent_at(vii_axis, min(s_contact + 1.0, arc_lengths(vii_axis)[-1]))[1]
    bend = bend - tangent_at(vii_axis, max(s_contact - 1.0, 0.0))[1]
    if np.linalg.norm(bend) > 1e-3:
        binormal = unit(np.cross(t_c, bend))
        tilts += [binormal, -binormal, binormal + [0.0, -0.5, 0.0], -binormal + [0.0, -0.5, 0.0]]
    distals = [np.array([0.2, 0.9, -0.2]), np.array([0.6, -0.3, -0.7])]
    best = None
    for tilt, lift in [(t, None) for t in tilts] + [(t, pons) for t in tilts]:
        d = perp(np.asarray(tilt, float), t_c)
        b = unit(np.cross(d, t_c))
        for sign in (1.0, -1.0):
            gamma = np.radians(90.0 - crossing_deg) * sign
            u = unit(np.cos(gamma) * b + np.sin(gamma) * perp(t_c, d))
            if np.dot(u, p_c - AICA_ORIGIN) < 0:
                u = -u
            for distal in distals:
                apex = p_c + (r7 + r_aica + target) * d
                aica = _aica_polyline(apex, u, d, loop_radius, distal, lift)
                for _ in range(5):  # translate along d until the exact gap is reached
                    c = polyline_closest(vii, aica)
                    err = (c["distance"] - r7 - r_aica) - target
                    if abs(err) < 1e-12:
                        break
                    apex = apex - err * d
                    aica = _aica_polyline(apex, u, d, loop_radius, distal, lift)
                c = polyline_closest(vii, aica)
                if abs(c["arc_a"] - s_contact) > 0.3:
                    continue
                g8 = polyline_closest(viii, aica)["distance"] - r8 - r_aica
                bs = float((brainstem_sdf(aica) - r_aica).min())
                score = min(g8 - 0.8, bs - 0.3)
                acceptable = g8 >= 0.3 and bs >= 0.0
                if acceptable and (best is None or score > best[0]):
                    best = (score, aica, {"d": d, "u": u, "t": t_c, "apex": apex})
                if score >= 0:
                    return aica, best[2]
    if best is None:
        raise ValueError(
            "phantom design: no AICA loop reaches the requested place clear of CN VIII "
            "and the brainstem; try another seed or a smaller gap"
        )
    return best[1], best[2]


def build_anatomy(
    seed: int = 0,
    side: str = "left",
    gap_mm: float = 0.0,
    segment: str = "AS",
    indent_mm: float = 0.0,
) -> Anatomy:
    """Build the CPA for one side with the AICA conflict as requested.

    Parameters
    ----------
    seed : int
        Draws small anatomical variations (radii, loop shape, crossing angle).
    side : {"left", "right"}
        Symptomatic side (patient left = +x in LPS).
    gap_mm : float
        Exact minimum surface gap between AICA and VII (mm, >= 0).
    segment : {"RExP", "AS", "RDP", "cisternal"}
        Where along VII the AICA comes closest.
    indent_mm : float
        If > 0 the AICA dents VII by this depth (mm) and ``gap_mm`` must be 0.

    Returns
    -------
    Anatomy
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if segment not in CONTACT_SEGMENTS:
        raise ValueError(f"segment must be one of {CONTACT_SEGMENTS}, got {segment!r}")
    gap_mm, indent_mm = float(gap_mm), float(indent_mm)
    if not np.isfinite(gap_mm) or gap_mm < 0 or gap_mm > MAX_GAP_MM[segment]:
        raise ValueError(
            f"gap_mm must be between 0 and {MAX_GAP_MM[segment]} mm at segment {segment}, "
            f"got {gap_mm}"
        )
    if not np.isfinite(indent_mm) or indent_mm < 0:
        raise ValueError(f"indent_mm must be >= 0, got {indent_mm}")
    if indent_mm > MAX_INDENT_MM:
        raise ValueError(
            f"indent_mm must be at most {MAX_INDENT_MM} mm (the facial nerve radius is "
            f"0.8-0.95 mm), got {indent_mm}"
        )
    if indent_mm > 0 and gap_mm > 0:
        raise ValueError("an indentation touches the nerve: give gap_mm=0 with indent_mm > 0")

    rng = np.random.default_rng([int(seed), 8])
    r7 = float(rng.uniform(0.8, 0.95))
    r8 = float(rng.uniform(1.1, 1.3))
    r_aica = float(rng.uniform(0.7, 0.9))
    r_pica = float(rng.uniform(0.65, 0.8))
    r_va = float(rng.uniform(1.1, 1.25))
    r_vein = float(rng.uniform(0.5, 0.65))
    r_basilar = 1.25
    crossing_deg = float(rng.uniform(50.0, 70.0))
    loop_radius = float(rng.uniform(3.5, 4.5))
    pons_scale = float(rng.uniform(0.97, 1.03))

    # --- brainstem, cerebellum, cisterns, bone ---------------------------------------
    pons = Ellipsoid([0.0, 4.0, 10.0], np.array([15.0, 12.0, 13.0]) * pons_scale)
    medulla = Ellipsoid([0.0, 6.0, -12.0], [9.0, 8.0, 16.0])
    cerebellum = [Ellipsoid([22.0, 26.0, -2.0], [20.0, 14.0, 20.0])]
    cerebellum.append(cerebellum[0].mirrored())
    cistern = Ellipsoid([0.0, 1.0, 2.0], [32.0, 24.0, 40.0])
    head = Ellipsoid([0.0, 8.0, 10.0], [72.0, 92.0, 90.0])
    skull_inner = Ellipsoid([0.0, 8.0, 10.0], [66.0, 86.0, 84.0])
    clivus = HalfSpace([0.0, -15.0, 0.0], [0.0, 1.0, 0.3])

    # --- facial nerve: attached segment on the pons, then cisternal to the IAC -------
    attached = _attached_segment(pons, r7, (-20.0, -55.0), (-15.0, -18.0))
    rexp, rdp = attached[0], attached[-1]
    t_rdp = unit(attached[-1] - attached[-4])
    iac_dir = unit(np.array([0.87, -0.42, 0.26]) + rng.normal(0.0, 0.03, 3))
    iac = rdp + 13.5 * iac_dir
    canal_axis = unit(np.array([0.9, -0.3, 0.1]))
    cisternal = resample(hermite(rdp, t_rdp, iac, canal_axis, 800), STEP_MM)
    centreline = np.concatenate([attached, cisternal[1:]])
    rdp_arc = float(arc_lengths(attached)[-1])
    total_arc = float(arc_lengths(centreline)[-1])
    vii_in_canal = resample(np.array([iac, iac + 14.0 * canal_axis]), STEP_MM)
    vii = np.concatenate([centreline, vii_in_canal[1:]])

    # --- CN VIII: enters posterior to VII, runs posterior-inferior of it -------------
    viii_root_s = pons.surface_point(15.0, -55.0)
    viii_root = viii_root_s + r8 * pons.normal(viii_root_s)
    offset8 = 2.6 * perp(np.array([0.0, 1.0, -0.6]), canal_axis)
    porus8 = iac + offset8
    viii_cis = resample(
        hermite(viii_root, unit(pons.normal(viii_root_s) + [0.8, 0.0, 0.3]), porus8, canal_axis),
        STEP_MM,
    )
    viii_canal = resample(np.array([porus8, porus8 + 14.0 * canal_axis]), STEP_MM)
    viii = np.concatenate([viii_cis, viii_canal[1:]])

    # --- petrous bone with the IAC (posterior surface through the porus) ------------
    canal_centre = iac + 0.5 * offset8
    porus_plane = HalfSpace(canal_centre, unit(np.array([-0.6, 0.8, 0.0])))
    ridge = HalfSpace([0.0, 0.0, 24.0], [0.0, 0.0, 1.0])
    canal = Tube(np.array([canal_centre - 3.0 * canal_axis, canal_centre + 16.0 * canal_axis]), 3.0)
    petrous = [(porus_plane, ridge), (porus_plane.mirrored(), ridge.mirrored())]
    canals = [canal, canal.transformed(MIRROR_X)]

    # --- vertebral artery, basilar, PICA, vein ---------------------------------------
    va = resample(
        hermite([11.0, -1.0, -28.0], [-0.2, -0.3, 1.0], [0.0, -10.5, -2.0], [-0.35, -0.1, 1.0]),
        STEP_MM,
    )
    basilar = resample(np.array([[0.0, -10.5, -2.5], [0.0, -10.5, 30.0]]), STEP_MM)
    va_origin_of_pica = va[np.argmin(np.abs(va[:, 2] + 16.0))]
    pica = spline_through(
        np.array(
            [
                va_origin_of_pica,
                [9.5, -4.0, -12.0],
                [12.5, 1.0, -8.5],
                [12.0, 7.0, -8.0],
                [8.5, 12.0, -11.0],
                [5.0, 15.5, -8.0],
                [3.0, 18.0, -4.0],
            ]
        ),
        STEP_MM,
    )
    vein_ctrl = [
        p + (r_vein + 0.4) * pons.normal(p)
        for p in (
            pons.surface_point(35.0, 25.0),
            pons.surface_point(28.0, 21.0),
            pons.surface_point(20.0, 16.0),
            pons.surface_point(10.0, 10.0),
        )
    ]
    vein = spline_through(
        np.array([*vein_ctrl, [20.0, 5.5, 12.5], [27.0, 3.0, 17.0]]),
        STEP_MM,
    )

    # --- AICA loop with its apex at the requested place ------------------------------
    s_contact = _contact_arc(segment, rdp_arc, total_arc)
    target = gap_mm if indent_mm == 0 else -indent_mm
    aica, design = _design_aica(
        pons=pons,
        brainstem_sdf=lambda p: np.minimum(pons.sdf(p), medulla.sdf(p)),
        vii=vii,
        vii_axis=centreline,
        viii=viii,
        r7=r7,
        r8=r8,
        r_aica=r_aica,
        s_contact=s_contact,
        attached=s_contact <= rdp_arc,
        target=target,
        crossing_deg=crossing_deg,
        loop_radius=loop_radius,
    )
    d, u, t_c, apex = design["d"], design["u"], design["t"], design["apex"]

    tubes = {
        "VII": Tube(vii, r7),
        "VIII": Tube(viii, r8),
        "VA": Tube(va, r_va),
        "PICA": Tube(pica, r_pica),
        "AICA": Tube(aica, r_aica),
        "vein": Tube(vein, r_vein),
        "basilar": Tube(basilar, r_basilar),
    }
    contra = [tubes[k].transformed(MIRROR_X) for k in ("VII", "VIII", "VA")]
    anatomy = Anatomy(
        side="left",
        pons=pons,
        medulla=medulla,
        cerebellum=cerebellum,
        cistern=cistern,
        head=head,
        skull_inner=skull_inner,
        clivus=clivus,
        petrous=petrous,
        canals=canals,
        tubes=tubes,
        contra_tubes=contra,
        centreline=centreline,
        landmarks={"RExP": rexp.copy(), "RDP": rdp.copy(), "IAC": iac.copy()},
        rdp_arc_mm=rdp_arc,
        contact={
            "segment": segment,
            "arc_mm": float(s_contact),
            "gap_mm": gap_mm,
            "indent_mm": indent_mm,
            "direction": d,
            "vessel_direction": u,
            "nerve_tangent": t_c,
            "apex": apex,
            "crossing_deg": crossing_deg,
        },
        params={
            "seed": int(seed),
            "radius_VII_mm": r7,
            "radius_VIII_mm": r8,
            "radius_AICA_mm": r_aica,
            "radius_PICA_mm": r_pica,
            "radius_VA_mm": r_va,
            "radius_vein_mm": r_vein,
            "radius_basilar_mm": r_basilar,
            "loop_radius_mm": loop_radius,
            "pons_scale": pons_scale,
        },
    )
    return anatomy.mirrored() if side == "right" else anatomy
