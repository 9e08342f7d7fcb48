"""Segmentation: accuracy sweep on realistic phantoms, and speed against SimpleITK filters.

Usage::

    python benchmarks/bench_segment.py sweep [N]     # N realistic variants (default 20)
    python benchmarks/bench_segment.py speed         # 512x512x170 grow / nerve, vesselness

The sweep drives :func:`nvcview.segment.study.segment_study` as ``nvcview segment``
does, from the landmarks and one seed per vessel (the vessel's centreline point
nearest the nerve, i.e. where a reader would click), never from the truth labels,
then measures with :func:`nvcview.measure.case.measure_case` and compares with
truth.json. Speed prints our time, SimpleITK's ConfidenceConnected and
FastMarching on the same region, and the ratio.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy import ndimage

from nvcview.io.image import make_volume
from nvcview.measure.case import measure_case
from nvcview.measure.uncertainty import grades_within_resolution
from nvcview.segment.study import segment_study

VARIANTS = [
    dict(seed=s, oblique=bool(s % 2), side="left" if s % 3 else "right",
         segment=("AS", "RExP", "RDP", "cisternal")[s % 4],
         gap_mm=(0.0, 0.5, 1.0, 0.0, 1.4)[s % 5], indent_mm=0.3 if s % 5 == 3 else 0.0)
    for s in range(40)
]  # fmt: skip


def contamination(ph, labels: np.ndarray, structures) -> dict:
    """Per vessel label: the largest fraction of its voxels that belong to one other truth
    vessel. ``raw`` counts the truth label map as it is; ``outside_own`` is the scoring
    rule of issue 13: a voxel that lies inside *both* truth tubes (the label's own and the
    other vessel's: where two tubes overlap at a junction or a crossing the phantom's
    label map gives the voxel to the tube drawn last, e.g. the vertebral artery's end cap
    inside the basilar origin) counts for neither -- both tubes claim it, both answers
    are right there. The denominator stays every voxel of the label. ``no_contra`` is
    ``outside_own`` with the label's voxels inside the contralateral vertebral artery
    (rendered on the TOF as an artery, but not labelled in the truth map, and outside
    the label's own tube) left out of the denominator: a basilar that continues into
    it, as a reader's would, is not diluted by it."""
    truth_l = ph.labels.array
    truth_by_type = {v["vessel_type"]: v for v in ph.truth["vessels"]}
    out = {}
    for s in structures:
        if s.kind != "vessel":
            continue
        m = labels == s.label
        if not m.any():
            continue
        own = truth_by_type[s.vessel_type]["label"]
        ijk = np.argwhere(m)
        lps = ijk @ ph.t2.affine[:3, :3].T + ph.t2.affine[:3, 3]
        in_own = ph.anatomy.tubes[s.vessel_type].sdf(lps) < 0
        tl = truth_l[tuple(ijk.T)]
        contra = ph.anatomy.contra_tubes[2:]  # the contralateral VA
        in_contra = np.zeros(len(tl), bool)
        for t in contra:
            in_contra |= (t.sdf(lps) < 0) & ~in_own
        n_no_contra = max(1, len(tl) - int(in_contra.sum()))
        raw = outside = no_contra = 0.0
        for v in ph.truth["vessels"]:
            if v["label"] != own:
                hit = tl == v["label"]
                raw = max(raw, float(hit.sum() / len(tl)))
                in_other = np.zeros(len(tl), bool)
                if hit.any():
                    in_other[hit] = ph.anatomy.tubes[v["vessel_type"]].sdf(lps[hit]) < 0
                both = in_own & in_other  # claimed by both truth tubes: counts for neither
                outside = max(outside, float((hit & ~both).sum() / len(tl)))
                no_contra = max(no_contra, float((hit & ~both).sum() / n_no_contra))
        out[s.vessel_type] = {"raw": raw, "outside_own": outside, "no_contra": no_contra}
    return out


def evaluate(ph) -> dict:
    """Segment a phantom from landmarks + one seed per vessel and score it against truth."""
    vessels = [(v["vessel_type"], v["vessel_axis_point_lps"]) for v in ph.truth["vessels"]]
    t0 = time.perf_counter()
    seg = segment_study(
        ph.t2.array, ph.t2.affine, ph.tof.array, ph.tof.affine, ph.landmarks, vessels,
        ph.truth["side"],
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    truth_l = ph.labels.array
    lab = seg.labels
    spacing = np.linalg.norm(ph.t2.affine[:3, :3], axis=0)
    # nerve Dice over the cisternal course (truth label up to the IAC porus; the
    # truth tube continues into the canal, which the landmarks do not reach)
    idx = np.argwhere(truth_l == 2)
    lps = idx @ ph.t2.affine[:3, :3].T + ph.t2.affine[:3, 3]
    tang = ph.centreline[-1] - ph.centreline[-5]
    keep = (lps - ph.centreline[-1]) @ (tang / np.linalg.norm(tang)) <= 0
    cpa = np.zeros(truth_l.shape, bool)
    cpa[tuple(idx[keep].T)] = True
    nerve = lab == 2
    dice = 2 * (nerve & cpa).sum() / (nerve.sum() + cpa.sum())
    depth = ndimage.distance_transform_edt(truth_l == 1, sampling=spacing)
    in_pons = int(((lab > 0) & (depth > spacing.max())).sum())
    # our label -> truth label by vessel type
    truth_by_type = {v["vessel_type"]: v for v in ph.truth["vessels"]}
    contam = contamination(ph, lab, seg.structures)
    worst_contam = max((c["raw"] for c in contam.values()), default=0.0)
    worst_outside = max((c["outside_own"] for c in contam.values()), default=0.0)
    worst_no_contra = max((c["no_contra"] for c in contam.values()), default=0.0)
    recs = measure_case(make_volume(lab, ph.t2.affine), seg.structures, ph.landmarks,
                        centreline=seg.centreline_lps)  # fmt: skip
    errs, aica = [], {}
    for r in recs:
        tv = truth_by_type[r.vessel_type]
        e = r.gap_mm - tv["gap_mm"]
        if tv["gap_mm"] <= 5.0:
            errs.append(abs(e))
        if r.vessel_type == "AICA":
            # the truth's grade as a measurement at this resolution can give it (a
            # 0.3 mm dent at 0.4 mm voxels may read contact): the core's one rule
            ok = grades_within_resolution(tv["gap_mm"], tv["indentation_depth_mm"],
                                          r.resolution_mm)  # fmt: skip
            aica = {"err": e, "grade": r.grade, "truth_grade": tv["grade"],
                    "grade_ok": r.grade in ok, "grade_exact": r.grade == tv["grade"],
                    "segment": r.segment, "truth_segment": tv["segment"]}  # fmt: skip
    return {
        "time_s": elapsed,
        "dice": float(dice),
        "in_pons": in_pons,
        "contamination": worst_contam,
        "contamination_outside_own": worst_outside,
        "contamination_no_contra": worst_no_contra,
        "mean_err_5mm": float(np.mean(errs)) if errs else 0.0,
        **{f"aica_{k}": v for k, v in aica.items()},
    }


def sweep(n: int) -> int:
    from nvcview_sample import make_phantom

    rows = []
    for params in VARIANTS[:n]:
        ph = make_phantom(realistic=True, **params)
        r = evaluate(ph)
        rows.append(r)
        grade_ok = r["aica_grade_ok"]
        seg_ok = r["aica_segment"] == r["aica_truth_segment"]
        print(
            f"seed {params['seed']:2d} {'obl' if params['oblique'] else 'ax '} {params['side']:5s} "
            f"{params['segment']:9s} gap {params['gap_mm']:.1f} ind {params['indent_mm']:.1f} | "
            f"AICA err {r['aica_err']:+.2f} grade {r['aica_grade']}/{r['aica_truth_grade']}"
            f"{'' if grade_ok else ' X'} seg {'ok' if seg_ok else r['aica_segment'] + ' X'} | "
            f"mean|err|<5mm {r['mean_err_5mm']:.2f} dice {r['dice']:.3f} pons {r['in_pons']} "
            f"contam raw {r['contamination']:.3f} (both-tube voxels for neither "
            f"{r['contamination_outside_own']:.3f}, without the contralateral VA "
            f"{r['contamination_no_contra']:.3f}) | "
            f"{r['time_s']:.1f} s",
            flush=True,
        )
    a = np.array([abs(r["aica_err"]) for r in rows])
    print(
        f"\n{len(rows)} variants: AICA |err| max {a.max():.2f} mean {a.mean():.2f} mm "
        f"(target <= 0.3), within 0.3: {int((a <= 0.3).sum())}/{len(rows)}; grade right "
        f"{sum(r['aica_grade_ok'] for r in rows)}/{len(rows)} within the resolution "
        f"({sum(r['aica_grade_exact'] for r in rows)} equal to truth.json); segment right "
        f"{sum(r['aica_segment'] == r['aica_truth_segment'] for r in rows)}/{len(rows)}; "
        f"mean|err| (vessels <= 5 mm) max {max(r['mean_err_5mm'] for r in rows):.2f} (<= 0.25); "
        f"Dice min {min(r['dice'] for r in rows):.3f} (>= 0.85); voxels > 1 voxel in pons max "
        f"{max(r['in_pons'] for r in rows)} (0); worst contamination "
        f"{max(r['contamination'] for r in rows):.3f} raw, "
        f"{max(r['contamination_outside_own'] for r in rows):.3f} with voxels inside both truth "
        f"tubes counting for neither (<= 0.05), "
        f"{max(r['contamination_no_contra'] for r in rows):.3f} by that rule without the "
        f"contralateral VA; labels over 5%: "
        f"{sum(r['contamination'] > 0.05 for r in rows)}/{len(rows)} variants raw, "
        f"{sum(r['contamination_outside_own'] > 0.05 for r in rows)} by that rule, "
        f"{sum(r['contamination_no_contra'] > 0.05 for r in rows)} without the contralateral VA"
    )
    return 0


def speed() -> int:
    import SimpleITK as sitk
    from nvcview_sample import make_phantom

    from nvcview.segment.nerve import segment_nerve
    from nvcview.segment.vessel import grow_vessels
    from nvcview.segment.vesselness import region_box, vesselness

    ph = make_phantom(seed=0, full_size=True)  # 512 x 512 matrices
    t2, tof = ph.t2, ph.tof
    # a 170-slice TOF-like volume: repeat the slab's slices (the anatomy stays in the middle)
    reps = int(np.ceil(170 / tof.array.shape[0]))
    big = np.concatenate([tof.array] * reps)[:170]
    aff = tof.affine.copy()
    print(f"TOF {big.shape}, T2 {t2.array.shape}")
    aica = next(v for v in ph.truth["vessels"] if v["vessel_type"] == "AICA")
    seed = np.asarray(aica["vessel_axis_point_lps"])

    t = time.perf_counter()
    res = grow_vessels(big, aff, {6: seed}, t2.array.shape, t2.affine)
    ours = time.perf_counter() - t
    print(
        f"vessel grow (vesselness + local threshold + geodesic + onto T2): {ours:.2f} s, "
        f"{int(res.masks[6].sum())} voxels"
    )
    arts = {v["label"]: np.asarray(v["vessel_axis_point_lps"]) for v in ph.truth["vessels"]
            if v["vessel_type"] != "vein"}  # fmt: skip
    t = time.perf_counter()
    res4 = grow_vessels(big, aff, arts, t2.array.shape, t2.affine)
    print(
        f"all {len(arts)} arteries at once (forks, continuity): {time.perf_counter() - t:.2f} s, "
        f"{sum(int(m.sum()) for m in res4.masks.values())} voxels"
    )
    box = res.field.box
    img = sitk.GetImageFromArray(np.asarray(big[box], np.float32))
    img.SetSpacing(tuple(float(s) for s in np.linalg.norm(aff[:3, :3], axis=0)[::-1]))
    k = tuple(int(i) for i in res.seed_index[6])  # index in the region box
    t = time.perf_counter()
    f_cc = sitk.ConfidenceConnectedImageFilter()
    f_cc.SetSeedList([tuple(int(x) for x in k[::-1])])
    f_cc.SetNumberOfIterations(3)
    f_cc.SetMultiplier(2.5)
    f_cc.SetInitialNeighborhoodRadius(1)
    f_cc.SetReplaceValue(1)
    cc = f_cc.Execute(img)
    t_cc = time.perf_counter() - t
    ccm = sitk.GetArrayFromImage(cc) > 0
    print(f"  SimpleITK ConfidenceConnected on the same region: {t_cc:.2f} s, {int(ccm.sum())} "
          f"voxels ({ours / max(t_cc, 1e-9):.1f}x our time)")  # fmt: skip
    speed_img = sitk.Sigmoid(img, alpha=-40.0, beta=float(res.field.threshold[k]),
                             outputMaximum=1.0, outputMinimum=0.0)  # fmt: skip
    speed_img = sitk.InvertIntensity(speed_img, maximum=1.0)
    t = time.perf_counter()
    f_fm = sitk.FastMarchingImageFilter()
    f_fm.SetTrialPoints([(*(int(x) for x in k[::-1]), 0)])
    f_fm.SetStoppingValue(15.0)
    fm = f_fm.Execute(speed_img)
    t_fm = time.perf_counter() - t
    fmm = sitk.GetArrayFromImage(fm) < 15.0
    print(
        f"  SimpleITK FastMarching (sigmoid speed, stop at 15 mm): {t_fm:.2f} s, "
        f"{int(fmm.sum())} voxels ({ours / max(t_fm, 1e-9):.1f}x our time)"
    )

    lm = ph.landmarks
    big_t2 = np.concatenate([t2.array] * int(np.ceil(170 / t2.array.shape[0])))[:170]
    t = time.perf_counter()
    nr = segment_nerve(big_t2, t2.affine, [lm["RExP"], lm["RDP"], lm["IAC"]])
    print(
        f"nerve segmentation on {big_t2.shape}: {time.perf_counter() - t:.2f} s, "
        f"{int(nr.mask.sum())} voxels"
    )

    vbox = region_box(big.shape, aff, seed, 20.0)  # a 40 mm region
    t = time.perf_counter()
    v = vesselness(big, aff, box=vbox)
    ours_v = time.perf_counter() - t
    print(f"vesselness of a 40 mm region {v.value.shape}: {ours_v:.2f} s")
    reg = sitk.GetImageFromArray(np.asarray(big[vbox], np.float32))
    reg.SetSpacing(tuple(float(s) for s in np.linalg.norm(aff[:3, :3], axis=0)[::-1]))
    t = time.perf_counter()
    best = None
    for s in (0.4, 0.7, 1.0):
        sm = sitk.SmoothingRecursiveGaussian(reg, sigma=s)
        o = sitk.GetArrayFromImage(sitk.ObjectnessMeasure(sm, objectDimension=1, brightObject=True))
        best = o if best is None else np.maximum(best, o)
    t_sv = time.perf_counter() - t
    print(
        f"  SimpleITK SmoothingRecursiveGaussian + ObjectnessMeasure, same scales: {t_sv:.2f} s "
        f"(ours {ours_v / max(t_sv, 1e-9):.2f}x)"
    )
    return 0


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "sweep"
    if what == "speed":
        raise SystemExit(speed())
    raise SystemExit(sweep(int(sys.argv[2]) if len(sys.argv) > 2 else 20))
