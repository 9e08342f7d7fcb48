"""The NVC review dock widget: case -> landmarks -> nerve -> vessels -> measurements -> review.

A thin view of :class:`nvcview.case.CaseSession`: clicks become session calls,
and the widget redraws its layers and tables when the session's events
(:class:`nvcview.case.CaseEvents`) say something changed. The rules (what an edit
of a signed review does, when to re-measure, what a save stores) are the core's.
One case at a time: opening another study closes the first one's layers.
Positions are patient LPS mm everywhere except inside napari, whose world axes
are ``(S, P, L)`` mm (:mod:`napari_nvcview.layers`).
"""

from __future__ import annotations

import getpass
import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image as ImageLayer
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QTabBar,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_nvcview.layers import (
    CONTACT_NAME,
    LABELS_NAME,
    LANDMARKS_NAME,
    META_KEY,
    PATH_NAME,
    WINDOW_PRESETS,
    WORLD_AXES,
    camera,
    image_layer,
    labels_from_layer,
    labels_layer,
    lps_to_world_points,
    set_plane,
    structure_colormap,
    world_points_to_lps,
)
from napari_nvcview.segment_panel import PREVIEW_NAME, SegmentPanel
from nvcview.case import CaseSession, contact_midpoint, open_study, same_study
from nvcview.case.session import OrphanLabelError
from nvcview.display import (
    contrast_limits,
    display_box_to_source,
    refresh_display,
    sample_display_box,
    to_display,
    update_from_display,
)
from nvcview.errors import NvcviewError
from nvcview.measure.live import changed_box
from nvcview.measure.records import GRADES
from nvcview.measure.uncertainty import interval_text
from nvcview.review.model import CONFIDENCES, LANDMARK_NAMES, SIDES
from nvcview.types import Box

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

#: click modes of the viewer
MODES = ("off", "landmark", "path", "vessel", "scissors")
MODE_TEXT = {
    "off": "navigate",
    "landmark": "place landmark",
    "path": "trace nerve",
    "vessel": "vessel seed",
    "scissors": "scissors",
}
#: modes that disarm after their action (the next click navigates again)
ONE_SHOT_MODES = ("vessel", "scissors")
LANDMARK_COLORS = {"RExP": "lime", "RDP": "cyan", "IAC": "magenta"}
#: "interval mm": where the true gap lies (nvcview.measure.uncertainty), its cell's
#: tooltip says how it was derived (voxel along the gap, method error, surface method)
#: the order is the reading order: what the dock shows without scrolling comes first
MEASURE_COLUMNS = (
    "vessel",
    "gap mm",
    "interval mm",
    "suggested",
    "segment",
    "type",
    "res. mm",
    "reader",
)
#: the dock's minimum and maximum width, px (the canvas keeps most of the window)
DOCK_WIDTH = (340, 480)
#: the busy bar's steps and the time per step, ms (a slow step, not Qt's busy animation)
BUSY_STEPS, BUSY_STEP_MS = 10, 1000
#: layer names the widget owns for the case it shows (removed when another case opens)
CASE_LAYER_NAMES = (LABELS_NAME, LANDMARKS_NAME, PATH_NAME, CONTACT_NAME, PREVIEW_NAME)


def _worker(fn: Callable, *args: Any) -> Any:
    """A napari function worker for ``fn(*args)``, not started, errors not re-raised.

    Made directly (``napari.qt.threading.FunctionWorker``), not through
    ``create_worker``: that also registers a task in the window's status bar and
    updates it as the worker starts and ends, and every such update repaints the whole
    window (under Xvfb's software OpenGL 30-50 ms each, once or twice per brush
    stroke's measurement). The widget shows its own busy bar and status line.
    """
    import napari.qt.threading as nqt

    return nqt.FunctionWorker(fn, *args)


def _remove_hook(viewer, hook) -> None:
    """Take a mouse callback off a viewer (if the viewer is still there)."""
    try:
        viewer.mouse_drag_callbacks.remove(hook)
    except (ValueError, RuntimeError):
        pass


def _atoms_box(atoms: Any) -> Box | None:
    """Display box of a napari labels history item (the atoms of one stroke), None if unknown.

    napari 0.9 records a brush dab as a ``_MaskedPaintAtom`` (``slice_key``: its box)
    and ``data_setitem`` as ``(indices, old, new)``; anything else is unknown.
    """
    if not atoms:
        return None
    lo: list[int] | None = None
    hi: list[int] | None = None
    for atom in atoms:
        key = getattr(atom, "slice_key", None)
        if key is not None and len(key) == 3 and all(isinstance(k, slice) for k in key):
            if any(k.start is None or k.stop is None for k in key):
                return None
            a, b = [int(k.start) for k in key], [int(k.stop) for k in key]
        elif isinstance(atom, tuple) and len(atom) == 3 and len(atom[0]) == 3:
            idx = [np.asarray(i).ravel() for i in atom[0]]
            if idx[0].size == 0:
                continue
            a, b = [int(i.min()) for i in idx], [int(i.max()) + 1 for i in idx]
        else:
            return None
        lo = a if lo is None else [min(x, y) for x, y in zip(lo, a, strict=True)]
        hi = b if hi is None else [max(x, y) for x, y in zip(hi, b, strict=True)]
    if lo is None or hi is None:
        return None
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))


def _union_box(boxes: list[Box | None], shape: tuple[int, ...]) -> Box | None:
    """Smallest box (clipped to ``shape``) holding every box; None if any is unknown."""
    if any(b is None for b in boxes):
        return None
    lo = [max(0, min(b[a].start for b in boxes if b is not None)) for a in range(3)]
    hi = [min(shape[a], max(b[a].stop for b in boxes if b is not None)) for a in range(3)]
    if any(h <= low for low, h in zip(lo, hi, strict=True)):
        return None
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))


class _Alive:
    """Whether the widget's Qt object still exists (set False when Qt destroys it).

    Worker results arrive through queued signals; one arriving after the widget
    closed must not touch its (deleted) Qt children.
    """

    def __init__(self) -> None:
        self.ok = True

    def kill(self, *_args: object) -> None:
        self.ok = False


def _landmark_drag_callback(widget):
    """A landmarks-layer drag callback: the moves between press and release share one
    merge key, so one drag of a landmark is one undo step (held weakly)."""
    ref = weakref.ref(widget)

    def drag(layer, event):
        w = ref()
        if w is not None:
            w._landmark_drag = object()
        yield
        while event.type == "mouse_move":
            yield
        w = ref()
        if w is not None:
            w._landmark_drag = None

    return drag


class _ScrollTabs(QTabWidget):
    """Tabs whose pages scroll (once shown): a tall or wide page does not widen the dock.

    Pages are addressed as given (``indexOf``, ``setCurrentWidget``, ``page``), not
    by the scroll area around them.
    """

    def wrap_pages(self) -> None:
        """Put each page into a scroll area (once, when the dock is first shown).

        Done at the first show, not at construction: a window never shown has no
        layout, and a scroll viewport of Qt's default size would clip its pages.
        """
        current = self.currentIndex()
        bar = self.tabBar()
        assert bar is not None
        behaviour = bar.selectionBehaviorOnRemove()
        # right to left, the left tab selected on removal: no other tab is shown meanwhile
        # (the Register tab would start an alignment check when shown)
        bar.setSelectionBehaviorOnRemove(QTabBar.SelectionBehavior.SelectLeftTab)
        self.blockSignals(True)
        try:
            for i in reversed(range(self.count())):
                page = self.widget(i)
                if page is None or isinstance(page, QScrollArea):
                    continue
                text = self.tabText(i)
                self.removeTab(i)
                area = QScrollArea()
                area.setWidgetResizable(True)
                area.setFrameShape(QFrame.Shape.NoFrame)
                area.setWidget(page)
                page.show()
                self.insertTab(i, area, text)
            self.setCurrentIndex(max(current, 0))
        finally:
            self.blockSignals(False)
            bar.setSelectionBehaviorOnRemove(behaviour)

    def page(self, index: int) -> QWidget | None:
        """The page of tab ``index`` (inside its scroll area)."""
        area = self.widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def indexOf(self, page: QWidget | None) -> int:  # noqa: N802 (Qt API)
        for i in range(self.count()):
            if self.widget(i) is page or self.page(i) is page:
                return i
        return -1

    def setCurrentWidget(self, page: QWidget | None) -> None:  # noqa: N802 (Qt API)
        i = self.indexOf(page)
        if i >= 0:
            self.setCurrentIndex(i)


