"""Headless rendering of a 3D scene: a numpy z-buffer rasteriser and the REZ key image.

Why a rasteriser of our own: the report must render on servers and in CI with no
display and no GPU. Tried on the project machine: VTK's PyPI wheel (9.7) renders
off-screen through EGL with Mesa present, but it is a 140 MB dependency, its
import plus first render took 2.3-3.6 s (over the 2 s budget on its own), it needs
Mesa's EGL (or OSMesa, not installed) on every server, and falls back to X with a
warning otherwise; vispy/napari need an OpenGL context (Xvfb). A vectorised
z-buffer rasteriser in numpy has no system dependency, is deterministic
(pixel-exact tests), and renders the sample case in a fraction of a second.
matplotlib (already a dependency, Agg backend) adds the legend, the text and the
closest-point line.

Projection is orthographic (a surgical view of a few centimetres needs no
perspective). Shading: Gouraud, a head light plus a key light from the upper left,
back faces culled (the surfaces are closed), silhouettes darkened, 2x2
supersampling. Coordinates in, patient LPS mm; the view comes from
:mod:`nvcview.scene.views`.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nvcview import __version__
from nvcview.fsutil import atomic_write_bytes
from nvcview.scene.surfaces import GAP_COLORMAP, PAIR_COLOR, Scene, StructureSurface
from nvcview.scene.views import View, view

BACKGROUND = (0.06, 0.06, 0.08)
#: largest number of candidate pixels processed at once (memory bound)
_CHUNK = 2_000_000


@dataclass
class Raster:
    """A rendered scene.

    Attributes
    ----------
    rgb : numpy.ndarray
        (H, W, 3) float 0-1 colours.
    ids : numpy.ndarray
        (H, W) label of the structure seen at each pixel (0: background).
    view : View
        The camera preset.
    centre_lps : numpy.ndarray
        (3,) LPS mm point at the image centre.
    mm_per_pixel : float
        Pixel size, mm.
    """

    rgb: np.ndarray
    ids: np.ndarray
    view: View
    centre_lps: np.ndarray
    mm_per_pixel: float

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) LPS mm -> (N, 2) pixel coordinates (x to the right, y down)."""
        p = np.atleast_2d(np.asarray(xyz, dtype=np.float64)) - self.centre_lps
        h, w = self.ids.shape
        x = p @ self.view.right / self.mm_per_pixel + w / 2
        y = h / 2 - p @ self.view.up / self.mm_per_pixel
        return np.stack([x, y], axis=1)


