"""Benchmark: 3D surfaces, ``nvcview scene`` and the 3D key image, against baselines.

Timed in the same run (medians of ``--repeats``):

1. Surfaces (the sample 48 x 90 x 90 case and the real-size 48 x 512 x 512 phantom):
   - baseline: ``skimage.measure.marching_cubes`` of each structure's mask on the
     full volume (no anti-aliasing, no heat map) plus ``trimesh`` mesh assembly;
   - ours, cold: ``SurfaceBuilder.build`` (engine surfaces in each label's box, the
     nerve gap heat map, the engine's closest points inserted);
   - ours, after an edit of one vessel (the others come from the cache).
2. ``nvcview scene REVIEW --out DIR`` (wall clock of the command, the sample review),
   against ``nvcview measure REVIEW --json`` (the command a user runs already).
3. The 3D key image (retrosigmoid view, legend): ours (numpy z-buffer + matplotlib
   Agg) against matplotlib's own 3D (``mplot3d`` ``Poly3DCollection`` of the same
   triangles, same figure size).

Run: ``python benchmarks/bench_scene.py [--repeats 3] [--no-full]``.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage.measure import marching_cubes

from nvcview.io.image import make_volume
from nvcview.measure import measure_case
from nvcview.scene import SurfaceBuilder, key_image, view

ROOT = Path(__file__).resolve().parents[1]


#: "wall" (perf_counter) or "cpu" (process time: robust on a shared, loaded machine)
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCK["wall"]


def _median(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = _clock()
        out = fn()
        times.append(_clock() - t)
    return float(np.median(times)), out


def _baseline_surfaces(labels, structures):
    import trimesh

    arr = np.asarray(labels.array)
    meshes = []
    for s in structures:
        mask = arr == s.label
        if not mask.any():
            continue
        v, f, _, _ = marching_cubes(mask.astype(np.float32), 0.5)
        v = v @ labels.affine[:3, :3].T + labels.affine[:3, 3]
        meshes.append(trimesh.Trimesh(v, f, process=False))
    return meshes


def bench_surfaces(name: str, phantom, repeats: int) -> None:
    ms = measure_case(phantom.labels, phantom.structures, phantom.landmarks, phantom.centreline)
    arr = np.asarray(phantom.labels.array).copy()
    labels = make_volume(arr, phantom.labels.affine)
    t_base, _ = _median(lambda: _baseline_surfaces(labels, phantom.structures), repeats)
    t_cold, scene = _median(lambda: SurfaceBuilder().build(labels, phantom.structures, ms), repeats)
    builder = SurfaceBuilder()
    builder.build(labels, phantom.structures, ms)
    pica = next(s for s in phantom.structures if s.vessel_type == "PICA")
    where = np.argwhere(arr == pica.label)
    edits = []
    for n in range(repeats):
        i, j, k = where[(n * 37) % len(where)]
        edits.append((i, j, k))

    def edit_and_build():
        i, j, k = edits.pop()
        block = arr[i : i + 2, j : j + 2, k : k + 2]
        block[block == 0] = pica.label
        return builder.build(labels, phantom.structures, ms)

    t_edit, _ = _median(edit_and_build, repeats)
    n_tri = sum(len(s.faces) for s in scene.surfaces)
    print(f"surfaces {name} {arr.shape}, {len(scene.surfaces)} structures, {n_tri} triangles")
    print(f"  baseline full-volume marching cubes + trimesh: {t_base * 1e3:8.1f} ms")
    print(
        f"  ours cold (surfaces + heat map):              {t_cold * 1e3:8.1f} ms"
        f"   ratio {t_base / t_cold:5.2f}x"
    )
    print(
        f"  ours after a vessel edit (cache):             {t_edit * 1e3:8.1f} ms"
        f"   ratio {t_base / t_edit:5.2f}x"
    )


def _wall(cmd: list[str]) -> float:
    """Wall clock of a command, or its CPU time (user + sys) with ``--clock cpu``."""
    wall, cpu = _wall_and_cpu(cmd)
    return cpu if _clock is CLOCK["cpu"] else wall


def _wall_and_cpu(cmd: list[str]) -> tuple[float, float]:
    """Wall clock and CPU time (user + sys of the child, as ``/usr/bin/time``) of a command."""
    import resource

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "sample_data"), env.get("PYTHONPATH", "")]
    )
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu


def _median_runs(cmd_for, repeats: int) -> tuple[float, float]:
    """Median wall and median CPU (s) of ``repeats`` runs of ``cmd_for(n)``."""
    runs = [_wall_and_cpu(cmd_for(n)) for n in range(repeats)]
    return float(np.median([w for w, _ in runs])), float(np.median([c for _, c in runs]))


def bench_cli(repeats: int) -> None:
    """``nvcview scene`` end to end against the 2 s target and baselines, same run.

    The runs alternate (scene, baseline, scene, ...) so that a change in the
    machine's load hits both alike.
    """
    from nvcview_sample import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        write_sample(tmp)
        review = str(Path(tmp) / "review")
        py = [sys.executable, "-m", "nvcview"]
        cmds = {
            "scene": lambda n: [*py, "scene", review, "--out", f"{tmp}/s{n}"],
            "obj_stl": lambda n: [
                *py,
                "scene",
                review,
                "--out",
                f"{tmp}/o{n}",
                "--format",
                "obj,stl",
            ],  # fmt: skip
            "image": lambda n: [*py, "scene", review, "--out", f"{tmp}/i{n}", "--image"],
            "measure": lambda n: [*py, "measure", review, "--json"],
            "import": lambda n: [sys.executable, "-c", "import nvcview"],
            "python": lambda n: [sys.executable, "-c", "pass"],
        }
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        for n in range(repeats):
            for k, cmd_for in cmds.items():
                runs[k].append(_wall_and_cpu(cmd_for(n)))
    med = {
        k: (float(np.median([w for w, _ in v])), float(np.median([c for _, c in v])))
        for k, v in runs.items()
    }
    print(f"nvcview scene end to end (CLI, sample review, median of {repeats}, {sys.executable})")
    print(f"  target:                                    {2.0:6.2f} s")
    for key, label in (
        ("scene", "ours, glb+obj+stl (default)"),
        ("obj_stl", "ours, obj+stl"),
        ("image", "ours, default + --image"),
        ("measure", "baseline nvcview measure --json"),
        ("import", 'baseline python -c "import nvcview"'),
        ("python", 'baseline python -c "pass"'),
    ):
        wall, cpu = med[key]
        print(
            f"  {label:40s} wall {wall:6.2f} s  CPU {cpu:6.2f} s"
            f"  target/CPU {2.0 / cpu:5.2f}x  CPU/measure {cpu / med['measure'][1]:5.2f}x"
        )


def _trimesh_glb(scene) -> bytes:
    """Baseline: trimesh's own GLB export of the same meshes (names, colours, gaps)."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    from nvcview.scene.export import LPS_TO_GLTF, file_stem

    out = trimesh.Scene()
    for surf in scene.surfaces:
        rgb = np.round(surf.vertex_colors(scene.gap_range_mm) * 255).astype(np.uint8)
        mesh = trimesh.Trimesh(
            vertices=surf.verts,
            faces=surf.faces,
            vertex_normals=surf.normals,
            vertex_colors=np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], 1),
            process=False,
        )
        if surf.gap_mm is None:
            mesh.visual = trimesh.visual.TextureVisuals(
                material=PBRMaterial(
                    baseColorFactor=[*(int(round(c * 255)) for c in surf.color), 255],
                    metallicFactor=0.0,
                    roughnessFactor=0.7,
                )
            )
        else:
            mesh.vertex_attributes["_GAP_MM"] = surf.gap_mm.astype(np.float32)
        stem = file_stem(surf.name)
        out.add_geometry(mesh, node_name=stem, geom_name=stem, transform=LPS_TO_GLTF)
    return out.export(file_type="glb")


