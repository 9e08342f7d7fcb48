"""The CPA region: around the side's IAC/REZ landmarks, or the volume centre."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.io.image import Image, make_volume
from nvcview.register.region import cpa_region, cropped, side_landmarks


def _image():
    aff = np.array([[0, 0, 0.4, -10.0], [0, 0.4, 0, -20.0], [0.5, 0, 0, -5.0], [0, 0, 0, 1]])
    return Image(volume=make_volume(np.zeros((40, 100, 100), np.uint16), aff))


def test_region_is_centred_on_the_side_landmarks():
    img = _image()
    lm = {
        "left IAC": [26.0, -4.0, 9.0],
        "left RExP": [8.0, 1.0, -2.0],
        "right IAC": [-26.0, -4.0, 9.0],
        "RDP": [14.0, 0.0, 5.0],
    }
    pts = side_landmarks(lm, "left")
    assert set(pts) == {"IAC", "RExP", "RDP"}
    assert np.allclose(pts["IAC"], [26.0, -4.0, 9.0])
    box = cpa_region(img, lm, "left", 50.0)
    centre = np.mean([lm["left IAC"], lm["left RExP"], lm["RDP"]], axis=0)
    assert np.allclose(box.mean(axis=0), centre)
    assert np.allclose(box[1] - box[0], 50.0)
    # the right side takes the right IAC
    assert np.allclose(side_landmarks(lm, "right")["IAC"], [-26.0, -4.0, 9.0])


def test_region_grows_to_hold_far_landmarks_and_defaults_to_the_volume_centre():
    img = _image()
    box = cpa_region(img, {"RExP": [0.0, 0.0, 0.0], "IAC": [60.0, 0.0, 0.0]}, None, 50.0)
    assert box[0, 0] <= 0.0 - 5.0 and box[1, 0] >= 60.0 + 5.0
    centre = cpa_region(img, None, None, 30.0).mean(axis=0)
    assert np.allclose(centre, [-10 + 99 * 0.4 / 2, -20 + 99 * 0.4 / 2, -5 + 39 * 0.5 / 2])


def test_region_rejects_bad_input():
    img = _image()
    with pytest.raises(InputError, match="side"):
        side_landmarks({"IAC": [0, 0, 0]}, "up")
    with pytest.raises(InputError, match="landmark 'IAC'"):
        side_landmarks({"IAC": [0, 0]}, None)
    with pytest.raises(InputError, match="positive"):
        cpa_region(img, None, None, -1.0)


def test_cropped_keeps_world_positions():
    img = _image()
    img.array[10, 20, 30] = 9
    arr, aff = cropped(img, np.array([[-1.0, -13.0, -1.0], [3.0, -3.0, 2.0]]))
    k = np.argwhere(arr == 9)
    assert len(k) == 1
    world = aff[:3, :3] @ k[0] + aff[:3, 3]
    assert np.allclose(world, img.affine[:3, :3] @ [10, 20, 30] + img.affine[:3, 3])
