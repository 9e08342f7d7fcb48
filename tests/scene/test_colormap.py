"""The gap heat map's colour table equals matplotlib's plasma without importing it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from nvcview.scene import GAP_COLORMAP, gap_colors
from nvcview.scene.colormap import PLASMA_RGB, lookup

ROOT = Path(__file__).resolve().parents[2]


def test_table_is_matplotlibs_plasma():
    assert GAP_COLORMAP == "plasma"
    mpl = colormaps["plasma"]
    assert mpl.N == len(PLASMA_RGB) == 256
    np.testing.assert_array_equal(PLASMA_RGB, np.asarray(mpl.colors, dtype=np.float64))


def test_lookup_maps_values_as_matplotlib_does():
    rng = np.random.default_rng(0)
    t = np.concatenate(
        [
            rng.uniform(-0.5, 1.5, 20000),
            np.arange(257) / 256,  # every bin edge
            [0.0, 1.0, 1 - 1e-12, np.nan, np.inf, -np.inf],
        ]
    )
    want = np.asarray(colormaps["plasma"](t))[..., :3]
    np.testing.assert_array_equal(lookup(t), want)
    # any shape
    assert lookup(t[:12].reshape(3, 4)).shape == (3, 4, 3)


def test_gap_colors_span_the_range_in_mm():
    gaps = np.array([0.0, 0.75, 1.5, 2.9, 3.0, 7.0])
    want = np.asarray(colormaps["plasma"](np.clip(gaps / 3.0, 0, 1)))[:, :3]
    np.testing.assert_array_equal(gap_colors(gaps, 3.0), want)
    np.testing.assert_array_equal(gap_colors(np.array([1.0]), 2.0)[0], lookup(np.array([0.5]))[0])


def test_gap_colours_import_no_matplotlib():
    code = (
        "import sys, numpy as np; from nvcview.scene import gap_colors; "
        "gap_colors(np.linspace(0, 3, 5)); "
        "print('matplotlib' in sys.modules)"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"
