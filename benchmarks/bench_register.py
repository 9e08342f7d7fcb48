"""Benchmark: rigid TOF -> T2 registration in the CPA region, time and accuracy.

Part 1 (always): a real-size study, a 512 x 512 x 170 TOF (0.35 x 0.35 x 0.7 mm)
after a known head motion (1.5 mm, 2 degrees) onto a 512 x 512 x 160 T2
(0.4 x 0.4 x 0.5 mm), built from the analytic phantom (the CPA box rendered at full
resolution, the rest of the head from a 4x coarser render; Rician noise, bias).
Timed in the same run:

- ours: ``register_series`` (region of 50 mm around the landmarks, residual
  estimate included), and without the residual estimate; the alignment check the
  viewer runs when a study opens (``check_alignment``), with its ratio to the full
  registration; the viewer's Register job and the display resample after Accept
  (in slabs, cancellable);
- baseline 1: an identity resample of the whole TOF onto the T2 grid
  (``resample_to``: what showing the fusion costs anyway);
- baseline 2: SimpleITK's full-volume registration, same metric and schedule,
  without the region (``--full`` only: it takes minutes on 2 cores).

Prints seconds, ratios and the TRE (mm) within 25 mm of the RExP.

Part 2 (``--compare``): the library choice. SimpleITK's ImageRegistrationMethod,
itk-elastix (rigid default map) and dipy (``AffineRegistration`` + ``RigidTransform3D``,
Mattes-style MI) on the same cropped CPA boxes of four small phantom studies with
known motion (two axial, two oblique): TRE median/max and time per case. itk-elastix
and dipy are not nvcview dependencies: install them (or point PYTHONPATH at them)
to run this part; missing ones are reported as such.

Run: ``python benchmarks/bench_register.py [--full] [--compare]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "register"))

from motion_phantoms import _corrupt, moved_study, rigid_motion, tre_mm  # noqa: E402
from nvcview_sample import make_phantom  # noqa: E402
from nvcview_sample.phantom import FULL_FOV_CENTRE  # noqa: E402
from nvcview_sample.render import grid_affine, render  # noqa: E402

from nvcview.io.image import Image, SeriesMeta, make_volume  # noqa: E402
from nvcview.register import (  # noqa: E402
    estimate_misalignment,
    register_series,
    resample_to,
)
from nvcview.register.check import check_alignment  # noqa: E402
from nvcview.register.rigid import _matrix_of, _prepare  # noqa: E402

T2_GRID = ((160, 512, 512), (0.5, 0.4, 0.4))
TOF_GRID = ((170, 512, 512), (0.7, 0.35, 0.35))
FINE_BOX_MM = 64.0


def _render_big(anatomy, affine, shape, role, box_centre, render_affine):
    """Coarse render of the whole field of view, the CPA box at full resolution."""
    coarse_shape = tuple(max(2, n // 4) for n in shape)
    scale = (np.asarray(shape) - 1) / (np.asarray(coarse_shape) - 1)
    coarse_aff = render_affine.copy()
    coarse_aff[:3, :3] = render_affine[:3, :3] * scale
    coarse, _ = render(anatomy, coarse_aff, coarse_shape, role, None)
    out = ndimage.zoom(coarse.astype(np.float32), np.asarray(shape) / coarse_shape, order=1)
    out = out[: shape[0], : shape[1], : shape[2]]
    inv = np.linalg.inv(affine)
    half = FINE_BOX_MM / 2
    corners = np.array(
        [
            [box_centre + half * np.array([a, b, c])]
            for a in (-1, 1)
            for b in (-1, 1)
            for c in (-1, 1)
        ]
    ).reshape(-1, 3)
    ijk = corners @ inv[:3, :3].T + inv[:3, 3]
    lo = np.clip(np.floor(ijk.min(0)).astype(int), 0, shape)
    hi = np.clip(np.ceil(ijk.max(0)).astype(int) + 1, 0, shape)
    sub_aff = render_affine.copy()
    sub_aff[:3, 3] = render_affine[:3, :3] @ lo + render_affine[:3, 3]
    fine, _ = render(anatomy, sub_aff, tuple(int(v) for v in hi - lo), role, None)
    out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = fine
    return out


def build_full_size(seed: int = 0, cache: Path | None = None):
    """(t2, tof, landmarks, true moving_to_fixed) at real size, with a known motion.

    With ``cache``, the rendered arrays are kept there as ``.npy`` (no pickles) and
    reused by the next run (building takes minutes on 2 busy cores).
    """
    ph = make_phantom(seed=seed, gap_mm=0.6)
    motion = rigid_motion((1.5, -1.0, 0.8), (2.0, -1.0, 1.0))
    centre = np.mean(list(ph.landmarks.values()), axis=0)
    rng = np.random.default_rng(seed)
    images = {}
    for role, (shape, spacing) in (("T2", T2_GRID), ("TOF", TOF_GRID)):
        aff = grid_affine(FULL_FOV_CENTRE, spacing, shape)
        path = None if cache is None else cache / f"bench_register_{seed}_{role}.npy"
        if path is not None and path.exists():
            arr = np.load(path, allow_pickle=False)
        else:
            render_aff = aff if role == "T2" else np.linalg.inv(motion) @ aff
            clean = _render_big(ph.anatomy, aff, shape, role, centre, render_aff)
            arr = _corrupt(clean, aff, role, rng, 0.15)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, arr, allow_pickle=False)
        meta = SeriesMeta(series_uid=f"bench-{role}", series_description=f"bench {role}", role=role)
        images[role] = Image(volume=make_volume(arr, aff), meta=meta)
    return images["T2"], images["TOF"], ph.landmarks, np.linalg.inv(motion)


def timed(fn, repeat: int = 1):
    """(best wall seconds, CPU seconds of that run, result)."""
    best, cpu, out = np.inf, 0.0, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        res = fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, cpu, out = wall, time.process_time() - c, res
    return best, cpu, out


def _line(name: str, wall: float, cpu: float, extra: str = "") -> None:
    print(f"{name:34s} {wall:6.2f} s wall {cpu:6.2f} s CPU  {extra}")


def part_full_size(full: bool, cache: Path | None, repeat: int) -> None:
    t0 = time.perf_counter()
    t2, tof, landmarks, truth = build_full_size(cache=cache)
    print(
        f"built T2 {t2.array.shape} and TOF {tof.array.shape} in {time.perf_counter() - t0:.0f} s"
    )
    print(f"load average before timing: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores)")
    rexp = landmarks["RExP"]
    t_ours, c_ours, reg = timed(lambda: register_series(t2, tof, landmarks=landmarks), repeat)
    err = tre_mm(reg.moving_to_fixed_lps, truth, rexp)
    _line(
        "ours (region, with residual):",
        t_ours,
        c_ours,
        f"TRE median {np.median(err):.3f} max {err.max():.3f} mm, estimated residual "
        f"{reg.residual_mm:.3f} mm, {reg.iterations} iterations",
    )
    t_fast, c_fast, reg_fast = timed(
        lambda: register_series(t2, tof, landmarks=landmarks, estimate_residual=False), repeat
    )
    err_fast = tre_mm(reg_fast.moving_to_fixed_lps, truth, rexp)
    _line(
        "ours (region, no residual):",
        t_fast,
        c_fast,
        f"TRE median {np.median(err_fast):.3f} max {err_fast.max():.3f} mm",
    )
    # the check the viewer runs by itself when a study opens (a worker per case)
    t_mis, c_mis, chk = timed(lambda: check_alignment(t2, tof, landmarks=landmarks), repeat)
    _line(
        "ours, alignment check on open:",
        t_mis,
        c_mis,
        f"estimate {chk.misalignment_mm:.2f} mm (misaligned: {chk.misaligned}); ratio to the "
        f"full registration {t_mis / t_ours:.2f} wall, {c_mis / c_ours:.2f} CPU",
    )
    t_est, c_est, mis = timed(lambda: estimate_misalignment(t2, tof, landmarks=landmarks), repeat)
    _line("  (estimate_misalignment alone):", t_est, c_est, f"estimate {mis:.2f} mm")
    t_res, c_res, _ = timed(lambda: resample_to(tof, t2, np.eye(4)), repeat)
    _line(
        "baseline identity resample:",
        t_res,
        c_res,
        f"ratio ours/baseline {t_ours / t_res:.2f} wall, {c_ours / c_res:.2f} CPU",
    )
    from napari_nvcview.registration_panel import register_job

    t_view, c_view, _ = timed(
        lambda: register_job(t2, tof, landmarks, None, "checkerboard"), repeat
    )
    _line(
        "viewer Register (+ region, check):",
        t_view,
        c_view,
        "register_job: registration, the TOF resampled over the region, the checkerboard",
    )
    t_show, c_show, _ = timed(
        lambda: resample_to(
            tof, t2, reg.moving_to_fixed_lps, progress=lambda f, t: None, cancel=lambda: False
        ),
        repeat,
    )
    _line(
        "viewer Accept: display resample:",
        t_show,
        c_show,
        f"in 8 slabs (cancellable); ratio to one piece {t_show / t_res:.2f} wall",
    )
    if full:
        t_full, c_full, reg_full = timed(
            lambda: register_series(
                t2, tof, landmarks=landmarks, region_mm=1000.0, estimate_residual=False
            )
        )
        e = tre_mm(reg_full.moving_to_fixed_lps, truth, rexp)
        _line(
            "baseline SimpleITK full volume:",
            t_full,
            c_full,
            f"TRE median {np.median(e):.3f} max {e.max():.3f} mm, ratio baseline/ours "
            f"(no residual) {t_full / t_fast:.1f} wall, {c_full / c_fast:.1f} CPU",
        )
    print(f"load average after timing: {os.getloadavg()[0]:.1f}")
    print(f"target: at most 5 s wall -> {'met' if t_ours <= 5.0 else 'NOT met'} on this run")


CASES = [
    ((1.5, -1.0, 0.5), (0.0, 0.0, 1.0), False),
    ((1.0, 1.0, -1.0), (2.0, -1.0, 1.5), False),
    ((-2.0, 0.5, 1.0), (-1.0, 3.0, 0.0), True),
    ((0.5, 1.5, 1.0), (3.0, 0.0, -2.0), True),
]


def _sitk_arrays(img):
    import SimpleITK as sitk

    return (
        sitk.GetArrayFromImage(img),
        np.array(img.GetSpacing()),
        np.array(img.GetDirection()).reshape(3, 3),
        np.array(img.GetOrigin()),
    )


def _elastix(f_img, m_img, centre):
    import itk

    def to_itk(img):
        arr, sp, d, o = _sitk_arrays(img)
        out = itk.image_from_array(np.ascontiguousarray(arr.astype(np.float32)))
        out.SetSpacing(sp.tolist())
        out.SetOrigin(o.tolist())
        out.SetDirection(itk.matrix_from_array(d))
        return out

    params = itk.ParameterObject.New()
    pm = params.GetDefaultParameterMap("rigid")
    pm["WriteResultImage"] = ["false"]
    pm["NumberOfResolutions"] = ["3"]
    pm["NumberOfSpatialSamples"] = ["8192"]
    params.AddParameterMap(pm)
    _, tp = itk.elastix_registration_method(
        to_itk(f_img), to_itk(m_img), parameter_object=params, log_to_console=False
    )
    p = [float(v) for v in tp.GetParameter(0, "TransformParameters")]
    c = [float(v) for v in tp.GetParameter(0, "CenterOfRotationPoint")]
    import SimpleITK as sitk

    tx = sitk.Euler3DTransform()
    tx.SetCenter(c)
    tx.SetParameters(p)
    return np.linalg.inv(_matrix_of(tx))


def _dipy(f_img, m_img, centre):
    from dipy.align.imaffine import AffineRegistration, MutualInformationMetric
    from dipy.align.transforms import RigidTransform3D

    def grid(img):
        arr, sp, d, o = _sitk_arrays(img)
        # sitk array is [k, j, i]; put it back in (i, j, k) order for a plain affine
        aff = np.eye(4)
        aff[:3, :3] = d * sp
        aff[:3, 3] = o
        return np.ascontiguousarray(arr.transpose(2, 1, 0).astype(np.float64)), aff

    fa, faff = grid(f_img)
    ma, maff = grid(m_img)
    reg = AffineRegistration(
        metric=MutualInformationMetric(32, 0.15),
        level_iters=[200, 100, 50],
        sigmas=[2.0, 1.0, 0.0],
        factors=[4, 2, 1],
        verbosity=0,
    )
    amap = reg.optimize(fa, ma, RigidTransform3D(), None, faff, maff, starting_affine=np.eye(4))
    return np.linalg.inv(amap.affine)  # dipy's affine maps static (fixed) -> moving points


def _ours(study):
    return register_series(
        study.t2, study.tof, landmarks=study.phantom.landmarks, estimate_residual=False
    ).moving_to_fixed_lps


def part_compare() -> None:
    methods = {"SimpleITK": None, "itk-elastix": _elastix, "dipy": _dipy}
    for name, fn in methods.items():
        if fn is None:
            continue
        try:
            __import__("itk" if name == "itk-elastix" else "dipy")
        except ImportError:
            print(f"{name}: not installed, skipped")
            methods[name] = False  # type: ignore[assignment]
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in methods}
    for shift, rot, oblique in CASES:
        s = moved_study(shift, rot, oblique=oblique)
        rexp = s.phantom.landmarks["RExP"]
        region, f_img, m_img, _ = _prepare(s.t2, s.tof, s.phantom.landmarks, None, 50.0)
        for name, fn in methods.items():
            if fn is False:
                continue
            if fn is None:
                t, _, m = timed(lambda s=s: _ours(s))
            else:
                c = region.mean(0)
                t, _, m = timed(lambda fn=fn, f=f_img, mv=m_img, c=c: fn(f, mv, c))
            e = tre_mm(m, s.true_moving_to_fixed, rexp)
            results[name].append((float(np.median(e)), float(e.max()), t))
            print(
                f"  {name:12s} shift {shift} rot {rot} {'oblique' if oblique else 'axial  '}: "
                f"TRE median {np.median(e):.3f} max {e.max():.3f} mm, {t:.2f} s"
            )
    for name, rows in results.items():
        if rows:
            a = np.array(rows)
            print(
                f"{name:12s}: TRE median of medians {np.median(a[:, 0]):.3f} mm, worst max "
                f"{a[:, 1].max():.3f} mm, mean time {a[:, 2].mean():.2f} s"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also time the full-volume baseline")
    ap.add_argument("--compare", action="store_true", help="compare libraries on small studies")
    ap.add_argument("--skip-size", action="store_true", help="skip the real-size part")
    ap.add_argument("--cache", type=Path, help="folder keeping the rendered real-size arrays")
    ap.add_argument("--repeat", type=int, default=1, help="best of N timings (1)")
    args = ap.parse_args()
    if not args.skip_size:
        part_full_size(args.full, args.cache, args.repeat)
    if args.compare:
        part_compare()


if __name__ == "__main__":
    main()
