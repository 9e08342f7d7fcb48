"""An oblique study larger than the sample: edits redraw their box, the images are not resampled.

The study (T2 64 x 128 x 128 at 0.5 x 0.4 x 0.4 mm tilted 3 degrees, TOF 56 x 128 x 128
at 0.6 x 0.4 x 0.4 mm tilted the other way, a bright vessel on noise) is built in code.
Spies count the display voxels sampled: a seed grow and a brush stroke through the
labels layer each resample only the box they reach, never the whole label map, and
opening the case reads only the image planes shown (no eager TOF/T2 resampling).
"""

from __future__ import annotations

import napari_nvcview._widget as widget_module
import numpy as np
import pytest
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME

import nvcview.case.session as session_module
import nvcview.display.grid as display_grid_module
from nvcview.case import CaseSession
from nvcview.display import ResampledVolume, display_box_to_source, to_display
from nvcview.io.image import Image, SeriesMeta, index_to_lps, make_volume

#: the vessel's axis (LPS mm) and radius
VESSEL = (np.array([-8.0, -5.0, -3.0]), np.array([8.0, 6.0, 4.0]), 0.9)


def _tilted(axis: int, deg: float, spacing, shape) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    rot = np.eye(3)
    i, j = [a for a in range(3) if a != axis]
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
    # columns: slice axis (z), row axis (y), column axis (x), as highdicom stores them
    lin = rot @ np.stack([[0, 0, spacing[0]], [0, spacing[1], 0], [spacing[2], 0, 0]], axis=1)
    aff = np.eye(4)
    aff[:3, :3] = lin
    aff[:3, 3] = -lin @ ((np.asarray(shape, float) - 1) / 2)
    return aff


def _series(role: str, shape, spacing, axis: int, deg: float, rng) -> Image:
    aff = _tilted(axis, deg, spacing, shape)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    lps = index_to_lps(aff, idx.reshape(-1, 3).astype(float))
    a, b, r = VESSEL
    t = np.clip((lps - a) @ (b - a) / float((b - a) @ (b - a)), 0, 1)
    inside = (np.linalg.norm(lps - (a + t[:, None] * (b - a)), axis=1) <= r).reshape(shape)
    base, bright, sigma = (300.0, 60.0, 20.0) if role == "T2" else (100.0, 900.0, 15.0)
    arr = base + sigma * rng.standard_normal(shape)
    arr[inside] = bright + sigma * rng.standard_normal(int(inside.sum()))
    meta = SeriesMeta(
        series_uid=f"1.2.826.0.1.3680043.10.99.{3 if role == 'T2' else 4}",
        study_uid="1.2.826.0.1.3680043.10.99.1",
        frame_of_reference_uid="1.2.826.0.1.3680043.10.99.2",
        modality="MR",
        series_description=f"{role} oblique test",
        role=role,
        shape=tuple(shape),
        spacing_mm=tuple(float(v) for v in spacing),
        orientation="axial oblique",
    )
    vol = make_volume(np.clip(arr, 0, 4095).astype(np.uint16), aff, meta.frame_of_reference_uid)
    return Image(volume=vol, meta=meta)


@pytest.fixture(scope="module")
def oblique_study() -> tuple[Image, Image]:
    rng = np.random.default_rng(12)
    t2 = _series("T2", (64, 128, 128), (0.5, 0.4, 0.4), 1, 3.0, rng)
    tof = _series("TOF", (56, 128, 128), (0.6, 0.4, 0.4), 0, -3.0, rng)
    return t2, tof


