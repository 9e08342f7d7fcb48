"""Facial nerve from the landmarks on the realistic T2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from nvcview.errors import InputError
from nvcview.segment.nerve import segment_nerve


def cpa_truth(ph):
    """Truth VII voxels up to the IAC porus (the truth tube continues into the canal)."""
    L = ph.labels.array
    idx = np.argwhere(L == 2)
    lps = idx @ ph.t2.affine[:3, :3].T + ph.t2.affine[:3, 3]
    t = ph.centreline[-1] - ph.centreline[-5]
    keep = (lps - ph.centreline[-1]) @ (t / np.linalg.norm(t)) <= 0
    out = np.zeros(L.shape, bool)
    out[tuple(idx[keep].T)] = True
    return out


@pytest.mark.parametrize("which", ["realistic_axial", "realistic_oblique"])
def test_nerve_dice_and_stays_out_of_the_pons(which, request):
    ph = request.getfixturevalue(which)
    lm = ph.landmarks
    res = segment_nerve(ph.t2.array, ph.t2.affine, [lm["RExP"], lm["RDP"], lm["IAC"]])
    truth = cpa_truth(ph)
    d = 2 * (res.mask & truth).sum() / (res.mask.sum() + truth.sum())
    assert d >= 0.85
    sp = np.linalg.norm(ph.t2.affine[:3, :3], axis=0)
    depth = ndimage.distance_transform_edt(ph.labels.array == 1, sampling=sp)
    assert not (res.mask & (depth > sp.max())).any()
    # the radius comes from the image: close to the true one
    r_true = ph.truth["nerves"]["VII"]["radius_mm"]
    assert abs(float(np.median(res.radius_mm)) - r_true) < 0.35
    # the centreline runs along the true axis
    dist = np.min(np.linalg.norm(res.centreline_lps[:, None] - ph.centreline[None], axis=2), 1)
    assert np.median(dist) < 0.4


def test_allowed_area_keeps_a_labelled_vessel(realistic_axial):
    ph = realistic_axial
    lm = ph.landmarks
    aica = ph.labels.array == 6
    res = segment_nerve(ph.t2.array, ph.t2.affine, [lm["RExP"], lm["RDP"], lm["IAC"]],
                        allowed=~aica)  # fmt: skip
    assert not (res.mask & aica).any()


def test_points_in_plain_csf_refused(realistic_axial):
    ph = realistic_axial
    with pytest.raises(InputError):
        segment_nerve(ph.t2.array, ph.t2.affine, [ph.landmarks["RExP"]])
