"""GUI test helpers (clicks and drags on the canvas through public API)."""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- GUI helpers


def _canvas_widget(viewer):
    """The viewer's canvas as a Qt widget, found through public API only.

    ``viewer.window.main_menu`` is the window's menu bar; the canvas is the largest
    OpenGL widget of that window (vispy's Qt canvas). napari's private
    ``Window._qt_viewer`` (and the deprecated ``qt_viewer``) go away in napari 0.10.
    """
    from qtpy.QtWidgets import QOpenGLWidget

    window = viewer.window.main_menu.window()
    canvases = [w for w in window.findChildren(QOpenGLWidget) if w.isVisible()]
    assert canvases, "no visible canvas: show the viewer first"
    return max(canvases, key=lambda w: w.width() * w.height())


def _world_to_canvas(viewer, canvas, world) -> tuple[float, float]:
    """Canvas pixel (x, y) where a 2D view shows the world point, from the camera model.

    napari's 2D camera centres ``camera.center`` on the canvas and shows ``camera.zoom``
    screen pixels per world unit, with the displayed axes' directions given by
    ``camera.orientation2d`` (vertical "down"/"up", horizontal "right"/"left").
    """
    from napari_nvcview.layers import camera

    assert viewer.dims.ndisplay == 2, "click_world clicks 2D views"
    cam = camera(viewer)
    row_dim, col_dim = viewer.dims.displayed
    centre = np.asarray(cam.center, float)[-2:]
    zoom = float(cam.zoom)
    vertical, horizontal = (str(getattr(o, "value", o)) for o in cam.orientation2d)
    dy = (world[row_dim] - centre[0]) * zoom * (1 if vertical == "down" else -1)
    dx = (world[col_dim] - centre[1]) * zoom * (1 if horizontal == "right" else -1)
    return canvas.width() / 2 + dx, canvas.height() / 2 + dy


def click_world(viewer, world, qtbot=None) -> tuple[int, int]:
    """Left-click the canvas where the world point ``(S, P, L)`` is shown, as a user would.

    Moves the slider to the point's slice first (the user scrolls to it), then
    clicks (a real Qt mouse press and release, through vispy and napari's mouse
    callbacks) the canvas pixel where the camera shows the point's in-plane position.
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
    canvas = _canvas_widget(viewer)
    x, y = _world_to_canvas(viewer, canvas, world)
    pos = QPoint(int(round(x)), int(round(y)))
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
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

    native = _canvas_widget(viewer)
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(native, left, none, QPoint(*start_px))
    for t in np.linspace(0.2, 1.0, 5):
        p = np.round(np.asarray(start_px) + t * (np.asarray(end_px) - start_px)).astype(int)
        QTest.mouseMove(native, QPoint(int(p[0]), int(p[1])))
        QApplication.processEvents()
    QTest.mouseRelease(native, left, none, QPoint(*end_px))
    QApplication.processEvents()
