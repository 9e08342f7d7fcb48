"""Camera presets: directions in LPS and the screen's orientation."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.scene.views import VIEWS, view


def test_anterior_view_shows_the_patients_left_on_the_screen_right():
    v = view("A")
    np.testing.assert_allclose(v.right, [1, 0, 0], atol=1e-12)  # +x = patient's left
    np.testing.assert_allclose(v.up, [0, 0, 1])
    np.testing.assert_allclose(view("P").right, [-1, 0, 0], atol=1e-12)


def test_side_views_and_axial_views():
    np.testing.assert_allclose(view("L").right, [0, 1, 0], atol=1e-12)  # posterior right
    np.testing.assert_allclose(view("R").right, [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(view("S").right, [-1, 0, 0], atol=1e-12)  # from above
    np.testing.assert_allclose(view("I").right, [1, 0, 0], atol=1e-12)  # radiological


@pytest.mark.parametrize("side,lateral", [("left", 1.0), ("right", -1.0)])
def test_retrosigmoid_looks_anteromedially_from_posterolateral(side, lateral):
    v = view("retrosigmoid", side)
    assert v.sight[1] < -0.5  # towards anterior (-y)
    assert v.sight[0] * lateral < -0.5  # towards medial
    assert abs(v.sight[2]) < 1e-12 and v.up[2] == 1.0
    assert abs(np.linalg.norm(v.sight) - 1) < 1e-12 and abs(v.sight @ v.up) < 1e-12


def test_bad_view_names_are_refused():
    with pytest.raises(InputError, match="needs the side"):
        view("retrosigmoid")
    with pytest.raises(InputError, match="unknown 3D view 'oblique'"):
        view("oblique")
    assert len(VIEWS) == 7
