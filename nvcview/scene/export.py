"""Write a scene's surfaces as files: OBJ and STL (LPS mm, 3D Slicer), glTF binary, JSON.

- **OBJ / STL**: one file per structure, named after it, vertices in patient LPS
  millimetres with ``SPACE=LPS`` in the file header (OBJ comment, STL 80-byte
  header). 3D Slicer (4.11 and later) reads model files as LPS unless a header
  says ``SPACE=RAS``, and honours the header tag (``vtkMRMLModelStorageNode``
  reads the OBJ comment and the STL header), so the models load at the label map's
  position. OBJ also carries vertex normals and per-vertex colours.
- **glTF binary** (``scene.glb``): one node and mesh per structure, named after it,
  a PBR material in the structure's colour, the facial nerve with the gap colours
  per vertex (``COLOR_0``) and the gap in mm (``_GAP_MM``). Vertex buffers hold LPS
  mm; each node's matrix maps them to glTF's frame (metres, +Y superior, +Z
  anterior, +X the patient's left), so generic viewers show the head upright.
- **scene.json**: meshes, files, colours, vertex counts, LPS bounds, units,
  coordinate system, the gap colormap and the closest-point pairs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nvcview import __version__
from nvcview.errors import InputError
from nvcview.fsutil import atomic_write_bytes, atomic_write_text
from nvcview.scene.surfaces import GAP_COLORMAP, Scene, StructureSurface

FORMATS = ("glb", "obj", "stl")
#: LPS mm -> glTF (metres; +X = patient left, +Y = superior, +Z = anterior)
LPS_TO_GLTF = np.array(
    [
        [0.001, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.001, 0.0],
        [0.0, -0.001, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
SCENE_JSON = "scene.json"
GLB_NAME = "scene.glb"


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """Formats from "glb,obj,stl" (or a sequence); raises InputError on an unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        f = item.strip().lower().lstrip(".")
        if not f:
            continue
        if f == "gltf":
            f = "glb"
        if f not in FORMATS:
            raise InputError(f"unknown mesh format {item!r}; choose from {', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise InputError("no mesh format given; choose from " + ", ".join(FORMATS))
    return tuple(out)


def file_stem(name: str) -> str:
    """A file name from a structure name: 'left facial nerve (VII)' -> 'left_facial_nerve_VII'."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
    return stem or "structure"


def _stems(surfaces: Sequence[StructureSurface]) -> dict[int, str]:
    seen: dict[str, int] = {}
    out = {}
    for s in surfaces:
        stem = file_stem(s.name)
        if stem.lower() in seen:
            stem = f"{stem}_label{s.label}"
        seen[stem.lower()] = s.label
        out[s.label] = stem
    return out


def obj_bytes(surf: StructureSurface, gap_range_mm: float) -> bytes:
    """Wavefront OBJ of one surface: LPS mm, ``SPACE=LPS`` comment, normals, colours.

    Vertices carry their colour (``v x y z r g b``, 0-1, as trimesh and VTK read it);
    faces reference vertex and normal (``f a//a b//b c//c``, 1-based).
    """
    head = (
        f"# nvcview {__version__}: {surf.name} (label {surf.label})\n"
        "# SPACE=LPS\n# units: mm (patient LPS: x left, y posterior, z superior)\n"
    )
    v = np.concatenate([surf.verts, surf.vertex_colors(gap_range_mm)], axis=1)
    n = np.asarray(surf.normals, dtype=np.float64)
    f = np.repeat(np.asarray(surf.faces, dtype=np.int64) + 1, 2, axis=1)
    # .tolist(): Python floats and ints format faster than NumPy scalars (same text)
    parts = [
        head,
        ("v %.5f %.5f %.5f %.4f %.4f %.4f\n" * len(v)) % tuple(v.ravel().tolist()),
        ("vn %.5f %.5f %.5f\n" * len(n)) % tuple(n.ravel().tolist()),
        ("f %d//%d %d//%d %d//%d\n" * len(f)) % tuple(f.ravel().tolist()),
    ]
    return "".join(parts).encode()


def stl_bytes(surf: StructureSurface) -> bytes:
    """Binary STL of one surface: LPS mm, ``SPACE=LPS`` in the 80-byte header.

    The layout is the standard one (header, triangle count, then per triangle a unit
    normal, three vertices as float32 and a zero attribute word).
    """
    tri = np.asarray(surf.verts, dtype=np.float64)[np.asarray(surf.faces)]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-30
    rec = np.zeros(len(tri), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"], rec["v"] = normal, tri
    # must not start with "solid" (readers would take it for ASCII STL)
    header = f"nvcview SPACE=LPS units=mm {file_stem(surf.name)}".encode("ascii")[:80]
    return header.ljust(80, b" ") + np.uint32(len(tri)).tobytes() + rec.tobytes()


#: glTF 2.0 accessor component types and buffer-view targets
_FLOAT, _UINT, _UBYTE = 5126, 5125, 5121
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_GLB_MAGIC, _GLB_VERSION = b"glTF", 2
_CHUNK_JSON, _CHUNK_BIN = b"JSON", b"BIN\x00"


class _GlbBuffer:
    """The binary chunk of a GLB being assembled: one buffer view per accessor.

    Every view starts on a 4-byte boundary (glTF 2.0, 3.6.2.4 data alignment) and
    every accessor carries its min and max (required for POSITION, kept for all).
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(
        self,
        data: np.ndarray,
        gltf_type: str,
        component: int,
        *,
        target: int,
        normalized: bool = False,
    ) -> int:
        """Append ``data`` (already of the component's dtype); the accessor's index."""
        data = np.ascontiguousarray(data)
        raw = data.tobytes()
        self.views.append(
            {"buffer": 0, "byteOffset": self.length, "byteLength": len(raw), "target": target}
        )
        pad = -len(raw) % 4
        self.parts.append(raw + b"\0" * pad)
        self.length += len(raw) + pad
        flat = data.reshape(len(data), -1)
        acc: dict = {
            "bufferView": len(self.views) - 1,
            "byteOffset": 0,
            "componentType": component,
            "count": int(len(data)),
            "type": gltf_type,
            "min": flat.min(axis=0).tolist(),
            "max": flat.max(axis=0).tolist(),
        }
        if normalized:
            acc["normalized"] = True
        self.accessors.append(acc)
        return len(self.accessors) - 1


def glb_bytes(scene: Scene, stems: dict[int, str] | None = None) -> bytes:
    """glTF 2.0 binary of every surface: names, colours, the nerve's gap per vertex.

    One node, mesh and triangle primitive per structure, named after its file stem
    (the full name in ``extras.name``); POSITION (LPS mm, float32), NORMAL and
    uint32 indices. A structure in its fixed colour gets a PBR material of that
    colour (metallic 0, roughness 0.7); the facial nerve instead carries the gap
    colours per vertex (``COLOR_0``, normalised uint8 RGBA, default material) and
    the gap in mm (``_GAP_MM``, float32, -1 where none). Each node's matrix is
    :data:`LPS_TO_GLTF` (column-major), mapping LPS mm to glTF metres, +Y superior.
    Written with numpy and json (the container is fully specified; no trimesh).
    """
    stems = stems or _stems(scene.surfaces)
    buf = _GlbBuffer()
    meshes, nodes, materials = [], [], []
    matrix = [float(v) for v in LPS_TO_GLTF.T.ravel()]
    for surf in scene.surfaces:
        stem = stems[surf.label]
        attributes = {
            "POSITION": buf.add(
                np.asarray(surf.verts, dtype=np.float32), "VEC3", _FLOAT, target=_ARRAY_BUFFER
            ),
            "NORMAL": buf.add(
                np.asarray(surf.normals, dtype=np.float32), "VEC3", _FLOAT, target=_ARRAY_BUFFER
            ),
        }
        primitive: dict = {"attributes": attributes, "mode": 4}
        if surf.gap_mm is None:
            rgb = [int(round(c * 255)) / 255 for c in surf.color]
            materials.append(
                {
                    "name": stem,
                    "pbrMetallicRoughness": {
                        "baseColorFactor": [*rgb, 1.0],
                        "metallicFactor": 0.0,
                        "roughnessFactor": 0.7,
                    },
                    "doubleSided": False,
                }
            )
            primitive["material"] = len(materials) - 1
        else:
            rgb8 = np.round(surf.vertex_colors(scene.gap_range_mm) * 255).astype(np.uint8)
            rgba = np.concatenate([rgb8, np.full((len(rgb8), 1), 255, np.uint8)], axis=1)
            attributes["COLOR_0"] = buf.add(
                rgba, "VEC4", _UBYTE, target=_ARRAY_BUFFER, normalized=True
            )
            gap = np.where(np.isfinite(surf.gap_mm), surf.gap_mm, -1.0).astype(np.float32)
            attributes["_GAP_MM"] = buf.add(gap, "SCALAR", _FLOAT, target=_ARRAY_BUFFER)
        primitive["indices"] = buf.add(
            np.asarray(surf.faces, dtype=np.uint32).ravel(),
            "SCALAR",
            _UINT,
            target=_ELEMENT_ARRAY_BUFFER,
        )
        meshes.append({"name": stem, "extras": {"name": surf.name}, "primitives": [primitive]})
        nodes.append({"name": stem, "mesh": len(meshes) - 1, "matrix": matrix})
    doc: dict = {
        "asset": {"version": "2.0", "generator": f"nvcview {__version__}"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(nodes)))}],
        "nodes": nodes,
        "meshes": meshes,
        "accessors": buf.accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": buf.length}],
    }
    if materials:
        doc["materials"] = materials
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + buf.length
    return b"".join(
        [
            _GLB_MAGIC,
            np.array([_GLB_VERSION, total], dtype="<u4").tobytes(),
            np.array([len(text)], dtype="<u4").tobytes(),
            _CHUNK_JSON,
            text,
            np.array([buf.length], dtype="<u4").tobytes(),
            _CHUNK_BIN,
            *buf.parts,
        ]
    )


