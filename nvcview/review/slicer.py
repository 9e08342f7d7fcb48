"""Landmarks and the nerve path to and from 3D Slicer Markups JSON (``.mrk.json``).

Slicer stores control points in the file's ``coordinateSystem``: ``"LPS"`` (what
Slicer writes since 4.11 and the default when the key is absent) or ``"RAS"``.
Everything read is converted to patient LPS mm; everything written is LPS, so a
file round-trips unchanged and Slicer places it correctly.

- Point lists (``"type": "Fiducial"``) carry named landmarks: RExP, RDP, IAC, ...
- Curves (``"Curve"``, also ``"Line"``/``"ClosedCurve"``) carry the facial nerve
  centreline from the RExP to the IAC.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvcview.errors import InputError
from nvcview.fsutil import atomic_write_text
from nvcview.review.model import Review

SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
POINT_TYPES = ("Fiducial", "PointList")
CURVE_TYPES = ("Curve", "ClosedCurve", "Line")
_RAS_LPS = np.array([-1.0, -1.0, 1.0])


@dataclass
class Markups:
    """What a ``.mrk.json`` file holds, in LPS mm.

    Attributes
    ----------
    points : dict
        Point-list control points by label -> (3,) LPS mm.
    curves : list of (str, ndarray)
        (name, (N, 3) LPS mm) per curve markup, in file order.
    """

    points: dict[str, np.ndarray] = field(default_factory=dict)
    curves: list[tuple[str, np.ndarray]] = field(default_factory=list)


def read_fcsv(path: str | os.PathLike) -> Markups:
    """Read a legacy Slicer fiducial list (``.fcsv``, Slicer <= 4.10) into LPS mm.

    The ``# CoordinateSystem`` header says ``RAS``/``LPS`` (or ``0``/``1``); files
    without it are RAS, as those Slicer versions wrote them.

    Raises
    ------
    InputError
        No ``x,y,z`` columns, unknown coordinate system, or a row without numbers.
    """
    path = Path(path)
    try:
        lines = path.read_text("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from exc
    system = "RAS"
    columns = ["id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label"]
    out = Markups()
    for n, line in enumerate(lines, 1):
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            key, value = key.strip().lower(), value.strip()
            if key == "coordinatesystem":
                system = {"0": "RAS", "1": "LPS"}.get(value, value.upper())
                if system not in ("RAS", "LPS"):
                    raise InputError(f"{path}: line {n}: CoordinateSystem {value!r} is unknown")
            elif key == "columns":
                columns = [c.strip() for c in value.split(",")]
            continue
        if not line.strip():
            continue
        cells = next(csv.reader([line]))
        row = dict(zip(columns, cells, strict=False))
        try:
            p = np.array([float(row["x"]), float(row["y"]), float(row["z"])])
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}: line {n}: needs numeric x, y, z") from exc
        if system == "RAS":
            p = p * _RAS_LPS
        out.points[row.get("label") or f"F-{len(out.points) + 1}"] = p
    if not out.points:
        raise InputError(f"{path}: holds no fiducials")
    return out


def read_markups(path: str | os.PathLike) -> Markups:
    """Read a Slicer Markups JSON file (point lists and curves) into LPS mm.

    Legacy ``.fcsv`` fiducial lists are read by :func:`read_fcsv`.

    Raises
    ------
    InputError
        Not JSON, no ``markups`` list, an unknown coordinate system or unit, or a
        control point without three numbers; the message names the file and markup.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such markups file")
    if path.suffix.lower() == ".fcsv":
        return read_fcsv(path)
    try:
        doc = json.loads(path.read_text("utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("markups"), list):
        raise InputError(f"{path}: not a Slicer markups file (no 'markups' list)")
    out = Markups()
    skipped: list[str] = []  # planes, ROIs, angles: not ours to read
    for i, mk in enumerate(doc["markups"]):
        where = f"{path}: markups[{i}]"
        if not isinstance(mk, dict):
            raise InputError(f"{where}: expected an object")
        system = str(mk.get("coordinateSystem", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise InputError(f"{where}: coordinateSystem {system!r} is neither LPS nor RAS")
        units = mk.get("coordinateUnits", "mm")
        if units != "mm":
            raise InputError(f"{where}: coordinateUnits {units!r} (only mm is supported)")
        flip = _RAS_LPS if system == "RAS" else np.ones(3)
        pts, labels = [], []
        for j, cp in enumerate(mk.get("controlPoints") or []):
            if cp.get("positionStatus", "defined") not in ("defined", "preview"):
                continue
            pos = cp.get("position")
            try:
                arr = np.asarray(pos, dtype=np.float64)
            except (TypeError, ValueError):
                arr = np.zeros(0)
            if arr.shape != (3,) or not np.all(np.isfinite(arr)):
                raise InputError(f"{where}.controlPoints[{j}]: position must be 3 numbers")
            pts.append(arr * flip)
            labels.append(str(cp.get("label") or f"{mk.get('type', 'point')}-{j + 1}"))
        mtype = mk.get("type")
        if mtype in POINT_TYPES:
            for label, p in zip(labels, pts, strict=True):
                out.points[label] = p
        elif mtype in CURVE_TYPES:
            if len(pts) >= 2:
                name = str(mk.get("name") or path.name.split(".")[0])
                out.curves.append((name, np.vstack(pts)))
        else:
            skipped.append(str(mtype))
    if not out.points and not out.curves:
        extra = f" (only {', '.join(skipped)})" if skipped else ""
        raise InputError(f"{path}: holds no point list or curve with defined points{extra}")
    return out


def _control_point(i: int, label: str, p: np.ndarray) -> dict:
    return {
        "id": str(i + 1),
        "label": label,
        "description": "",
        "associatedNodeID": "",
        "position": [float(v) for v in p],
        "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
        "selected": True,
        "locked": False,
        "visibility": True,
        "positionStatus": "defined",
    }


def markups_document(
    points: dict[str, np.ndarray] | None = None,
    curve: np.ndarray | None = None,
    curve_name: str = "facial nerve",
) -> dict:
    """A Slicer markups JSON document (LPS) with a point list and/or a curve."""
    markups = []
    if points:
        markups.append(
            {
                "type": "Fiducial",
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "labelFormat": "%N-%d",
                "controlPoints": [
                    _control_point(i, name, p) for i, (name, p) in enumerate(points.items())
                ],
            }
        )
    if curve is not None and len(curve):
        arr = np.asarray(curve, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"curve must be (N, 3) LPS mm, got shape {arr.shape}")
        markups.append(
            {
                "type": "Curve",
                "name": curve_name,
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "labelFormat": "%N-%d",
                "controlPoints": [
                    _control_point(i, f"{curve_name}-{i + 1}", p) for i, p in enumerate(arr)
                ],
            }
        )
    return {"@schema": SCHEMA_URL, "markups": markups}


def write_markups(
    path: str | os.PathLike,
    points: dict[str, np.ndarray] | None = None,
    curve: np.ndarray | None = None,
    curve_name: str = "facial nerve",
) -> Path:
    """Write points (landmarks) and/or a curve to a ``.mrk.json`` file (LPS, atomic).

    Slicer loads one markups node per file: write landmarks and the nerve path to
    separate files (see :func:`export_review_markups`) to open both in Slicer.
    """
    path = Path(path)
    doc = markups_document(points, curve, curve_name)
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return path


def export_review_markups(review: Review, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``landmarks.mrk.json`` (point list) and ``nerve.mrk.json`` (curve) for Slicer."""
    out_dir = Path(out_dir)
    written = []
    if review.landmarks:
        pts = {k: np.asarray(v, dtype=np.float64) for k, v in review.landmarks.items()}
        written.append(write_markups(out_dir / "landmarks.mrk.json", points=pts))
    if len(review.nerve_path_lps) >= 2:
        written.append(
            write_markups(
                out_dir / "nerve.mrk.json",
                curve=np.asarray(review.nerve_path_lps, dtype=np.float64),
            )
        )
    return written


def apply_markups(review: Review, markups: Markups, *, curve: str | None = None) -> Review:
    """Put markups into a review: points become landmarks, a curve the nerve path.

    Parameters
    ----------
    review : Review
        Updated in place (and returned).
    markups : Markups
        From :func:`read_markups`.
    curve : str, optional
        Name of the curve to use as the facial nerve path; by default the only
        curve, or the one whose name mentions the facial nerve / VII.

    Raises
    ------
    InputError
        Several curves and none identifiable as the facial nerve.
    """
    for name, p in markups.points.items():
        review.landmarks[name] = [float(v) for v in p]
    curves = markups.curves
    if curve is not None:
        curves = [c for c in curves if c[0] == curve]
        if not curves:
            names = [c[0] for c in markups.curves]
            raise InputError(f"no curve named {curve!r} in the markups (found {names})")
    elif len(curves) > 1:
        facial = [c for c in curves if any(k in c[0].lower() for k in ("facial", "vii", "nerve"))]
        if len(facial) != 1:
            names = [c[0] for c in curves]
            raise InputError(f"several curves {names}: say which one is the facial nerve")
        curves = facial
    if curves:
        review.nerve_path_lps = np.asarray(curves[0][1], dtype=np.float64).tolist()
    return review
