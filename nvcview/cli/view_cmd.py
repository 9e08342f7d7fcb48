"""``nvcview view [PATH ...]``: open napari with the review widget docked.

The only sub-command that needs the GUI extras (napari, Qt); they are imported
when the command runs, never at import time, so the core stays headless.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "open the napari review viewer (optionally with a study, series or review loaded)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``view`` arguments."""
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="study folder (T2 + TOF), series file/folder, or review folder",
    )
    parser.add_argument(
        "--plane",
        choices=("axial", "coronal", "sagittal"),
        default="axial",
        help="view plane to start in (radiological convention)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="PNG",
        help="save a screenshot of the window after loading and exit (for checks and docs)",
    )


def _check_display() -> None:
    """Refuse clearly, before Qt aborts the process, when there is no screen to open."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise OSError(
            "no display to open the viewer on (DISPLAY is not set): run it in a desktop "
            "session, over ssh -X, or on a virtual screen with 'xvfb-run -a nvcview view ...'"
        )


def run(args: argparse.Namespace) -> int:
    """Start napari, dock the widget, load the paths; blocks until the window closes.

    The GUI code lives in the plugin (``napari_nvcview.app``); the core only checks
    that there is a screen and that the GUI extras are installed.
    """
    _check_display()
    try:
        from napari_nvcview.app import open_viewer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise OSError(
            f"the viewer needs the GUI extras (pip install 'nvcview[napari]'): {exc}"
        ) from exc
    return open_viewer([str(p) for p in args.paths], plane=args.plane, screenshot=args.screenshot)
