"""Structure table: what each label value of a label map is.

Kinds and vessel types follow ../shared/DOMAIN.md. A label map is an integer
``Image``/``highdicom.Volume`` (0 = background) plus a list of :class:`Structure`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

KINDS = ("nerve", "vessel", "brainstem", "other")
#: Which nerve a "nerve" structure is.
NERVES = ("VII", "VIII")

#: Coding scheme of the codes nvcview defines where no standard one was found.
PRIVATE_SCHEME = "99NVCVIEW"


@dataclass(frozen=True)
class VesselType:
    """One vessel type: everything about it in one row of :data:`VESSEL_TABLE`.

    Attributes
    ----------
    name : str
        The value stored in reviews (``Structure.vessel_type``, the review schema enum).
    phrase : str
        How reports name it ("vertebral artery").
    color : tuple of float
        Display colour (RGB 0-1) in the viewer, key images and reports: distinct from
        every other structure's and far from the red TOF overlay.
    code : tuple of str
        SR property code ``(value, scheme designator, meaning)``: SNOMED CT ("SCT")
        where one exists, else the private scheme :data:`PRIVATE_SCHEME`.
    artery : bool
        An artery (vs a vein or an unidentified vessel).
    """

    name: str
    phrase: str
    color: tuple[float, float, float]
    code: tuple[str, str, str]
    artery: bool = False


#: The one vessel-type table. Adding a vessel type means adding a row here (and the
#: value to the review schema's ``vessel_type`` enum, which a test checks).
VESSEL_TABLE: tuple[VesselType, ...] = (
    VesselType(
        "AICA", "AICA", (1.00, 0.72, 0.00),
        ("NVC001", PRIVATE_SCHEME, "Anterior inferior cerebellar artery"), artery=True,
    ),
    VesselType(
        "PICA", "PICA", (0.15, 0.80, 0.15),
        ("NVC002", PRIVATE_SCHEME, "Posterior inferior cerebellar artery"), artery=True,
    ),
    VesselType(
        "VA", "vertebral artery", (0.00, 0.45, 1.00),
        ("85234005", "SCT", "Vertebral artery"), artery=True,
    ),
    VesselType(
        "basilar", "basilar artery", (0.00, 0.75, 0.75),
        ("59011009", "SCT", "Basilar artery"), artery=True,
    ),
    VesselType("vein", "vein", (0.25, 0.55, 0.55), ("29092000", "SCT", "Vein")),
    VesselType("other", "vessel", (0.60, 0.60, 0.60), ("59820001", "SCT", "Blood Vessel")),
    VesselType(
        "unknown", "unidentified vessel", (0.70, 1.00, 0.35),
        ("59820001", "SCT", "Blood Vessel"),
    ),
)  # fmt: skip

VESSEL_TYPES = tuple(v.name for v in VESSEL_TABLE)
ARTERIES = tuple(v.name for v in VESSEL_TABLE if v.artery)
#: Fixed display colours (RGB 0-1), shared by the viewer and the report images.
VESSEL_COLORS = {v.name: v.color for v in VESSEL_TABLE}
#: How reports and generated structure names call each vessel type ("vertebral artery").
VESSEL_PHRASES = {v.name: v.phrase for v in VESSEL_TABLE}
NERVE_COLORS = {"VII": (1.0, 1.0, 0.0), "VIII": (0.65, 0.85, 1.0)}
BRAINSTEM_COLOR = (0.60, 0.55, 0.40)
OTHER_COLOR = (0.85, 0.85, 0.85)
#: Colour of the fused TOF signal (RGB 0-1), in the viewer and in the key images alike;
#: no structure colour lies near it (a test checks), so the angiogram is never taken
#: for an outline.
TOF_OVERLAY_COLOR = (1.0, 0.1, 0.25)
TOF_OVERLAY_NAME = "red"
#: what the TOF overlay paints on screen: its own red, and magenta where it is blended
#: additively with bright T2 (no structure colour may come near either)
TOF_SCREEN_COLORS = ((1.0, 0.0, 0.0), (1.0, 0.0, 1.0))
#: colours for a second (third ...) vessel of a type, in the order they are tried: the
#: vessel gets the one farthest (CIEDE2000) from every colour already in the case and
#: from the TOF overlay (:func:`assign_colors`)
EXTRA_VESSEL_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.55, 0.35, 1.00),  # violet
    (1.00, 0.50, 0.80),  # pink
    (0.55, 0.30, 0.10),  # brown
    (0.00, 0.40, 0.20),  # dark green
    (0.90, 0.90, 0.60),  # cream
    (0.20, 0.20, 0.60),  # navy
    (1.00, 0.85, 0.70),  # peach
    (0.40, 1.00, 0.80),  # aquamarine
    (0.50, 0.50, 0.00),  # olive
    (0.75, 0.60, 1.00),  # lavender
    (0.30, 0.30, 0.30),  # dark grey
    (0.00, 0.60, 0.45),  # teal green
)
#: smallest CIEDE2000 difference between two structures' colours in one case, and
#: between a structure's colour and the TOF overlay's (:func:`assign_colors` aims at them)
MIN_STRUCTURE_DE = 15.0
MIN_TOF_DE = 30.0


def vessel_type(name: str) -> VesselType:
    """The row of :data:`VESSEL_TABLE` for a vessel type name."""
    for v in VESSEL_TABLE:
        if v.name == name:
            return v
    raise KeyError(f"unknown vessel type {name!r}; one of {VESSEL_TYPES}")


@dataclass
class Structure:
    """One labelled structure.

    Attributes
    ----------
    label : int
        Label value in the label map (> 0).
    name : str
        Display name, e.g. "facial nerve", "left AICA".
    kind : str
        One of :data:`KINDS`.
    vessel_type : str or None
        One of :data:`VESSEL_TYPES` when ``kind == "vessel"``.
    nerve : str or None
        "VII" or "VIII" when ``kind == "nerve"``.
    display_color : tuple of float or None
        This structure's own display colour (RGB 0-1), stored in the review
        (``"display_color"``); None: the default of its type (:attr:`color`). Set by
        :func:`assign_colors` so that no two structures of a case share a colour.
    """

    label: int
    name: str
    kind: str
    vessel_type: str | None = None
    nerve: str | None = None
    display_color: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        self.label = int(self.label)
        if self.label <= 0:
            raise ValueError(f"structure {self.name!r}: label must be > 0, got {self.label}")
        if self.kind not in KINDS:
            raise ValueError(f"structure {self.name!r}: kind must be one of {KINDS}")
        if self.kind == "vessel":
            self.vessel_type = self.vessel_type or "unknown"
            if self.vessel_type not in VESSEL_TYPES:
                raise ValueError(
                    f"structure {self.name!r}: vessel type must be one of {VESSEL_TYPES}"
                )
        if self.kind == "nerve" and self.nerve is not None and self.nerve not in NERVES:
            raise ValueError(f"structure {self.name!r}: nerve must be one of {NERVES}")
        if self.display_color is not None:
            c = tuple(float(x) for x in self.display_color)
            if len(c) != 3 or not all(0.0 <= x <= 1.0 for x in c):
                raise ValueError(f"structure {self.name!r}: color must be 3 numbers 0-1")
            self.display_color = c

    @property
    def color(self) -> tuple[float, float, float]:
        """Display colour (RGB 0-1) in the viewer, key images, 3D scene and exports: the
        structure's own (:attr:`display_color`), else by vessel type, nerve, or kind."""
        if self.display_color is not None:
            return self.display_color
        return self.default_color

    @property
    def default_color(self) -> tuple[float, float, float]:
        """The colour of the structure's type (vessel type, nerve, or kind)."""
        if self.kind == "vessel":
            return VESSEL_COLORS[self.vessel_type or "unknown"]
        if self.kind == "nerve":
            return NERVE_COLORS.get(self.nerve or "VII", (1.0, 1.0, 0.0))
        if self.kind == "brainstem":
            return BRAINSTEM_COLOR
        return OTHER_COLOR

    def to_dict(self) -> dict:
        """The structure as a JSON-able dict (the review's structure table row; the own
        colour, when set, as ``"display_color"``: RGB 0-1)."""
        d = asdict(self)
        c = d.pop("display_color")
        if c is not None:
            d["display_color"] = [round(float(x), 4) for x in c]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Structure:
        """A structure from its :meth:`to_dict` form."""
        return cls(
            label=d["label"],
            name=d["name"],
            kind=d["kind"],
            vessel_type=d.get("vessel_type"),
            nerve=d.get("nerve"),
            display_color=(
                tuple(d["display_color"]) if d.get("display_color") is not None else None
            ),
        )


