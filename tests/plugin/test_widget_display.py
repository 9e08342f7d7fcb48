"""Display work proportional to the change: an edit of an oblique case re-samples its box."""

from __future__ import annotations

import numpy as np
import pytest
from napari_nvcview._sample_data import phantom_session
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME, session_layers

import nvcview.display.grid as display_grid_module
from nvcview.display import to_display


@pytest.mark.gui
def test_oblique_edit_resamples_only_its_box(make_napari_viewer, qtbot, monkeypatch):
    from nvcview_sample import make_phantom

    session = phantom_session(phantom=make_phantom(oblique=True))
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    for data, kw, kind in session_layers(session):
        getattr(viewer, f"add_{kind}")(data, **kw)
    assert widget.session is session
    layer = viewer.layers[LABELS_NAME]
    grid = layer.metadata["nvcview"]["grid"]
    assert grid.oblique
    whole = int(np.prod(grid.shape))

    sampled: list[int] = []
    real = display_grid_module._sample_box

    def spy(array, affine, g, box, order):
        sampled.append(int(np.prod([s.stop - s.start for s in box])))
        return real(array, affine, g, box, order)

    monkeypatch.setattr(display_grid_module, "_sample_box", spy)
    misses = display_grid_module._display_grid.cache_info().misses

    # the reader deletes the small vein (a core edit of a few hundred voxels)
    vein = min(
        (s for s in session.structures if s.kind == "vessel"),
        key=lambda s: int((session.labels == s.label).sum()),
    )
    widget._try(session.remove_structure, vein.label)
    assert sampled and sum(sampled) < 0.25 * whole  # not the whole label map
    # the layer shows exactly what a full re-sampling would
    full, _ = to_display(session.labels, session.reference.affine, order=0, grid=grid)
    assert np.array_equal(np.asarray(layer.data), full)
    # the display grid of the series was not computed again
    assert display_grid_module._display_grid.cache_info().misses == misses
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