def bench_glb(phantom, repeats: int) -> None:
    """Our GLB writer (numpy + json) against trimesh's export, and their imports."""
    from nvcview.scene.export import glb_bytes

    ms = measure_case(phantom.labels, phantom.structures, phantom.landmarks, phantom.centreline)
    scene = SurfaceBuilder().build(phantom.labels, phantom.structures, ms, side="left")
    _, imp_trimesh = _wall_and_cpu([sys.executable, "-c", "import numpy, scipy.spatial, trimesh"])
    _, imp_base = _wall_and_cpu([sys.executable, "-c", "import numpy, scipy.spatial"])
    _trimesh_glb(scene)  # warm
    t_base, _ = _median(lambda: _trimesh_glb(scene), repeats)
    t_ours, data = _median(lambda: glb_bytes(scene), repeats)
    print(f"GLB of the sample scene ({len(data) / 1e6:.2f} MB)")
    print(f"  baseline trimesh export (imports warm):  {t_base * 1e3:8.1f} ms")
    print(
        f"  ours numpy + json:                       {t_ours * 1e3:8.1f} ms   ratio {t_base / t_ours:5.2f}x"
    )
    print(f"  import trimesh (beyond numpy + scipy.spatial), CPU: {imp_trimesh - imp_base:6.2f} s")


