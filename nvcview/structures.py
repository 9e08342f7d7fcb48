"""Structure table: what each label value of a label map is.

Kinds and vessel types follow ../shared/DOMAIN.md. A label map is an integer
``Image``/``highdicom.Volume`` (0 = background) plus a list of :class:`Structure`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KINDS = ("nerve", "vessel", "brainstem", "other")
#: Which nerve a "nerve" structure is.
NERVES = ("VII", "VIII")
VESSEL_TYPES = ("AICA", "PICA", "VA", "basilar", "vein", "other", "unknown")
ARTERIES = ("AICA", "PICA", "VA", "basilar")

#: Fixed display colours (RGB 0-1), shared by the viewer and the report images.
VESSEL_COLORS = {
    "AICA": (1.0, 0.2, 0.2),
    "PICA": (1.0, 0.6, 0.0),
    "VA": (0.8, 0.0, 0.6),
    "basilar": (0.6, 0.0, 0.9),
    "vein": (0.2, 0.4, 1.0),
    "other": (0.6, 0.6, 0.6),
    "unknown": (0.9, 0.9, 0.3),
}
NERVE_COLORS = {"VII": (1.0, 1.0, 0.0), "VIII": (0.0, 0.9, 0.9)}
BRAINSTEM_COLOR = (0.55, 0.45, 0.35)


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
        if self.kind == "vessel":
            return VESSEL_COLORS[self.vessel_type or "unknown"]
        if self.kind == "nerve":
            return NERVE_COLORS.get(self.nerve or "VII", (1.0, 1.0, 0.0))
        if self.kind == "brainstem":
            return BRAINSTEM_COLOR
        return (0.5, 0.5, 0.5)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Structure:
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
