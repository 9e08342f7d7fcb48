"""The headless core must never pull in Qt or napari (servers, clusters, batch)."""

from __future__ import annotations

import subprocess
import sys

GUI_MODULES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy")


def test_core_imports_without_gui():
    code = (
        "import pkgutil, importlib, sys, nvcview\n"
        "for m in pkgutil.walk_packages(nvcview.__path__, 'nvcview.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = [m for m in {GUI_MODULES!r} if m in sys.modules]\n"
        "print(sorted(m.name for m in pkgutil.walk_packages(nvcview.__path__, 'nvcview.')))\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    # the walk really visited the core's modules
    assert "nvcview.io.nifti" in res.stdout
    assert "nvcview.cli" in res.stdout


def test_cli_version():
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "--version"], capture_output=True, text=True
    )
    assert res.returncode == 0
    import nvcview

    assert nvcview.__version__ in res.stdout