@functools.lru_cache(maxsize=256)
def _lab_cached(rgb: tuple[float, float, float]) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb, float).reshape(1, 1, 3))[0, 0]


def _lab(rgb: Iterable[float]) -> np.ndarray:
    return _lab_cached(tuple(round(float(c), 6) for c in rgb))


def _type_colors() -> set[tuple[float, float, float]]:
    """The type colours (a test keeps them pairwise far apart and from the TOF)."""
    return {*VESSEL_COLORS.values(), *NERVE_COLORS.values(), BRAINSTEM_COLOR, OTHER_COLOR}


def _far(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    types = _type_colors()
    if tuple(a) in types and tuple(b) in types:  # known apart (no colour maths on load)
        return tuple(a) != tuple(b)
    return color_difference(a, b) > MIN_STRUCTURE_DE


def color_difference(a: Iterable[float], b: Iterable[float]) -> float:
    """CIEDE2000 difference of two RGB (0-1) colours (about 2: just visible)."""
    from skimage.color import deltaE_ciede2000

    return float(deltaE_ciede2000(_lab(a), _lab(b)))


def assign_colors(
    structures: Iterable[Structure], only: Iterable[Structure] | None = None
) -> list[Structure]:
    """Give every structure of a case its own colour, in place; returns them.

    With ``only`` (rows just added or retyped) just those are coloured and every
    other row keeps the colour it shows now, so adding a structure never recolours
    another. Structures with a stored colour keep it. The others, in label order, keep their
    type's default colour when it is far (CIEDE2000 > :data:`MIN_STRUCTURE_DE`) from
    every colour taken so far; otherwise (a second AICA, two "other" vessels) they get
    the colour of :data:`EXTRA_VESSEL_COLORS` (then the other types' defaults) farthest
    from every colour taken and from the TOF overlay, stored in ``display_color`` so it
    survives save and reopen. Deterministic: the same table gives the same colours.
    """
    rows = list(structures)
    mine = None if only is None else {id(r) for r in only}
    taken: list[tuple[float, float, float]] = [
        s.color
        for s in rows
        if s.display_color is not None or (mine is not None and id(s) not in mine)
    ]
    pool = list(EXTRA_VESSEL_COLORS) + [v.color for v in VESSEL_TABLE]
    # first every structure whose type colour is still free keeps it (nerves and the
    # brainstem before vessels), then the rest get their own
    todo = sorted((r for r in rows if r.display_color is None
                   and (mine is None or id(r) in mine)),
                  key=lambda r: (r.kind == "vessel", r.label))  # fmt: skip
    rest = []
    for s in todo:
        base = s.default_color
        if all(_far(base, t) for t in taken):
            taken.append(base)
        else:
            rest.append(s)
    for s in rest:

        def score(c: tuple[float, float, float]) -> float:
            near_tof = min(color_difference(c, t) for t in TOF_SCREEN_COLORS)
            near = min((color_difference(c, t) for t in taken), default=100.0)
            return min(near, near_tof - (MIN_TOF_DE - MIN_STRUCTURE_DE))

        best = max(pool, key=score)  # max keeps the first of equals: deterministic
        s.display_color = best
        taken.append(best)
    return rows


def find_facial_nerve(structures: list[Structure]) -> Structure | None:
    """The structure that is the facial nerve (VII), if any."""
    for s in structures:
        if s.kind == "nerve" and s.nerve == "VII":
            return s
    return None


def find_cn8(structures: list[Structure]) -> Structure | None:
    """The vestibulocochlear nerve (VIII), if any."""
    for s in structures:
        if s.kind == "nerve" and s.nerve == "VIII":
            return s
    return None


def vessels(structures: list[Structure]) -> list[Structure]:
    """All vessel structures, in label order."""
    return sorted((s for s in structures if s.kind == "vessel"), key=lambda s: s.label)
