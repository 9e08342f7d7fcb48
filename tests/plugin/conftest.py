"""GUI test helpers, the phantom study on disk and the two-series mini case."""

from __future__ import annotations

import numpy as np
import pytest
from case.minicase import MiniCase, make_minicase


@pytest.fixture
def minicase() -> MiniCase:
    return make_minicase()


# --------------------------------------------------------------------------- GUI helpers


@pytest.fixture(scope="session")
def sample_study(tmp_path_factory):
    """The phantom study on disk (DICOM T2 + TOF, truth.json, truth review), 1 mm AICA gap."""
    import json

    from nvcview_sample import write_sample

    paths = write_sample(tmp_path_factory.mktemp("sample"), nifti=True, gap_mm=1.0)
    truth = json.loads(open(paths.truth).read())
    return paths, truth


def click_world(viewer, world, qtbot=None) -> tuple[int, int]:
    """Left-click the canvas where the world point ``(S, P, L)`` is shown, as a user would.

    Moves the slider to the point's slice first (the user scrolls to it), then
    clicks the canvas pixel that napari maps to the point's in-plane position.
    Returns the pixel clicked.
    """
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    world = np.asarray(world, float)
    not_displayed = [d for d in range(3) if d not in viewer.dims.displayed]
    for d in not_displayed:
        viewer.dims.set_point(d, world[d])
    QApplication.processEvents()
    canvas = viewer.window._qt_viewer.canvas
    view = canvas.view
    tr = view.transform * view.scene.transform
    disp = [world[d] for d in viewer.dims.displayed]
    x, y = tr.map(disp[::-1])[:2]
    pos = QPoint(int(round(x)), int(round(y)))
    QTest.mouseClick(
        canvas._scene_canvas.native, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos
    )
    QApplication.processEvents()
    return pos.x(), pos.y()


def lps_world(lps) -> np.ndarray:
    """LPS mm -> viewer world (S, P, L)."""
    return np.asarray(lps, float)[::-1]


def drag_canvas(viewer, start_px: tuple[int, int], end_px: tuple[int, int]) -> None:
    """Press, move and release the left button on the canvas (a pan, not a click)."""
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    native = viewer.window._qt_viewer.canvas._scene_canvas.native
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(native, left, none, QPoint(*start_px))
    for t in np.linspace(0.2, 1.0, 5):
        p = np.round(np.asarray(start_px) + t * (np.asarray(end_px) - start_px)).astype(int)
        QTest.mouseMove(native, QPoint(int(p[0]), int(p[1])))
        QApplication.processEvents()
    QTest.mouseRelease(native, left, none, QPoint(*end_px))
    QApplication.processEvents()
