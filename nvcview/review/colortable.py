"""Structure tables in and out: ITK-SNAP label descriptions, Slicer colour tables, CSV, JSON.

A label map made in 3D Slicer or ITK-SNAP comes with a table naming its label
values. These readers turn such a table into :class:`~nvcview.structures.Structure`
entries, guessing kind, vessel type and nerve from the name ("AICA", "facial
nerve", "CN VIII", "brainstem", ...) unless the table says them explicitly.

Formats read (:func:`read_label_table` picks by content):

- ITK-SNAP label description file: ``IDX R G B A VIS MSH "LABEL"`` lines, ``#`` comments.
- 3D Slicer colour table (``.ctbl``/``.txt``): ``IDX NAME R G B A`` lines.
- CSV with a header holding ``label`` and ``name`` (optionally ``kind``,
  ``vessel_type``, ``nerve``).
- JSON: a list of ``{"label", "name", ...}`` objects, or an object mapping label
  value to a name or to ``{"name", "kind", ...}``.

Label 0 is background and always skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
from pathlib import Path

from nvcview.errors import InputError
from nvcview.fsutil import atomic_write_text
from nvcview.structures import KINDS, NERVES, VESSEL_TYPES, Structure

# (pattern, kind, vessel_type, nerve), first match wins; matched on the lower-cased name
_RULES: list[tuple[str, str, str | None, str | None]] = [
    (r"\bpica\b|posterior inferior cerebellar", "vessel", "PICA", None),
    (r"\baica\b|anterior inferior cerebellar", "vessel", "AICA", None),
    (r"\bva\b|vertebral", "vessel", "VA", None),
    (r"\bba\b|basilar", "vessel", "basilar", None),
    (r"vein|venous|petrosal|\bsps\b", "vessel", "vein", None),
    (
        r"vestibulocochlear|\bcn ?viii\b|\bcn ?8\b|\bviii\b|cochlear|vestibular",
        "nerve",
        None,
        "VIII",
    ),
    (r"facial|\bcn ?vii\b|\bcn ?7\b|\bvii\b", "nerve", None, "VII"),
    (r"brain ?stem|\bpons\b|medulla", "brainstem", None, None),
    (r"artery|arterial|vessel|\bsca\b|superior cerebellar", "vessel", "other", None),
    (r"nerve", "nerve", None, None),
]


def structure_from_name(
    label: int,
    name: str,
    kind: str | None = None,
    vessel_type: str | None = None,
    nerve: str | None = None,
) -> Structure:
    """Build a :class:`Structure`, guessing what is not given from the name.

    Parameters
    ----------
    label : int
        Label value (> 0).
    name : str
        Display name, e.g. ``"left AICA"``, ``"facial nerve"``.
    kind, vessel_type, nerve : str, optional
        Explicit values (win over the guess).

    Raises
    ------
    ValueError
        Invalid label or explicit values outside the allowed sets.
    """
    low = name.lower().replace("_", " ").replace("-", " ")
    g_kind, g_vessel, g_nerve = "other", None, None
    for pattern, k, v, n in _RULES:
        if re.search(pattern, low):
            g_kind, g_vessel, g_nerve = k, v, n
            break
    kind = kind or g_kind
    if kind == "vessel":
        vessel_type = vessel_type or (g_vessel if g_kind == "vessel" else None) or "unknown"
    else:
        vessel_type = vessel_type or None
    if kind == "nerve":
        nerve = nerve or (g_nerve if g_kind == "nerve" else None)
    else:
        nerve = nerve or None
    return Structure(int(label), name, kind, vessel_type, nerve)


def _check(structures: list[Structure], source: object) -> list[Structure]:
    seen: dict[int, str] = {}
    for s in structures:
        if s.label in seen:
            raise InputError(f"{source}: label {s.label} is given twice")
        seen[s.label] = s.name
    return sorted(structures, key=lambda s: s.label)


def _build(
    source: object,
    where: str,
    label: object,
    name: object,
    kind: str | None = None,
    vessel_type: str | None = None,
    nerve: str | None = None,
) -> Structure:
    try:
        label = int(str(label).strip())
    except ValueError as exc:
        raise InputError(f"{source}: {where}: label {label!r} is not an integer") from exc
    for value, allowed, what in (
        (kind, KINDS, "kind"),
        (vessel_type, VESSEL_TYPES, "vessel type"),
        (nerve, NERVES, "nerve"),
    ):
        if value and value not in allowed:
            raise InputError(f"{source}: {where}: {what} {value!r} is not one of {allowed}")
    try:
        return structure_from_name(
            label, str(name).strip(), kind or None, vessel_type or None, nerve or None
        )
    except ValueError as exc:
        raise InputError(f"{source}: {where}: {exc}") from exc


_EXPLICIT = re.compile(
    r"^#\s*nvcview-structure\s+(?P<label>\d+)\s+(?P<kind>\S+)\s+(?P<vt>\S+)\s+(?P<nerve>\S+)\s*$",
    re.MULTILINE,
)


def _explicit_kinds(text: str) -> dict[str, list]:
    """``# nvcview-structure LABEL KIND VESSEL_TYPE NERVE`` comments (written by us)."""
    return {
        m["label"]: [None if v == "-" else v for v in (m["kind"], m["vt"], m["nerve"])]
        for m in _EXPLICIT.finditer(text)
    }