def scene_document(
    scene: Scene,
    files: dict[int, dict[str, str]],
    glb: str | None,
    labelmap: dict | None = None,
) -> dict:
    """The JSON sidecar: meshes, colours, units, coordinate system, pairs."""
    nerve = scene.nerve
    finite = (
        nerve.gap_mm[np.isfinite(nerve.gap_mm)]
        if nerve is not None and nerve.gap_mm is not None
        else np.array([])
    )
    doc: dict = {
        "software": f"nvcview {__version__}",
        "coordinate_system": "LPS",
        "units": "mm",
        "note": (
            "OBJ and STL vertices are patient LPS millimetres (x left, y posterior, "
            "z superior), tagged SPACE=LPS for 3D Slicer; glTF buffers hold the same "
            "LPS mm and each node's matrix maps them to glTF metres (+Y superior)"
        ),
        "side": scene.side,
        "meshes": [],
        "gap_map": None,
        "closest_pairs": [],
    }
    if glb:
        doc["gltf"] = {"file": glb, "node_matrix_lps_mm_to_gltf": LPS_TO_GLTF.tolist()}
    if labelmap:
        doc["labelmap"] = labelmap
    for s in scene.surfaces:
        lo, hi = s.bounds_lps
        doc["meshes"].append(
            {
                "name": s.name,
                "label": s.label,
                "kind": s.kind,
                "vessel_type": s.structure.vessel_type,
                "nerve": s.structure.nerve,
                "color_rgb": [round(float(c), 4) for c in s.color],
                "files": files.get(s.label, {}),
                "vertices": int(len(s.verts)),
                "faces": int(len(s.faces)),
                "bounds_lps_mm": [
                    [round(float(v), 3) for v in lo],
                    [round(float(v), 3) for v in hi],
                ],
                "gap_colors": s.gap_mm is not None,
            }
        )
    if nerve is not None:
        doc["gap_map"] = {
            "structure": nerve.name,
            "label": nerve.label,
            "quantity": "distance from the nerve surface to the nearest vessel surface",
            "units": "mm",
            "colormap": GAP_COLORMAP,
            "range_mm": [0.0, scene.gap_range_mm],
            "min_mm": round(float(finite.min()), 4) if len(finite) else None,
            "gltf_attribute": "_GAP_MM",
        }
    for p in scene.pairs:
        doc["closest_pairs"].append(
            {
                "vessel_label": p.vessel_label,
                "vessel_name": p.vessel_name,
                "gap_mm": round(p.gap_mm, 3),
                "contact": p.contact,
                "nerve_point_lps": [round(float(v), 3) for v in p.nerve_point_lps],
                "vessel_point_lps": [round(float(v), 3) for v in p.vessel_point_lps],
            }
        )
    return doc


