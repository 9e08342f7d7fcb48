"""Camera presets of the 3D view, in patient LPS (shared by napari and the headless renderer).

A view is a direction of sight (from the camera towards the target) and an up
direction, both unit vectors in LPS. The screen's right is ``sight x up``, so in
the anterior view (looking posteriorly, superior up) the patient's left (+x) is on
the screen's right, as when facing the patient.

The retrosigmoid view looks as the surgeon does through a retrosigmoid
craniotomy: from posterolateral on the side of symptoms, anteromedially at the
root exit zone, superior up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvcview.errors import InputError

#: names of the standard presets (plus "retrosigmoid", which needs the side)
STANDARD_VIEWS = ("A", "P", "L", "R", "S", "I")
VIEWS = ("retrosigmoid", *STANDARD_VIEWS)

_SIGHT = {
    "A": (0.0, 1.0, 0.0),  # camera anterior, looking posteriorly
    "P": (0.0, -1.0, 0.0),
    "L": (-1.0, 0.0, 0.0),  # camera on the patient's left, looking right
    "R": (1.0, 0.0, 0.0),
    "S": (0.0, 0.0, -1.0),  # from above, looking down
    "I": (0.0, 0.0, 1.0),
}
_UP = {"S": (0.0, -1.0, 0.0), "I": (0.0, -1.0, 0.0)}  # axial views: anterior up
#: angle of the retrosigmoid line of sight from the coronal plane, degrees
#: (45: halfway between looking straight anteriorly and straight medially)
RETROSIGMOID_DEG = 45.0


@dataclass(frozen=True)
class View:
    """A camera preset in patient LPS.

    Attributes
    ----------
    name : str
        Preset name ("retrosigmoid", "A", "P", "L", "R", "S", "I").
    sight : numpy.ndarray
        (3,) unit direction from the camera towards the target, LPS.
    up : numpy.ndarray
        (3,) unit direction shown upwards on the screen, LPS (orthogonal to sight).
    description : str
        Human-readable, e.g. "retrosigmoid (left): from posterolateral, looking
        anteromedially".
    """

    name: str
    sight: np.ndarray
    up: np.ndarray
    description: str

    @property
    def right(self) -> np.ndarray:
        """(3,) LPS direction shown to the screen's right."""
        r = np.cross(self.sight, self.up)
        return r / np.linalg.norm(r)

    def edge_letters(self) -> dict[str, str]:
        """Patient directions at the screen edges, e.g. ``{"right": "RP", "top": "S"}``.

        Each edge gets the letters of the LPS components above 0.3 of its direction,
        the largest first (as DICOM orientation labels).
        """

        def letters(vec: np.ndarray) -> str:
            names = (("L", "R"), ("P", "A"), ("S", "I"))
            out = ""
            for i in np.argsort(-np.abs(vec), kind="stable"):
                if abs(vec[i]) > 0.3:
                    out += names[i][0] if vec[i] > 0 else names[i][1]
            return out

        return {
            "right": letters(self.right),
            "left": letters(-self.right),
            "top": letters(self.up),
            "bottom": letters(-self.up),
        }


def view(name: str, side: str | None = None) -> View:
    """The camera preset ``name``.

    Parameters
    ----------
    name : str
        One of :data:`VIEWS` (case-insensitive for the letters).
    side : str, optional
        "left" or "right": the side of the retrosigmoid approach (required for it).

    Raises
    ------
    InputError
        Unknown name, or "retrosigmoid" without a side.
    """
    key = name if name == "retrosigmoid" else name.upper()
    if key == "retrosigmoid":
        if side not in ("left", "right"):
            raise InputError(
                f"the retrosigmoid view needs the side of symptoms (left/right), got {side!r}"
            )
        lateral = 1.0 if side == "left" else -1.0  # +x is the patient's left
        a = np.deg2rad(RETROSIGMOID_DEG)
        # camera posterior (+y) and lateral: sight runs anteriorly (-y) and medially
        sight = np.array([-lateral * np.sin(a), -np.cos(a), 0.0])
        return View(
            "retrosigmoid",
            sight,
            np.array([0.0, 0.0, 1.0]),
            f"retrosigmoid ({side}): from posterolateral, looking anteromedially, superior up",
        )
    if key not in _SIGHT:
        raise InputError(f"unknown 3D view {name!r}; choose one of {', '.join(VIEWS)}")
    sight = np.asarray(_SIGHT[key])
    up = np.asarray(_UP.get(key, (0.0, 0.0, 1.0)))
    words = {
        "A": "anterior",
        "P": "posterior",
        "L": "left",
        "R": "right",
        "S": "superior",
        "I": "inferior",
    }
    return View(key, sight, up, f"{words[key]} view (camera {words[key]})")