def _explicit_comments(structures: list[Structure]) -> list[str]:
    return [
        f"# nvcview-structure {s.label} {s.kind} {s.vessel_type or '-'} {s.nerve or '-'}"
        for s in sorted(structures, key=lambda s: s.label)
    ]


def parse_itksnap(text: str, source: object = "label description") -> list[Structure]:
    """Parse an ITK-SNAP label description file (``IDX R G B A VIS MSH "LABEL"``)."""
    out = []
    explicit = _explicit_kinds(text)  # our own comments carry kinds exactly
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            parts = shlex.split(line)
        except ValueError as exc:
            raise InputError(f"{source}: line {n}: unbalanced quotes") from exc
        if len(parts) < 8:
            raise InputError(
                f'{source}: line {n}: expected IDX R G B A VIS MSH "LABEL", got {len(parts)} fields'
            )
        if parts[0].strip() == "0":
            continue
        out.append(_build(source, f"line {n}", parts[0], parts[7], *explicit.get(parts[0], ())))
    return _check(out, source)


def parse_slicer_ctbl(text: str, source: object = "colour table") -> list[Structure]:
    """Parse a 3D Slicer colour table (``IDX NAME R G B A`` per line)."""
    out = []
    explicit = _explicit_kinds(text)
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise InputError(f"{source}: line {n}: expected IDX NAME R G B A")
        if re.fullmatch(r"[-+.\d]+", parts[1]):
            raise InputError(
                f"{source}: line {n}: expected IDX NAME R G B A (Slicer) or "
                'IDX R G B A VIS MSH "LABEL" (ITK-SNAP), got no name'
            )
        if parts[0] == "0":
            continue
        # names may not contain spaces in Slicer tables; R G B A are the last four numbers
        name_parts = parts[1:-4] if len(parts) >= 6 else parts[1:]
        name = " ".join(name_parts).replace("_", " ")
        out.append(_build(source, f"line {n}", parts[0], name, *explicit.get(parts[0], ())))
    return _check(out, source)


