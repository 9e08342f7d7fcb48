"""``nvcview view [PATH ...]``: open napari with the review widget docked.

The only sub-command that needs the GUI extras (napari, Qt); they are imported
when the command runs, never at import time, so the core stays headless.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

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
    """Start napari, dock the widget, load the paths; blocks until the window closes."""
    _check_display()
    try:
        import napari
        from napari_nvcview._widget import ReviewWidget
        from napari_nvcview.layers import set_plane
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise OSError(
            f"the viewer needs the GUI extras (pip install 'nvcview[napari]'): {exc}"
        ) from exc

    viewer = napari.Viewer(title="nvcview")
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review", area="right")
    paths = [str(p) for p in args.paths]
    reviews = [
        p for p in paths if Path(p).name == "review.json" or (Path(p) / "review.json").exists()
    ]
    if len(paths) > 1 and not reviews:
        # several series of one study (t2.nii.gz tof.nii.gz, or two series folders):
        # read together, as a drop of several files, so they make one case (opened one
        # by one, each would replace the case and leave only the last series in it)
        try:
            viewer.open(paths, plugin="nvcview")
        except Exception as exc:  # napari wraps the reader's errors
            raise OSError(f"{' '.join(paths)}: could not be opened ({exc})") from exc
    else:
        for path in paths:
            if widget.open_path(path) is None:
                raise OSError(widget.last_error or f"{path}: could not be opened")
    set_plane(viewer, args.plane)
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window._qt_window.resize(1400, 900)
        QApplication.processEvents()
        viewer.reset_view()
        viewer.screenshot(args.screenshot, canvas_only=False)
        viewer.close()
        return 0
    napari.run()
    return 0
