"""Key images: orientation (radiological), closest point inside, reformat order."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import image as mpimg

from nvcview.io.image import Image, make_volume
from nvcview.report.keyimages import render_key_images, render_slice

from .conftest import (
    ORIGIN,
    SPACING,
    affine,
    build_labels,
    images,
    measurements,
    nerve_centreline,
    structures,
)


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


def _keys(**kw):
    t2, tof, lab = images(build_labels())
    return render_key_images(
        t2,
        measurements(),
        tof=tof,
        labels=lab,
        structures=structures(),
        centreline=nerve_centreline(),
        landmarks={"RExP": [-4.0, 0, 0], "RDP": [4.1, 0, 0], "IAC": [12.0, 0, 0]},
        side="left",
        **kw,
    )


def test_closest_point_inside_key_images_with_gap_line():
    keys = _keys()
    kinds = [k.kind for k in keys]
    # the AICA is the only conflict: axial, coronal, contact plane of it; the nerve
    # reformat and the 3D view of the REZ
    assert kinds == ["axial", "coronal", "contact", "nerve", "3d"]
    assert {k.vessel_label for k in keys[:3]} == {3}
    t2, tof, lab = images(build_labels())
    m = measurements()[0]
    for k in keys[:3]:
        rgb = _png_array(k.png)
        h, w = rgb.shape[:2]
        assert (w, h) == (k.width_px, k.height_px)
        col, row = k.points_px["nerve_point"]
        assert 0 <= col < w and 0 <= row < h
        # the gap marks are drawn there: the same slice without the points differs
        # only around them (and in the legend, which loses its gap entry)
        plane = k.plane
        bare, _ = render_slice(
            k.kind,
            t2,
            center=np.asarray(plane["center"]),
            tof=tof,
            labels=lab,
            structures=structures(),
            half_width_mm=10.0 if k.kind == "contact" else 15.0,
            axes=(np.asarray(plane["u"]), np.asarray(plane["v"])),
            letters=None if k.kind != "contact" else ("brainstem", "IAC", "toward vessel", "away"),
            title=None or "",
        )
        diff = np.abs(_png_array(bare) - rgb).max(axis=-1) > 0.2
        r0, c0 = int(round(row)), int(round(col))
        assert diff[r0 - 4 : r0 + 5, c0 - 4 : c0 + 5].any(), k.key  # the marker is there
        diff[:, : int(0.45 * w)] = False  # legend (loses its gap entry)
        diff[: int(0.1 * h)] = False  # title line
        assert not diff[: r0 - 40].any() and not diff[r0 + 40 :].any(), k.key
    reformat = keys[3]
    px = reformat.points_px
    assert px["RExP"][0] < px["left AICA"][0] < px["RDP"][0] < px["IAC"][0]
    # the upper panel is in the plane of the AICA contact: marked above the centreline row
    assert px["left AICA"][1] <= px["RDP"][1]
    assert m.vessel_name in reformat.caption


def _color_mask(rgb: np.ndarray, color: str, tol: float = 0.12) -> np.ndarray:
    c = np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.abs(rgb - c).max(axis=-1) < tol


def test_contact_plane_holds_the_nerve_axis_and_the_closest_point_pair():
    """In the contact reformat the AICA outline touches the nerve outline at the contact;
    in the plane through the nerve axis turned 90 degrees about it (how the old
    straightened reformat cut it: a band of CSF between them) the AICA is not there."""
    from nvcview.report.keyimages import contact_plane
    from nvcview.structures import NERVE_COLORS, VESSEL_COLORS

    keys = _keys()
    contact = next(k for k in keys if k.kind == "contact")
    m = measurements()[0]
    t, up, center = contact_plane(m, nerve_centreline())
    assert abs(t @ up) < 1e-9
    a, b = np.asarray(m.nerve_point_lps), np.asarray(m.vessel_point_lps)
    # both closest points lie in the plane (distance to it ~ 0)
    normal = np.cross(t, up)
    assert abs((a - center) @ normal) < 1e-6 and abs((b - center) @ normal) < 1e-6
    rgb = _png_array(contact.png)
    yellow = _color_mask(rgb, "#" + "".join(f"{round(255 * c):02x}" for c in NERVE_COLORS["VII"]))
    red = _color_mask(rgb, "#" + "".join(f"{round(255 * c):02x}" for c in VESSEL_COLORS["AICA"]))
    col, row = contact.points_px["nerve_point"]
    px_per_mm = contact.width_px / 20.0
    win = int(2 * px_per_mm)
    r0, c0 = int(row), int(col)
    ys, xs = np.nonzero(yellow[r0 - win : r0 + win, c0 - win : c0 + win])
    yr, xr = np.nonzero(red[r0 - win : r0 + win, c0 - win : c0 + win])
    assert len(ys) and len(yr), "nerve and AICA outlines near the contact"
    d = np.hypot(ys[:, None] - yr[None, :], xs[:, None] - xr[None, :]).min()
    assert d / px_per_mm < 0.5  # outlines touch within one voxel: contact is visible
    t2, tof, lab = images(build_labels())
    from nvcview.report.keyimages import _tangent_at

    _, on_axis = _tangent_at(nerve_centreline(), a)
    turned, pts = render_slice(
        "contact",
        t2,
        center=on_axis,
        labels=lab,
        structures=structures(),
        half_width_mm=10.0,
        axes=(t, -np.cross(t, up)),
        points={"nerve_point": a, "vessel_point": b},
    )
    rgb2 = _png_array(turned)
    red2 = _color_mask(rgb2, "#" + "".join(f"{round(255 * c):02x}" for c in VESSEL_COLORS["AICA"]))
    c2, r2 = (int(v) for v in pts["nerve_point"])
    assert not red2[r2 - win : r2 + win, c2 - win : c2 + win].any()


def test_legend_uses_structure_colours_and_a_tof_colour_unlike_any_vessel():
    from nvcview.report.keyimages import TOF_COLOR, TOF_LEGEND
    from nvcview.structures import NERVE_COLORS, VESSEL_COLORS

    tof = np.asarray(TOF_COLOR)
    for rgb in [*VESSEL_COLORS.values(), *NERVE_COLORS.values()]:
        assert np.abs(np.asarray(rgb) - tof).max() > 0.4  # clearly another colour
    keys = _keys()
    axial = keys[0]
    names = [n for n, _ in axial.legend]
    assert TOF_LEGEND in names
    by_name = dict(axial.legend)
    for st in structures():
        if st.name in by_name:
            want = "#" + "".join(f"{round(255 * c):02x}" for c in st.color)
            assert by_name[st.name] == want
    contact = keys[2]
    assert {"left facial nerve", "left AICA"} <= {n for n, _ in contact.legend}
    # the legend is drawn: its TOF swatch colour is in the lower-left corner of the image
    rgb = _png_array(contact.png)
    h, w = rgb.shape[:2]
    corner = rgb[h // 2 :, : w // 2]
    assert (
        _color_mask(corner, "#" + "".join(f"{round(255 * c):02x}" for c in TOF_COLOR), 0.05).sum()
        > 20
    )


def test_captions_name_series_and_image_number_for_pacs(synth_case):
    from nvcview.report.seg import find_series_files

    sources = find_series_files(synth_case["folder"].parent / "dicom" / "T2", None)
    keys = _keys(sources=sources)
    axial = keys[0]
    m = measurements()[0]
    z = (m.nerve_point_lps[2] + m.vessel_point_lps[2]) / 2
    # the conftest series: axial slices from z = ORIGIN[2] every SPACING mm, instance k + 1
    want = int(round((z - ORIGIN[2]) / SPACING)) + 1
    assert axial.location == f"On PACS: T2 series 3 (3D CISS), image {want}"
    assert axial.source["instance_number"] == want and axial.source["in_plane"]
    coronal = keys[1]
    assert coronal.location.startswith("On PACS: reformatted from T2 series 3 (3D CISS)")
    assert not coronal.source["in_plane"]


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


# --- the 3D key image of the REZ (issue 15) ---------------------------------------------


def _shaded_like(rgb: np.ndarray, color, tol: float = 0.06) -> np.ndarray:
    """Pixels whose colour is ``color`` (0-1 RGB) times a shading factor (0.3-1.3)."""
    c = np.asarray(color, dtype=float)
    s = (rgb @ c) / (c @ c)
    resid = np.linalg.norm(rgb - s[..., None] * c, axis=-1)
    return (s > 0.3) & (s < 1.3) & (resid < tol)


def _scene_image(keys):
    found = [k for k in keys if k.kind == "3d"]
    assert len(found) == 1, [k.key for k in keys]
    return found[0]


def _mirrored_case():
    """The synthetic case mirrored through the mid-sagittal plane (x -> -x): a right case."""
    labels = build_labels()
    t2, tof, lab = images(labels)
    mirror = np.diag([-1.0, 1.0, 1.0])

    def flip(im: Image) -> Image:
        aff = np.asarray(im.affine, dtype=float).copy()
        aff[:3, :] = mirror @ aff[:3, :]
        return Image(
            make_volume(np.asarray(im.array), aff, im.meta.frame_of_reference_uid), im.meta
        )

    import dataclasses

    sts = [dataclasses.replace(s, name=s.name.replace("left", "right")) for s in structures()]
    ms = [
        dataclasses.replace(
            m,
            vessel_name=m.vessel_name.replace("left", "right"),
            nerve_point_lps=tuple(mirror @ np.asarray(m.nerve_point_lps)),
            vessel_point_lps=tuple(mirror @ np.asarray(m.vessel_point_lps)),
        )
        for m in measurements()
    ]
    line = nerve_centreline() @ mirror
    return flip(t2), flip(tof), flip(lab), sts, ms, line


def test_3d_key_image_shows_nerve_heat_map_and_offending_vessel_by_colour():
    from nvcview.scene import gap_colors

    t2, tof, lab = images(build_labels())
    keys = render_key_images(
        t2,
        measurements(),
        tof=tof,
        labels=lab,
        structures=structures(),
        centreline=nerve_centreline(),
        side="left",
    )
    k = _scene_image(keys)
    assert k.key == "scene-3d" and k.vessel_label == 3
    assert "retrosigmoid" in k.caption and "left" in k.caption and "mm" in k.caption
    rgb = _png_array(k.png)
    assert rgb.shape[:2] == (k.height_px, k.width_px)
    panel = rgb[:, : int(0.74 * rgb.shape[1])]
    assert panel.std() > 0.1, "blank 3D image"
    aica = _shaded_like(panel, structures()[2].color)
    assert aica.sum() > 500, aica.sum()
    # the nerve: dark heat-map colour at the contact, yellow far from every vessel
    near = _shaded_like(panel, gap_colors(np.array([0.2]))[0], tol=0.08)
    far = _shaded_like(panel, gap_colors(np.array([3.0]))[0])
    assert near.sum() > 30, near.sum()
    assert far.sum() > 300, far.sum()
    # the contact is where the AICA touches the nerve: the dark part lies next to the AICA
    rows, cols = np.nonzero(near)
    arows, acols = np.nonzero(aica)
    assert acols.min() - 5 <= np.median(cols) <= acols.max() + 5
    names = [n for n, _ in k.legend]
    assert any("left AICA" == n for n in names) and any("gap" in n for n in names)


def test_3d_key_image_of_a_right_case_is_the_mirror_of_the_left_case():
    t2, tof, lab = images(build_labels())
    left = render_key_images(
        t2, measurements(), tof=tof, labels=lab, structures=structures(), side="left"
    )
    rt2, rtof, rlab, sts, ms, _ = _mirrored_case()
    right = render_key_images(rt2, ms, tof=rtof, labels=rlab, structures=sts, side="right")
    a, b = _png_array(_scene_image(left).png), _png_array(_scene_image(right).png)
    assert "right" in _scene_image(right).caption
    w = int(0.74 * a.shape[1])
    pa, pb = a[:, :w], b[:, :w]
    same = np.abs(pa - pb).mean()
    mirrored = np.abs(pa[:, ::-1] - pb).mean()
    assert same > 0.02, "left and right cases rendered the same image"
    assert mirrored < 0.5 * same, (mirrored, same)
