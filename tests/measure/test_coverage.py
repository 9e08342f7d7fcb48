"""Nerve coverage per segment: an unsegmented attached segment is reported as such."""

from __future__ import annotations

import numpy as np
import pytest
from nvcview_sample import make_phantom

from nvcview.io.image import make_volume
from nvcview.measure.coverage import nerve_coverage, uncovered_segments


@pytest.fixture(scope="module")
def ph():
    return make_phantom(seed=0)


def test_truth_nerve_covers_every_segment(ph):
    cov = nerve_coverage(ph.labels, 2, ph.landmarks, ph.centreline)
    assert set(cov) >= {"RExP", "AS", "RDP/TZ", "proximal cisternal", "distal cisternal"}
    assert min(cov.values()) > 0.95
    assert uncovered_segments(cov) == []


def test_nerve_grown_from_mid_nerve_misses_the_attached_segment(ph):
    # the case: a nerve label from arc 5.9 mm outward only
    lab = ph.labels.array.copy()
    idx = np.argwhere(lab == 2)
    lps = idx @ ph.t2.affine[:3, :3].T + ph.t2.affine[:3, 3]
    s_axis = np.concatenate(
        [[0], np.cumsum(np.linalg.norm(np.diff(ph.centreline, axis=0), axis=1))]
    )
    near = np.argmin(np.linalg.norm(lps[:, None] - ph.centreline[None, ::5], axis=2), axis=1)
    cut = s_axis[::5][near] < 5.9
    lab[tuple(idx[cut].T)] = 0
    cov = nerve_coverage(make_volume(lab, ph.t2.affine), 2, ph.landmarks, ph.centreline)
    missing = uncovered_segments(cov)
    assert "RExP" in missing and "AS" in missing
    assert "distal cisternal" not in missing
    assert cov["AS"] < 0.8 and cov["distal cisternal"] > 0.95


def test_no_nerve_voxels_covers_nothing(ph):
    lab = np.where(ph.labels.array == 2, 0, ph.labels.array).astype(np.uint8)
    cov = nerve_coverage(make_volume(lab, ph.t2.affine), 2, ph.landmarks, ph.centreline)
    assert all(v == 0.0 for v in cov.values())
    assert len(uncovered_segments(cov)) == len(cov)
