"""Benchmark: measuring every vessel of a case vs a full-volume distance transform.

A 512 x 512 x 160 label map (0.39 x 0.39 x 0.5 mm) holds a facial nerve and three
vessels (AICA touching it, PICA 1.5 mm away, VA 4 mm away). Timed in the same run:

- baseline: ``scipy.ndimage.distance_transform_edt`` (with the voxel sampling in mm)
  from the nerve, read at the vessel voxels: one pair, over the nerve's and the AICA's
  boxes grown by 10 mm (``--full-edt``: the whole volume, 10-25 s a repetition);
  an edit's own baseline is the whole case measured afresh (the cold figure);
- ours, cold: ``CaseMeasurer(...)`` (one ``find_objects`` scan) + ``measure()``
  for all vessels (centreline derived from the nerve label);
- ours, after a vessel edit: ``update(region=...)`` + ``measure()``, once far from
  the nerve (cached pairs kept) and once at the contact (that pair recomputed);
- ours, after a nerve edit: the same, centreline and nerve geometry recomputed;
- a brush stroke, the viewer's headless path: 20 strokes (a ball of radius 3
  voxels painted onto the AICA at its contact with the nerve, then erased, moving
  along the vessel), each ``CaseSession.labels_edited(box)`` + ``CaseSession.measure()``
  (the session's cached :class:`~nvcview.measure.live.LiveMeasurer`, comparing only
  the boxes edited since); p95 and median, wall and CPU, and the measurement's
  share alone; the baseline is a fresh ``measure_case`` of the same map after a
  stroke, and the same strokes measured comparing the whole map.

Each edit paints a 4-voxel block and the next repetition restores it, so every
repetition really changes voxels (an edit repeated on already painted voxels
changes nothing and would time only the cache lookup).

Prints medians (ms; wall time and, since the machine may be shared, this process's
CPU time) and the ratios baseline / ours. Also, in the same run (the compared
variants run alternately, so that other processes' load hits both alike):

- the whole case with today's corrected surfaces vs the earlier Gaussian estimator
  (``CaseMeasurer(..., surface_method="gaussian")``), ratio printed (issue 18: no slower);
- the whole case with a CN VIII label vs without (issue 12: at most 1.2x);
- a cold ``surface_gap`` of one pair on the map in Fortran order, as NIfTI files load
  (issue 12: at most 50 ms), against ``scipy.ndimage.find_objects`` of that array alone.

Run: ``python benchmarks/bench_measure.py``.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import nullcontext

import numpy as np
from scipy import ndimage

from nvcview.case import CaseSession
from nvcview.io.image import Image, make_volume
from nvcview.measure import CaseMeasurer, measure_case, surface_gap
from nvcview.review.model import Review
from nvcview.structures import Structure

SHAPE = (512, 512, 160)
SPACING = (0.39, 0.39, 0.5)


def _paint_capsule(arr, affine, p0, p1, radius, value):
    """Set voxels within ``radius`` mm of segment p0-p1 (LPS mm) to ``value``, in its box."""
    inv = np.linalg.inv(affine)
    ends = np.array([p0, p1]) @ inv[:3, :3].T + inv[:3, 3]
    reach = radius / np.array(SPACING) + 2
    lo = np.maximum(np.floor(ends.min(0) - reach).astype(int), 0)
    hi = np.minimum(np.ceil(ends.max(0) + reach).astype(int) + 1, arr.shape)
    idx = np.stack(
        np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij"), -1
    )
    xyz = idx @ affine[:3, :3].T + affine[:3, 3]
    d = p1 - p0
    t = np.clip(((xyz - p0) @ d) / (d @ d), 0, 1)
    inside = np.linalg.norm(xyz - (p0 + t[..., None] * d), axis=-1) <= radius
    sub = arr[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    sub[inside & (sub == 0)] = value


def build_case(with_cn8: bool | str = False):
    """The bench case: label map (Image), structures, landmarks (LPS mm).

    ``with_cn8``: False (no CN VIII), True or "bench" (CN VIII 3.8 mm below VII and
    1.5 mm anterior, parallel to it: the VA, which runs 30 mm along the nerves,
    passes 0.33 mm from it, so that pair is measured in full), or "anatomic" (CN
    VIII posterior-inferior of VII, 2.7 mm axis to axis at the brainstem converging
    to 1.8 mm at the IAC, as in the CPA: only the PICA, which crosses under both
    nerves, comes near it).
    """
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = -np.array(SHAPE) * np.array(SPACING) / 2
    arr = np.zeros(SHAPE, np.uint8)
    rexp = np.array([2.0, 4.0, 0.0])
    iac = rexp + np.array([14.0, -6.0, 2.0])
    t = (iac - rexp) / np.linalg.norm(iac - rexp)
    up = np.array([0, 0, 1.0]) - t[2] * t
    up /= np.linalg.norm(up)
    w = np.cross(t, up)
    _paint_capsule(arr, affine, rexp, iac, 0.9, 1)  # facial nerve
    c = rexp + 5 * t + up * 1.9  # AICA touching from above
    _paint_capsule(arr, affine, c - 8 * w, c + 8 * w, 1.0, 2)
    c = rexp + 10 * t - up * (0.9 + 1.2 + 1.5)  # PICA 1.5 mm below
    _paint_capsule(arr, affine, c - 8 * w, c + 8 * w, 1.2, 3)
    c = rexp + 3 * t - up * (0.9 + 2.0 + 4.0)  # VA 4 mm below, running along
    _paint_capsule(arr, affine, c - 15 * t, c + 15 * t, 2.0, 4)
    if with_cn8 == "anatomic":  # posterior-inferior (w points anterior), converging
        _paint_capsule(arr, affine, rexp - up * 1.6 - w * 2.2, iac - up * 1.2 - w * 1.4, 0.9, 5)
    elif with_cn8:  # CN VIII 3.8 mm below VII (axis to axis), along it
        off = -up * 3.8 + w * 1.5
        _paint_capsule(arr, affine, rexp + off, iac + off, 0.9, 5)
    structures = [
        Structure(1, "facial nerve", "nerve", nerve="VII"),
        Structure(2, "AICA", "vessel", "AICA"),
        Structure(3, "PICA", "vessel", "PICA"),
        Structure(4, "VA", "vessel", "VA"),
    ]
    if with_cn8:
        structures.append(Structure(5, "CN VIII", "nerve", nerve="VIII"))
    landmarks = {"RExP": rexp, "RDP": rexp + 4 * t, "IAC": iac}
    return Image(volume=make_volume(arr, affine)), structures, landmarks


#: margin (mm) of the cropped EDT baseline around the nerve and AICA boxes
EDT_MARGIN_MM = 10.0


def edt_baseline(arr: np.ndarray, full: bool = False) -> float:
    """EDT from the nerve (mm), min over the AICA voxels (one pair): over the whole
    volume (``full``), else over the two labels' box grown by :data:`EDT_MARGIN_MM`
    (the same answer, as a careful script would crop)."""
    if not full:
        boxes = ndimage.find_objects(arr)
        reach = np.ceil(EDT_MARGIN_MM / np.array(SPACING)).astype(int)
        lo = np.minimum([s.start for s in boxes[0]], [s.start for s in boxes[1]]) - reach
        hi = np.maximum([s.stop for s in boxes[0]], [s.stop for s in boxes[1]]) + reach
        lo, hi = np.maximum(lo, 0), np.minimum(hi, arr.shape)
        arr = arr[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))]
    dist = ndimage.distance_transform_edt(arr != 1, sampling=SPACING)
    return float(dist[arr == 2].min())


#: CPU time (ms, median) of the last ``_median_ms`` call: on a shared machine the
#: wall time also counts other processes' turns, the process CPU time does not
LAST_CPU_MS = [0.0]


def _median_ms(fn, repeat: int) -> tuple[float, object]:
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    LAST_CPU_MS[0] = float(np.median(cpu))
    return float(np.median(times)), out


def _paired_ms(fa, fb, repeat: int) -> tuple[tuple[float, float], tuple[float, float], list]:
    """Medians (wall ms, CPU ms) of ``fa`` and ``fb`` run alternately (so that load
    from other processes hits both alike), and the last outputs."""
    wa, ca, wb, cb, outs = [], [], [], [], [None, None]
    for _ in range(repeat):
        for k, (fn, w, c) in enumerate(((fa, wa, ca), (fb, wb, cb))):
            t0, c0 = time.perf_counter(), time.process_time()
            outs[k] = fn()
            w.append((time.perf_counter() - t0) * 1000)
            c.append((time.process_time() - c0) * 1000)
    med = [float(np.median(x)) for x in (wa, ca, wb, cb)]
    return (med[0], med[1]), (med[2], med[3]), outs


def brush_strokes(n: int = 20, whole_map: bool = False) -> dict[str, np.ndarray]:
    """Time ``n`` brush strokes through the session (see the module docstring).

    ``CaseSession.measure`` compares only the union of the boxes edited since the
    last measurement; ``whole_map``: measure through ``fresh_measurements`` instead,
    which compares the whole map (what ``measure`` did before the edit boxes).

    Returns per-stroke arrays (ms): "edit_wall", "edit_cpu" (``labels_edited``),
    "measure_wall", "measure_cpu" (``measure``), and "fresh_wall" for a fresh
    ``measure_case`` after three of the strokes (the baseline).
    """
    labels, structures, landmarks = build_case()
    arr = labels.array.astype(np.uint16)
    ref = Image(volume=make_volume(np.zeros(arr.shape, np.uint8), labels.affine))
    review = Review(case_id="bench", side="left", reader="bench")
    review.structures = list(structures)
    review.landmarks = {k: [float(x) for x in v] for k, v in landmarks.items()}
    s = CaseSession(t2=ref, labels=arr, review=review)
    aica = next(r for r in s.measure() if r.vessel_label == 2)
    inv = np.linalg.inv(labels.affine)
    centre = np.rint(inv[:3, :3] @ np.asarray(aica.vessel_point_lps) + inv[:3, 3]).astype(int)
    r = 3
    ball = np.sum(np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1] ** 2, axis=0) <= r * r
    out: dict[str, list[float]] = {k: [] for k in ("edit_wall", "edit_cpu", "measure_wall")}
    out.update(measure_cpu=[], fresh_wall=[])
    painted = None
    for i in range(n):
        c = centre + np.array([0, i // 2 - n // 4, 0])  # along the AICA (array axis 1)
        box = tuple(slice(int(v) - r, int(v) + r + 1) for v in c)
        sub = s.labels[box]
        if i % 2 == 0:  # a dab of AICA on its background
            painted = ball & (sub == 0)
            sub[painted] = 2
        else:  # erased again
            sub[painted] = 0
        t0, c0 = time.perf_counter(), time.process_time()
        s.labels_edited(box)
        t1, c1 = time.perf_counter(), time.process_time()
        if whole_map:
            s.fresh_measurements()
        else:
            s.measure()
        t2, c2 = time.perf_counter(), time.process_time()
        out["edit_wall"].append((t1 - t0) * 1000)
        out["edit_cpu"].append((c1 - c0) * 1000)
        out["measure_wall"].append((t2 - t1) * 1000)
        out["measure_cpu"].append((c2 - c1) * 1000)
        if i % 7 == 0:
            t3 = time.perf_counter()
            fresh = measure_case(s.labels_image(), s.structures, s.review.landmarks)
            out["fresh_wall"].append((time.perf_counter() - t3) * 1000)
            got = [(m.vessel_label, m.gap_mm) for m in s.measurements]
            want = [(m.vessel_label, m.gap_mm) for m in fresh]
            assert got == want, (got, want)  # the live result is the fresh one
    return {k: np.asarray(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="repetitions of our measure")
    ap.add_argument("--strokes", type=int, default=20, help="brush strokes timed")
    ap.add_argument(
        "--repeat-pairs",
        type=int,
        default=15,
        help="alternated repetitions of the whole-case comparisons (CN VIII, Gaussian)",
    )
    ap.add_argument("--repeat-edt", type=int, default=3, help="repetitions of the EDT")
    ap.add_argument(
        "--full-edt",
        action="store_true",
        help="the EDT baseline over the whole volume (10-25 s per repetition) instead of"
        " the nerve and AICA boxes grown by 10 mm",
    )
    args = ap.parse_args()
    t_start, c_start = time.perf_counter(), time.process_time()

    labels, structures, landmarks = build_case()
    arr = labels.array
    print(f"label map {arr.shape} voxels {SPACING} mm, {len(structures) - 1} vessels")

    edt_ms, edt_gap = _median_ms(lambda: edt_baseline(arr, args.full_edt), args.repeat_edt)
    edt_what = (
        "full-volume EDT" if args.full_edt else f"EDT over the pair's boxes + {EDT_MARGIN_MM:g} mm"
    )

    def cold():
        return CaseMeasurer(labels, structures, landmarks).measure()

    cold_ms, recs = _median_ms(cold, args.repeat)
    cold_cpu = LAST_CPU_MS[0]

    m = CaseMeasurer(labels, structures, landmarks)
    m.measure()
    vbox = m.boxes[3]
    region = tuple(slice(s.start, s.start + 4) for s in vbox)  # a brush stroke on the PICA

    def toggler(box, value):
        """An edit that changes voxels every time: paint ``value`` on the background
        of ``box``, then (next call) restore it, alternately."""
        before = arr[box].copy()
        state = {"on": False}

        def edit():
            state["on"] = not state["on"]
            arr[box] = np.where(before == 0, value, before) if state["on"] else before
            m.update(region=box)
            return m.measure()

        return edit

    after_vessel_edit = toggler(region, 3)

    vessel_ms, _ = _median_ms(after_vessel_edit, args.repeat)
    vessel_cpu = LAST_CPU_MS[0]
    pica = next(r for r in m.measure() if r.vessel_label == 3)
    inv = np.linalg.inv(labels.affine)
    at = np.rint(inv[:3, :3] @ np.asarray(pica.vessel_point_lps) + inv[:3, 3]).astype(int)
    cregion = tuple(slice(int(c) - 2, int(c) + 2) for c in at)  # a stroke at the contact

    after_contact_edit = toggler(cregion, 3)

    contact_ms, _ = _median_ms(after_contact_edit, args.repeat)
    contact_cpu = LAST_CPU_MS[0]
    nbox = m.boxes[1]
    mid = [(s.start + s.stop) // 2 for s in nbox]
    nregion = tuple(slice(c - 2, c + 2) for c in mid)

    after_nerve_edit = toggler(nregion, 1)

    nerve_ms, _ = _median_ms(after_nerve_edit, args.repeat)
    nerve_cpu = LAST_CPU_MS[0]

    print(f"baseline {edt_what}, one pair: {edt_ms:9.1f} ms (AICA voxel gap {edt_gap:.2f} mm)")
    print(
        f"{'ours cold, all vessels':36s}: {cold_ms:9.1f} ms (CPU {cold_cpu:7.1f} ms)"
        f"  EDT / ours {edt_ms / cold_ms:7.1f}x"
    )
    # an edit's baseline: measuring the whole case afresh (what it would cost uncached)
    rows = [
        ("ours after a vessel edit, far", vessel_ms, vessel_cpu),
        ("ours after a vessel edit at contact", contact_ms, contact_cpu),
        ("ours after a nerve edit", nerve_ms, nerve_cpu),
    ]
    for name, ms, cpu in rows:
        print(
            f"{name:36s}: {ms:9.1f} ms (CPU {cpu:7.1f} ms)  EDT / ours {edt_ms / ms:7.1f}x;"
            f" fresh whole case / ours {cold_ms / ms:5.2f}x (CPU {cold_cpu / cpu:5.2f}x)"
        )
    for r in recs:
        print(
            f"  {r.vessel_name:5s} gap {r.gap_mm:5.2f} mm (res {r.resolution_mm:.2f}) "
            f"{r.segment} grade {r.suggested_grade}"
        )
    target = 50.0
    worst = max(vessel_ms, contact_ms, nerve_ms)
    worst_cpu = max(vessel_cpu, contact_cpu, nerve_cpu)
    print(
        f"target <= {target:.0f} ms after an edit: wall {'met' if worst <= target else 'NOT met'}"
        f", CPU {'met' if worst_cpu <= target else 'NOT met'}"
    )

    # issue 12: brush strokes through the session (the viewer's headless path)
    st = brush_strokes(args.strokes)
    tot_w = st["edit_wall"] + st["measure_wall"]
    tot_c = st["edit_cpu"] + st["measure_cpu"]
    fresh = float(np.median(st["fresh_wall"]))
    p95 = float(np.percentile(tot_w, 95))
    print(
        f"brush stroke at the contact, {len(tot_w)} strokes (labels_edited + measure):"
        f" p95 {p95:7.1f} ms wall (CPU {np.percentile(tot_c, 95):.1f}),"
        f" median {np.median(tot_w):.1f} ms (CPU {np.median(tot_c):.1f});"
        f" of which measure p95 {np.percentile(st['measure_wall'], 95):.1f} ms"
        f" (CPU {np.percentile(st['measure_cpu'], 95):.1f});"
        f" fresh measure_case {fresh:.1f} ms: ratio {fresh / p95:5.1f}x (target <= 50)"
    )

    sh = brush_strokes(args.strokes, whole_map=True)
    mc, wc = np.percentile(st["measure_cpu"], 95), np.percentile(sh["measure_cpu"], 95)
    print(
        f"  the same strokes measured comparing the whole map (fresh_measurements, as"
        f" before the edit boxes): measure p95 {np.percentile(sh['measure_wall'], 95):.1f} ms"
        f" (CPU {wc:.1f}): edit boxes / whole map {mc / wc:.2f} (CPU);"
        f" labels_edited p95 {np.percentile(st['edit_wall'], 95):.1f} ms"
        f" (CPU {np.percentile(st['edit_cpu'], 95):.1f}, its box only)"
    )

    # issue 18: whole case, corrected surfaces vs the earlier Gaussian estimator
    def old_cold():
        return CaseMeasurer(labels, structures, landmarks, surface_method="gaussian").measure()

    labels, structures, landmarks = build_case()
    (new_ms, new_cpu), (old_ms, old_cpu), (new_recs, old_recs) = _paired_ms(
        cold, old_cold, args.repeat_pairs
    )
    print(
        f"whole case, corrected surfaces : {new_ms:9.1f} ms; earlier Gaussian: {old_ms:9.1f} ms;"
        f" ratio ours/earlier {new_ms / old_ms:5.2f} (CPU {new_cpu:.1f} / {old_cpu:.1f} ms:"
        f" {new_cpu / old_cpu:5.2f}) (target <= 1.0)"
    )
    for a, b in zip(new_recs, old_recs, strict=True):
        print(
            f"  {a.vessel_name:5s} gap {a.gap_mm:5.2f} [{a.gap_low_mm:.2f}-{a.gap_high_mm:.2f}] mm"
            f" (earlier {b.gap_mm:5.2f})"
        )

    # issue 12: CN VIII present vs absent (prefiltered by box bounds)
    lab8, st8, lm8 = build_case(with_cn8=True)
    (with8_ms, with8_cpu), (wo_ms, wo_cpu), _ = _paired_ms(
        lambda: CaseMeasurer(lab8, st8, lm8).measure(), cold, args.repeat_pairs
    )
    print(
        f"whole case with CN VIII: {with8_ms:9.1f} ms vs without {wo_ms:9.1f} ms:"
        f" ratio {with8_ms / wo_ms:5.2f} (CPU {with8_cpu / wo_cpu:5.2f}) (target <= 1.2)"
    )
    for r in CaseMeasurer(lab8, st8, lm8).measure():
        print(f"  {r.vessel_name:5s} to CN VIII: {r.relation_to_cn8}")
    # the same with CN VIII where it lies in the CPA (posterior-inferior of VII)
    laba, sta, lma = build_case(with_cn8="anatomic")
    (witha_ms, witha_cpu), (woa_ms, woa_cpu), _ = _paired_ms(
        lambda: CaseMeasurer(laba, sta, lma).measure(), cold, args.repeat_pairs
    )
    print(
        f"whole case with CN VIII posterior-inferior (anatomic): {witha_ms:9.1f} ms vs without"
        f" {woa_ms:9.1f} ms: ratio {witha_ms / woa_ms:5.2f} (CPU {witha_cpu / woa_cpu:5.2f})"
        " (target <= 1.2)"
    )
    for r in CaseMeasurer(laba, sta, lma).measure():
        print(f"  {r.vessel_name:5s} to CN VIII: {r.relation_to_cn8}")

    # issue 12: a cold surface_gap of one pair on a Fortran-ordered map (NIfTI load)
    fortran = Image(volume=make_volume(np.asfortranarray(arr), labels.affine))
    fo_ms, _ = _median_ms(lambda: ndimage.find_objects(fortran.array), 1)
    gap_ms, g = _median_ms(lambda: surface_gap(fortran, 1, 2), args.repeat)
    print(
        f"cold surface_gap, Fortran-ordered {arr.shape}: {gap_ms:7.1f} ms"
        f" (CPU {LAST_CPU_MS[0]:.1f} ms) (target <= 50);"
        f" find_objects on that array alone {fo_ms:7.1f} ms: ratio {fo_ms / gap_ms:5.1f}x"
    )
    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else nullcontext() as f:
        load = f.read().split()[0] if f is not None else "?"
    print(
        f"bench run: {time.perf_counter() - t_start:.1f} s wall,"
        f" {time.process_time() - c_start:.1f} s CPU; 1-min load {load}"
    )


if __name__ == "__main__":
    main()
