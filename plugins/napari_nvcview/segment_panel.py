"""Segmentation panel: vessel grow with preview, scissors, nerve from landmarks, structures.

A Qt view of the case's segmentation tools; every rule is the core's
(:class:`nvcview.case.CaseSession`): the allowed area (labelled voxels belong to
their structure unless *allow overwriting*), the edit history (undo / redo of
every tool, brush strokes included), what an orphan label is (a painted value
with no structure row is taken back, and the panel asks what it is). The panel
calls the session and redraws when its events say something changed. Positions
are patient LPS mm; napari's world axes are ``(S, P, L)`` mm.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_nvcview.layers import labels_layer
from nvcview.errors import NvcviewError
from nvcview.report.conclusion import not_assessable_phrase
from nvcview.segment.vessel import DEFAULT_FRACTION
from nvcview.structures import KINDS, NERVES, VESSEL_TYPES, Structure

if TYPE_CHECKING:
    from nvcview.case import CaseSession

#: the napari layer showing a vessel grow before it is accepted
PREVIEW_NAME = "vessel preview"
PREVIEW_COLOR = (1.0, 1.0, 1.0, 1.0)
LEGEND_COLUMNS = ("label", "name", "kind", "type")


class SegmentPanel(QWidget):
    """The Segment tab of the review widget.

    Parameters
    ----------
    widget : ReviewWidget
        The review widget (its viewer, worker runner, status line and click modes);
        call :meth:`attach` when it shows another case.
    """

    def __init__(self, widget: Any) -> None:
        super().__init__()
        # held weakly: the review widget owns the panel (no cycle kept past its life)
        self._widget: Any = weakref.proxy(widget)
        self._session: CaseSession | None = None
        #: a grown vessel waiting for Accept / Cancel: (seed LPS, type, mask)
        self.pending: tuple[np.ndarray, str, np.ndarray] | None = None
        #: scissors clicks so far (LPS mm): cut line start, end; then the island to keep
        self.scissors_points: list[np.ndarray] = []
        lay = QVBoxLayout(self)

        row = QHBoxLayout()
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last edit (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip("Redo (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.redo)
        row.addWidget(self.undo_button)
        row.addWidget(self.redo_button)
        lay.addLayout(row)

        vessels = QGroupBox("Vessels (click a seed)")
        form = QFormLayout(vessels)
        self.vessel_type_combo = QComboBox()
        self.vessel_type_combo.addItems(list(VESSEL_TYPES))
        form.addRow("type", self.vessel_type_combo)
        self.overwrite_check = QCheckBox("allow overwriting labelled voxels")
        self.overwrite_check.setToolTip(
            "Off: a grow keeps out of every structure already labelled (the default)"
        )
        form.addRow(self.overwrite_check)
        self.length_spin = QDoubleSpinBox()
        self.length_spin.setRange(0.0, 200.0)
        self.length_spin.setSingleStep(1.0)
        self.length_spin.setSuffix(" mm")
        self.length_spin.setToolTip("Stop the grow this far along the vessel from the seed")
        form.addRow("length along vessel (0: no limit)", self.length_spin)
        self.region_spin = QDoubleSpinBox()
        self.region_spin.setRange(3.0, 40.0)
        self.region_spin.setValue(15.0)
        self.region_spin.setSuffix(" mm")
        self.region_spin.setToolTip("Half-size of the region around the seed the grow works in")
        form.addRow("region radius", self.region_spin)
        self.fraction_spin = QDoubleSpinBox()
        self.fraction_spin.setRange(0.05, 0.95)
        self.fraction_spin.setSingleStep(0.02)
        self.fraction_spin.setValue(DEFAULT_FRACTION)
        self.fraction_spin.setToolTip(
            "Local threshold between the background (0) and the vessel's own peak (1)"
        )
        form.addRow("threshold (0 bg - 1 peak)", self.fraction_spin)
        # on by default (the issue: "threshold preview before committing"); untick it
        # for one-click grows
        self.preview_check = QCheckBox("preview before adding")
        self.preview_check.setChecked(True)
        self.preview_check.setToolTip(
            "Show the grown vessel at the threshold first (Accept / Cancel / Re-grow); "
            "untick to add it at the click"
        )
        form.addRow(self.preview_check)
        self.grow_button = QPushButton("Grow vessel (click a seed)")
        self.grow_button.clicked.connect(lambda: self._widget.set_mode("vessel"))
        form.addRow(self.grow_button)
        prow_w = QWidget()
        prow = QHBoxLayout(prow_w)
        prow.setContentsMargins(0, 0, 0, 0)
        self.accept_button = QPushButton("Accept")
        self.accept_button.clicked.connect(self.accept_preview)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_preview)
        self.repreview_button = QPushButton("Re-grow at threshold")
        self.repreview_button.clicked.connect(self.update_preview)
        for b in (self.accept_button, self.cancel_button, self.repreview_button):
            prow.addWidget(b)
        form.addRow(prow_w)
        self.scissors_button = QPushButton("Scissors (click cut start, cut end, part to keep)")
        self.scissors_button.clicked.connect(lambda: self._widget.set_mode("scissors"))
        form.addRow(self.scissors_button)
        lay.addWidget(vessels)

        nerves = QGroupBox("Nerves (from the landmarks and the traced clicks)")
        nrow = QHBoxLayout(nerves)
        self.cn7_button = QPushButton("Segment CN VII from landmarks")
        self.cn7_button.setToolTip(
            "RExP -> (centreline clicks) -> RDP -> IAC, kept out of the pons"
        )
        self.cn7_button.clicked.connect(lambda: self.segment_nerve("VII"))
        self.cn8_button = QPushButton("Segment CN VIII from landmarks")
        self.cn8_button.setToolTip("Landmarks 'VIII root' -> IAC, kept out of the pons")
        self.cn8_button.clicked.connect(lambda: self.segment_nerve("VIII"))
        nrow.addWidget(self.cn7_button)
        nrow.addWidget(self.cn8_button)
        lay.addWidget(nerves)
        self.coverage_label = QLabel("")
        self.coverage_label.setWordWrap(True)
        self.coverage_label.setStyleSheet("color: #ff5050; font-weight: bold")
        self.coverage_label.hide()
        lay.addWidget(self.coverage_label)

        lay.addWidget(QLabel("Structures (legend: the colour each is drawn in)"))
        self.structure_table = QTableWidget(0, len(LEGEND_COLUMNS))
        self.structure_table.setHorizontalHeaderLabels(list(LEGEND_COLUMNS))
        self.structure_table.cellClicked.connect(self._on_structure_row)
        self.structure_table.setMinimumHeight(150)
        lay.addWidget(self.structure_table)
        srow = QHBoxLayout()
        b_type = QPushButton("Set type of selected")
        b_type.clicked.connect(self._set_selected_type)
        b_del = QPushButton("Delete selected")
        b_del.clicked.connect(self._delete_selected)
        srow.addWidget(b_type)
        srow.addWidget(b_del)
        lay.addLayout(srow)

        self.add_box = QGroupBox("Add structure")
        aform = QFormLayout(self.add_box)
        self.add_kind = QComboBox()
        self.add_kind.addItems(list(KINDS))
        self.add_kind.setCurrentText("vessel")
        self.add_type = QComboBox()
        self.add_type.addItems(list(VESSEL_TYPES))
        self.add_kind.currentTextChanged.connect(self._on_add_kind)
        self.add_name = QLineEdit()
        self.add_name.setPlaceholderText("name (e.g. left petrosal vein)")
        self.add_label = QSpinBox()
        self.add_label.setRange(0, 65535)
        self.add_button = QPushButton("Add structure")
        self.add_button.clicked.connect(self.add_structure)
        aform.addRow("kind", self.add_kind)
        aform.addRow("type", self.add_type)
        aform.addRow("name", self.add_name)
        aform.addRow("label value (0: next free)", self.add_label)
        aform.addRow(self.add_button)
        lay.addWidget(self.add_box)
        self._show_history()
        self._show_pending()

    # ------------------------------------------------------------- the case
    @property
    def session(self) -> CaseSession | None:
        return self._session

    def attach(self, session: CaseSession | None) -> None:
        """Show ``session`` (drops a pending preview and scissors clicks of the last one)."""
        self._drop_preview()
        self.scissors_points = []
        self._session = session
        if session is not None:
            ev = session.events
            ev.changed.connect(self._on_changed)
            ev.structures.connect(self._on_structures)
            ev.measured.connect(self._on_measured)
        self.coverage_label.hide()
        self.refresh()

    def refresh(self) -> None:
        """Redraw the legend and the undo / redo buttons."""
        self._show_structures()
        self._show_history()

    def _on_changed(self, event: Any) -> None:
        self._show_history()

    def _on_structures(self, event: Any) -> None:
        self._show_structures()

    def _report(self, text: str, error: bool = False) -> None:
        self._widget._report(text, error)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NvcviewError as exc:
            self._report(str(exc), error=True)
            return None

    # --------------------------------------------------------- undo / redo
    def _show_history(self) -> None:
        s = self._session
        self.undo_button.setEnabled(s is not None and s.can_undo)
        self.redo_button.setEnabled(s is not None and s.can_redo)
        self.undo_button.setText(f"Undo {s.undo_text}" if s is not None and s.can_undo else "Undo")
        self.redo_button.setText(f"Redo {s.redo_text}" if s is not None and s.can_redo else "Redo")

    def undo(self) -> str | None:
        """Undo the case's last edit (any tool, brush strokes too)."""
        return self._step(True)

    def redo(self) -> str | None:
        """Redo the last undone edit."""
        return self._step(False)

    def _step(self, undo: bool) -> str | None:
        s = self._session
        if s is None:
            return None
        self._widget.sync_pending_stroke()
        what = self._call(s.undo if undo else s.redo)
        if what is not None:
            self._report(f"{'Undid' if undo else 'Redid'}: {what}")
        self._show_history()
        return what

    # -------------------------------------------------------------- vessels
    def _grow_kwargs(self) -> dict[str, Any]:
        length = self.length_spin.value()
        return {
            "overwrite": self.overwrite_check.isChecked(),
            "max_length_mm": length if length > 0 else None,
            "fraction": self.fraction_spin.value(),
            "radius_mm": self.region_spin.value(),
        }

    def grow_vessel(
        self,
        lps: np.ndarray,
        vessel_type: str | None = None,
        background: bool | None = None,
        preview: bool | None = None,
    ) -> Any:
        """Grow a vessel from a seed at ``lps`` (LPS mm) with the panel's settings.

        With *preview* the mask is shown in the ``vessel preview`` layer until
        :meth:`accept_preview` / :meth:`cancel_preview`; without, it is added at once.
        Runs in a worker thread when ``background`` (default: the widget's
        ``background_tools``).
        """
        s = self._session
        if s is None:
            return None
        if not s.editable:
            self._report("The review is signed off: reopen it before growing a vessel.", True)
            return None
        vt = vessel_type or self.vessel_type_combo.currentText()
        show = self.preview_check.isChecked() if preview is None else preview
        kw = self._grow_kwargs()
        seed = np.asarray(lps, float).reshape(3)
        self._drop_preview()

        def done(out: Any) -> Any:
            mask, res = out
            if self._session is not s or mask.shape != s.ensure_labels().shape:
                self._report("The case changed while growing: click the seed again.", True)
                return None
            if show:
                self._show_preview(seed, vt, mask)
                return mask
            st = self._call(s.add_vessel, mask, vt, overwrite=kw["overwrite"])
            if st is not None:
                self._report(self._grown_text(st.name, mask, res))
            return st

        bg = self._widget.background_tools if background is None else background
        return self._widget._run(
            lambda: s.vessel_mask(seed, vt, **kw), (), done, "Growing the vessel", bg, case=s
        )

    def _grown_text(self, name: str, mask: np.ndarray, res: Any) -> str:
        s = self._session
        assert s is not None
        vox = float(abs(np.linalg.det(s.reference.affine[:3, :3])))
        length = res.length_mm.get(1, 0.0)
        return f"{name}: {mask.sum() * vox:.0f} mm³, {length:.1f} mm along the vessel"

    def _show_preview(self, seed: np.ndarray, vessel_type: str, mask: np.ndarray) -> None:
        s = self._session
        assert s is not None
        self.pending = (seed, vessel_type, mask)
        viewer = self._widget.viewer
        data, kw, _ = labels_layer(mask.astype(np.uint8), s.reference.affine, [], PREVIEW_NAME)
        kw["colormap"] = {None: (0, 0, 0, 0), 0: (0, 0, 0, 0), 1: PREVIEW_COLOR}
        kw["opacity"] = 0.7
        if PREVIEW_NAME in viewer.layers:
            viewer.layers.remove(PREVIEW_NAME)
        self._widget._syncing = True
        try:
            viewer.add_labels(data, **kw)
        finally:
            self._widget._syncing = False
        self._show_pending()
        n = int(mask.sum())
        self._report(
            f"Preview of the {vessel_type}: {n} voxels at threshold "
            f"{self.fraction_spin.value():.2f}. Accept, Cancel, or change the threshold."
        )

    def _show_pending(self) -> None:
        on = self.pending is not None
        for b in (self.accept_button, self.cancel_button, self.repreview_button):
            b.setEnabled(on)

    def _drop_preview(self) -> None:
        self.pending = None
        viewer = self._widget.viewer
        if PREVIEW_NAME in viewer.layers:
            viewer.layers.remove(PREVIEW_NAME)
        self._show_pending()

    def update_preview(self, background: bool | None = None) -> Any:
        """Grow the pending vessel again at the current threshold (still a preview)."""
        if self.pending is None:
            return None
        seed, vt, _ = self.pending
        return self.grow_vessel(seed, vt, background=background, preview=True)

    def accept_preview(self) -> Structure | None:
        """Add the previewed vessel as a structure (an undoable edit)."""
        s = self._session
        if s is None or self.pending is None:
            return None
        seed, vt, mask = self.pending
        st = self._call(s.add_vessel, mask, vt, overwrite=self.overwrite_check.isChecked())
        if st is not None:
            self._drop_preview()
            self._report(f"{st.name} added ({int((s.labels == st.label).sum())} voxels)")
        return st

    def cancel_preview(self) -> None:
        """Drop the previewed vessel (the label map is untouched)."""
        if self.pending is not None:
            self._drop_preview()
            self._report("Preview cancelled: nothing added.")

    # ------------------------------------------------------------- scissors
    def scissors_click(self, lps: np.ndarray, view_normal: np.ndarray) -> int | None:
        """One scissors click: cut start, cut end, then the part to keep (the cut is made).

        ``view_normal`` is the displayed slice's normal (LPS); the cut plane holds
        the drawn line and that normal. Returns the voxels removed after the third
        click (None before).
        """
        s = self._session
        if s is None:
            return None
        self.scissors_points.append(np.asarray(lps, float).reshape(3))
        if len(self.scissors_points) < 3:
            step = "cut end" if len(self.scissors_points) == 1 else "the part to keep"
            self._report(f"Scissors: now click {step}.")
            return None
        a, b, keep = self.scissors_points
        self.scissors_points = []
        label = s.label_near(keep)
        if label is None:
            self._report("Scissors: the third click is on no structure; nothing cut.", True)
            return None
        removed = self._call(s.cut_structure, label, a, b, view_normal, keep)
        if removed is not None:
            self._report(f"Cut {s.structure(label).name}: {removed} voxels removed (Undo restores)")
        return removed

    # --------------------------------------------------------------- nerves
    def segment_nerve(self, nerve: str = "VII", background: bool | None = None) -> Any:
        """Segment CN VII / VIII from the landmarks (and the traced clicks)."""
        s = self._session
        if s is None:
            return None
        if not s.editable:
            self._report("The review is signed off: reopen it before segmenting.", True)
            return None
        overwrite = self.overwrite_check.isChecked()

        def done(mask: np.ndarray) -> Any:
            if self._session is not s or mask.shape != s.ensure_labels().shape:
                self._report("The case changed while segmenting: try again.", True)
                return None
            st = self._call(s.set_nerve_mask, mask, nerve, overwrite=overwrite)
            if st is not None:
                self._report(f"{st.name}: {int((s.labels == st.label).sum())} voxels")
            return st

        bg = self._widget.background_tools if background is None else background
        return self._widget._run(
            lambda: s.segment_nerve_mask(nerve, overwrite=overwrite),
            (),
            done,
            f"Segmenting CN {nerve}",
            bg,
            case=s,
        )

    def _on_measured(self, event: Any) -> None:
        self.show_coverage(event.measurements)

    def show_coverage(self, measurements: list) -> None:
        """Warn when the nerve label does not span RExP -> RDP -> cisternal segment."""
        missing: list[str] = []
        for m in measurements:
            missing = list(getattr(m, "not_assessable_segments", []) or [])
            if missing:
                break
        if missing:
            self.coverage_label.setText(
                "The facial nerve label does not cover: "
                f"{not_assessable_phrase(missing)}. Contact there cannot be excluded: "
                "extend the nerve (segment it again, or paint it)."
            )
            self.coverage_label.show()
        else:
            self.coverage_label.setText("")
            self.coverage_label.hide()

    @property
    def coverage_warning(self) -> str:
        """The coverage warning shown ("" when the nerve covers every segment)."""
        return self.coverage_label.text() if not self.coverage_label.isHidden() else ""

    # ----------------------------------------------------------- structures
    def _show_structures(self) -> None:
        s = self._session
        rows = s.structures if s is not None else []
        t = self.structure_table
        t.setRowCount(len(rows))
        for i, st in enumerate(rows):
            vals = (str(st.label), st.name, st.kind, st.vessel_type or st.nerve or "")
            for j, v in enumerate(vals):
                item = QTableWidgetItem(v)
                if j == 0:
                    r, g, b = (int(round(255 * c)) for c in st.color)
                    item.setBackground(QColor(r, g, b))
                    item.setForeground(QColor(0, 0, 0))
                t.setItem(i, j, item)

    def legend(self) -> list[tuple[int, str, tuple[int, int, int]]]:
        """The legend shown: (label, name, RGB 0-255 of the swatch) per row."""
        out = []
        t = self.structure_table
        for i in range(t.rowCount()):
            swatch, name = t.item(i, 0), t.item(i, 1)
            if swatch is None or name is None:
                continue
            c = swatch.background().color()
            out.append((int(swatch.text()), name.text(), (c.red(), c.green(), c.blue())))
        return out

    def selected_label(self) -> int | None:
        """The label of the structure selected in the table (None: none)."""
        row = self.structure_table.currentRow()
        item = self.structure_table.item(row, 0) if row >= 0 else None
        return int(item.text()) if item is not None else None

    def _on_structure_row(self, row: int, _col: int) -> None:
        item = self.structure_table.item(row, 0)
        if item is not None:
            self._widget.select_brush_label(int(item.text()))

    def _set_selected_type(self) -> None:
        label = self.selected_label()
        if label is not None and self._session is not None:
            self._call(self._session.set_vessel_type, label, self.vessel_type_combo.currentText())

    def _delete_selected(self) -> None:
        label = self.selected_label()
        if label is not None and self._session is not None:
            self._call(self._session.remove_structure, label)

    def _on_add_kind(self, kind: str) -> None:
        self.add_type.clear()
        if kind == "vessel":
            self.add_type.addItems(list(VESSEL_TYPES))
        elif kind == "nerve":
            self.add_type.addItems(list(NERVES))
        self.add_type.setEnabled(kind in ("vessel", "nerve"))

    def add_structure(self) -> Structure | None:
        """Add the structure described in the *Add structure* box (no voxels yet).

        The brush then paints with its label (it becomes the labels layer's
        selected label).
        """
        s = self._session
        if s is None:
            return None
        kind = self.add_kind.currentText()
        sub = self.add_type.currentText() or None
        name = self.add_name.text().strip()
        label = self.add_label.value() or None
        if not name:
            name = sub if kind == "vessel" and sub else kind
        st = self._call(
            s.add_structure,
            None,
            name,
            kind,
            vessel_type=sub if kind == "vessel" else None,
            nerve=sub if kind == "nerve" else None,
            label=label,
        )
        if st is not None:
            self.add_name.clear()
            self.add_label.setValue(0)
            self._widget.select_brush_label(st.label)
            self._report(f"Added {st.name} (label {st.label}): paint it with the brush")
        return st

    def ask_structure_for(self, values: tuple[int, ...]) -> None:
        """A stroke painted label values without a structure: ask what they are."""
        self.add_label.setValue(int(values[0]))
        self.add_name.setFocus()
        self.add_box.setStyleSheet("QGroupBox { border: 2px solid #ff5050; }")
        self._report(
            f"Label {', '.join(map(str, values))} has no structure: say what it is in "
            "'Add structure' (kind, type, name), then paint again. The stroke was taken back.",
            error=True,
        )