def parse_csv(text: str, source: object = "CSV table") -> list[Structure]:
    """Parse a CSV table with at least ``label`` and ``name`` columns."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{source}: the table has no rows")
    cols = {c.strip().lower(): c for c in rows[0] if c}
    if "label" not in cols or "name" not in cols:
        raise InputError(f"{source}: needs 'label' and 'name' columns, found {sorted(cols)}")
    out = []
    for n, row in enumerate(rows, 2):
        get = {k: (row.get(c) or "").strip() for k, c in cols.items()}
        if get["label"] == "0":
            continue
        out.append(
            _build(
                source,
                f"line {n}",
                get["label"],
                get["name"],
                get.get("kind"),
                get.get("vessel_type"),
                get.get("nerve"),
            )
        )
    return _check(out, source)


def parse_json_table(data: object, source: object = "JSON table") -> list[Structure]:
    """Parse a JSON table: list of objects, or object label -> name / object."""
    out = []
    if isinstance(data, dict) and "structures" in data:
        data = data["structures"]
    if isinstance(data, dict):
        items = [(k, v) for k, v in data.items()]
    elif isinstance(data, list):
        items = []
        for i, v in enumerate(data):
            if not isinstance(v, dict) or "label" not in v:
                raise InputError(f"{source}: entry [{i}] needs a 'label'")
            items.append((v["label"], v))
    else:
        raise InputError(f"{source}: expected a list or an object")
    for key, v in items:
        if str(key).strip() == "0":
            continue
        if isinstance(v, str):
            out.append(_build(source, f"label {key}", key, v))
        elif isinstance(v, dict):
            out.append(
                _build(
                    source,
                    f"label {key}",
                    key,
                    v.get("name", f"label {key}"),
                    v.get("kind"),
                    v.get("vessel_type"),
                    v.get("nerve"),
                )
            )
        else:
            raise InputError(f"{source}: label {key}: expected a name or an object")
    return _check(out, source)


def read_label_table(path: str | os.PathLike) -> list[Structure]:
    """Read a structure table from an ITK-SNAP, Slicer, CSV or JSON file.

    Raises
    ------
    InputError
        Naming the file and the line/entry that could not be used.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such label table")
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as text ({exc})") from exc
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        out = parse_json_table(data, path)
    elif path.suffix.lower() == ".csv":
        out = parse_csv(text, path)
    else:
        data_lines = [
            ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if any('"' in ln for ln in data_lines) or "ITK-SnAP" in text or "ITK-SNAP" in text:
            out = parse_itksnap(text, path)
        elif data_lines and "," in data_lines[0]:
            out = parse_csv(text, path)
        else:
            out = parse_slicer_ctbl(text, path)
    if not out:
        raise InputError(f"{path}: the table names no labels (only background)")
    return out


def parse_structure_spec(spec: str) -> list[Structure]:
    """Parse a command-line table: ``"1=facial nerve,2=AICA,3=vein:vessel"``.

    Each item is ``LABEL=NAME`` with an optional ``:KIND`` (and ``:VESSEL_TYPE`` or
    ``:NERVE``) suffix; without it the kind is guessed from the name.
    """
    out = []
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            continue
        if "=" not in item:
            raise InputError(f"structure table {spec!r}: item {item!r} is not LABEL=NAME")
        label, rest = item.split("=", 1)
        name, *extra = rest.split(":")
        kind = extra[0] if extra else None
        sub = extra[1] if len(extra) > 1 else None
        out.append(
            _build(
                "structure table",
                f"item {item!r}",
                label,
                name,
                kind,
                sub if kind == "vessel" else None,
                sub if kind == "nerve" else None,
            )
        )
    return _check(out, "structure table")


def format_itksnap(structures: list[Structure]) -> str:
    """An ITK-SNAP label description file for a structure table (colours by vessel type)."""
    lines = [
        "################################################",
        "# ITK-SnAP Label Description File",
        "# written by nvcview",
        "# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL",
        "################################################",
        '    0     0    0    0        0  0  0    "Clear Label"',
    ]
    lines[2:2] = _explicit_comments(structures)
    for s in sorted(structures, key=lambda s: s.label):
        r, g, b = (round(255 * c) for c in s.color)
        name = s.name.replace('"', "'")
        lines.append(f'{s.label:5d} {r:5d}{g:5d}{b:5d}        1  1  1    "{name}"')
    return "\n".join(lines) + "\n"


def write_itksnap(structures: list[Structure], path: str | os.PathLike) -> Path:
    """Write an ITK-SNAP label description file (atomically); ITK-SNAP and Slicer read it."""
    path = Path(path)
    atomic_write_text(path, format_itksnap(structures))
    return path


def write_json_table(structures: list[Structure], path: str | os.PathLike) -> Path:
    """Write the structure table as JSON (a list of structure objects, atomically)."""
    path = Path(path)
    atomic_write_text(path, json.dumps([s.to_dict() for s in structures], indent=2) + "\n")
    return path


def format_slicer_ctbl(structures: list[Structure]) -> str:
    """A 3D Slicer colour table (``IDX NAME R G B A``; spaces in names become ``_``)."""
    lines = ["# Color table file written by nvcview", *_explicit_comments(structures)]
    lines.append("0 Background 0 0 0 0")
    for s in sorted(structures, key=lambda s: s.label):
        r, g, b = (round(255 * c) for c in s.color)
        name = "_".join(s.name.split()) or f"label_{s.label}"
        lines.append(f"{s.label} {name} {r} {g} {b} 255")
    return "\n".join(lines) + "\n"


def write_slicer_ctbl(structures: list[Structure], path: str | os.PathLike) -> Path:
    """Write a 3D Slicer colour table (``.ctbl``) for a structure table (atomically)."""
    path = Path(path)
    atomic_write_text(path, format_slicer_ctbl(structures))
    return path
