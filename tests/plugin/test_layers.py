"""Radiological display, checked on rendered pixels (Xvfb, show=True).

A marker on the patient's left must appear on the screen's right in the axial
view, superior must be up in the coronal view, anterior left in the sagittal
view, whatever order the array is stored in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from napari_nvcview.layers import image_layer, set_plane

from nvcview.io.image import Image, SeriesMeta, index_to_lps, make_volume

SHOTS = Path("/tmp/nvcview-shots")

# index -> LPS linear parts: DICOM axial (slice, row, col); NIfTI-like (i, j, k) read
# from RAS (x and y flipped); a coronal acquisition
LAYOUTS = {
    "dicom_axial": np.array([[0, 0, 0.8], [0, 0.8, 0], [1.0, 0, 0]]),
    "nifti_ras": np.array([[-0.8, 0, 0], [0, -0.8, 0], [0, 0, 1.0]]),
    "coronal_stack": np.array([[0.8, 0, 0], [0, 0, 1.0], [0, -0.8, 0]]),
}


def _phantom_with_markers(lin: np.ndarray) -> Image:
    """A 60 x 60 x 40 mm box (grey 300) with markers (1000) left, superior and anterior."""
    extent = np.array([60.0, 60.0, 40.0])  # x, y, z in mm, centred on 0
    steps = np.abs(lin).max(axis=1)  # mm per voxel along x, y, z
    # array axis a carries LPS axis comp[a]
    comp = np.argmax(np.abs(lin), axis=0)
    shape = tuple(int(extent[c] / steps[c]) for c in comp)
    aff = np.eye(4)
    aff[:3, :3] = lin
    # put the volume centre at LPS 0
    centre_idx = (np.asarray(shape) - 1) / 2
    aff[:3, 3] = -lin @ centre_idx
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    lps = index_to_lps(aff, idx.reshape(-1, 3)).reshape(*shape, 3)
    arr = np.full(shape, 300.0, np.float32)
    arr[np.linalg.norm(lps - [20.0, 0, 0], axis=-1) <= 4.0] = 1000.0  # patient's left
    arr[np.linalg.norm(lps - [0, 0, 14.0], axis=-1) <= 4.0] = 1000.0  # superior
    arr[np.linalg.norm(lps - [0, -22.0, 0], axis=-1) <= 4.0] = 1000.0  # anterior
    return Image(make_volume(arr, aff), SeriesMeta(role="T2", series_description="markers"))


def _bright_centroid(img: np.ndarray) -> tuple[float, float, float, float]:
    """(row, col) centroid of marker pixels and the canvas height, width."""
    grey = img[..., :3].astype(float).mean(axis=-1)
    rows, cols = np.nonzero(grey > 200)
    assert len(rows) > 20, "no marker visible"
    return rows.mean(), cols.mean(), grey.shape[0], grey.shape[1]


@pytest.mark.gui
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_left_marker_on_screen_right_and_superior_up(make_napari_viewer, tmp_path, layout):
    viewer = make_napari_viewer(show=True)
    data, kw, _ = image_layer(_phantom_with_markers(LAYOUTS[layout]), "T2")
    kw["contrast_limits"] = (0.0, 1000.0)
    viewer.add_image(data, **kw)
    viewer.window.resize(900, 700)

    # axial slice through z = 0 (holds the left and anterior markers)
    set_plane(viewer, "axial")
    viewer.dims.set_point(0, 0.0)
    viewer.reset_view()
    shot = viewer.screenshot(str(tmp_path / f"axial-{layout}.png"), canvas_only=True)
    assert shot[..., :3].max() > 0 and shot[..., :3].mean() > 5, "screenshot is black"
    grey = shot[..., :3].astype(float).mean(axis=-1)
    h, w = grey.shape
    # the left marker: bright pixels in the middle band of rows, right half of the screen
    band = grey[int(0.4 * h) : int(0.6 * h)]
    cols = np.nonzero(band > 200)[1]
    assert len(cols) > 20
    assert cols.min() > w / 2, f"left marker not on the screen's right ({layout})"
    # the anterior marker is in the upper half
    upper = grey[: h // 2, int(0.4 * w) : int(0.6 * w)]
    assert (upper > 200).sum() > 20
    # (the plane caption and the scale bar sit in the bottom 15 % of the canvas)
    assert (grey[h // 2 : int(0.85 * h), int(0.4 * w) : int(0.6 * w)] > 200).sum() == 0
    if layout == "dicom_axial":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / f"axial-{layout}.png", SHOTS / "axial-left-marker.png")

    # coronal slice through y = 0: superior marker up, left marker right
    set_plane(viewer, "coronal")
    viewer.dims.set_point(1, 0.0)
    viewer.reset_view()
    shot = viewer.screenshot(str(tmp_path / f"coronal-{layout}.png"), canvas_only=True)
    grey = shot[..., :3].astype(float).mean(axis=-1)
    h, w = grey.shape
    top = grey[: h // 2, int(0.4 * w) : int(0.6 * w)]
    assert (top > 200).sum() > 20, f"superior marker not up ({layout})"
    band = grey[int(0.4 * h) : int(0.6 * h)]
    cols = np.nonzero(band > 200)[1]
    assert len(cols) > 20 and cols.min() > w / 2

    # sagittal through x = 0: anterior marker on the left half
    set_plane(viewer, "sagittal")
    viewer.dims.set_point(2, 0.0)
    viewer.reset_view()
    shot = viewer.screenshot(str(tmp_path / f"sagittal-{layout}.png"), canvas_only=True)
    grey = shot[..., :3].astype(float).mean(axis=-1)
    h, w = grey.shape
    band = grey[int(0.4 * h) : int(0.6 * h)]
    cols = np.nonzero(band > 200)[1]
    assert len(cols) > 20 and cols.max() < w / 2, f"anterior marker not left ({layout})"
