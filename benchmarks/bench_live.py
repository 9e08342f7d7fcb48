"""Benchmark: the viewer's measurement after an edit, full ``measure_case`` vs the cached path.

On the full-size phantom (``make_phantom(full_size=True)``, built once, about 35 s)
with its ground-truth labels, landmarks and traced centreline, as a
:class:`~nvcview.case.CaseSession`. Three brush-like edits, each applied
and then undone (two edits per repetition):

- a vessel stroke at the AICA's closest point to the nerve;
- a vessel stroke far from the nerve (on the vessel farthest from it, at its voxel
  farthest from its closest approach);
- a nerve stroke (a bump on the facial nerve halfway along its box).

After each edit, in the same run, the widget's work is timed the way it does it:
a frozen snapshot (``frozen_copy``, one label-map copy), then

- old: ``snapshot.measure_full()`` (a fresh ``measure_case``);
- new: ``snapshot.measure()`` (the session's cached ``CaseMeasurer``, fed the
  changed voxels' box).

Both results are compared (gap, segment, grade). Prints medians (ms) and the
ratio old / new. Run: ``python benchmarks/bench_live.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nvcview.case import CaseSession
from nvcview.io.image import lps_to_index
from nvcview.review.model import Review


def build_session() -> CaseSession:
    """The full-size phantom with its ground truth, as the viewer's session."""
    from nvcview_sample import make_phantom

    ph = make_phantom(full_size=True)
    review = Review(case_id="phantom", side=ph.truth.get("side", "left"), reader="truth")
    review.structures = list(ph.structures)
    review.landmarks = {k: [float(v) for v in p] for k, p in ph.landmarks.items()}
    review.nerve_path_lps = [[float(v) for v in p] for p in ph.centreline]
    return CaseSession(
        t2=ph.t2, tof=ph.tof, labels=ph.labels.array.astype(np.uint16), review=review
    )


def _box(centre: np.ndarray, half: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(max(0, int(c) - half), min(n, int(c) + half + 1))
        for c, n in zip(centre, shape, strict=True)
    )


def _strokes(s: CaseSession) -> dict[str, tuple[tuple[slice, ...], int]]:
    """Name -> (index box, label painted into its background voxels)."""
    recs = s.measure_full()
    aff, shape = s.reference.affine, s.labels.shape
    nerve = next(st.label for st in s.structures if st.kind == "nerve" and st.nerve == "VII")
    tight = min(recs, key=lambda r: r.gap_mm)
    near = np.rint(lps_to_index(aff, np.asarray(tight.vessel_point_lps))).astype(int)
    loose = max(recs, key=lambda r: r.gap_mm)
    ijk = np.argwhere(s.labels == loose.vessel_label)
    nijk = np.argwhere(s.labels == nerve)
    spacing = np.asarray(s.reference.spacing_mm)
    centre = nijk.mean(axis=0)
    # farthest from its closest approach: outside the pair's fine-pass window
    at = lps_to_index(aff, np.asarray(loose.vessel_point_lps))
    far = ijk[np.argmax(np.linalg.norm((ijk - at) * spacing, axis=1))]
    mid = nijk[np.argmin(np.linalg.norm(nijk - centre, axis=1))]
    return {
        f"vessel stroke near the nerve ({tight.vessel_name})": (
            _box(near, 2, shape),
            tight.vessel_label,
        ),
        f"vessel stroke far away ({loose.vessel_name})": (_box(far, 2, shape), loose.vessel_label),
        "nerve stroke": (_box(mid + [0, 0, 3], 2, shape), nerve),
    }


def _ms(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def _same(a: list, b: list) -> bool:
    return [(r.vessel_label, r.segment, r.suggested_grade) for r in a] == [
        (r.vessel_label, r.segment, r.suggested_grade) for r in b
    ] and all(abs(x.gap_mm - y.gap_mm) <= 1e-9 for x, y in zip(a, b, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="apply + undo cycles per edit")
    args = ap.parse_args()

    t0 = time.perf_counter()
    s = build_session()
    print(
        f"full-size phantom {s.labels.shape} voxels "
        f"{tuple(round(float(v), 3) for v in s.reference.spacing_mm)} mm, "
        f"built in {time.perf_counter() - t0:.0f} s"
    )
    strokes = _strokes(s)
    cold_ms, _ = _ms(s.measure)  # the first measurement builds the cache
    print(f"cache build (first measure of the session): {cold_ms:.1f} ms")
    mismatches = 0
    rows = []
    for name, (box, label) in strokes.items():
        snap_t, old_t, new_t, actions = [], [], [], set()
        for _ in range(args.repeat):
            before = s.labels[box].copy()
            for undo in (False, True):
                sub = s.labels[box]
                if undo:
                    sub[...] = before
                else:
                    sub[sub == 0] = label
                t_snap, snap = _ms(s.frozen_copy)
                t_old, old = _ms(snap.measure_full)
                t_new, new = _ms(snap.measure)
                actions.add(s.live.last_action)
                mismatches += not _same(new, old)
                snap_t.append(t_snap)
                old_t.append(t_old)
                new_t.append(t_new)
        sm, om, nm = (float(np.median(x)) for x in (snap_t, old_t, new_t))
        rows.append((name, sm, om, nm, actions))
    print(f"{'edit':44s} {'snapshot':>9s} {'old':>9s} {'new':>9s}  old/new (incl. snapshot)")
    for name, sm, om, nm, actions in rows:
        print(
            f"{name:44s} {sm:7.1f}ms {om:7.1f}ms {nm:7.1f}ms  {om / nm:5.1f}x "
            f"({(sm + om) / (sm + nm):4.1f}x)  cache {'/'.join(sorted(actions))}"
        )
    worst = max(sm + nm for _, sm, _, nm, _ in rows)
    print(f"worst new path incl. snapshot {worst:.1f} ms (target ~100 ms)")
    print(f"results equal to measure_case after every edit: {'yes' if not mismatches else 'NO'}")


if __name__ == "__main__":
    main()
