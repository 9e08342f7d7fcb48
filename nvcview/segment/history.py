"""Label-map edits as deltas, and an undo/redo stack of them (pure, no GUI).

Every segmentation tool returns a mask; :func:`paint` writes it into the label
map and returns the :class:`LabelDelta` (the box it touched, the values before
and after), which :class:`EditHistory` can undo and redo. Only the bounding box
of a change is kept, so a history of many grows stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvcview.errors import InputError


@dataclass
class LabelDelta:
    """One change of a label map.

    Attributes
    ----------
    box : tuple of slice
        Index box of the change.
    before, after : ndarray
        Label values in the box before and after the change.
    description : str
        What made the change (for menus: "grow AICA", "nerve VII", ...).
    """

    box: tuple[slice, ...]
    before: np.ndarray
    after: np.ndarray
    description: str = ""

    @property
    def n_changed(self) -> int:
        """Number of voxels whose label changed."""
        return int(np.count_nonzero(self.before != self.after))


def mask_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box of the True voxels of a mask, or None when it is empty."""
    nz = np.nonzero(np.asarray(mask))
    if len(nz[0]) == 0:
        return None
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in nz)


def paint(
    labels: np.ndarray,
    mask: np.ndarray,
    value: int,
    *,
    allowed: np.ndarray | None = None,
    overwrite: bool = False,
    description: str = "",
) -> LabelDelta | None:
    """Write ``value`` into ``labels`` where ``mask`` is set, in place; return the change.

    Parameters
    ----------
    labels : ndarray of int
        Label map (edited in place).
    mask : ndarray of bool
        Voxels to set (same shape).
    value : int
        Label value (0 erases).
    allowed : ndarray of bool, optional
        Only these voxels may change.
    overwrite : bool
        With False (default) voxels that already hold another non-zero label keep it.
    description : str
        Stored in the delta.

    Returns
    -------
    LabelDelta or None
        None when nothing changed.
    """
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise InputError(f"mask shape {mask.shape} is not the label map's {labels.shape}")
    box = mask_box(mask)
    if box is None:
        return None
    before = labels[box].copy()
    sel = mask[box].copy()
    if allowed is not None:
        sel &= np.asarray(allowed, bool)[box]
    if not overwrite and value != 0:
        sel &= (before == 0) | (before == value)
    after = before.copy()
    after[sel] = value
    if np.array_equal(before, after):
        return None
    labels[box] = after
    return LabelDelta(box, before, after, description)


@dataclass
class EditHistory:
    """Undo/redo of :class:`LabelDelta` changes on one label map.

    The label map itself is passed to each call (the history holds no array), so
    a front end can keep it wherever it likes (napari layer data, a review).
    """

    limit: int = 100
    _done: list[LabelDelta] = field(default_factory=list)
    _undone: list[LabelDelta] = field(default_factory=list)

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def record(self, delta: LabelDelta | None) -> None:
        """Remember a change already applied to the label map (clears the redo stack)."""
        if delta is None:
            return
        self._done.append(delta)
        del self._done[: max(0, len(self._done) - self.limit)]
        self._undone.clear()

    def apply(self, labels: np.ndarray, delta: LabelDelta | None) -> None:
        """Apply a change (its ``after`` values) to ``labels`` and record it."""
        if delta is None:
            return
        labels[delta.box] = delta.after
        self.record(delta)

    def undo(self, labels: np.ndarray) -> LabelDelta | None:
        """Revert the last change; returns it (None when there is nothing to undo)."""
        if not self._done:
            return None
        d = self._done.pop()
        _check(labels, d, d.after, "undo")
        labels[d.box] = d.before
        self._undone.append(d)
        return d

    def redo(self, labels: np.ndarray) -> LabelDelta | None:
        """Re-apply the last undone change; returns it (None when there is none)."""
        if not self._undone:
            return None
        d = self._undone.pop()
        _check(labels, d, d.before, "redo")
        labels[d.box] = d.after
        self._done.append(d)
        return d


def _check(labels: np.ndarray, d: LabelDelta, expected: np.ndarray, what: str) -> None:
    if not np.array_equal(labels[d.box], expected):
        raise InputError(
            f"cannot {what} '{d.description or 'edit'}': the label map was changed "
            "outside the edit history since"
        )