@pytest.mark.gui
def test_grow_and_brush_on_an_oblique_study_resample_only_their_box(
    make_napari_viewer, qtbot, monkeypatch, oblique_study
):
    t2, tof = oblique_study
    sampled: list[int] = []
    real = display_grid_module._sample_box

    def spy(array, affine, g, box, order):
        sampled.append(int(np.prod([s.stop - s.start for s in box])))
        return real(array, affine, g, box, order)

    monkeypatch.setattr(display_grid_module, "_sample_box", spy)
    carried: list[int] = []  # display voxels compared when a stroke is carried back
    real_update = widget_module.update_from_display

    def update_spy(source, display, grid, affine, edited, **kw):
        carried.append(int(np.asarray(edited).size))
        return real_update(source, display, grid, affine, edited, **kw)

    monkeypatch.setattr(widget_module, "update_from_display", update_spy)
    compared: list[int] = []  # voxels the case compares with its undo shadow, per call
    real_changed = session_module.changed_box

    def changed_spy(old, new, within=None):
        n = int(np.asarray(old).size)
        if within is not None:
            n = int(np.prod([max(0, s.stop - s.start) for s in within]))
        compared.append(n)
        return real_changed(old, new, within)

    monkeypatch.setattr(session_module, "changed_box", changed_spy)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = CaseSession(t2=t2, tof=tof)
    widget.load_session(session)
    layer = viewer.layers[LABELS_NAME]
    grid = layer.metadata["nvcview"]["grid"]
    assert grid.oblique
    # the display copy of an oblique map is uint8 while the labels fit (half the memory)
    assert layer.data.dtype == np.uint8 and session.labels.dtype == np.uint16
    whole = int(np.prod(grid.shape))
    n_map = int(session.ensure_labels().size)
    assert sum(sampled) == 0  # an empty label map: nothing to sample

    # the images are shown lazily: opening read a few planes, not the volumes
    images = [lyr for lyr in viewer.layers if isinstance(lyr.data, ResampledVolume)]
    assert len(images) == 2
    for lyr in images:
        assert lyr.data.voxels_read < 0.2 * lyr.data.size

    # a seed grow (synchronous here: no worker to race) redraws its box only
    widget.vessel_type_combo.setCurrentText("AICA")
    seed = (VESSEL[0] + VESSEL[1]) / 2
    compared.clear()
    st = widget.grow_vessel(seed, background=False)
    assert st is not None, widget.last_error
    assert (session.labels == st.label).sum() > 50
    assert sampled and sum(sampled) < 0.1 * whole
    # the grow compares the whole map with the undo shadow once (edits made behind the
    # case's back), and its own edit inside its box only
    assert compared and sum(1 for n in compared if n == n_map) == 1
    assert sum(n for n in compared if n != n_map) < 0.1 * n_map
    full, _ = to_display(session.labels, session.reference.affine, order=0, grid=grid)
    assert np.array_equal(np.asarray(layer.data), full)

    # a brush stroke through the labels layer: carried back and compared in its box only
    sampled.clear()
    before = session.labels.copy()
    version = session.version
    layer.n_edit_dimensions = 3
    layer.brush_size = 5
    layer.selected_label = st.label
    point = seed + np.array([0.0, 0.0, 2.5])
    compared.clear()
    layer.paint(layer.world_to_data(point[::-1]), st.label)
    qtbot.waitUntil(lambda: session.version > version, timeout=120_000)
    changed = np.argwhere(session.labels != before)
    assert len(changed) > 0
    assert sum(sampled) < 0.02 * whole  # the stroke's box, not the label map
    assert carried and max(carried) < 0.02 * whole
    # recording the stroke for undo compares its box only, never the whole map
    assert compared and max(compared) < 0.02 * n_map
    assert session.undo_text == "brush stroke"
    # only voxels near the stroke moved, and the layer shows the label map exactly
    lps = index_to_lps(session.reference.affine, changed.astype(float))
    assert np.linalg.norm(lps - point, axis=1).max() < 2.0
    full, _ = to_display(session.labels, session.reference.affine, order=0, grid=grid)
    assert np.array_equal(np.asarray(layer.data), full)
    d = np.round(grid.world_to_index(point[::-1])).astype(int)
    dbox = tuple(slice(int(c) - 4, int(c) + 5) for c in d)
    sbox = display_box_to_source(grid, session.reference.affine, dbox, session.labels.shape)
    assert sbox is not None
    outside = np.ones(session.labels.shape, bool)
    outside[sbox] = False
    assert np.array_equal(session.labels[outside], before[outside])
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.mark.gui
def test_sample_opens_without_a_throwaway_labels_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    inserted: list = []
    viewer.layers.events.inserted.connect(lambda e: inserted.append(e.value))
    viewer.open_sample("nvcview", "phantom")
    labels = [lyr for lyr in inserted if lyr._type_string == "labels"]
    # one labels layer ever made: the sample's own, holding the sample's case
    assert len(labels) == 1
    assert widget.session is labels[0].metadata["nvcview"]["session"]
    assert viewer.layers[LABELS_NAME] is labels[0]
    assert widget.session.t2 is not None and widget.session.tof is not None
    assert widget.session.structures
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.mark.gui
def test_dock_leaves_most_of_the_window_to_the_canvas(make_napari_viewer, qtbot):
    from napari_nvcview._widget import DOCK_WIDTH
    from qtpy.QtWidgets import QApplication, QScrollArea

    viewer = make_napari_viewer(show=True)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NVC review", area="right")
    window = widget.window()
    window.resize(1456, 900)
    QApplication.processEvents()
    # the widest tab (Review, with the findings) scrolls inside the dock, it does not widen it
    review = widget.tabs.indexOf(widget.findings_panel.parentWidget())
    assert review >= 0 and isinstance(widget.tabs.widget(review), QScrollArea)
    widget.tabs.setCurrentIndex(review)
    QApplication.processEvents()
    assert widget.width() <= DOCK_WIDTH[1] < 0.4 * window.width()
    # pages are still found as themselves
    widget.tabs.setCurrentWidget(widget.segment_panel)
    assert widget.tabs.page(widget.tabs.currentIndex()) is widget.segment_panel


@pytest.mark.gui
def test_busy_bar_steps_slowly_while_a_grow_runs(make_napari_viewer, qtbot, monkeypatch):
    """The busy bar is stepped by a slow timer, not Qt's busy animation (range 0, 0),
    whose repaints slowed the grow worker it waited for 4-5x on a loaded machine."""
    import threading

    from napari_nvcview._widget import BUSY_STEP_MS

    rng = np.random.default_rng(5)
    t2 = _series("T2", (24, 48, 48), (0.5, 0.4, 0.4), 1, 3.0, rng)
    gate = threading.Event()
    real = CaseSession.vessel_mask

    def held(self, *args, **kwargs):
        assert gate.wait(120), "the test never opened the gate"
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CaseSession, "vessel_mask", held)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.load_session(CaseSession(t2=t2))
    widget.vessel_type_combo.setCurrentText("AICA")
    try:
        widget.grow_vessel((VESSEL[0] + VESSEL[1]) / 2, background=True)
        assert widget.busy > 0 and widget.progress.isVisibleTo(widget)
        assert widget.progress.maximum() > widget.progress.minimum()  # not the animation
        assert widget._busy_timer.isActive() and widget._busy_timer.interval() == BUSY_STEP_MS
        assert BUSY_STEP_MS >= 500
    finally:
        gate.set()
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
    assert not widget.progress.isVisibleTo(widget) and not widget._busy_timer.isActive()
