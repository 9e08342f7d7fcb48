"""Key images: orientation (radiological), closest point inside, reformat order."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import image as mpimg

from nvcview.io.image import Image, make_volume
from nvcview.report.keyimages import GAP_COLOR, render_key_images, render_slice

from .conftest import affine, build_labels, images, measurements, nerve_centreline, structures


def _png_array(png: bytes) -> np.ndarray:
    return mpimg.imread(io.BytesIO(png), format="png")[..., :3]


def _marker_image(center_lps) -> Image:
    """Dark volume (z, y, x) with one bright 3 mm ball at ``center_lps``."""
    shape = (40, 64, 64)
    aff = affine()
    aff[:3, 3] = [-16.0, -16.0, -10.0]
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    xyz = idx @ aff[:3, :3].T + aff[:3, 3]
    arr = np.full(shape, 10.0)
    arr[np.linalg.norm(xyz - np.asarray(center_lps), axis=-1) <= 3.0] = 1000.0
    return Image(make_volume(arr.astype(np.float32), aff))


def _bright_centroid(png: bytes) -> tuple[float, float, int]:
    rgb = _png_array(png)
    bright = rgb.mean(axis=-1) > 0.9
    # ignore the letter boxes and scale bar near the borders
    h, w = bright.shape
    bright[: h // 8] = bright[-h // 8 :] = False
    bright[:, : w // 8] = bright[:, -w // 8 :] = False
    rows, cols = np.nonzero(bright)
    return float(cols.mean()), float(rows.mean()), w


def test_left_marker_is_on_screen_right_in_axial_and_coronal():
    left = _marker_image([8.0, 0.0, 0.0])  # +x = patient Left
    right = _marker_image([-8.0, 0.0, 0.0])
    for plane in ("axial", "coronal"):
        png_l, _ = render_slice(plane, left, center=np.zeros(3), half_width_mm=14)
        png_r, _ = render_slice(plane, right, center=np.zeros(3), half_width_mm=14)
        col_l, _, w = _bright_centroid(png_l)
        col_r, _, _ = _bright_centroid(png_r)
        assert col_l > 0.6 * w, (plane, col_l, w)
        assert col_r < 0.4 * w, (plane, col_r, w)


def test_anterior_up_in_axial_and_superior_up_in_coronal():
    anterior = _marker_image([0.0, -8.0, 0.0])  # -y = Anterior
    png, _ = render_slice("axial", anterior, center=np.zeros(3), half_width_mm=14)
    _, row, h = _bright_centroid(png)
    assert row < 0.4 * h
    superior = _marker_image([0.0, 0.0, 6.0])
    png, _ = render_slice("coronal", superior, center=np.zeros(3), half_width_mm=14)
    _, row, h = _bright_centroid(png)
    assert row < 0.4 * h


def test_closest_point_inside_key_images_with_gap_line():
    t2, tof, lab = images(build_labels())
    ms = measurements()
    keys = render_key_images(
        t2,
        ms,
        tof=tof,
        labels=lab,
        structures=structures(),
        centreline=nerve_centreline(),
        landmarks={"RExP": [-4.0, 0, 0], "RDP": [4.1, 0, 0], "IAC": [12.0, 0, 0]},
    )
    kinds = [k.kind for k in keys]
    # the AICA is the only conflict: axial + coronal of it, and the nerve reformat
    assert kinds == ["axial", "coronal", "nerve"]
    assert {k.vessel_label for k in keys[:2]} == {3}
    green = np.array([int(GAP_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    for k in keys[:2]:
        rgb = _png_array(k.png)
        h, w = rgb.shape[:2]
        assert (w, h) == (k.width_px, k.height_px)
        col, row = k.points_px["nerve_point"]
        assert 0 <= col < w and 0 <= row < h
        r0, c0 = int(round(row)), int(round(col))
        patch = rgb[max(0, r0 - 4) : r0 + 5, max(0, c0 - 4) : c0 + 5]
        assert np.any(np.abs(patch - green).max(axis=-1) < 0.1), k.key
    reformat = keys[2]
    px = reformat.points_px
    assert px["RExP"][0] < px["left AICA"][0] < px["RDP"][0] < px["IAC"][0]
    # the AICA touches the nerve from above: marked above the centreline row
    assert px["left AICA"][1] <= px["RDP"][1]


def test_key_image_png_carries_only_software_text():
    t2, tof, lab = images(build_labels())
    png, _ = render_slice("axial", t2, center=np.zeros(3), tof=tof)
    text_chunks = []
    pos = 8
    while pos < len(png):
        n = int.from_bytes(png[pos : pos + 4], "big")
        kind = png[pos + 4 : pos + 8]
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            text_chunks.append(png[pos + 8 : pos + 8 + n])
        pos += 12 + n
    assert text_chunks and all(c.startswith(b"Software") for c in text_chunks)
