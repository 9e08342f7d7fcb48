"""The review widget's 3D panel: a "3D view" toggle, camera presets and a TOF MIP switch.

A thin front end over :mod:`napari_nvcview.scene3d` (which draws the engine's
surfaces, :mod:`nvcview.scene`): the toggle switches napari to 3D and shows the
scene of the review widget's current :class:`~nvcview.case.CaseSession`; after
each measurement (the session's ``measured`` event) the scene is updated, and
only the structures an edit changed are re-meshed (the scene's
:class:`~nvcview.scene.SurfaceBuilder` caches the others). Switching back to 2D
hides the surfaces. Geometry is the core's (LPS mm, shown in world (S, P, L) mm).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QPushButton, QVBoxLayout, QWidget

from nvcview.case import CaseSession
from nvcview.errors import NvcviewError

from .scene3d import META_KEY, _text_overlay, scene3d_for

#: camera presets: button text -> :func:`nvcview.scene.view` name
PRESETS = {"Retrosigmoid": "retrosigmoid", "A": "A", "P": "P", "L": "L", "R": "R", "S": "S"}


class ScenePanel(QWidget):
    """3D view controls for a review widget.

    Parameters
    ----------
    review : ReviewWidget
        The review widget (``review.viewer``, ``review.session``).
    """

    def __init__(self, review: Any) -> None:
        super().__init__()
        self.review = review
        self.viewer = review.viewer
        self._session: CaseSession | None = None
        box = QGroupBox("3D view")
        lay = QVBoxLayout(box)
        self.toggle = QPushButton("3D view")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show the case's surfaces in 3D (nerve coloured by gap, mm)")
        self.toggle.toggled.connect(self.set_3d)
        lay.addWidget(self.toggle)
        grid = QGridLayout()
        self.preset_buttons: dict[str, QPushButton] = {}
        for i, (text, name) in enumerate(PRESETS.items()):
            b = QPushButton(text)
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, name=name: self.set_view(name))
            self.preset_buttons[name] = b
            if i == 0:
                grid.addWidget(b, 0, 0, 1, 5)
            else:
                grid.addWidget(b, 1, i - 1)
        lay.addLayout(grid)
        self.mip_check = QCheckBox("TOF MIP")
        self.mip_check.setToolTip("Show the TOF as a maximum intensity projection in 3D")
        self.mip_check.setEnabled(False)
        self.mip_check.toggled.connect(self._show_mip)
        lay.addWidget(self.mip_check)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addWidget(box)
        self._tof_state: tuple[Any, str, bool] | None = None
        self._hidden: list = []
        # a new case shows new layers: follow the widget's session then
        self.viewer.layers.events.inserted.connect(self._follow_session)
        self.viewer.layers.events.removed.connect(self._follow_session)

    # ------------------------------------------------------------- session
    @property
    def active(self) -> bool:
        """The 3D view is on."""
        return self.toggle.isChecked()

    def _follow_session(self, _event: object = None) -> None:
        """Subscribe to the review widget's current session (once per session)."""
        session = getattr(self.review, "session", None)
        if session is self._session:
            return
        if self._session is not None:
            self._session.events.measured.disconnect(self._on_measured)
        self._session = session
        if session is not None:
            session.events.measured.connect(self._on_measured)
            if self.active:
                self.refresh()

    def _on_measured(self, _event: object = None) -> None:
        if self.active:
            self.refresh()

    def refresh(self) -> bool:
        """Show (or update) the current session's scene; False without a case.

        Only structures whose voxels changed are re-meshed (the mesh cache).
        """
        self._follow_session()
        s = self._session
        if s is None or s.labels is None:
            self.review._report("3D view: open a case with structures first", error=True)
            return False
        try:
            scene3d_for(self.viewer).update(
                s.labels_image(),
                s.structures,
                s.measurements,
                side=s.review.side,
                landmarks=s.landmarks_lps(),
            )
        except NvcviewError as exc:
            self.review._report(f"3D view: {exc}", error=True)
            return False
        self._set_scene_visible(True)
        return True

    # ------------------------------------------------------------- display
    def _scene_layers(self) -> list:
        return [
            ly
            for ly in self.viewer.layers
            if ly.metadata.get(META_KEY, {}).get("role") == "scene3d"
        ]

    def _set_scene_visible(self, visible: bool) -> None:
        for ly in self._scene_layers():
            ly.visible = visible

    def set_3d(self, on: bool) -> None:
        """Switch napari to 3D with the case's scene (``on``) or back to 2D without it."""
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)  # re-enters through the toggled signal
            return
        if on and not self.refresh():
            self.toggle.setChecked(False)
            return
        for b in self.preset_buttons.values():
            b.setEnabled(on)
        self.mip_check.setEnabled(on)
        if on:
            side = self._session.review.side if self._session is not None else None
            self._hide_2d_layers()
            self.set_view("retrosigmoid" if side in ("left", "right") else "A")
            self._show_mip(self.mip_check.isChecked())
        else:
            self._set_scene_visible(False)
            self._show_mip(False)
            self._restore_2d_layers()
            self.viewer.dims.ndisplay = 2
            _text_overlay(self.viewer).visible = False

    def _hide_2d_layers(self) -> None:
        """Hide the slice layers (blocky voxels in 3D); the surfaces show the case."""
        for ly in self.viewer.layers:
            if ly.visible and ly.metadata.get(META_KEY, {}).get("role") != "scene3d":
                self._hidden.append(ly)
                ly.visible = False

    def _restore_2d_layers(self) -> None:
        for ly in self._hidden:
            if ly in self.viewer.layers:
                ly.visible = True
        self._hidden = []

    def set_view(self, name: str) -> None:
        """Apply a camera preset ("retrosigmoid", "A", "P", "L", "R", "S")."""
        if not self.active:
            return
        side = self._session.review.side if self._session is not None else None
        if name == "retrosigmoid" and side not in ("left", "right"):
            self.review._report("3D view: set the side of symptoms for the retrosigmoid view")
            name = "A"
        scene3d_for(self.viewer).set_view(name, side)

    def _tof_layer(self) -> Any:
        layers = self.review._image_layers("TOF")
        return layers[0] if layers else None

    def _show_mip(self, on: bool) -> None:
        """TOF as a MIP in 3D (its 2D rendering and visibility are put back when off)."""
        tof = self._tof_layer()
        if on and self.active and tof is not None:
            if self._tof_state is None or self._tof_state[0] is not tof:
                self._tof_state = (tof, tof.rendering, tof.visible)
            scene3d_for(self.viewer).set_mip(tof)
            tof.visible = True
        elif self._tof_state is not None:
            layer, rendering, visible = self._tof_state
            self._tof_state = None
            if layer in self.viewer.layers:
                layer.rendering = rendering
                layer.visible = visible and not self.active