def shading_normals(faces: np.ndarray, normals: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Vertex normals averaged over their 1-ring ``rounds`` times (shading only).

    Marching-cubes terraces on nearly flat surfaces show up in the lighting; the
    vertices (the measured surface) are left where they are.
    """
    from scipy import sparse

    n_v = len(normals)
    i = faces[:, [0, 1, 2, 1, 2, 0]].ravel()
    j = faces[:, [1, 2, 0, 0, 1, 2]].ravel()
    adj = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n_v, n_v)).tocsr()
    out = np.asarray(normals, dtype=np.float64)
    for _ in range(rounds):
        out = adj @ out + out
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
    return out


def _shade(surf: StructureSurface, v: View, gap_range_mm: float) -> np.ndarray:
    """(N, 3) shaded vertex colours: ambient + head light + key light + a little specular."""
    n = shading_normals(surf.faces, surf.normals)
    head = -v.sight
    key = -v.sight + 0.6 * v.up - 0.5 * v.right
    key /= np.linalg.norm(key)
    d_head = np.clip(n @ head, 0.0, 1.0)
    d_key = np.clip(n @ key, 0.0, 1.0)
    spec = d_head**24
    light = 0.28 + 0.5 * d_head + 0.3 * d_key
    col = surf.vertex_colors(gap_range_mm) * light[:, None] + 0.25 * spec[:, None]
    return np.clip(col, 0.0, 1.0)


def rasterise(
    scene: Scene,
    v: View,
    centre_lps: np.ndarray,
    width_mm: float,
    size: tuple[int, int] = (800, 600),
    *,
    supersample: int = 2,
    near_clip_mm: float | None = None,
    labels: Sequence[int] | None = None,
) -> Raster:
    """Render the scene's surfaces with a z-buffer (no display, no GPU).

    Parameters
    ----------
    scene : Scene
        Surfaces in LPS mm.
    v : View
        Camera preset (:func:`nvcview.scene.views.view`).
    centre_lps : numpy.ndarray
        (3,) LPS mm point shown at the image centre.
    width_mm : float
        Width of the field of view, mm (orthographic).
    size : (int, int)
        Output (width, height) in pixels.
    supersample : int
        Anti-aliasing factor per axis.
    near_clip_mm : float, optional
        Drop triangles more than this far in front of the centre (towards the camera).
    labels : sequence of int, optional
        Render only these structures.

    Returns
    -------
    Raster
        Colours, structure ids, and the projection used.
    """
    w_out, h_out = int(size[0]), int(size[1])
    ss = max(1, int(supersample))
    w, h = w_out * ss, h_out * ss
    centre = np.asarray(centre_lps, dtype=np.float64)
    scale = w / float(width_mm)  # pixels per mm
    right, up, sight = v.right, v.up, v.sight
    zbuf = np.full(w * h, np.inf)
    rgb = np.tile(np.asarray(BACKGROUND, dtype=np.float32), (w * h, 1))
    ids = np.zeros(w * h, dtype=np.int32)
    # one triangle soup of every surface shown: vertices, shaded colours, face labels
    all_px, all_py, all_pz, all_col, all_f, all_lab = [], [], [], [], [], []
    offset = 0
    for surf in scene.surfaces:
        if labels is not None and surf.label not in labels:
            continue
        rel = surf.verts - centre
        pz = rel @ sight
        f = surf.faces
        front = surf.normals[f].mean(axis=1) @ sight < 0.0
        if near_clip_mm is not None:
            front &= pz[f].min(axis=1) > -float(near_clip_mm)
        f = f[front]
        if len(f) == 0:
            continue
        all_px.append(rel @ right * scale + w / 2)
        all_py.append(h / 2 - rel @ up * scale)
        all_pz.append(pz)
        all_col.append(_shade(surf, v, scene.gap_range_mm))
        all_f.append(f + offset)
        all_lab.append(np.full(len(f), surf.label, dtype=np.int32))
        offset += len(surf.verts)
    if all_f:
        px, py, pz = np.concatenate(all_px), np.concatenate(all_py), np.concatenate(all_pz)
        shaded, f = np.concatenate(all_col).astype(np.float32), np.concatenate(all_f)
        face_label = np.concatenate(all_lab)
        fx, fy = px[f].astype(np.float32), py[f].astype(np.float32)
        ix0 = np.ceil(fx.min(axis=1) - 0.5).astype(np.int64)
        ix1 = np.floor(fx.max(axis=1) - 0.5).astype(np.int64)
        iy0 = np.ceil(fy.min(axis=1) - 0.5).astype(np.int64)
        iy1 = np.floor(fy.max(axis=1) - 0.5).astype(np.int64)
        ix0, iy0 = np.maximum(ix0, 0), np.maximum(iy0, 0)
        ix1, iy1 = np.minimum(ix1, w - 1), np.minimum(iy1, h - 1)
        keep = (ix1 >= ix0) & (iy1 >= iy0)
        kx = np.ceil(np.log2(np.maximum(ix1 - ix0 + 1, 1))).astype(int)
        ky = np.ceil(np.log2(np.maximum(iy1 - iy0 + 1, 1))).astype(int)
        bucket = np.where(keep, kx * 64 + ky, -1)
        for b in np.unique(bucket[bucket >= 0]):
            bx, by = 1 << int(b // 64), 1 << int(b % 64)
            sel = np.nonzero(bucket == b)[0]
            oy, ox = np.divmod(np.arange(bx * by), bx)
            step = max(1, _CHUNK // (bx * by))
            for c0 in range(0, len(sel), step):
                t = sel[c0 : c0 + step]
                _raster_chunk(
                    t,
                    f,
                    fx,
                    fy,
                    pz,
                    shaded,
                    ix0,
                    iy0,
                    ix1,
                    iy1,
                    ox,
                    oy,
                    w,
                    zbuf,
                    rgb,
                    ids,
                    face_label,
                )
    img = rgb.reshape(h, w, 3)
    idimg = ids.reshape(h, w)
    depth = zbuf.reshape(h, w)
    img = np.clip(_outline(img, idimg, depth, 1.0), 0.0, 1.0)
    if ss > 1:
        img = img.reshape(h_out, ss, w_out, ss, 3).mean(axis=(1, 3))
        idimg = idimg[ss // 2 :: ss, ss // 2 :: ss]
    return Raster(img, idimg, v, centre, float(width_mm) / w_out)


def _raster_chunk(
    t: np.ndarray,
    f: np.ndarray,
    fx: np.ndarray,
    fy: np.ndarray,
    pz: np.ndarray,
    shaded: np.ndarray,
    ix0: np.ndarray,
    iy0: np.ndarray,
    ix1: np.ndarray,
    iy1: np.ndarray,
    ox: np.ndarray,
    oy: np.ndarray,
    w: int,
    zbuf: np.ndarray,
    rgb: np.ndarray,
    ids: np.ndarray,
    face_label: np.ndarray,
) -> None:
    """Rasterise triangles ``t`` (pixel bounding boxes within k x k) into the buffers."""
    ix = ix0[t, None] + ox[None, :]
    iy = iy0[t, None] + oy[None, :]
    ok = (ix <= ix1[t, None]) & (iy <= iy1[t, None])
    x, y = ix.astype(np.float32) + 0.5, iy.astype(np.float32) + 0.5
    x0, x1, x2 = (fx[t, i, None] for i in range(3))
    y0, y1, y2 = (fy[t, i, None] for i in range(3))
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    area = np.where(np.abs(area) < 1e-12, np.nan, area)
    b0 = ((x1 - x) * (y2 - y) - (x2 - x) * (y1 - y)) / area
    b1 = ((x2 - x) * (y0 - y) - (x0 - x) * (y2 - y)) / area
    b2 = 1.0 - b0 - b1
    eps = -1e-6
    ok &= (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
    if not ok.any():
        return
    rows, cols = np.nonzero(ok)
    tri = f[t[rows]]
    bb = np.stack([b0[rows, cols], b1[rows, cols], b2[rows, cols]], axis=1)
    z = np.einsum("ij,ij->i", bb, pz[tri])
    pix = iy[rows, cols] * w + ix[rows, cols]
    np.minimum.at(zbuf, pix, z)
    win = z <= zbuf[pix]
    pix, bb, tri = pix[win], bb[win], tri[win]
    rgb[pix] = np.einsum("ij,ijk->ik", bb, shaded[tri])
    ids[pix] = face_label[t[rows[win]]]


def _outline(img: np.ndarray, ids: np.ndarray, depth: np.ndarray, jump_mm: float) -> np.ndarray:
    """Darken silhouettes: where the structure changes or the depth jumps."""
    edge = np.zeros(ids.shape, dtype=bool)
    d = np.where(np.isfinite(depth), depth, 1e6)
    for axis in (0, 1):
        a = np.diff(ids, axis=axis) != 0
        a |= np.abs(np.diff(d, axis=axis)) > max(jump_mm, 0.5)
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, 1)
        edge |= np.pad(a, pad)
    out = img.copy()
    out[edge & (ids != 0)] *= 0.35
    return out


def rasterise_ghosted(
    scene: Scene,
    v: View,
    centre_lps: np.ndarray,
    width_mm: float,
    size: tuple[int, int],
    keep: Sequence[int],
    *,
    near_clip_mm: float | None = None,
    alpha: float = 0.4,
) -> Raster:
    """Render the scene with the structures ``keep`` seen through everything else.

    Where another structure hides one of ``keep`` (e.g. CN VIII in front of the
    facial nerve seen from the retrosigmoid approach), the occluder is drawn
    translucent (``alpha``) over the hidden structure; ``ids`` report the hidden one.
    """
    full = rasterise(scene, v, centre_lps, width_mm, size, near_clip_mm=near_clip_mm)
    front = rasterise(scene, v, centre_lps, width_mm, size, near_clip_mm=near_clip_mm, labels=keep)
    keep_arr = np.asarray(list(keep))
    hidden = np.isin(front.ids, keep_arr) & ~np.isin(full.ids, keep_arr)
    rgb = full.rgb.copy()
    rgb[hidden] = alpha * full.rgb[hidden] + (1 - alpha) * front.rgb[hidden]
    ids = full.ids.copy()
    ids[hidden] = front.ids[hidden]
    return Raster(rgb, ids, v, full.centre_lps, full.mm_per_pixel)


def key_image(
    scene: Scene,
    view_name: str = "retrosigmoid",
    side: str | None = None,
    *,
    size: tuple[int, int] = (900, 700),
    width_mm: float = 36.0,
    centre_lps: np.ndarray | None = None,
    near_clip_mm: float | None = 25.0,
) -> np.ndarray:
    """The 3D key image of the REZ: surfaces, closest-point line, colour legend.

    Parameters
    ----------
    scene : Scene
        Surfaces (LPS mm), pairs and side (:func:`nvcview.scene.build_scene`).
    view_name : str
        Camera preset, default the retrosigmoid approach of the side of symptoms.
    side : str, optional
        "left"/"right"; defaults to ``scene.side``.
    size : (int, int)
        Output (width, height) in pixels.
    width_mm : float
        Field of view of the 3D panel, mm.
    centre_lps : numpy.ndarray, optional
        Image centre, LPS mm; defaults to the offending contact (or the REZ).
    near_clip_mm : float, optional
        Structures more than this far in front of the centre are left out.

    Returns
    -------
    numpy.ndarray
        (H, W, 3) uint8 RGB image (no display or GPU needed).
    """
    from matplotlib import colormaps
    from matplotlib import patheffects as pe
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    side = side or scene.side
    v = view(view_name, side)
    centre = scene.focus_lps() if centre_lps is None else np.asarray(centre_lps, float)
    w_px, h_px = int(size[0]), int(size[1])
    panel_w = int(w_px * 0.74)
    best = scene.offending_pair()
    nerve = scene.nerve
    keep = [x.label for x in (nerve,) if x is not None] + (
        [best.vessel_label] if best is not None else []
    )
    ras = rasterise_ghosted(
        scene, v, centre, width_mm, (panel_w, h_px), keep, near_clip_mm=near_clip_mm
    )
    dpi = 100
    fig = Figure(figsize=(w_px / dpi, h_px / dpi), dpi=dpi, facecolor="black")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, panel_w / w_px, 1.0))
    ax.imshow(ras.rgb, interpolation="nearest")
    ax.set_xlim(0, panel_w)
    ax.set_ylim(h_px, 0)
    ax.set_axis_off()
    halo = [pe.withStroke(linewidth=3, foreground="black")]
    for p in scene.shown_pairs():
        xy = ras.project(np.stack([p.nerve_point_lps, p.vessel_point_lps]))
        lw = 3.0 if p is best else 1.8
        ax.plot(xy[:, 0], xy[:, 1], "-", color=PAIR_COLOR, lw=lw, path_effects=halo)
        ax.plot(xy[:, 0], xy[:, 1], "o", color=PAIR_COLOR, ms=5, mec="black", mew=1)
        ax.annotate(
            f"{p.vessel_name}: {p.gap_mm:.2f} mm",
            xy[1],
            xytext=(12, -12),
            textcoords="offset points",
            color="white",
            fontsize=9,
            path_effects=halo,
        )
    letters = v.edge_letters()
    txt: dict[str, Any] = {"color": "white", "fontsize": 13, "weight": "bold", "path_effects": halo}
    ax.text(panel_w - 8, h_px / 2, letters["right"], ha="right", va="center", **txt)
    ax.text(8, h_px / 2, letters["left"], ha="left", va="center", **txt)
    ax.text(panel_w / 2, 8, letters["top"], ha="center", va="top", **txt)
    ax.text(panel_w / 2, h_px - 8, letters["bottom"], ha="center", va="bottom", **txt)
    _triad(ax, v, (60, h_px - 60), 38, halo)
    bar_mm = 5.0
    bx0, by = panel_w - 30 - bar_mm / ras.mm_per_pixel, h_px - 30
    ax.plot([bx0, panel_w - 30], [by, by], "-", color="white", lw=3, path_effects=halo)
    ax.text((bx0 + panel_w - 30) / 2, by - 8, f"{bar_mm:.0f} mm", ha="center", **txt)
    # right-hand panel: title, structure legend, gap colour bar
    fig.text(
        panel_w / w_px + 0.01,
        0.97,
        "3D view of the REZ\n" + textwrap.fill(v.description, 34),
        color="white",
        fontsize=9,
        va="top",
    )
    handles = [
        Patch(
            color=s.color,
            label=textwrap.fill(s.name if s.gap_mm is None else f"{s.name} (gap map)", 30),
        )
        for s in scene.surfaces
    ]
    leg = fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(panel_w / w_px + 0.005, 0.82),
        fontsize=7.5,
        frameon=False,
        labelcolor="white",
        handlelength=1.2,
    )
    leg.set_in_layout(False)
    cax = fig.add_axes((panel_w / w_px + 0.05, 0.08, 0.035, 0.34))
    sm = ScalarMappable(Normalize(0.0, scene.gap_range_mm), colormaps[GAP_COLORMAP])
    cb = fig.colorbar(sm, cax=cax)
    cb.set_label("facial nerve: gap to nearest vessel (mm)", color="white", fontsize=8)
    ticks = np.linspace(0.0, scene.gap_range_mm, 4)
    cb.set_ticks([float(t) for t in ticks])
    cb.set_ticklabels([f"{t:.0f}" for t in ticks[:-1]] + [f">={ticks[-1]:.0f}"])
    cb.ax.tick_params(colors="white", labelsize=8)
    fig.text(
        0.995,
        0.005,
        f"nvcview {__version__}: surfaces as measured; supports, not replaces, "
        "the surgeon's judgement",
        color="0.6",
        fontsize=6,
        ha="right",
        va="bottom",
    )
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    return np.ascontiguousarray(buf[..., :3])


def _triad(ax, v: View, origin: tuple[float, float], length: float, halo: list) -> None:
    """Orientation arrows L, P, S projected on the screen."""
    colours = {"L": "#ff5555", "P": "#55ff55", "S": "#5599ff"}
    for name, vec in (("L", (1, 0, 0)), ("P", (0, 1, 0)), ("S", (0, 0, 1))):
        e = np.asarray(vec, dtype=np.float64)
        dx, dy = float(e @ v.right), -float(e @ v.up)
        if np.hypot(dx, dy) < 0.15:
            ax.plot(*origin, "o", color=colours[name], ms=5)
            ax.text(origin[0] + 6, origin[1] - 6, name, color=colours[name], fontsize=9)
            continue
        x1, y1 = origin[0] + dx * length, origin[1] + dy * length
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=origin,
            arrowprops={"arrowstyle": "-|>", "color": colours[name], "lw": 2},
        )
        ax.text(
            origin[0] + dx * length * 1.3,
            origin[1] + dy * length * 1.3,
            name,
            color=colours[name],
            fontsize=10,
            weight="bold",
            ha="center",
            va="center",
            path_effects=halo,
        )


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of an (H, W, 3) uint8 image (matplotlib's writer, no display)."""
    from matplotlib import image as mpimg

    out = io.BytesIO()
    mpimg.imsave(
        out,
        np.asarray(rgb, dtype=np.uint8),
        format="png",
        metadata={"Software": f"nvcview {__version__}"},
    )
    return out.getvalue()


def write_key_image(scene: Scene, path: str | os.PathLike, **kwargs: object) -> Path:
    """Render :func:`key_image` and write it as PNG (atomic). Returns the path."""
    data = png_bytes(key_image(scene, **kwargs))  # type: ignore[arg-type]
    path = Path(path)
    atomic_write_bytes(path, data)
    return path
