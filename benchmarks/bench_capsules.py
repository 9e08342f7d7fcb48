"""Benchmark: surface estimators side by side on random capsule pairs (issue 18).

The pairs are those of ``tests/measure/test_surface_gap.py`` (72: three anisotropic
grids, half of them oblique, gaps 0-3 mm, radii 0.6-2 mm, partial-volume
voxelisation) drawn from other seeds by default, so that a setting chosen here is
checked on pairs the test never saw (``--seed 100`` gives the test's own pairs).

Every estimator measures every pair in the same run, alternately (load on the
machine hits them alike). Printed per estimator: error in voxels of the largest
spacing (mean |e|, signed mean, max |e|; issue 18 targets 0.08 / +-0.03 / 0.25),
the largest gap read on touching pairs (mm; target 0.05), and this process's CPU
time for the whole set, with the ratio to the earlier Gaussian engine.

Estimators:

- ``corrected``: the default (Gaussian anti-aliasing, 0.35 mm and at least
  ``surface_min_sigma_vox`` voxels, its curvature shrinkage undone);
- ``corrected-0.5``: the same with a minimum of 0.5 voxel (slightly better on the
  capsules, but the 3D scene's per-vertex correction then departs from the
  engine's two-point one by 0.025 mm on 0.8 mm slices: not the default);
- ``gaussian``: the engine before issue 18 (baseline);
- ``antialias``: ITK's AntiAliasBinaryImageFilter (Whitaker's constrained
  curvature minimisation, SimpleITK, default RMS 0.07), the issue's suggestion,
  on the crop around the closest approach only.

With ``--noisy`` the pairs are scanned instead (``capsule_phantoms.pair_scan``): a
T2-like image of a dark nerve and artery in bright CSF (partial volume from
supersampled coverage, Rician noise at the realistic sample's CISS-like SNR), and
the label map a user would get from it (thresholded half-way, split between the two
structures, specks dropped). Then ``corrected`` (the binary estimate from those
labels) and ``image-edge`` (the same labels with the image, the edge at the
half-way intensity within one voxel of the binary surface) are compared.

``--worst N`` lists the N worst pairs of each estimator (grid, true gap, radii,
oblique or not, error in voxels, whether the labels have face-adjacent voxels).

With ``--case`` it times instead the whole case of ``benchmarks/bench_measure.py``
(512 x 512 x 160 at 0.39 x 0.39 x 0.5 mm, nerve and three vessels; the image a T2-like
rendering of its labels with Rician noise), cold ``CaseMeasurer(...).measure()`` with
each estimator, run alternately, median CPU ms and the ratio to the Gaussian engine.

Run: ``python benchmarks/bench_capsules.py [--seed 300] [--per-grid 24] [--noisy | --case]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "measure"))

from capsule_phantoms import capsule_pair, pair_image, pair_scan, random_rotation  # noqa: E402

from nvcview.measure import surface_gap  # noqa: E402
from nvcview.measure.labelmap import as_label_grid, label_boxes  # noqa: E402
from nvcview.measure.records import MeasureSettings  # noqa: E402
from nvcview.measure.surface import face_adjacent  # noqa: E402

GRIDS = [(0.4, 0.4, 0.8), (0.39, 0.39, 0.5), (0.3, 0.3, 0.6)]
DEFAULT = MeasureSettings()
ESTIMATORS = {
    "corrected": dict(method="corrected", min_sigma_vox=DEFAULT.surface_min_sigma_vox),
    "corrected-0.5": dict(method="corrected", min_sigma_vox=0.5),
    "gaussian": dict(method="gaussian"),
    "antialias": dict(method="antialias"),
}
NOISY = {
    "corrected": dict(method="corrected"),
    "image-edge": dict(method="image-edge"),
    "gaussian": dict(method="gaussian"),
}


def make_pairs(seed: int, per_grid: int, noisy: bool = False) -> list:
    """(spacing, true gap mm, labels, image or None, description) for ``per_grid``
    pairs on each grid."""
    out = []
    for k, spacing in enumerate(GRIDS):
        rng = np.random.default_rng(seed + k)
        noise = np.random.default_rng(seed + 50 + k)
        gaps = np.concatenate([[0.0, 3.0], rng.uniform(0.0, 3.0, per_grid - 2)])
        for i, gap in enumerate(gaps):
            caps = capsule_pair(rng, float(gap), radii=(0.6, 2.0))
            rotation = random_rotation(rng) if i % 2 else np.eye(3)
            what = (
                f"grid {spacing} gap {gap:.2f} radii {caps[0].radius:.2f}/{caps[1].radius:.2f}"
                + (" oblique" if i % 2 else "")
            )
            if noisy:
                img, labels = pair_scan(caps, noise, spacing, rotation)
                out.append((spacing, float(gap), labels, img, what))
            else:
                out.append((spacing, float(gap), pair_image(caps, spacing, rotation), None, what))
    return out


def _adjacent(labels) -> bool:
    grid = as_label_grid(labels)
    full = tuple(slice(0, n) for n in grid.array.shape)
    return bool(len(face_adjacent(grid, full, 1, 2)))


def whole_case(repeat: int) -> None:
    """Cold whole-case measurement per estimator (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_measure import build_case

    from nvcview.measure import CaseMeasurer

    labels, structures, landmarks = build_case()
    arr = labels.array
    signal = np.array([1000.0, 170.0, 70.0, 70.0, 70.0, 70.0], np.float32)[np.minimum(arr, 5)]
    rng = np.random.default_rng(0)
    noisy = signal + rng.normal(0, 45, arr.shape).astype(np.float32)
    noisy = np.hypot(noisy, rng.normal(0, 45, arr.shape).astype(np.float32))  # Rician
    image = np.clip(noisy, 0, 4095).astype(np.uint16)
    del signal, noisy
    methods = ("gaussian", "corrected", "image-edge")
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    gaps: dict[str, list[float]] = {}
    for _ in range(repeat):
        for m in methods:
            c0 = time.process_time()
            recs = CaseMeasurer(
                labels, structures, landmarks, surface_method=m, image=image
            ).measure()
            cpu[m].append((time.process_time() - c0) * 1000)
            gaps[m] = [r.gap_mm for r in recs]
    base = float(np.median(cpu["gaussian"]))
    print(f"whole case {arr.shape}, cold CaseMeasurer.measure(), median CPU of {repeat}:")
    for m in methods:
        med = float(np.median(cpu[m]))
        print(
            f"  {m:11s} {med:8.1f} ms  ({med / base:.2f}x gaussian)  gaps "
            + " ".join(f"{g:.2f}" for g in gaps[m])
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--per-grid", type=int, default=24)
    ap.add_argument("--noisy", action="store_true", help="scanned pairs: image + grown labels")
    ap.add_argument("--worst", type=int, default=0, help="list the N worst pairs")
    ap.add_argument("--case", action="store_true", help="time the whole 512x512x160 case")
    ap.add_argument("--repeat", type=int, default=5, help="with --case: repetitions")
    args = ap.parse_args(argv)
    if args.case:
        whole_case(args.repeat)
        return 0
    pairs = make_pairs(args.seed, args.per_grid, args.noisy)
    estimators = NOISY if args.noisy else ESTIMATORS
    errors: dict[str, list[float]] = {k: [] for k in estimators}
    touching: dict[str, list[float]] = {k: [] for k in estimators}
    missed: dict[str, list[str]] = {k: [] for k in estimators}
    cpu = dict.fromkeys(estimators, 0.0)
    for spacing, gap, labels, img, _ in pairs:
        label_boxes(labels.array)  # warm: the estimators alike
        for name, kw in estimators.items():
            extra = {"image": img} if kw["method"] == "image-edge" else {}
            t0 = time.process_time()
            res = surface_gap(labels, 1, 2, **kw, **extra)
            cpu[name] += time.process_time() - t0
            errors[name].append((res.gap_mm - gap) / max(spacing))
            if not res.gap_low_mm - 1e-9 <= gap <= res.gap_high_mm + 1e-9:
                missed[name].append(f"{gap:.2f} mm in [{res.gap_low_mm}, {res.gap_high_mm}]")
            if gap == 0.0:
                touching[name].append(res.gap_mm)
    kind = "scanned (noisy image, thresholded labels)" if args.noisy else "voxelised"
    print(f"{len(pairs)} {kind} capsule pairs, seed {args.seed}; error in voxels (largest spacing)")
    for name in estimators:
        e = np.array(errors[name])
        print(
            f"{name:14s} mean|e| {np.abs(e).mean():.3f}  signed {e.mean():+.3f}  "
            f"max {np.abs(e).max():.3f}  touching max {max(touching[name]):.3f} mm  "
            f"CPU {cpu[name]:.2f} s ({cpu[name] / cpu['gaussian']:.2f}x gaussian)"
        )
        if missed[name]:
            print(f"  truth outside the interval: {'; '.join(missed[name])}")
    for name in estimators if args.worst else ():
        order = np.argsort(-np.abs(errors[name]))[: args.worst]
        print(f"worst pairs, {name}:")
        for j in order:
            spacing, gap, labels, _, what = pairs[j]
            adj = " (face-adjacent labels)" if _adjacent(labels) else ""
            print(f"  {errors[name][j]:+.3f} voxel  {what}{adj}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
