"""Sample data through napari's menu entry, the oblique phantom, and ``nvcview view``."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from napari_nvcview._sample_data import phantom_session
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME, image_layer

from nvcview.display import contrast_limits, lps_to_world
from nvcview.structures import VESSEL_COLORS


@pytest.mark.gui
def test_sample_phantom_opens_measured(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    # the widget opens from the Plugins menu entry of the manifest
    _dock, widget = viewer.window.add_plugin_dock_widget("nvcview", "NVC review")
    assert isinstance(widget, ReviewWidget)
    viewer.open_sample("nvcview", "phantom")
    s = widget.session
    assert s is not None and s.t2 is not None and s.tof is not None
    assert [lyr.name for lyr in viewer.layers if lyr._type_string == "labels"] == [LABELS_NAME]
    vessels = [x for x in s.structures if x.kind == "vessel"]
    rows = widget.measurement_rows()
    assert len(rows) == len(vessels) == 5
    # the phantom's AICA touches CN VII: gap below the resolution, graded contact
    aica = next(r for r in rows if r["type"] == "AICA")
    assert float(aica["gap mm"]) <= float(aica["res. mm"])
    assert aica["suggested"] == "contact"
    # named layers, window presets and the TOF fusion slider
    t2_layer, tof_layer = widget._image_layers("T2")[0], widget._image_layers("TOF")[0]
    assert t2_layer.name.startswith("T2 (CISS/FIESTA)") and tof_layer.name.startswith("TOF MRA")
    wide = tuple(t2_layer.contrast_limits)
    widget.t2_preset.setCurrentIndex(1)  # narrow: dark nerve against CSF
    assert tuple(t2_layer.contrast_limits) == contrast_limits(t2_layer.data, 20.0, 97.0)
    assert t2_layer.contrast_limits[0] > wide[0]
    widget.tof_opacity.setValue(30)
    assert tof_layer.opacity == pytest.approx(0.3) and tof_layer.blending == "additive"
    # vessel colours follow their type
    cmap = viewer.layers[LABELS_NAME].colormap
    for v in vessels:
        assert np.allclose(cmap.map(v.label)[:3], v.color)
    # changing the type recolours the label (the sample has a vein already: the
    # retyped vessel gets its own colour, not the other vein's)
    old_color = s.structure(vessels[0].label).color
    widget.set_vessel_type(vessels[0].label, "vein")
    new_cmap = viewer.layers[LABELS_NAME].colormap
    st = s.structure(vessels[0].label)
    assert np.allclose(new_cmap.map(vessels[0].label)[:3], st.color)
    assert st.vessel_type == "vein" and st.color != old_color
    other_veins = [x for x in s.structures if x.vessel_type == "vein" and x.label != st.label]
    assert other_veins and all(x.color != st.color for x in other_veins)
    assert VESSEL_COLORS["vein"] in [x.color for x in other_veins]
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.fixture(scope="module")
def oblique_phantom():
    from nvcview_sample import make_phantom

    return make_phantom(oblique=True)


def test_oblique_phantom_displayed_axis_aligned_measured_on_original(oblique_phantom):
    ph = oblique_phantom
    s = phantom_session(phantom=ph)
    data, kw, _ = image_layer(s.t2, "T2")
    grid = kw["metadata"]["nvcview"]["grid"]
    assert grid.oblique
    assert "affine" not in kw and "rotate" not in kw  # napari gets scale + translate only
    # a truth landmark lands on the same anatomy in the display: T2 intensity at the
    # IAC landmark in the original grid equals the display value there (linear interp.)
    from scipy import ndimage

    from nvcview.io.image import lps_to_index

    for name in ("RExP", "IAC"):
        p = np.asarray(ph.landmarks[name])
        orig = ndimage.map_coordinates(
            s.t2.array.astype(float), lps_to_index(s.t2.affine, p)[:, None], order=1
        )[0]
        d_idx = grid.world_to_index(lps_to_world(p))
        disp = ndimage.map_coordinates(np.asarray(data, float), d_idx[:, None], order=1)[0]
        assert abs(orig - disp) < 0.15 * (np.ptp(s.t2.array) + 1e-9)
    # measurements run on the original (oblique) label map: AICA contact as in truth
    ms = s.measure()
    aica = next(m for m in ms if m.vessel_type == "AICA")
    truth = next(v for v in ph.truth["vessels"] if v["vessel_type"] == "AICA")
    assert abs(aica.gap_mm - truth["gap_mm"]) <= aica.resolution_mm


@pytest.mark.gui
def test_view_command_opens_study_and_screenshots(sample_study, tmp_path):
    paths, _ = sample_study
    png = tmp_path / "view.png"
    env = dict(os.environ, QT_API="pyqt6")
    env.pop("QT_QPA_PLATFORM", None)
    res = subprocess.run(
        [sys.executable, "-m", "nvcview", "view", str(paths.review_dir), "--screenshot", str(png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    from skimage.io import imread

    img = imread(png)
    assert img.shape[0] > 300 and img[..., :3].mean() > 10
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "view",
            str(tmp_path / "missing"),
            "--screenshot",
            str(png),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "missing" in bad.stderr


@pytest.mark.gui
def test_series_picker_chooses_among_several_series(make_napari_viewer, sample_study, tmp_path):
    """A folder with two T2 volumes and a TOF: all open, the picker switches the T2."""
    import shutil

    import nibabel as nib

    paths, _ = sample_study
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(paths.nifti_t2, folder / "a_t2_ciss.nii.gz")
    shutil.copy(paths.nifti_tof, folder / "b_tof.nii.gz")
    img = nib.load(paths.nifti_t2)
    nib.save(
        nib.Nifti1Image(np.asarray(img.dataobj) * 0.5, img.affine, img.header),
        folder / "c_t2_space.nii.gz",
    )
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open(str(folder), plugin="nvcview")
    images = [lyr for lyr in viewer.layers if lyr._type_string == "image"]
    assert len(images) == 3
    s = widget.session
    assert "a_t2_ciss" in s.t2.meta.source_path and "b_tof" in s.tof.meta.source_path
    items = [widget.t2_combo.itemText(i) for i in range(widget.t2_combo.count())]
    second = next(n for n in items if "c_t2_space" in n)
    assert widget.t2_combo.currentText() != second
    widget.t2_combo.setCurrentText(second)
    widget.use_selected_series()
    assert "c_t2_space" in widget.session.t2.meta.source_path
    assert "b_tof" in widget.session.tof.meta.source_path
    assert widget.session.labels.shape == widget.session.t2.array.shape
    assert widget.idle or widget.busy == 0


@pytest.mark.gui
def test_brush_on_oblique_labels_changes_only_the_stroke(
    make_napari_viewer, qtbot, oblique_phantom
):
    ph = oblique_phantom
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.load_session(phantom_session(phantom=ph))
    s = widget.session
    layer = viewer.layers[LABELS_NAME]
    assert layer.metadata["nvcview"]["grid"].oblique
    before = s.labels.copy()
    aica = next(m for m in widget.measurements if m.vessel_type == "AICA")
    coord = layer.world_to_data(np.asarray(aica.vessel_point_lps)[::-1])
    layer.n_edit_dimensions = 3
    layer.brush_size = 10
    layer.mode = "erase"
    layer.paint(coord, 0)
    qtbot.waitUntil(lambda: (before != s.labels).any(), timeout=120_000)
    changed = before != s.labels
    # only voxels near the stroke changed (10 display voxels across), all of them erased
    from nvcview.io.image import index_to_lps

    where = index_to_lps(s.reference.affine, np.argwhere(changed).astype(float))
    step = layer.metadata["nvcview"]["grid"].scale[0]
    assert np.linalg.norm(where - aica.vessel_point_lps, axis=1).max() < 6 * step + 1.0
    assert not s.labels[changed].any()
    qtbot.waitUntil(
        lambda: (
            next(float(r["gap mm"]) for r in widget.measurement_rows() if r["type"] == "AICA")
            > aica.gap_mm + 0.3
        ),
        timeout=120_000,
    )
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


def test_sample_menu_builds_the_phantom_once_and_gives_each_open_its_own_copy(monkeypatch):
    import nvcview_sample
    from napari_nvcview import _sample_data

    built = []
    real = nvcview_sample.make_phantom

    def counting(**kwargs):
        built.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(nvcview_sample, "make_phantom", counting)
    _sample_data._default_phantom.cache_clear()
    try:
        first = _sample_data.sample_phantom()
        first[0][0][...] = 0  # the user paints over the first sample's T2
        blank = _sample_data.sample_phantom_blank()
        second = _sample_data.sample_phantom()
    finally:
        _sample_data._default_phantom.cache_clear()  # later tests build their own
    assert len(built) == 1
    assert [t[2] for t in first] == ["image", "image", "labels"]
    assert [t[2] for t in blank] == ["image", "image"]
    assert not first[0][0].any()
    assert second[0][0].any() and blank[0][0].any()  # the edit did not leak
    assert np.array_equal(second[0][0], blank[0][0])
    assert not np.shares_memory(second[2][0], first[2][0])
