"""``nvcview view T2 TOF``: several series paths make one case."""

from __future__ import annotations

import argparse

import pytest

from nvcview.cli import view_cmd


@pytest.mark.gui
def test_view_with_t2_and_tof_files_opens_one_case(
    make_napari_viewer, monkeypatch, sample_study, tmp_path
):
    import napari
    import napari_nvcview._widget as widget_mod

    paths, _ = sample_study
    viewer = make_napari_viewer(show=True)
    monkeypatch.setattr(napari, "Viewer", lambda **_kw: viewer)
    widgets = []

    class Spy(widget_mod.ReviewWidget):
        def __init__(self, v):
            super().__init__(v)
            widgets.append(self)

    monkeypatch.setattr(widget_mod, "ReviewWidget", Spy)
    parser = argparse.ArgumentParser()
    view_cmd.add_arguments(parser)
    args = parser.parse_args(
        [str(paths.nifti_t2), str(paths.nifti_tof), "--screenshot", str(tmp_path / "v.png")]
    )
    assert view_cmd.run(args) == 0
    session = widgets[0].session
    assert session.t2 is not None and session.tof is not None
    assert session.labels.shape == session.t2.array.shape
