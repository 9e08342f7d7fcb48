"""Structure table: what each label value of a label map is.

Kinds and vessel types follow ../shared/DOMAIN.md. A label map is an integer
``Image``/``highdicom.Volume`` (0 = background) plus a list of :class:`Structure`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
    """

    label: int
    name: str
    kind: str
    vessel_type: str | None = None
    nerve: str | None = None

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

    @property
    def color(self) -> tuple[float, float, float]:
        """Display colour (RGB 0-1): by vessel type, nerve, or kind."""
        if self.kind == "vessel":
            return VESSEL_COLORS[self.vessel_type or "unknown"]
        if self.kind == "nerve":
            return NERVE_COLORS.get(self.nerve or "VII", (1.0, 1.0, 0.0))
        if self.kind == "brainstem":
            return BRAINSTEM_COLOR
        return OTHER_COLOR

    def to_dict(self) -> dict:
        """The structure as a JSON-able dict (the review's structure table row)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Structure:
        """A structure from its :meth:`to_dict` form."""
        return cls(
            label=d["label"],
            name=d["name"],
            kind=d["kind"],
            vessel_type=d.get("vessel_type"),
            nerve=d.get("nerve"),
        )


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