_REPORT = """
import sys
from nvcview.report import keyimages
if sys.argv[1] == "no-3d":
    keyimages.CASE_SLOTS["scene-3d"] = lambda chosen, ctx: None
from nvcview.report import write_reports
written = write_reports(sys.argv[2], None, sys.argv[3])
assert any(p.name.endswith("scene-3d.png") for p in (written and __import__("pathlib").Path(sys.argv[3]).rglob("*.png"))) == (sys.argv[1] == "3d")
"""


def bench_report(repeats: int) -> None:
    """``write_reports`` (all formats) with and without the 3D key image, same run."""
    from nvcview_sample import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        write_sample(tmp)
        review = str(Path(tmp) / "review")
        runs: dict[str, list[tuple[float, float]]] = {"3d": [], "no-3d": []}
        for n in range(repeats):
            for k in runs:
                cmd = [sys.executable, "-c", _REPORT, k, review, f"{tmp}/{k}{n}"]
                runs[k].append(_wall_and_cpu(cmd))
    med = {k: [float(np.median([r[i] for r in v])) for i in (0, 1)] for k, v in runs.items()}
    print(f"nvcview report of the sample review (all formats, median of {repeats}, same run)")
    print(
        f"  without the 3D key image: wall {med['no-3d'][0]:6.2f} s  CPU {med['no-3d'][1]:6.2f} s"
    )
    print(f"  with the 3D key image:    wall {med['3d'][0]:6.2f} s  CPU {med['3d'][1]:6.2f} s")
    added = med["3d"][1] - med["no-3d"][1]
    print(f"  added by the 3D image:    CPU {added:6.2f} s (target at most 2 s)")


def _mplot3d(scene, size=(900, 700)) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    for s in scene.surfaces:
        tri = s.verts[s.faces]
        ax.add_collection3d(
            Poly3DCollection(
                tri, facecolors=s.vertex_colors()[s.faces[:, 0]], edgecolor="none", shade=True
            )
        )
    lo = np.min([s.verts.min(0) for s in scene.surfaces], axis=0)
    hi = np.max([s.verts.max(0) for s in scene.surfaces], axis=0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.view_init(elev=0, azim=45)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def bench_render(phantom, repeats: int) -> None:
    ms = measure_case(phantom.labels, phantom.structures, phantom.landmarks, phantom.centreline)
    scene = SurfaceBuilder().build(phantom.labels, phantom.structures, ms, side="left")
    view("retrosigmoid", "left")
    key_image(scene)  # warm the imports
    t_base, _ = _median(lambda: _mplot3d(scene), max(1, repeats // 2))
    t_ours, _ = _median(lambda: key_image(scene), repeats)
    print("3D key image 900 x 700 (sample case)")
    print(f"  baseline matplotlib mplot3d Poly3DCollection: {t_base:6.2f} s")
    print(
        f"  ours z-buffer + legend (no display, no GPU):  {t_ours:6.2f} s   ratio {t_base / t_ours:5.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-full", action="store_true", help="skip the 48 x 512 x 512 phantom")
    ap.add_argument("--clock", choices=sorted(CLOCK), default="wall")
    ap.add_argument(
        "--skip", default="", help="comma list of parts to skip: glb, cli, report, render"
    )
    args = ap.parse_args()
    global _clock
    _clock = CLOCK[args.clock]
    print(f"clock: {args.clock}")
    from nvcview_sample import make_phantom

    sample = make_phantom()
    bench_surfaces("sample", sample, args.repeats)
    if not args.no_full:
        bench_surfaces("full-size", make_phantom(full_size=True), args.repeats)
    if "glb" not in args.skip:
        bench_glb(sample, args.repeats)
    if "cli" not in args.skip:
        bench_cli(args.repeats)
    if "report" not in args.skip:
        bench_report(args.repeats)
    if "render" not in args.skip:
        bench_render(sample, args.repeats)


if __name__ == "__main__":
    main()
