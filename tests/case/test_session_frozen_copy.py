"""A frozen copy (the measurement worker's snapshot) equals the label map it copies.

Its labelled box comes from one scan of the map and then from the edit boxes the
session logs; whenever the log cannot say what changed, the map is scanned again.
"""

from __future__ import annotations

import numpy as np

import nvcview.case.session as session_module
from nvcview.case import CaseSession
from nvcview.io.image import Image, SeriesMeta, make_volume


def _session(shape=(20, 30, 40)) -> CaseSession:
    aff = np.diag([0.5, 0.4, 0.4, 1.0])
    vol = make_volume(np.zeros(shape, np.uint16), aff, "1.2.3")
    meta = SeriesMeta(series_uid="1.2.3.4", role="T2", shape=shape, spacing_mm=(0.5, 0.4, 0.4))
    s = CaseSession(t2=Image(volume=vol, meta=meta))
    s.ensure_labels()
    for label in range(1, 8):  # structure rows for the values painted below (no voxels yet)
        s.add_structure(None, f"vessel {label}", "vessel", vessel_type="other", label=label)
    return s


def test_frozen_copies_equal_the_map_through_told_and_untold_writes(monkeypatch):
    s = _session()
    scans: list[int] = []
    real = session_module.nonzero_box

    def spy(array):
        if np.shape(array) == s.labels.shape:
            scans.append(1)
        return real(array)

    monkeypatch.setattr(session_module, "nonzero_box", spy)
    s.labels[2:5, 3:6, 4:8] = 1
    s.labels_edited((slice(2, 5), slice(3, 6), slice(4, 8)))
    assert np.array_equal(s.frozen_copy().labels, s.labels)
    assert len(scans) == 1  # the first snapshot scans the map once
    scans.clear()
    # strokes far apart, each told with its box: no scan, and the copy is exact
    for i, box in enumerate(
        [
            (slice(15, 18), slice(20, 25), slice(30, 36)),
            (slice(0, 1), slice(0, 2), slice(0, 3)),
            (slice(10, 12), slice(28, 30), slice(38, 40)),
        ]
    ):
        s.labels[box] = i + 2
        s.labels_edited(box)
        snap = s.frozen_copy()
        assert np.array_equal(snap.labels, s.labels)
        assert snap.labels is not s.labels
    s.labels[2:5, 3:6, 4:8] = 0  # an erase, told
    s.labels_edited((slice(2, 5), slice(3, 6), slice(4, 8)))
    assert np.array_equal(s.frozen_copy().labels, s.labels)
    assert not scans
    # a write the session was not told of, then a snapshot with nothing logged since:
    # the map is scanned again, so the write is in the copy
    s.labels[19, 29, 39] = 7
    assert np.array_equal(s.frozen_copy().labels, s.labels)
    assert len(scans) == 1
    scans.clear()
    # a replaced map (assigned): scanned again
    new = np.zeros_like(s.labels)
    new[5, 5, 5] = 3
    s.labels = new
    s.labels_edited(None)
    assert np.array_equal(s.frozen_copy().labels, new)
    assert scans


def test_frozen_copy_of_an_empty_map_then_a_stroke():
    s = _session()
    assert not s.frozen_copy().labels.any()
    s.labels[1:3, 1:3, 1:3] = 4
    s.labels_edited((slice(1, 3), slice(1, 3), slice(1, 3)))
    assert np.array_equal(s.frozen_copy().labels, s.labels)
