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


def _trimesh(surf: StructureSurface, gap_range_mm: float):
    import trimesh

    colors = np.round(surf.vertex_colors(gap_range_mm) * 255).astype(np.uint8)
    rgba = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], axis=1)
    return trimesh.Trimesh(
        vertices=np.asarray(surf.verts, dtype=np.float64),
        faces=np.asarray(surf.faces, dtype=np.int64),
        vertex_normals=np.asarray(surf.normals, dtype=np.float64),
        vertex_colors=rgba,
        process=False,
    )


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


def glb_bytes(scene: Scene, stems: dict[int, str] | None = None) -> bytes:
    """glTF binary of every surface (names, colours, nerve gap colours per vertex)."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    stems = stems or _stems(scene.surfaces)
    out = trimesh.Scene()
    for surf in scene.surfaces:
        mesh = _trimesh(surf, scene.gap_range_mm)
        if surf.gap_mm is None:
            mat = PBRMaterial(
                name=stems[surf.label],
                baseColorFactor=[*(int(round(c * 255)) for c in surf.color), 255],
                metallicFactor=0.0,
                roughnessFactor=0.7,
            )
            mesh.visual = trimesh.visual.TextureVisuals(material=mat)
        else:
            gap = np.where(np.isfinite(surf.gap_mm), surf.gap_mm, -1.0)
            mesh.vertex_attributes["_GAP_MM"] = gap.astype(np.float32)
        mesh.metadata["name"] = surf.name
        out.add_geometry(
            mesh, node_name=stems[surf.label], geom_name=stems[surf.label], transform=LPS_TO_GLTF
        )
    return out.export(file_type="glb")


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
