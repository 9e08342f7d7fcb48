"""`nvcview view` without a screen: one clear line, not a Qt abort."""

from __future__ import annotations

import os
import subprocess
import sys


def test_view_without_display_says_how_to_run_it(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "view", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "no display" in lines[0] and "xvfb-run" in lines[0]
    assert "Traceback" not in res.stderr
