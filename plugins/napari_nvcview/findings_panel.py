"""Reader findings panel: other causes, approach anatomy and the overall impression.

A view of the case's review (``Review.other_causes``, ``approach_anatomy``,
``overall_impression``) in plain words; every edit goes through the core
(:meth:`nvcview.case.CaseSession.set_finding` and ``set_fields``), which refuses
it on a signed review. The panel is disabled while the review is signed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit, QWidget

from nvcview.case.session import FINDING_GROUPS
from nvcview.errors import NvcviewError
from nvcview.review.model import FINDING_STATUSES, OVERALL_IMPRESSIONS

if TYPE_CHECKING:
    from nvcview.case import CaseSession

NOT_ASSESSED = "not assessed"
NOT_GIVEN = "(not given)"
GROUP_TITLES = {"other_causes": "Other causes", "approach_anatomy": "Approach anatomy"}


class FindingsPanel(QGroupBox):
    """Combo box (plain-word statuses) and note per finding, plus the overall impression.

    Parameters
    ----------
    widget : ReviewWidget
        The review widget; the panel shows ``widget.session`` (call :meth:`attach`
        when the widget shows another case).
    """

    def __init__(self, widget: Any) -> None:
        super().__init__("Reader findings")
        self._widget = widget
        self._session: CaseSession | None = None
        self._syncing = False
        #: (group, key) -> (status combo, note field)
        self.rows: dict[tuple[str, str], tuple[QComboBox, QLineEdit]] = {}
        form = QFormLayout(self)
        for group, (keys, statuses) in FINDING_GROUPS.items():
            for key, name in keys.items():
                combo = QComboBox()
                # one width for every status box, whatever its statuses
                combo.setSizeAdjustPolicy(
                    QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
                )
                combo.setMinimumContentsLength(16)
                combo.addItem(NOT_ASSESSED, None)
                for code in statuses:
                    combo.addItem(FINDING_STATUSES[code], code)
                note = QLineEdit()
                note.setPlaceholderText("note")
                combo.currentIndexChanged.connect(lambda _i, g=group, k=key: self._write(g, k))
                note.editingFinished.connect(lambda g=group, k=key: self._write(g, k))
                row = QWidget()
                lay = QHBoxLayout(row)
                lay.setContentsMargins(0, 0, 0, 0)
                lay.addWidget(combo)
                lay.addWidget(note)
                form.addRow(f"{GROUP_TITLES[group]}: {name}", row)
                self.rows[(group, key)] = (combo, note)
        self.overall_combo = QComboBox()
        self.overall_combo.addItem(NOT_GIVEN, None)
        for code, text in OVERALL_IMPRESSIONS.items():
            self.overall_combo.addItem(text, code)
        self.overall_combo.currentIndexChanged.connect(self._write_overall)
        form.addRow("Overall impression", self.overall_combo)
        self.attach(getattr(widget, "session", None))

    # ---------------------------------------------------------------- case
    def attach(self, session: CaseSession | None) -> None:
        """Show ``session``'s findings and follow its field and status changes."""
        self._session = session
        if session is not None:
            session.events.fields.connect(self._on_case_event)
            session.events.status.connect(self._on_case_event)
        self.refresh()

    def _on_case_event(self, event: Any) -> None:
        if event.source is self._session:
            self.refresh()

    def refresh(self) -> None:
        """Show the review's findings; disabled without a case or when signed."""
        s = self._session
        self.setEnabled(s is not None and s.editable)
        self._syncing = True
        try:
            for (group, key), (combo, note) in self.rows.items():
                f = getattr(s.review, group).get(key) if s is not None else None
                combo.setCurrentIndex(max(0, combo.findData(f.status if f else None)))
                note.setText(f.comment if f else "")
            code = s.review.overall_impression if s is not None else None
            self.overall_combo.setCurrentIndex(max(0, self.overall_combo.findData(code)))
        finally:
            self._syncing = False

    # --------------------------------------------------------------- edits
    def _write(self, group: str, key: str) -> None:
        if self._syncing or self._session is None:
            return
        combo, note = self.rows[(group, key)]
        self._apply(self._session.set_finding, group, key, combo.currentData(), note.text())

    def _write_overall(self, _index: int) -> None:
        if self._syncing or self._session is None:
            return
        self._apply(self._session.set_fields, overall_impression=self.overall_combo.currentData())

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Call the core; a refusal is reported in the widget and the review shown again."""
        try:
            fn(*args, **kwargs)
        except NvcviewError as exc:
            report = getattr(self._widget, "_report", None)
            if report is not None:
                report(str(exc), True)
            self.refresh()