class ReviewWidget(QWidget):
    """Dock widget showing one reader's review of one case.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer to dock into (injected by napari).
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: CaseSession | None = None
        self.measurements: list = []
        self.last_error: str = ""
        self._syncing = False
        self._landmark_drag: object = None  # merge key of the landmark drag under way
        # display boxes of the brush strokes not yet carried to the case (None: unknown)
        self._paint_boxes: list[Box | None] = []
        self._alive = _Alive()
        self.destroyed.connect(self._alive.kill)
        #: run seed grows in a worker thread (the window stays responsive)
        self.background_tools = True
        self.mode = "off"

        self._measure_timer = QTimer(self)
        self._measure_timer.setSingleShot(True)
        self._measure_timer.setInterval(10)  # coalesces the events of one edit
        self._measure_timer.timeout.connect(self.measure_in_background)
        self._measure_worker = None
        self._measure_pending = False
        self.busy = 0
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(1500)
        self._autosave_timer.timeout.connect(self._autosave)

        self._build_ui()
        # a weak hook: a closed widget must not keep reacting to (or pin) the viewer
        ref = weakref.ref(self)

        def _click(viewer, event):
            # act on release, and only for a click: a drag (> 4 px) pans as usual
            widget = ref()
            if widget is None or widget.mode == "off":
                return
            press_world, press_px = np.asarray(event.position, float), np.asarray(event.pos)
            yield
            while event.type == "mouse_move":
                yield
            widget = ref()
            if widget is not None and np.linalg.norm(np.asarray(event.pos) - press_px) <= 4:
                widget._on_click(viewer, press_world)

        self._click_hook = _click
        self.viewer.mouse_drag_callbacks.append(_click)
        self._bind_history_keys()
        self.destroyed.connect(lambda *_: _remove_hook(napari_viewer, _click))
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        # adopt layers already open (e.g. the sample data loaded before the widget)
        for layer in list(self.viewer.layers):
            self._adopt(layer)

    # ---------------------------------------------------- the review folder
    @property
    def review_folder(self) -> Path | None:
        """The folder the case saves (and autosaves) into: the session's."""
        return self.session.folder if self.session is not None else None

    @review_folder.setter
    def review_folder(self, folder: str | Path | None) -> None:
        if self.session is not None:
            self.session.folder = Path(folder) if folder is not None else None

    # -------------------------------------------- closing the viewer window
    def _watch_window(self) -> None:
        """Filter the events of every ancestor (Qt API), up to the top-level window.

        Docking reparents the widget into a dock, then the dock into the viewer's
        main window: each reparenting is seen, and the window's close flushes an edit.
        """
        watched = self.__dict__.setdefault("_watched", weakref.WeakSet())
        w = self.parentWidget()
        while w is not None:
            if w not in watched:
                w.installEventFilter(self)
                watched.add(w)
            w = w.parentWidget()

    def event(self, ev) -> bool:  # noqa: N802 (Qt override)
        """Once docked, watch the ancestors (see :meth:`_watch_window`)."""
        if ev.type() in (QEvent.Type.ParentChange, QEvent.Type.Show):
            self._watch_window()
        if ev.type() == QEvent.Type.Show:
            self.tabs.wrap_pages()  # tall or wide tabs scroll in the dock (once)
        return super().event(ev)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        """The viewer's window is closing: save a pending edit first."""
        kind = event.type()
        if kind == QEvent.Type.ParentChange:
            self._watch_window()
        elif kind == QEvent.Type.Close and obj is self.window():
            self.flush_autosave()
            self.registration_panel.shutdown()  # no alignment check outlives the window
        return super().eventFilter(obj, event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """The widget closes: save a pending edit, stop listening to the case."""
        self.flush_autosave()
        self._measure_timer.stop()
        self._busy_timer.stop()
        self.registration_panel.shutdown()  # cancel and wait for the panel's workers
        super().closeEvent(event)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        self.status = QLabel("Open a study (T2 + TOF) or a saved review.")
        self.progress = QProgressBar()
        # busy indicator, stepped once a second: Qt's animated "busy" bar (range 0, 0)
        # repaints the window so often that on a loaded machine (and under Xvfb's
        # software OpenGL) the grow worker it waits for ran 4-5x slower (1.7 -> 8.1 s)
        self.progress.setRange(0, BUSY_STEPS)
        self.progress.setMaximumHeight(8)
        self.progress.setTextVisible(False)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # showing it does not lay the dock out again
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        self._busy_timer = QTimer(self)
        self._busy_timer.setInterval(BUSY_STEP_MS)
        self._busy_timer.timeout.connect(
            lambda: self.progress.setValue((self.progress.value() + 1) % (BUSY_STEPS + 1))
        )
        self.status.setWordWrap(True)
        modes = QGridLayout()  # two rows: the dock stays narrow
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QPushButton] = {}
        for i, m in enumerate(MODES):
            b = QPushButton(MODE_TEXT[m])
            b.setCheckable(True)
            b.setToolTip(f"Click mode: {MODE_TEXT[m]} (2D slice clicks)")
            self.mode_group.addButton(b)
            self.mode_buttons[m] = b
            modes.addWidget(b, i // 3, i % 3)
            b.clicked.connect(lambda _=False, m=m: self.set_mode(m))
        self.mode_buttons["off"].setChecked(True)
        self.tabs = _ScrollTabs()
        self.tabs.addTab(self._case_tab(), "Case")
        self.tabs.addTab(self._landmark_tab(), "Landmarks")
        self.tabs.addTab(self._nerve_tab(), "Nerve")
        # the segmentation tools, undo / redo and the structure legend (issue 13)
        self.segment_panel = SegmentPanel(self)
        self.vessel_type_combo = self.segment_panel.vessel_type_combo
        self.vessel_radius = self.segment_panel.region_spin
        self.structure_table = self.segment_panel.structure_table
        self.tabs.addTab(self.segment_panel, "Segment")
        self.tabs.addTab(self._measure_tab(), "Measure")
        self.tabs.addTab(self._review_tab(), "Review")
        from .registration_panel import RegistrationPanel  # TOF -> T2 registration tab

        self.registration_panel = RegistrationPanel(self)
        self.tabs.addTab(self.registration_panel, "Register")
        self._fit_dock()
        root.addLayout(modes)
        root.addWidget(self.tabs)
        from napari_nvcview.scene_panel import ScenePanel  # the 3D view (issue 15)

        self.scene_panel = ScenePanel(self)
        root.addWidget(self.scene_panel)
        root.addWidget(self.progress)
        root.addWidget(self.status)
        root.addWidget(self.registration_panel.banner)  # the T2 / TOF alignment line

    def _fit_dock(self) -> None:
        """Keep the dock to about a third of a 1456 px window: the canvas is the work.

        The dock is at most ``DOCK_WIDTH[1]`` px wide; once shown (:meth:`event`) each
        tab scrolls inside it (a tall or wide tab no longer widens it); long texts wrap
        and long series names in the pickers are elided instead of stretching the form.
        """
        self.tabs.setUsesScrollButtons(True)
        for label in self.tabs.findChildren(QLabel):
            label.setWordWrap(True)
        for combo in self.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(12)
        self.setMinimumWidth(DOCK_WIDTH[0])
        self.setMaximumWidth(DOCK_WIDTH[1])

    def _case_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        row = QHBoxLayout()
        b_open = QPushButton("Open study / review folder…")
        b_open.clicked.connect(self._ask_open_folder)
        b_file = QPushButton("Open file…")
        b_file.clicked.connect(self._ask_open_file)
        row.addWidget(b_open)
        row.addWidget(b_file)
        form.addRow(row)
        self.t2_combo = QComboBox()
        self.tof_combo = QComboBox()
        b_use = QPushButton("Use these series")
        b_use.clicked.connect(self.use_selected_series)
        form.addRow("T2 (CISS/FIESTA)", self.t2_combo)
        form.addRow("TOF MRA", self.tof_combo)
        form.addRow(b_use)
        self.side_combo = QComboBox()
        self.side_combo.addItems(["", *SIDES])
        self.side_combo.currentTextChanged.connect(self._on_case_fields)
        self.reader_edit = QLineEdit()
        self.reader_edit.editingFinished.connect(self._on_case_fields)
        self.case_edit = QLineEdit()
        self.case_edit.editingFinished.connect(self._on_case_fields)
        form.addRow("Side of symptoms", self.side_combo)
        form.addRow("Reader", self.reader_edit)
        form.addRow("Case ID", self.case_edit)
        self.tof_opacity = QSlider(Qt.Orientation.Horizontal)
        self.tof_opacity.setRange(0, 100)
        self.tof_opacity.setValue(80)
        self.tof_opacity.valueChanged.connect(self._on_tof_opacity)
        form.addRow("TOF fusion", self.tof_opacity)
        self.t2_preset = QComboBox()
        self.t2_preset.addItems(list(WINDOW_PRESETS["T2"]))
        self.t2_preset.currentTextChanged.connect(lambda t: self.apply_preset("T2", t))
        self.tof_preset = QComboBox()
        self.tof_preset.addItems(list(WINDOW_PRESETS["TOF"]))
        self.tof_preset.currentTextChanged.connect(lambda t: self.apply_preset("TOF", t))
        form.addRow("T2 window", self.t2_preset)
        form.addRow("TOF window", self.tof_preset)
        planes = QHBoxLayout()
        for plane in ("axial", "coronal", "sagittal"):
            b = QPushButton(plane)
            b.clicked.connect(lambda _=False, p=plane: set_plane(self.viewer, p))
            planes.addWidget(b)
        form.addRow("View", planes)
        return w

    def _landmark_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.landmark_combo = QComboBox()
        self.landmark_combo.addItems(list(LANDMARK_NAMES))
        self.landmark_combo.setEditable(True)
        b_place = QPushButton("Place (click in a slice)")
        b_place.clicked.connect(lambda: self.set_mode("landmark"))
        b_del = QPushButton("Delete selected")
        b_del.clicked.connect(self._delete_selected_landmark)
        row.addWidget(self.landmark_combo)
        row.addWidget(b_place)
        row.addWidget(b_del)
        lay.addLayout(row)
        self.landmark_table = QTableWidget(0, 4)
        self.landmark_table.setHorizontalHeaderLabels(["name", "x (L) mm", "y (P) mm", "z (S) mm"])
        self.landmark_table.cellClicked.connect(self._on_landmark_row)
        lay.addWidget(self.landmark_table)
        lay.addWidget(QLabel("Drag points in the landmarks layer (select mode) to move them."))
        return w

    def _nerve_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        b_trace = QPushButton("Trace centreline (click RExP → IAC)")
        b_trace.clicked.connect(lambda: self.set_mode("path"))
        b_clear = QPushButton("Clear centreline")
        b_clear.clicked.connect(self.clear_path)
        form.addRow(b_trace, b_clear)
        self.tube_radius = QDoubleSpinBox()
        self.tube_radius.setRange(0.3, 3.0)
        self.tube_radius.setSingleStep(0.1)
        self.tube_radius.setValue(1.0)
        self.tube_radius.setSuffix(" mm")
        b_tube = QPushButton("CN VII from centreline")
        b_tube.clicked.connect(self.nerve_from_path)
        form.addRow(b_tube, self.tube_radius)
        form.addRow(QLabel("Segment CN VII / VIII from the landmarks in the Segment tab."))
        form.addRow(QLabel("Correct with the labels layer's brush / eraser."))
        return w

    def _measure_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        self.measure_table = QTableWidget(0, len(MEASURE_COLUMNS))
        self.measure_table.setHorizontalHeaderLabels(list(MEASURE_COLUMNS))
        self.measure_table.cellClicked.connect(lambda r, _c: self.centre_on_row(r))
        lay.addWidget(self.measure_table)
        b = QPushButton("Measure now")
        b.clicked.connect(self.refresh_measurements)
        lay.addWidget(b)
        box = QGroupBox("Planes through the selected contact (fused T2 + TOF)")
        planes = QHBoxLayout(box)
        self.plane_views: dict[str, QLabel] = {}
        for name in ("axial", "coronal", "nerve"):
            view = QLabel(name)
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view.setMinimumSize(120, 120)
            view.setToolTip(
                {
                    "axial": "axial: R | L (radiological), A up",
                    "coronal": "coronal: R | L (radiological), S up",
                    "nerve": "straightened along CN VII: brainstem left, IAC right",
                }[name]
            )
            self.plane_views[name] = view
            planes.addWidget(view)
        lay.addWidget(box)
        lay.addWidget(QLabel("Gaps below the resolution (one voxel) cannot be told from contact."))
        return w

    def _review_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        box = QGroupBox("Selected conflict (row in Measure)")
        form = QFormLayout(box)
        self.grade_combo = QComboBox()
        self.grade_combo.addItems(["", *GRADES])
        self.confidence_combo = QComboBox()
        self.confidence_combo.addItems(["", *CONFIDENCES])
        self.comment_edit = QLineEdit()
        b_call = QPushButton("Record call")
        b_call.clicked.connect(self._record_selected_call)
        form.addRow("grade", self.grade_combo)
        form.addRow("confidence", self.confidence_combo)
        form.addRow("comment", self.comment_edit)
        form.addRow(b_call)
        lay.addWidget(box)
        lay.addWidget(QLabel("Impression"))
        self.impression_edit = QPlainTextEdit()
        self.impression_edit.setMaximumHeight(80)
        self.impression_edit.textChanged.connect(self._on_impression)
        lay.addWidget(self.impression_edit)
        row_va = QHBoxLayout()
        row_va.addWidget(QLabel("VA dominance"))
        self.va_combo = QComboBox()
        self.va_combo.addItems(["", "left", "right", "codominant"])
        self.va_combo.currentTextChanged.connect(self._on_case_fields)
        row_va.addWidget(self.va_combo)
        lay.addLayout(row_va)
        from napari_nvcview.findings_panel import FindingsPanel  # reader findings (issue 16)

        self.findings_panel = FindingsPanel(self)
        lay.addWidget(self.findings_panel)
        self.final_check = QCheckBox("Mark final (signed off)")
        self.final_check.toggled.connect(self._on_final)
        self.autosave_check = QCheckBox("Autosave after edits")
        self.autosave_check.setChecked(True)
        self.reopen_button = QPushButton("Reopen (signed review)…")
        self.reopen_button.setToolTip(
            "Make the signed review a draft again to edit it (logged in its audit trail)"
        )
        self.reopen_button.clicked.connect(lambda: self.reopen())
        self.reopen_button.setEnabled(False)
        row_final = QHBoxLayout()
        row_final.addWidget(self.final_check)
        row_final.addWidget(self.reopen_button)
        lay.addLayout(row_final)
        lay.addWidget(self.autosave_check)
        row = QHBoxLayout()
        b_save = QPushButton("Save review")
        b_save.clicked.connect(lambda: self.save())
        b_saveas = QPushButton("Save as…")
        b_saveas.clicked.connect(self._ask_save_as)
        b_export = QPushButton("Export report…")
        b_export.clicked.connect(self._ask_export)
        row.addWidget(b_save)
        row.addWidget(b_saveas)
        row.addWidget(b_export)
        lay.addLayout(row)
        return w

    # ------------------------------------------------------------ feedback
    def _report(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        if error:
            self.last_error = text
            log.warning("%s", text)

    def _guard(self, fn, *args, **kwargs) -> Any:
        """Run ``fn``, turning nvcview errors into a status message."""
        try:
            return fn(*args, **kwargs)
        except NvcviewError as exc:
            self._report(str(exc), error=True)
        return None

    # --------------------------------------------------------------- modes
    def set_mode(self, mode: str) -> None:
        """Choose what a click in the viewer does (see :data:`MODES`)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        if mode != "off":
            # clicks belong to the widget now: no layer tool (brush, add point) takes them
            for lyr in self.viewer.layers:
                if getattr(lyr, "mode", "pan_zoom") != "pan_zoom":
                    lyr.mode = "pan_zoom"
        if mode == "landmark":
            self._report(f"Click the {self.landmark_combo.currentText()} in a 2D slice.")
        elif mode != "off":
            self._report(f"Mode: {MODE_TEXT[mode]}. Click in a 2D slice.")

    def _on_click(self, viewer, world: np.ndarray) -> None:
        if self.mode == "off" or self.session is None:
            return
        if viewer.dims.ndisplay != 2:
            self._report("Switch to 2D to click on a slice (3D clicks are ambiguous).", True)
            return
        self.click_world(world)

    def click_world(self, world: np.ndarray) -> None:
        """Act on a click at viewer world position ``world`` ``(S, P, L)`` mm."""
        lps = world_points_to_lps(world)[0]
        mode = self.mode
        if mode == "landmark":
            self.place_landmark(self.landmark_combo.currentText().strip() or "RExP", lps)
        elif mode == "path":
            self.add_path_point(lps)
        elif mode == "vessel":
            self.set_mode("off")  # one seed, one grow: the next click navigates
            self.segment_panel.grow_vessel(lps)
        elif mode == "scissors":
            normal = np.zeros(3)
            hidden = [d for d in range(3) if d not in self.viewer.dims.displayed]
            normal[hidden[0] if hidden else 0] = 1.0
            done = self.segment_panel.scissors_click(lps, normal[::-1])  # (S,P,L) -> LPS
            if not self.segment_panel.scissors_points:
                self.set_mode("off")
            del done

    # ------------------------------------------------------------ loading
    def _ask_open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open study or review folder")
        if path:
            self.open_path(path, background=True)

    def _ask_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open series", "", "Images (*.nii *.nii.gz *.dcm);;All (*)"
        )
        if path:
            self.open_path(path, background=True)

    def _run(self, fn, args: tuple, done, what: str, background: bool, *, case=None) -> Any:
        """Run ``fn(*args)`` now, or in a worker thread with a busy indicator.

        ``done(result)`` runs in the GUI thread, and only while the widget exists
        and (given ``case``) still shows that case: a result arriving after the
        widget closed or another case opened is dropped. nvcview errors become a
        status message.
        """
        if not background:
            out = self._guard(fn, *args)
            return None if out is None else done(out)
        # errors are reported here (status line); re-raised they would land in napari's
        # console as a traceback (or abort the process) for a click in the wrong place
        worker = _worker(fn, *args)
        self._busy(+1, what)
        worker.returned.connect(self._deliver(done, case))
        worker.errored.connect(self._deliver(lambda exc: self._worker_error(what, exc)))
        worker.finished.connect(self._deliver(lambda: self._busy(-1)))
        worker.start()
        return worker

    def _deliver(self, fn: Callable, case: CaseSession | None = None) -> Callable:
        """A worker callback that does nothing once the widget is gone (or shows another case).

        Holds the widget weakly: a worker never keeps a closed widget alive.
        """
        alive, ref = self._alive, weakref.ref(self)

        def call(*args: Any) -> Any:
            widget = ref()
            if widget is None or not alive.ok:
                return None
            if case is not None and widget.session is not case:
                return None
            try:
                return fn(*args)
            except RuntimeError as exc:  # a Qt child deleted under us: the widget is closing
                if "deleted" not in str(exc):
                    raise
                return None

        return call

    def _worker_error(self, what: str, exc: BaseException) -> None:
        """A worker failed: say it in the status line (with a traceback in the log if a bug)."""
        if not isinstance(exc, NvcviewError):
            log.error("%s failed", what, exc_info=(type(exc), exc, exc.__traceback__))
        self._report(f"{what}: {exc}", error=True)

    @property
    def idle(self) -> bool:
        """No worker running and no debounced measurement or autosave pending."""
        return (
            self.busy == 0
            and self._measure_worker is None
            and not self._measure_timer.isActive()
            and not self._autosave_timer.isActive()
        )

    def _busy(self, delta: int, what: str = "") -> None:
        self.busy = max(0, self.busy + delta)
        self.progress.setVisible(self.busy > 0)
        if self.busy > 0 and not self._busy_timer.isActive():
            self.progress.setValue(0)
            self._busy_timer.start()
        elif self.busy == 0:
            self._busy_timer.stop()
        if delta > 0 and what:
            self._report(f"{what} …")
        elif self.busy == 0 and self.status.text().endswith(" …"):
            self._report(self.status.text()[:-2] + ": done")

    def open_path(self, path: str | Path, background: bool = False) -> Any:
        """Open a study, series or review folder as the case shown (closing the previous one).

        Parameters
        ----------
        path : path-like
            Review folder, study folder (T2 + TOF), series folder or file.
        background : bool
            Load in a worker thread (the window stays responsive); the session is
            shown when loading finishes. Returns the worker instead of the session.
        """
        p = Path(path)

        def done(session: CaseSession) -> CaseSession:
            self.load_session(session)
            return session

        return self._run(open_study, (path,), done, f"Opening {p.name}", background)

    def _image_layers(self, role: str) -> list:
        return [
            lyr
            for lyr in self.viewer.layers
            if isinstance(lyr, ImageLayer) and lyr.metadata.get(META_KEY, {}).get("role") == role
        ]

    def _find_image_layer(self, image) -> Any:
        for lyr in self.viewer.layers:
            if lyr.metadata.get(META_KEY, {}).get("image") is image:
                return lyr
        return None

    # ------------------------------------------------------- one case at a time
    def _study_tokens(self, session: CaseSession) -> set[str]:
        tokens = set()
        for img in (session.t2, session.tof):
            lyr = self._find_image_layer(img) if img is not None else None
            if lyr is not None and lyr.metadata.get(META_KEY, {}).get("study"):
                tokens.add(lyr.metadata[META_KEY]["study"])
        return tokens

    def _belongs_to(self, layer, session: CaseSession, tokens: set[str]) -> bool:
        nv = layer.metadata.get(META_KEY, {})
        img = nv.get("image")
        if img is None:
            return True
        if img is session.t2 or img is session.tof:
            return True
        own = {x.meta.series_uid for x in (session.t2, session.tof) if x is not None}
        if img.meta.series_uid and img.meta.series_uid in own:
            return False  # the previous case's copy of a series the new case shows itself
        if nv.get("study") and nv["study"] in tokens:
            return True  # another series of the same study, waiting in the series picker
        ref = session.t2 if session.t2 is not None else session.tof
        return ref is not None and not nv.get("study") and same_study(img, ref)

    def _set_case(self, session: CaseSession) -> None:
        """Make ``session`` the case shown; the previous case is saved (if due) and closed.

        Its image layers, labels, landmarks and contact lines leave the viewer:
        two patients are never shown together.
        """
        old = self.session
        if old is session:
            return
        if old is not None:
            self.flush_autosave()
            self._measure_timer.stop()
            self._measure_pending = False
            old.close()  # drops our callbacks; a late worker result for it is ignored
        self.session = session
        self.measurements = []
        tokens = self._study_tokens(session)
        self._syncing = True
        try:
            for lyr in list(self.viewer.layers):
                nv = lyr.metadata.get(META_KEY, {})
                stale_case = lyr.name in CASE_LAYER_NAMES and nv.get("session") is not session
                stale_image = nv.get("image") is not None and not self._belongs_to(
                    lyr, session, tokens
                )
                if old is not None and (stale_case or stale_image):
                    self.viewer.layers.remove(lyr)
        finally:
            self._syncing = False
        ev = session.events
        ev.changed.connect(self._on_case_changed)
        ev.labels.connect(self._on_labels_event)
        ev.structures.connect(self._on_structures_event)
        ev.landmarks.connect(self._on_points_event)
        ev.path.connect(self._on_points_event)
        ev.measured.connect(self._on_measured)
        ev.status.connect(self._on_status)
        ev.saved.connect(self._on_saved)
        self.findings_panel.attach(session)  # reader findings panel (issue 16)
        self.segment_panel.attach(session)  # segmentation tools (issue 13)

    def load_session(self, session: CaseSession) -> None:
        """Show a session: image layers (reused if present), labels, points, tables."""
        self._set_case(session)
        self._syncing = True
        try:
            for role, img in (("T2", session.t2), ("TOF", session.tof)):
                if img is not None and self._find_image_layer(img) is None:
                    data, kw, _ = image_layer(img, role)
                    self.viewer.add_image(data, **kw)
            self._ensure_labels_layer()
            self._ensure_points_layers()
            self._stack_fusion()
            self._show_fields()
        finally:
            self._syncing = False
        self._refresh_series_combos()
        self._refresh_points()
        self._refresh_structures()
        self._show_status()
        set_plane(self.viewer, "axial")
        self.viewer.reset_view()
        self._centre_on_reference()
        if self.refresh_measurements():
            # start at the tightest conflict
            gaps = [m.gap_mm for m in self.measurements]
            row = int(np.argmin(gaps))
            self.centre_on_world(lps_to_world_points(contact_midpoint(self.measurements[row]))[0])
        self._report(self._case_summary())
        self.registration_panel.case_opened(session)  # stored registration / misalignment

    def _show_fields(self) -> None:
        s = self.session
        if s is None:
            return
        r = s.review
        self.side_combo.setCurrentText(r.side or "")
        self.reader_edit.setText(r.reader)
        self.case_edit.setText(r.case_id)
        self.impression_edit.setPlainText(r.impression)
        self.va_combo.setCurrentText(r.va_dominance or "")

    def _stack_fusion(self) -> None:
        """Layer order bottom-up: T2, TOF (additive fusion), labels, then the points."""
        s = self.session
        if s is None:
            return
        t2 = self._find_image_layer(s.t2) if s.t2 is not None else None
        tof = self._find_image_layer(s.tof) if s.tof is not None else None
        n = 0
        for lyr in (t2, tof, self._layer(LABELS_NAME)):
            if lyr is not None:
                self.viewer.layers.move(self.viewer.layers.index(lyr), n)
                n += 1

    def _case_summary(self) -> str:
        s = self.session
        if s is None:
            return "No case."
        parts = []
        for role, img in (("T2", s.t2), ("TOF", s.tof)):
            if img is not None:
                vox = " x ".join(f"{v:.2f}" for v in img.spacing_mm)
                obl = (
                    " (oblique: resampled for display)" if "oblique" in img.meta.orientation else ""
                )
                parts.append(f"{role} {vox} mm{obl}")
        signed = "; signed off (Reopen to edit)" if s.signed else ""
        return "Case loaded: " + "; ".join(parts) + signed

    def _centre_on_reference(self) -> None:
        s = self.session
        if s is None or not s.has_series:
            return
        world = lps_to_world_points(s.centre_lps())[0]
        self.centre_on_world(world)

    def _on_layer_inserted(self, event) -> None:
        if not self._syncing:
            self._adopt(event.value)
            self._refresh_series_combos()

    def _adopt(self, layer) -> None:
        """Take over layers that readers or sample data put into the viewer."""
        nv = layer.metadata.get(META_KEY, {})
        if nv.get("session") is not None and self.session is not nv["session"]:
            # a labels layer from the reader or the sample data: a whole case, which
            # becomes the case shown (the previous one is closed)
            old = self._layer(LABELS_NAME)
            # (a plugin's viewer hands out proxies: compare the layers behind them)
            if old is not None and getattr(old, "__wrapped__", old) is not getattr(
                layer, "__wrapped__", layer
            ):
                self._syncing = True
                try:
                    self.viewer.layers.remove(old)
                finally:
                    self._syncing = False
            layer.name = LABELS_NAME
            self._watch_labels_layer(layer)
            self.load_session(nv["session"])
            return
        role, img = nv.get("role"), nv.get("image")
        if img is None or role not in ("T2", "TOF"):
            return
        case = nv.get("case")
        if case is not None and case is not self.session and case.labels is not None:
            return  # a whole case's series: its labels layer (next) opens the case
        slot = role.lower()
        s = self.session
        if s is not None and getattr(s, slot) is img:
            return
        if s is not None:
            ref = s.t2 if s.t2 is not None else s.tof
            token = nv.get("study")
            tokens = self._study_tokens(s)
            same = (bool(token) and token in tokens) or (ref is not None and same_study(img, ref))
            if getattr(s, slot) is not None and not same:
                # the slot is taken by another study's series: a new case (the old one
                # is saved and closed); an empty slot takes the series into the case
                s = None
            elif getattr(s, slot) is not None:
                self._report(
                    f"Another {role} series is open ({img.meta.series_description}); "
                    "choose it in the Case tab's series picker."
                )
                return
        if s is None:
            s = CaseSession(**{slot: img})  # the new case holds its first series already
            self._set_case(s)
        if s.labels is not None and role == "T2" and s.t2 is None:
            # labels were made on the TOF grid; they move to the T2 (the reference),
            # with the rest of the review (landmarks, reader, calls)
            if self._guard(s.add_t2, img) is None and s.t2 is not img:
                return
        else:
            setattr(s, slot, img)
        self._syncing = True
        try:
            self._ensure_labels_layer()
            self._ensure_points_layers()
            self._stack_fusion()
        finally:
            self._syncing = False
        set_plane(self.viewer, "axial")
        self._report(self._case_summary())
        if s.structures:
            self._refresh_structures()
            self._schedule()  # measured again on the new reference grid
        self.registration_panel.case_opened(s)  # a new T2 / TOF pair: its alignment check

    def _refresh_series_combos(self) -> None:
        every = [
            lyr.name
            for lyr in self.viewer.layers
            if isinstance(lyr, ImageLayer)
            and lyr.metadata.get(META_KEY, {}).get("image") is not None
        ]
        s = self.session
        for combo, role in ((self.t2_combo, "T2"), (self.tof_combo, "TOF")):
            names = every
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(["", *names])
            # the case's own series first; else keep the choice; else the first of the role
            own = getattr(s, role.lower()) if s is not None else None
            own_layer = self._find_image_layer(own) if own is not None else None
            of_role = [lyr.name for lyr in self._image_layers(role)]
            if own_layer is not None:
                choice = own_layer.name
            elif current in names:
                choice = current
            else:
                choice = of_role[0] if of_role else ""
            combo.setCurrentText(choice)
            combo.blockSignals(False)

    def use_selected_series(self) -> None:
        """Make the series chosen in the pickers the case's T2 and TOF."""
        images = {}
        for combo, role in ((self.t2_combo, "T2"), (self.tof_combo, "TOF")):
            name = combo.currentText()
            if name and name in self.viewer.layers:
                images[role] = self.viewer.layers[name].metadata[META_KEY]["image"]
        s = self.session or CaseSession()
        # the review is kept; the label map is carried onto a new reference grid
        resampled = self._guard(s.set_series, images.get("T2"), images.get("TOF"))
        if resampled is None:
            return  # refused (reported): the case keeps its series and annotations
        self.load_session(s)
        if resampled:
            self._report(self._case_summary() + "; labels resampled onto the new reference grid")

    # -------------------------------------------------------- layers state
    def _layer(self, name: str):
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _ensure_labels_layer(self) -> None:
        s = self.session
        if s is None or not s.has_series:
            return
        labels = s.ensure_labels()
        lyr = self._layer(LABELS_NAME)
        # an oblique map's display copy is uint8 while the labels fit (labels_layer)
        data, kw, _ = labels_layer(labels, s.reference.affine, s.structures)
        if lyr is None or lyr.data.shape != data.shape or lyr.data.dtype != data.dtype:
            if lyr is not None:
                self.viewer.layers.remove(lyr)
            lyr = self.viewer.add_labels(data, **kw)
            self._watch_labels_layer(lyr)
        else:
            lyr.data = data
            lyr.metadata = kw["metadata"]
            if s.structures:
                self._set_colormap(lyr, s.structures)
        lyr.metadata[META_KEY]["session"] = s
        self._paint_boxes = []
        lyr.editable = s.editable
        lyr.refresh(extent=False)

    @staticmethod
    def _set_colormap(lyr, structures: list) -> None:
        """Give the labels layer the structures' colours, only when they changed.

        A new colormap costs napari a texture map of every value of the layer's dtype
        (65536 for uint16, in Python) and a redraw; same colours, no work.
        """
        cmap = structure_colormap(structures)
        current = getattr(lyr.colormap, "color_dict", None)
        if current is not None and set(current) == set(cmap):
            same = all(np.allclose(current[k], cmap[k]) for k in cmap)
            if same:
                return
        lyr.colormap = cmap

    def _ensure_points_layers(self) -> None:
        if self._layer(LANDMARKS_NAME) is None:
            lm = self.viewer.add_points(
                np.zeros((0, 3)),
                ndim=3,
                name=LANDMARKS_NAME,
                units="mm",
                axis_labels=WORLD_AXES,
                size=2.0,
                face_color="yellow",
                features={"name": np.array([], dtype=object)},
                text={"string": "{name}", "color": "yellow", "size": 10, "anchor": "upper_left"},
            )
            lm.events.data.connect(self._on_landmarks_moved)
            lm.mouse_drag_callbacks.append(_landmark_drag_callback(self))
        if self._layer(PATH_NAME) is None:
            self.viewer.add_points(
                np.zeros((0, 3)),
                ndim=3,
                name=PATH_NAME,
                units="mm",
                axis_labels=WORLD_AXES,
                size=1.0,
                face_color="yellow",
                border_color="black",
            )
        if self._layer(CONTACT_NAME) is None:
            self.viewer.add_vectors(
                np.zeros((0, 2, 3)),
                ndim=3,
                name=CONTACT_NAME,
                units="mm",
                axis_labels=WORLD_AXES,
                edge_width=0.5,
                edge_color="lime",
                projection_mode="all",
                vector_style="line",
            )
        editable = self.session is None or self.session.editable
        for name in (LANDMARKS_NAME, PATH_NAME):
            self._layer(name).editable = editable

    def _refresh_points(self) -> None:
        s = self.session
        if s is None:
            return
        self._syncing = True
        try:
            self._ensure_points_layers()  # the user may have deleted them
            names = list(s.review.landmarks)
            lm = self._layer(LANDMARKS_NAME)
            pts = [s.review.landmarks[n] for n in names]
            lm.data = lps_to_world_points(np.asarray(pts, float)) if pts else np.zeros((0, 3))
            lm.features = {"name": np.asarray(names, dtype=object)}
            lm.face_color = [LANDMARK_COLORS.get(n, "yellow") for n in names] or "yellow"
            lm.refresh()
            path = self._layer(PATH_NAME)
            p = np.asarray(s.review.nerve_path_lps, float).reshape(-1, 3)
            path.data = lps_to_world_points(p) if len(p) else np.zeros((0, 3))
        finally:
            self._syncing = False
        t = self.landmark_table
        t.setRowCount(len(names))
        for i, n in enumerate(names):
            t.setItem(i, 0, QTableWidgetItem(n))
            for j, v in enumerate(s.review.landmarks[n]):
                t.setItem(i, j + 1, QTableWidgetItem(f"{v:.1f}"))

    def _refresh_structures(self) -> None:
        s = self.session
        rows = s.structures if s is not None else []
        self.segment_panel.refresh()
        lyr = self._layer(LABELS_NAME)
        if lyr is not None and rows:
            if max(st.label for st in rows) > np.iinfo(lyr.data.dtype).max:
                self._syncing = True  # a label beyond the display copy's dtype: rebuild it
                try:
                    self._ensure_labels_layer()
                finally:
                    self._syncing = False
            else:
                self._set_colormap(lyr, rows)  # the setter redraws

    # ------------------------------------------------------ case events
    def _on_case_changed(self, event) -> None:
        """Any edit of the case: measure soon (debounced) and autosave a little later."""
        self._schedule()

    def _schedule(self) -> None:
        self._measure_timer.start()
        s = self.session
        if s is not None and s.folder is not None and self.autosave_check.isChecked():
            self._autosave_timer.start()

    def edited(self) -> None:
        """Measure soon and autosave later (kept for callers; edits schedule this themselves)."""
        self._schedule()

    def _on_structures_event(self, event) -> None:
        self._refresh_structures()

    def _on_points_event(self, event) -> None:
        self._refresh_points()

    def _on_labels_event(self, event) -> None:
        """The case's label map changed: redraw only what the change reaches.

        An axis-aligned labels layer is a view of the label map (nothing to copy);
        an oblique one is re-sampled over the edited box only.
        """
        s = self.session
        if s is None or self._syncing:
            return
        lyr = self._layer(LABELS_NAME)
        if lyr is None or not s.has_series:
            self._syncing = True
            try:
                self._ensure_labels_layer()  # the user may have deleted it
            finally:
                self._syncing = False
            return
        labels = s.ensure_labels()
        grid = lyr.metadata.get(META_KEY, {}).get("grid")
        box = getattr(event, "box", None)
        if grid is not None and grid.oblique and tuple(lyr.data.shape) == tuple(grid.shape):
            if box is None:  # redrawn in place: no second display-size array
                to_display(labels, s.reference.affine, order=0, grid=grid, out=lyr.data)
            else:
                refresh_display(lyr.data, labels, s.reference.affine, grid, box)
        elif not np.shares_memory(lyr.data, labels):
            data, _ = to_display(labels, s.reference.affine, order=0)
            lyr.data = data
        lyr.refresh(extent=False)  # the plane shown; the layer's extent did not change

    def _on_measured(self, event) -> None:
        self._show_measurements(event.measurements)

    def _on_status(self, event) -> None:
        self._show_status()

    def _on_saved(self, event) -> None:
        self._report(f"Saved {event.path}")

    def _show_status(self) -> None:
        """Final checkbox, Reopen button and editability of the layers follow the case."""
        s = self.session
        signed = s is not None and s.signed
        self._syncing = True
        try:
            self.final_check.setChecked(signed)
        finally:
            self._syncing = False
        self.reopen_button.setEnabled(signed)
        for name in (LABELS_NAME, LANDMARKS_NAME, PATH_NAME):
            lyr = self._layer(name)
            if lyr is not None:
                lyr.editable = not signed

    def _watch_labels_layer(self, layer) -> None:
        """Sync brush strokes to the review; the layer's undo / redo (Ctrl+Z,
        Ctrl+Shift+Z) are the case's (:meth:`CaseSession.undo`), which hold every
        edit: grows, nerve segmentation, deletions and strokes alike.
        """
        layer.events.paint.connect(self._on_paint)
        ref = weakref.ref(self)
        for name in ("undo", "redo"):

            def replay(name=name) -> None:
                widget = ref()
                if widget is not None:
                    getattr(widget.segment_panel, name)()

            setattr(layer, name, replay)

    def _bind_history_keys(self) -> None:
        """Ctrl+Z / Ctrl+Shift+Z undo / redo the case's last edit whatever layer is active."""
        ref = weakref.ref(self)

        def step(name: str):
            def key(_viewer) -> None:
                widget = ref()
                if widget is not None:
                    getattr(widget.segment_panel, name)()

            return key

        self.viewer.bind_key("Control-Z", step("undo"), overwrite=True)
        self.viewer.bind_key("Control-Shift-Z", step("redo"), overwrite=True)

    def _on_paint(self, event=None) -> None:
        """A brush/eraser stroke: sync once napari has written it (it emits first).

        The stroke's display box comes from napari's history atoms (the event's
        value), so only that box is compared and carried back.
        """
        first = not self._paint_boxes
        self._paint_boxes.append(_atoms_box(getattr(event, "value", None)))
        if first:
            QTimer.singleShot(0, self._deliver(self.sync_pending_stroke))

    def sync_pending_stroke(self) -> None:
        """Carry a brush stroke not synced yet to the case (before an undo, say)."""
        if self._paint_boxes:
            self.sync_labels_from_layer()

    def select_brush_label(self, label: int) -> None:
        """Make ``label`` the labels layer's brush label (to correct or paint it)."""
        lyr = self._layer(LABELS_NAME)
        if lyr is not None:
            lyr.selected_label = int(label)

    def sync_labels_from_layer(self) -> None:
        """Carry the labels layer's edits back to the case (refused on a signed review).

        An axis-aligned layer is a view of the label map (nothing to carry). An
        oblique (resampled) one is compared, inside the strokes' display box only,
        with the label map as displayed, and only the voxels the strokes changed go
        back (:func:`nvcview.display.update_from_display`).
        """
        s = self.session
        lyr = self._layer(LABELS_NAME)
        boxes, self._paint_boxes = self._paint_boxes, []
        if s is None or lyr is None or s.labels is None:
            return
        box = None
        grid = lyr.metadata.get(META_KEY, {}).get("grid")
        aff = s.reference.affine
        if np.shares_memory(lyr.data, s.labels):
            # a view of the map: the brush wrote into it; the strokes' box says where
            dbox = _union_box(boxes, grid.shape) if boxes and grid is not None else None
            if dbox is not None and tuple(lyr.data.shape) == tuple(grid.shape):
                box = display_box_to_source(grid, aff, dbox, s.labels.shape)
        else:
            if grid is not None and grid.oblique and tuple(lyr.data.shape) == grid.shape:
                whole = tuple(slice(0, n) for n in grid.shape)
                dbox = _union_box(boxes, grid.shape) if boxes else None
                dbox = dbox or whole
                sbox = display_box_to_source(grid, aff, dbox, s.labels.shape)
                if sbox is not None:
                    before = s.labels[sbox].copy()
                    shown = sample_display_box(s.labels, aff, grid, dbox, order=0)
                    data = np.asarray(lyr.data)
                    edited = data[dbox] != shown
                    update_from_display(s.labels, data, grid, aff, edited, box=dbox)
                    local = changed_box(before, s.labels[sbox])
                    box = sbox  # nothing changed: the case still looks in this box only
                    if local is not None:
                        box = tuple(
                            slice(o.start + b.start, o.start + b.stop)
                            for o, b in zip(sbox, local, strict=True)
                        )
            else:
                before = s.labels.copy()
                arr, _ = labels_from_layer(lyr.data, lyr.metadata, lyr.scale, lyr.translate)
                s.labels[...] = arr
                box = changed_box(before, s.labels)
        self._syncing = True  # the layer already shows the stroke
        orphans: tuple[int, ...] = ()
        ok: bool | None = True
        try:
            s.labels_edited(box)
        except OrphanLabelError as exc:  # taken back by the core: ask what it is
            ok, orphans = None, exc.values
        except NvcviewError as exc:
            ok = None
            self._report(str(exc), error=True)
        finally:
            self._syncing = False
        if orphans:
            self._on_labels_event(type("E", (), {"box": None})())
            self.segment_panel.ask_structure_for(orphans)
            return
        if ok is None and s.signed:
            # refused: the label map is back as signed; show it so
            self._on_labels_event(type("E", (), {"box": None})())
            self._report("The review is signed off: reopen it (Review tab) before painting.", True)
            return
        if ok and self._measure_timer.isActive():
            # a stroke is one whole edit (napari reports it at the mouse release): no
            # events to coalesce, so measure now, while napari redraws the canvas
            self._measure_timer.stop()
            self.measure_in_background()

    # ------------------------------------------------------------ actions
    def _try(self, fn, *args, **kwargs) -> bool:
        """Call a session edit; True when it was applied, False when refused (reported)."""
        try:
            fn(*args, **kwargs)
        except NvcviewError as exc:
            self._report(str(exc), error=True)
            return False
        return True

    def place_landmark(self, name: str, lps: np.ndarray) -> None:
        """Place (or move) the landmark ``name`` at ``lps`` (mm)."""
        if self.session is None:
            return
        if self._try(self.session.set_landmark, name, lps):
            if self._layer(LANDMARKS_NAME) is None:
                # deleted by the user, and a placement where the landmark already was
                # changes nothing in the case (no event): show the points again
                self._refresh_points()
            self._report(f"{name} at LPS ({', '.join(f'{v:.1f}' for v in lps)}) mm")

    def _delete_selected_landmark(self) -> None:
        row = self.landmark_table.currentRow()
        if self.session is None or row < 0:
            return
        name = self.landmark_table.item(row, 0).text()
        self._try(self.session.set_landmark, name, None)

    def _on_landmarks_moved(self, event=None) -> None:
        if self._syncing or self.session is None:
            return
        if str(getattr(event, "action", "")).endswith("ing"):
            return  # "changing" / "adding" / "removing": the data is not there yet
        lm = self._layer(LANDMARKS_NAME)
        names = list(lm.features["name"]) if "name" in lm.features else []
        if len(names) != len(lm.data) or len(set(names)) != len(names):
            # a point added by the layer's own tools, not by us: napari names it after the
            # last landmark, which must not move that landmark there; drop it
            self._refresh_points()
            self._report("Place landmarks with 'place landmark' (click the slice).")
            return
        moved = {str(n): p for n, p in zip(names, world_points_to_lps(lm.data), strict=True)}
        # the moves of one drag are one undo step (napari reports every mouse move)
        if not self._try(self.session.set_landmarks, moved, merge=self._landmark_drag):
            self._refresh_points()  # refused: the points go back

    def _on_landmark_row(self, row: int, _col: int) -> None:
        item = self.landmark_table.item(row, 0)
        if self.session is not None and item is not None:
            p = self.session.review.landmarks.get(item.text())
            if p is not None:
                self.centre_on_world(lps_to_world_points(p)[0])

    def add_path_point(self, lps: np.ndarray) -> None:
        """Append a centreline point (trace from the RExP towards the IAC)."""
        if self.session is not None:
            self._try(self.session.add_path_point, lps)

    def clear_path(self) -> None:
        """Remove the traced centreline."""
        if self.session is not None:
            self._try(self.session.set_path, np.zeros((0, 3)))

    def nerve_from_path(self) -> None:
        """Make CN VII a tube around the traced centreline."""
        if self.session is None:
            return
        st = self._guard(self.session.nerve_from_path, self.tube_radius.value())
        if st is not None:
            self._report(
                f"{st.name} from the centreline (radius {self.tube_radius.value():.1f} mm)"
            )

    def grow_vessel(
        self, lps: np.ndarray, vessel_type: str | None = None, background: bool | None = None
    ) -> Any:
        """Grow a vessel from a seed at ``lps`` mm and add it (no preview; see the Segment tab).

        :meth:`SegmentPanel.grow_vessel` with the panel's settings; runs in a worker
        thread when ``background`` (default: :attr:`background_tools`).
        """
        return self.segment_panel.grow_vessel(lps, vessel_type, background, preview=False)

    def _selected_structure_label(self) -> int | None:
        return self.segment_panel.selected_label()

    def _delete_selected_structure(self) -> None:
        """Delete the structure selected in the Segment tab's table (undoable)."""
        self.segment_panel._delete_selected()

    def set_vessel_type(self, label: int, vessel_type: str) -> None:
        """Assign a vessel type; the label colour follows the type."""
        if self.session is not None:
            self._try(self.session.set_vessel_type, label, vessel_type)

    # -------------------------------------------------------- measurement
    def refresh_measurements(self) -> list:
        """Measure now (in the GUI thread) and fill the table and the contact lines.

        Uses the session's cached measurer too (it copies the live label map);
        waits for a background measurement holding it to finish.
        """
        s = self.session
        if s is None:
            return []
        try:
            return s.measure()  # the table follows through the 'measured' event
        except NvcviewError as exc:
            self._report(f"measurement: {exc}", error=True)
        return []

    def measure_in_background(self) -> None:
        """Measure a frozen copy of the session in a worker thread (after edits).

        The snapshot shares the session's cached measurer
        (:class:`nvcview.measure.live.LiveMeasurer`, locked), which takes the
        snapshot's private label map and re-measures only what the edit can reach.
        Edits made while it runs queue one more measurement, so the table always
        ends on the latest state; a result for an older state, another case or a
        closed widget is dropped.
        """
        s = self.session
        if s is None:
            return
        if self._measure_worker is not None:
            self._measure_pending = True
            return
        snapshot = s.frozen_copy()
        version = snapshot.version
        worker = _worker(snapshot.measure)
        self._measure_worker = worker

        def returned(out: list) -> None:
            if not s.accept_measurements(out, version):
                self._measure_pending = True  # edited meanwhile: measure the latest state

        worker.returned.connect(self._deliver(returned, s))
        worker.errored.connect(self._deliver(lambda exc: self._worker_error("measurement", exc)))
        worker.finished.connect(self._deliver(self._measure_finished))
        worker.start()

    def _measure_finished(self) -> None:
        self._measure_worker = None
        if self._measure_pending:
            self._measure_pending = False
            self.measure_in_background()

    def _show_measurements(self, measurements: list) -> list:
        self.measurements = list(measurements)
        t = self.measure_table
        t.setRowCount(len(self.measurements))
        resized = False
        for i, m in enumerate(self.measurements):
            cells = {
                "vessel": m.vessel_name,
                "type": m.vessel_type,
                "gap mm": f"{m.gap_mm:.2f}",
                "interval mm": interval_text(m.gap_low_mm, m.gap_high_mm) or "-",
                "res. mm": f"{m.resolution_mm:.2f}",
                "segment": m.segment or "",
                "suggested": m.suggested_grade,
                "reader": m.reader_grade or "",
            }
            for j, column in enumerate(MEASURE_COLUMNS):
                v = cells[column]
                tip = ""
                if column == "interval mm" and m.uncertainty_method:
                    tip = f"the true gap lies in {v} mm ({m.uncertainty_method})"
                old = t.item(i, j)
                if old is not None and old.text() == v and old.toolTip() == tip:
                    continue  # unchanged cell: no new item, no repaint
                item = QTableWidgetItem(v)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(tip)
                t.setItem(i, j, item)
                resized = True
        if resized:  # narrow columns: vessel, gap, interval and grade fit the dock
            t.resizeColumnsToContents()
        vec = self._layer(CONTACT_NAME)
        if vec is not None:
            if self.measurements:
                a = lps_to_world_points([m.nerve_point_lps for m in self.measurements])
                b = lps_to_world_points([m.vessel_point_lps for m in self.measurements])
                data = np.stack([a, b - a], axis=1)
            else:
                data = np.zeros((0, 2, 3))
            current = np.asarray(vec.data)
            # the same lines (a stroke away from the closest points): no layer update,
            # so no thumbnail and no redraw
            if current.shape != data.shape or not np.array_equal(current, data):
                vec.data = data
        return self.measurements

    def render_planes(self, measurement, background: bool = True) -> Any:
        """Axial, coronal and along-the-nerve images through one contact.

        Rendered by the report's key-image code (``nvcview.report.keyimages``), in
        world space from every series' own affine; shown in the Measure tab.
        """
        s = self.session
        if s is None or s.t2 is None:
            return None
        snap = s.frozen_copy()
        labels = snap.labels_image()
        m = measurement

        def render() -> dict[str, bytes]:
            from nvcview.report.keyimages import render_nerve_reformat, render_slice

            mid = contact_midpoint(m)
            common = {"tof": snap.tof, "labels": labels, "structures": snap.structures}
            pts = {
                "nerve_point": np.asarray(m.nerve_point_lps),
                "vessel_point": np.asarray(m.vessel_point_lps),
            }
            out = {}
            for plane in ("axial", "coronal"):
                out[plane], _ = render_slice(
                    plane, snap.t2, center=mid, points=pts, gap_mm=m.gap_mm,
                    half_width_mm=10.0, size_px=300, **common,
                )  # fmt: skip
            path = snap.centreline_lps()
            if path is not None:
                out["nerve"], _ = render_nerve_reformat(
                    snap.t2, path, landmarks=snap.review.landmarks,
                    contacts=[(m.vessel_name, mid)], **common,
                )  # fmt: skip
            return out

        return self._run(render, (), self._show_planes, "Rendering the planes", background)

    def _show_planes(self, pngs: dict[str, bytes]) -> dict[str, bytes]:
        for name, view in self.plane_views.items():
            png = pngs.get(name)
            if png is None:
                view.clear()
                view.setText(f"{name}: trace the nerve" if name == "nerve" else name)
                continue
            pix = QPixmap()
            pix.loadFromData(png, "PNG")
            view.setPixmap(
                pix.scaled(
                    220,
                    220,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )  # fmt: skip
            )
        return pngs

    def measurement_rows(self) -> list[dict[str, str]]:
        """The measurement table as the reader sees it (column -> text)."""
        t = self.measure_table
        return [
            {MEASURE_COLUMNS[j]: t.item(i, j).text() for j in range(t.columnCount())}
            for i in range(t.rowCount())
        ]

    def centre_on_world(self, world: np.ndarray) -> None:
        """Move every view (slice and camera) to a world ``(S, P, L)`` position."""
        world = np.asarray(world, float).reshape(3)
        if self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_point(range(3), world)
        disp = list(self.viewer.dims.displayed)
        camera(self.viewer).center = tuple(world[disp]) if len(disp) == 2 else tuple(world)

    def centre_on_row(self, row: int) -> None:
        """Centre the views on the contact of a measurement row and render its planes."""
        if 0 <= row < len(self.measurements):
            m = self.measurements[row]
            self.centre_on_world(lps_to_world_points(contact_midpoint(m))[0])
            self.render_planes(m, background=True)
            call = self.session.review.call_for(m.vessel_label) if self.session else None
            self.grade_combo.setCurrentText((call.grade if call else None) or "")
            self.confidence_combo.setCurrentText((call.confidence if call else None) or "")
            self.comment_edit.setText(call.comment if call else "")

    # ------------------------------------------------------------- review
    # ------------------------------------------------------------- review
    def _actor(self) -> str:
        """Who acts (audit trail): the reader named in the Case tab, else the OS user."""
        name = self.reader_edit.text().strip()
        if name:
            return name
        try:
            return getpass.getuser()
        except (OSError, KeyError):
            return "unknown"

    def _on_case_fields(self, *_args) -> None:
        if self._syncing or self.session is None:
            return
        if self._read_case_fields() is False:
            self._syncing = True
            try:
                self._show_fields()  # refused (signed): the fields show the review again
            finally:
                self._syncing = False

    def _read_case_fields(self) -> bool:
        """Copy the Case and Review tab fields into the review; False when refused."""
        if self.session is None:
            return True
        return self._try(
            self.session.set_fields,
            side=self.side_combo.currentText(),
            reader=self.reader_edit.text(),
            case_id=self.case_edit.text(),
            va_dominance=self.va_combo.currentText(),
            impression=self.impression_edit.toPlainText(),
        )

    def _on_impression(self) -> None:
        self._on_case_fields()

    def _on_final(self, checked: bool) -> None:
        if self._syncing or self.session is None:
            return
        if checked:
            self.sign_off()
        else:
            self.reopen()
        self._show_status()

    def sign_off(self, folder: str | Path | None = None) -> Path | None:
        """Sign the review off: saved as final (logged), read-only until reopened.

        Asks for a review folder when the case has none. None when not signed
        (the reason is on the status line).
        """
        s = self.session
        if s is None:
            return None
        self._autosave_timer.stop()
        self.last_error = ""
        if folder is None and s.folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Review folder (one per reader)")
            if not folder:
                self._report("Not signed off: no review folder chosen.", error=True)
                self._show_status()
                return None
        if self._read_case_fields() is False:
            return None
        out = self._guard(s.sign_off, folder, actor=self._actor())
        if out is None:
            why = self.last_error or "not saved"
            self._report(f"Not signed off (the review was not saved): {why}", error=True)
        else:
            self._report(f"Signed off and saved {out}")
        self._show_status()
        return out

    def reopen(self, reason: str = "reopened in the viewer") -> bool:
        """Reopen the signed review for editing (a logged action, as in the core)."""
        s = self.session
        if s is None or not s.signed:
            self._show_status()
            return False
        ok = self._try(s.reopen, actor=self._actor(), reason=reason)
        self._show_status()
        if ok:
            self._report("Review reopened: a draft again (logged in its audit trail).")
        return ok

    def record_call(
        self, vessel_label: int, grade: str | None, confidence: str | None, comment: str = ""
    ) -> None:
        """Record the reader's grade, confidence and comment on one vessel."""
        if self.session is not None:
            self._try(self.session.set_call, vessel_label, grade or "", confidence or "", comment)

    def _record_selected_call(self) -> None:
        row = self.measure_table.currentRow()
        if 0 <= row < len(self.measurements):
            self.record_call(
                self.measurements[row].vessel_label,
                self.grade_combo.currentText(),
                self.confidence_combo.currentText(),
                self.comment_edit.text(),
            )

    def _ask_save_as(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Review folder (one per reader)")
        if path:
            self.save(path)

    def save(self, folder: str | Path | None = None) -> Path | None:
        """Save the review (review.json + labels, fresh measurements) into ``folder``
        (or the case's own). None when not saved (the reason is on the status line)."""
        s = self.session
        if s is None:
            return None
        if folder is None and s.folder is None:
            self._ask_save_as()
            return None
        if self._read_case_fields() is False:
            return None
        self._measure_timer.stop()
        # the save measures the state it stores itself (the one save path of the core)
        return self._guard(s.save, folder, actor=self._actor())

    def flush_autosave(self) -> None:
        """Save now an edit whose autosave is still pending (before the case or folder changes)."""
        if self._autosave_timer.isActive():
            self._autosave_timer.stop()
            self._autosave()

    def _autosave(self) -> None:
        s = self.session
        if s is not None and s.folder is not None and s.dirty and s.editable:
            self.save()

    def _ask_export(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Report output folder")
        if path:
            self.export_report(path, background=True)

    def export_report(
        self,
        out_dir: str | Path,
        formats: tuple[str, ...] = ("json", "html", "pdf", "sr"),
        background: bool = False,
    ) -> Any:
        """Write the report of the case as it is (``nvcview.report.write_case_reports``).

        Works from any state the core can report on: a draft (saved first when it
        has a folder), a signed review, the practice case, a TOF-only case.
        Returns {format: path} (or the worker when ``background``).
        """
        from nvcview.report import write_case_reports

        s = self.session
        if s is None:
            self._report("Open a case first.", True)
            return {}
        if self._read_case_fields() is False and s.editable:
            return {}

        def done(out: tuple[dict, str]) -> dict:
            written, note = out
            text = "Report: " + ", ".join(str(p) for p in written.values())
            self._report(text + (f" ({note})" if note else ""))
            return written

        if background and s.dirty and s.folder is not None and s.editable:
            if self.save() is None:  # save in the GUI thread; the worker only reads
                return {}
        out = self._run(
            write_case_reports, (s, Path(out_dir), formats), done, "Exporting the report",
            background, case=s,
        )  # fmt: skip
        return {} if out is None else out

    # ----------------------------------------------------------- display
    def _on_tof_opacity(self, value: int) -> None:
        for lyr in self._image_layers("TOF"):
            lyr.opacity = value / 100.0

    def apply_preset(self, role: str, preset: str) -> None:
        """Apply a window/level preset (percentiles of the volume) to the role's layers."""
        pct = WINDOW_PRESETS.get(role, {}).get(preset)
        if pct is None:
            return
        for lyr in self._image_layers(role):
            img = lyr.metadata.get(META_KEY, {}).get("image")  # the source, not a resampled view
            lyr.contrast_limits = contrast_limits(img.array if img is not None else lyr.data, *pct)
