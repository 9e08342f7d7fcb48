"""Nerve edits through the cached CaseMeasurer: after every step of a sequence the live
records equal a fresh measure_case exactly, every field (no tolerance), while the
unchanged vessels' surfaces, meshes and per-point answers come from the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
from nerve_phantoms import NERVE_RADIUS, VesselSpec, make_nerve_phantom, side_vector

from nvcview.measure import CaseMeasurer, measure_case


def _records(recs) -> list[dict]:
    return [dataclasses.asdict(r) for r in recs]


def _index(ph, lps) -> np.ndarray:
    return np.rint(np.linalg.solve(ph.labels.affine, [*np.asarray(lps, float), 1.0])[:3]).astype(
        int
    )


def _edit(
    arr: np.ndarray, at: np.ndarray, half: int, label: int, paint: bool, over: int = 0
) -> tuple:
    """Paint ``label`` on the background (and on label ``over``) of a cube around ``at``,
    or erase it there; returns the cube (index box)."""
    box = tuple(slice(max(0, int(c) - half), int(c) + half + 1) for c in at)
    sub = arr[box]
    before = sub.copy()
    if paint:
        sub[(sub == 0) | (sub == over)] = label
    else:
        sub[sub == label] = 0
    assert (sub != before).any(), "the edit changed nothing"
    return box


def _phantom():
    """VII with a touching AICA, a PICA 1.2 mm below, a vein 2 mm behind and CN VIII."""
    return make_nerve_phantom(
        [
            VesselSpec(arc_mm=5.0, gap_mm=0.0, side="superior"),
            VesselSpec(arc_mm=9.0, gap_mm=1.2, side="inferior", vessel_type="PICA"),
            VesselSpec(
                arc_mm=3.0, gap_mm=2.0, side="posterior", angle_deg=30.0, vessel_type="vein"
            ),
        ],
        cn8_offset_mm=3.8,
    )


def test_nerve_edits_equal_a_fresh_measure_case_exactly():
    ph = _phantom()
    arr = ph.labels.array
    args = (ph.labels, ph.structures, ph.landmarks)
    m = CaseMeasurer(*args)
    first = m.measure()
    assert _records(first) == _records(measure_case(*args))
    by = {r.vessel_label: r for r in first}
    aica = min(by.values(), key=lambda r: r.gap_mm)
    pica = next(r for r in first if r.vessel_type == "PICA")
    cl = ph.centreline
    mid = _index(ph, cl[len(cl) // 2] + NERVE_RADIUS * side_vector("anterior"))
    steps = [
        ("grow the nerve in its middle", mid, 1, True, 0),
        ("grow it into the touching vessel", _index(ph, aica.nerve_point_lps), 1, True, 2),
        ("erase it at the contact", _index(ph, aica.nerve_point_lps), 1, False, 0),
        ("take back the middle", mid, 1, False, 0),
        ("grow it near its RExP end", _index(ph, ph.landmarks["RExP"]), 2, True, 0),
        ("grow the middle again", mid, 1, True, 0),
        ("grow it towards the PICA", _index(ph, pica.nerve_point_lps), 1, True, 0),
        ("erase it there", _index(ph, pica.nerve_point_lps), 1, False, 0),
    ]
    nerve = ph.structures[0].label
    assert aica.vessel_label == 2
    for what, at, half, paint, over in steps:
        box = _edit(arr, at, half, nerve, paint, over)
        m.update(region=box)
        live = m.measure()
        assert _records(live) == _records(measure_case(*args)), what
    # a vessel edit after the nerve edits: the cached nerve answers are still right
    box = _edit(arr, _index(ph, pica.vessel_point_lps), 1, pica.vessel_label, True)
    m.update(region=box)
    assert _records(m.measure()) == _records(measure_case(*args))


def test_a_nerve_edit_reuses_the_unchanged_vessels_meshes_and_answers():
    """The cache does the work: an unchanged vessel's mesh answers the nerve's unchanged
    vertices from its table, so a nerve edit computes fewer point-to-mesh answers than
    a fresh measurement of the same state (and the same records)."""
    import nvcview.measure.surface as surface

    ph = _phantom()
    arr = ph.labels.array
    args = (ph.labels, ph.structures, ph.landmarks)
    m = CaseMeasurer(*args)
    pica = next(r for r in m.measure() if r.vessel_type == "PICA")
    computed: list[int] = []
    real = surface.Mesh._closest

    def counting(self, points, k=3):
        computed.append(len(points))
        return real(self, points, k)

    surface.Mesh._closest = counting  # type: ignore[method-assign]
    try:
        m._gaps.clear(), m._records.clear()  # measured again, from the same meshes
        m.measure()
        assert sum(computed) == 0, "every answer of the unchanged meshes is kept"
        # grow the nerve towards the PICA, inside that pair's window
        at = _index(ph, pica.nerve_point_lps)
        m.update(region=_edit(arr, at, 1, ph.structures[0].label, True))
        live = m.measure()
        after_edit = sum(computed)
        fresh = CaseMeasurer(*args).measure()
        assert 0 < after_edit < sum(computed) - after_edit
    finally:
        surface.Mesh._closest = real  # type: ignore[method-assign]
    assert _records(live) == _records(fresh)