def write_scene(
    scene: Scene,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    *,
    labelmap: dict | None = None,
) -> dict[str, list[Path]]:
    """Write the scene's meshes and ``scene.json`` into ``out_dir`` (atomic writes).

    Parameters
    ----------
    scene : Scene
        Surfaces in LPS mm (:func:`nvcview.scene.build_scene`).
    out_dir : path-like
        Created when missing.
    formats : sequence of str
        Any of "glb", "obj", "stl".
    labelmap : dict, optional
        Extra facts for the JSON (source file, shape, affine).

    Returns
    -------
    dict
        Format -> written paths, plus "json".
    """
    formats = parse_formats(formats)
    if not scene.surfaces:
        raise InputError("the label map has no labelled structure with a surface: no meshes")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = _stems(scene.surfaces)
    written: dict[str, list[Path]] = {f: [] for f in formats}
    files: dict[int, dict[str, str]] = {}
    for surf in scene.surfaces:
        files[surf.label] = {}
        for fmt in ("obj", "stl"):
            if fmt not in formats:
                continue
            path = out / f"{stems[surf.label]}.{fmt}"
            data = obj_bytes(surf, scene.gap_range_mm) if fmt == "obj" else stl_bytes(surf)
            atomic_write_bytes(path, data)
            written[fmt].append(path)
            files[surf.label][fmt] = path.name
    glb = None
    if "glb" in formats:
        path = out / GLB_NAME
        atomic_write_bytes(path, glb_bytes(scene, stems))
        written["glb"].append(path)
        glb = path.name
    doc = scene_document(scene, files, glb, labelmap)
    atomic_write_text(out / SCENE_JSON, json.dumps(doc, indent=2) + "\n")
    written["json"] = [out / SCENE_JSON]
    return written
