"""Guess what a series is for the review (T2 CISS-like, TOF, T1, other) from its headers.

The guess is a convenience for choosing series, never a gate: the user can always
pick any series. Vendor names covered:

- heavily T2-weighted 3D (cisternography): CISS, SPACE, TrueFISP (Siemens),
  FIESTA / FIESTA-C, CUBE (GE), DRIVE, bFFE, VISTA (Philips), 3D T2.
- time-of-flight angiography: TOF, "angio"/MRA descriptions, AngioFlag "Y",
  Siemens sequence names ``*fl3d..r_t..`` / ``*fl3d..r``, Philips "inflow".
- T1: T1, MPRAGE, SPGR, BRAVO, VIBE, T1 TFE, contrast ("+C", "gad", "post"),
  ContrastBolusAgent present, Siemens ``*tfl3d``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nvcview.errors import InputError
from nvcview.io.image import ROLES

if TYPE_CHECKING:
    import numpy as np

    from nvcview.io.discovery import FrameRecord

_T2_WORDS = re.compile(
    r"\b(ciss|space|spc|trufi|truefisp|true fisp|fiesta|fiesta c|fiestac|cube|drive|bffe|"
    r"b ffe|balanced|vista|3d t2|t2 3d|t2w 3d|3d t2w|cisterno\w*|mr cisternography|drive t2)\b"
)
_TOF_WORDS = re.compile(r"\b(tof|3d tof|tof 3d|angio|mra|inflow|time of flight)\b")
_T1_WORDS = re.compile(
    r"\b(t1|t1w|mprage|mp rage|spgr|fspgr|bravo|vibe|tfe|t1 tfe|flash|gad|gd|post|"
    r"post contrast|plus c|plus gd|contrast)\b"
)


def _normalise(text: str) -> str:
    text = text.lower().replace("+", " plus ")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def guess_role(rec: FrameRecord) -> str:
    """Return "T2", "TOF", "T1" or "other" for the series of ``rec``.

    Parameters
    ----------
    rec : FrameRecord
        Any slice of the series (series-level attributes are read).
    """
    if rec.modality and rec.modality.upper() != "MR":
        return "other"
    words = _normalise(" ".join((rec.series_description, rec.protocol_name)))
    seq = rec.sequence_name.lower()
    image_type = set(rec.image_type)
    if rec.angio_flag.upper() == "Y" or _TOF_WORDS.search(words):
        return "TOF"
    # Siemens: *fl3d1r_t70 / *fl3d1r is TOF; *ci3d CISS; *spc SPACE; *tfi TrueFISP
    if re.search(r"fl3d\d*r", seq) or "tof" in seq:
        return "TOF"
    if _T2_WORDS.search(words) or re.search(r"(ci3d|spc|tfi|fiesta|ciss)", seq):
        return "T2"
    if rec.contrast_agent or _T1_WORDS.search(words) or re.search(r"tfl3d|fl3d", seq):
        return "T1"
    if "MIP" in image_type:
        return "TOF"
    return "other"


def guess_role_from_name(name: str) -> str:
    """Role guess from a file name (NIfTI has no sequence headers): "t2", "ciss", "tof"...

    Looser than :func:`guess_role`: a bare "t2" in a file name counts as T2.
    """
    stem = re.sub(r"\.(nii|hdr|img)(\.gz)?$", "", name.lower())
    words = _normalise(stem.replace("_", " "))
    if _TOF_WORDS.search(words):
        return "TOF"
    if _T2_WORDS.search(words) or re.search(r"\bt2w?\b", words):
        return "T2"
    if _T1_WORDS.search(words):
        return "T1"
    return "other"


def check_role(role: str) -> str:
    """Validate a role given by the user (one of :data:`~nvcview.io.image.ROLES`)."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


#: at most this many distinct values for an image to pass for a label map by its values
MAX_LABEL_VALUES = 64


def looks_like_labels(data: np.ndarray, *, intent_label: bool = False) -> bool:
    """Whether an integer volume is a label map, from its header intent or its values.

    ``intent_label`` (NIfTI intent code NIFTI_INTENT_LABEL) settles it. Otherwise the
    values must say so: integer data with at most :data:`MAX_LABEL_VALUES` distinct
    values, 0 among them and background (0) covering at least half of the voxels
    (checked on a subsample). An 8-bit angiogram has a hundred or more distinct values
    and a noisy, non-zero background, so it stays an image.
    """
    import numpy as np

    if intent_label:
        return True
    if not (np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_):
        return False
    if data.size == 0:
        return False
    step = max(1, int(round((data.size / 2_000_000) ** (1 / 3))))
    sample = data[::step, ::step, ::step] if data.ndim == 3 else data
    values, counts = np.unique(sample, return_counts=True)
    if len(values) > MAX_LABEL_VALUES or values[0] != 0:
        return False
    return bool(counts[0] >= 0.5 * sample.size)
