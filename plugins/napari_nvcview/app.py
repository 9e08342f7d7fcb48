"""Open the nvcview review viewer: napari with the review widget docked (``nvcview view``)."""

from __future__ import annotations

from pathlib import Path

import napari

from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import set_plane


def open_viewer(paths_in: list[str], plane: str = "axial", screenshot: str | None = None) -> int:
    """Start napari with the widget docked and ``paths_in`` loaded.

    Parameters
    ----------
    paths_in : list of str
        Study folders, series files/folders or review folders to open.
    plane : str
        "axial", "coronal" or "sagittal" (radiological convention).
    screenshot : str, optional
        Save a screenshot of the window to this PNG after loading and return at once.

    Returns
    -------
    int
        Exit status (0); blocks until the window closes unless ``screenshot`` is given.
    """
    viewer = napari.Viewer(title="nvcview")
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review", area="right")
    paths = [str(p) for p in paths_in]
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
    set_plane(viewer, plane)
    if screenshot:
        from qtpy.QtWidgets import QApplication

        viewer.window.resize(1400, 900)
        QApplication.processEvents()
        viewer.reset_view()
        viewer.screenshot(screenshot, canvas_only=False)
        viewer.close()
        return 0
    napari.run()
    return 0
