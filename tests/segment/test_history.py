"""EditHistory: every tool's change can be undone and redone."""

from __future__ import annotations

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.segment.history import EditHistory, mask_box, paint


def test_paint_undo_redo_restores_every_voxel():
    labels = np.zeros((10, 12, 14), np.uint8)
    labels[2:4, 2:4, 2:4] = 3
    original = labels.copy()
    h = EditHistory()
    m = np.zeros_like(labels, bool)
    m[1:6, 1:6, 1:6] = True
    d = paint(labels, m, 5, description="grow AICA")
    h.record(d)
    assert d.box == (slice(1, 6),) * 3
    # default: labelled voxels keep their label (allowed area)
    assert (labels[2:4, 2:4, 2:4] == 3).all() and labels[1, 1, 1] == 5
    after = labels.copy()
    assert h.undo(labels) is d and np.array_equal(labels, original)
    assert h.redo(labels) is d and np.array_equal(labels, after)
    assert h.undo(labels) is d and h.can_redo and not h.can_undo
    assert h.undo(labels) is None


def test_overwrite_and_new_edit_clears_redo():
    labels = np.zeros((5, 5, 5), np.uint8)
    labels[0] = 2
    h = EditHistory()
    m = np.ones_like(labels, bool)
    h.record(paint(labels, m, 4, overwrite=True))
    assert (labels == 4).all()
    h.undo(labels)
    h.record(paint(labels, m == 0, 1))  # empty mask: no change, nothing recorded
    assert h.can_redo
    h.record(paint(labels, m, 1))
    assert not h.can_redo


def test_undo_refused_after_an_edit_outside_the_history():
    labels = np.zeros((4, 4, 4), np.uint8)
    h = EditHistory()
    m = np.zeros_like(labels, bool)
    m[1, 1, 1] = True
    h.record(paint(labels, m, 2))
    labels[1, 1, 1] = 7
    with pytest.raises(InputError, match="changed outside"):
        h.undo(labels)


def test_mask_box_empty():
    assert mask_box(np.zeros((3, 3, 3), bool)) is None
