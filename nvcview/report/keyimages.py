"""Key images rendered without a viewer: matplotlib (Agg) to PNG.

For each contact: an axial and a coronal slice through the midpoint of the
closest-point pair and an oblique reformat in the plane holding the nerve's axis
and the closest-point pair (so the contact is in the image), T2 in grey with TOF
fused in green, structure outlines in the fixed colours of
:mod:`nvcview.structures`, a colour legend, the gap as a white line with its
value, orientation labels and a scale bar; captions name the T2 series and
image number (PACS). Plus a straightened reformat along the facial nerve
centreline (brainstem on the left, IAC on the right). The images made are the
slots :data:`VESSEL_SLOTS` (per vessel) and :data:`CASE_SLOTS` (per side).

Every image is sampled in world space: the plane is a grid of patient LPS
points, and each series (T2, TOF, labels) is resampled onto it through its own
affine, so series of different grids fuse correctly.

Display convention is radiological: in axial and coronal images the patient's
right is on the screen's left (screen x grows toward patient Left, +x in LPS);
anterior is up in axial images, superior is up in coronal images.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import ndimage

from nvcview import __version__
from nvcview.io.image import Image, lps_to_index
from nvcview.report.content import KeyImage
from nvcview.structures import TOF_OVERLAY_COLOR, TOF_OVERLAY_NAME, Structure

#: Screen axes of the standard planes: (right-on-screen, down-on-screen) in LPS.
PLANES = {
    # radiological: screen right = patient Left (+x); screen down = Posterior (+y)
    "axial": (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])),
    # screen right = patient Left (+x); screen down = Inferior (-z)
    "coronal": (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])),
}
#: Letters at (left, right, top, bottom) screen edges.
LETTERS = {"axial": ("R", "L", "A", "P"), "coronal": ("R", "L", "S", "I")}

#: TOF signal is fused in the one overlay colour of nvcview.structures (as in the
#: viewer); no structure colour is near it, so the angiogram is never taken for an outline.
TOF_COLOR = np.array(TOF_OVERLAY_COLOR)
TOF_LEGEND = f"TOF signal ({TOF_OVERLAY_NAME})"
#: The gap line between the closest-point pair: white with a dark halo.
GAP_COLOR = "#ffffff"
GAP_LEGEND = "closest points / gap"
#: Contact markers in the straightened reformat.
CONTACT_COLOR = "#ffffff"
PNG_METADATA = {"Software": f"nvcview {__version__}"}
#: Dark halo so white marks stay readable on bright CSF.
HALO = [patheffects.withStroke(linewidth=4, foreground="black")]


@dataclass
class Intensity:
    """Display window of a series (low, high) in stored values."""

    low: float
    high: float

    @classmethod
    def of(cls, array: np.ndarray, lo_pct: float, hi_pct: float) -> Intensity:
        a = np.asarray(array, dtype=np.float32)
        step = max(1, a.size // 400_000)
        sample = a.reshape(-1)[::step]
        low, high = np.percentile(sample, [lo_pct, hi_pct])
        if high <= low:
            high = low + 1.0
        return cls(float(low), float(high))

    def scale(self, values: np.ndarray) -> np.ndarray:
        return np.clip((values - self.low) / (self.high - self.low), 0.0, 1.0)


def _index_points(image: Image, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(image.array)
    if arr.ndim != 3:
        arr = arr.reshape(arr.shape[:3])
    pts = np.asarray(points, dtype=np.float64)
    return arr, lps_to_index(image.affine, pts.reshape(-1, 3)).T


def _crop(arr: np.ndarray, idx: np.ndarray, margin: int = 2):
    """The part of ``arr`` the fractional indices ``idx`` (3, N) touch, and its offset."""
    shape = np.array(arr.shape)
    lo = np.clip(np.floor(idx.min(axis=1)).astype(int) - margin, 0, shape)
    hi = np.clip(np.ceil(idx.max(axis=1)).astype(int) + margin + 1, 0, shape)
    if np.any(hi <= lo):
        return None, lo
    return arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], lo


def _outside(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    shape = np.array(arr.shape)[:, None]
    return np.any((idx < -0.5) | (idx > shape - 0.5), axis=0)


def sample_world(image: Image, points: np.ndarray, order: int = 1) -> np.ndarray:
    """Sample an image at (..., 3) LPS mm points; outside the volume gives NaN.

    Only the part of the volume the points touch is read, so large volumes
    cost little.

    Parameters
    ----------
    image : Image
        Any image with an index -> LPS affine.
    points : ndarray, shape (..., 3)
        Patient LPS mm.
    order : int
        Interpolation order (0 for label maps).
    """
    out_shape = np.asarray(points).shape[:-1]
    arr, idx = _index_points(image, points)
    sub, lo = _crop(arr, idx)
    if sub is None:
        return np.full(out_shape, np.nan, dtype=np.float32)
    values = ndimage.map_coordinates(
        sub.astype(np.float32) if order else sub,
        idx - lo[:, None],
        order=order,
        mode="nearest",
    ).astype(np.float32)
    values[_outside(arr, idx)] = np.nan
    return values.reshape(out_shape)


def structure_fractions(
    labels: Image, points: np.ndarray, structures: Sequence[Structure]
) -> dict[int, np.ndarray]:
    """Per structure, its mask linearly interpolated at (..., 3) LPS points (0..1).

    Contouring these at 0.5 gives outlines that follow the label map's voxel
    surfaces smoothly instead of nearest-neighbour staircases.
    """
    out_shape = np.asarray(points).shape[:-1]
    arr, idx = _index_points(labels, points)
    sub, lo = _crop(arr, idx)
    if sub is None:
        return {}
    outside = _outside(arr, idx)
    present = set(np.unique(sub).tolist())
    fractions = {}
    for st in structures:
        if st.label not in present:
            continue
        f = ndimage.map_coordinates(
            (sub == st.label).astype(np.float32), idx - lo[:, None], order=1, mode="nearest"
        )
        f[outside] = 0.0
        fractions[st.label] = f.reshape(out_shape)
    return fractions


def plane_points(
    center: np.ndarray, u: np.ndarray, v: np.ndarray, half_width_mm: float, pixel_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """LPS points of a square plane grid; returns (points (H, W, 3), screen coords (W,))."""
    n = int(round(2 * half_width_mm / pixel_mm)) + 1
    s = np.linspace(-half_width_mm, half_width_mm, n)
    pts = center[None, None, :] + s[None, :, None] * u + s[:, None, None] * v
    return pts, s


def fuse(t2: np.ndarray, tof: np.ndarray | None, t2_win: Intensity, tof_win: Intensity | None):
    """Grey T2 with the bright TOF signal blended in :data:`TOF_COLOR`; NaN (outside) is black."""
    grey = t2_win.scale(np.nan_to_num(t2, nan=t2_win.low))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if tof is not None and tof_win is not None:
        alpha = 0.75 * tof_win.scale(np.nan_to_num(tof, nan=tof_win.low))[..., None]
        rgb = rgb * (1 - alpha) + TOF_COLOR * alpha
    rgb[np.isnan(t2)] = 0.0
    return rgb


def _draw_outlines(ax, fractions: dict[int, np.ndarray], xs, ys, structures) -> list[int]:
    """Contour each structure at 0.5; returns the labels drawn."""
    by_label = {st.label: st for st in structures}
    drawn = []
    for label, f in fractions.items():
        if f.max() > 0.5 and f.min() < 0.5:
            ax.contour(xs, ys, f, levels=[0.5], colors=[by_label[label].color], linewidths=1.2)
            drawn.append(label)
    return drawn


def legend_entries(
    drawn: Sequence[int], structures: Sequence[Structure], tof: bool, gap: bool
) -> list[tuple[str, str]]:
    """(name, "#rrggbb") of what an image shows, in the structures' order."""
    out = [(st.name, _hex(st.color)) for st in structures if st.label in set(drawn)]
    if tof:
        out.append((TOF_LEGEND, _hex(TOF_COLOR)))
    if gap:
        out.append((GAP_LEGEND, GAP_COLOR))
    return out


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(255 * float(c)):02x}" for c in rgb)


def _draw_legend(fig: Figure, entries: Sequence[tuple[str, str]], fontsize: float = 7.5) -> None:
    """A colour legend in the lower-left corner of the figure."""
    if not entries:
        return
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, edgecolor="black", label=n) for n, c in entries]
    leg = fig.legend(
        handles=handles,
        loc="lower left",
        fontsize=fontsize,
        framealpha=0.75,
        facecolor="black",
        edgecolor="none",
        labelcolor="white",
        handlelength=1.0,
        borderaxespad=0.3,
    )
    leg.set_zorder(10)


def _text(ax, x, y, s, **kw):
    style = dict(color="white", fontsize=9, fontweight="bold")
    style.update(kw)
    return ax.text(x, y, s, bbox=dict(facecolor="black", alpha=0.55, pad=1.5, lw=0), **style)


def _edge_size(text: str) -> float:
    return 13 if len(text) <= 2 else 8


def _scale_bar(ax, x_right: float, y_bottom: float, width: float):
    bar = 10.0 if width >= 40 else 5.0 if width >= 15 else 2.0
    x0 = x_right - 0.05 * width - bar
    y0 = y_bottom - 0.06 * width
    ax.plot([x0, x0 + bar], [y0, y0], color="white", lw=3, solid_capstyle="butt", path_effects=HALO)
    ax.text(
        x0 + bar / 2,
        y0 - 0.015 * width,
        f"{bar:g} mm",
        color="white",
        path_effects=HALO,
        fontsize=8,
        ha="center",
        va="bottom",
    )


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf, metadata=PNG_METADATA)
    return buf.getvalue()


def _to_px(fig: Figure, ax, x: float, y: float) -> list[float]:
    """Data coordinates -> PNG pixel (column, row), row 0 at the top."""
    fig.canvas.draw()
    dx, dy = ax.transData.transform((x, y))
    height = fig.get_size_inches()[1] * fig.dpi
    return [float(dx), float(height - dy)]


def render_slice(
    plane: str,
    t2: Image,
    *,
    center: np.ndarray,
    tof: Image | None = None,
    labels: Image | None = None,
    structures: Sequence[Structure] = (),
    points: dict[str, np.ndarray] | None = None,
    gap_mm: float | None = None,
    title: str = "",
    half_width_mm: float = 15.0,
    pixel_mm: float | None = None,
    size_px: int = 420,
    windows: tuple[Intensity, Intensity | None] | None = None,
    axes: tuple[np.ndarray, np.ndarray] | None = None,
    letters: tuple[str, str, str, str] | None = None,
    legend: list[tuple[str, str]] | None = None,
) -> tuple[bytes, dict[str, list[float]]]:
    """Render one axial, coronal or oblique slice through ``center`` (LPS mm) to PNG.

    Parameters
    ----------
    plane : {"axial", "coronal"}
        Slice orientation (radiological: patient right on screen left).
    t2, tof, labels : Image
        Background, fused angiography and label map (any grids, same frame of
        reference); resampled onto the slice in world space.
    center : (3,) array
        Slice centre in patient LPS mm.
    points : dict, optional
        ``{"nerve_point": xyz, "vessel_point": xyz}`` (LPS mm): drawn as the gap
        line (projected onto the slice) labelled with ``gap_mm``.
    half_width_mm : float
        Half the field of view (mm).
    pixel_mm : float, optional
        Sampling step; by default a third of the smallest T2 voxel size, at most 0.2 mm.
    axes : (u, v), optional
        Unit LPS directions of screen right and screen down for an oblique plane
        (``plane`` is then only a name); default :data:`PLANES`.
    letters : (left, right, top, bottom), optional
        Edge labels; default :data:`LETTERS`.
    legend : list, optional
        Filled with the (name, colour) legend entries drawn in the image.

    Returns
    -------
    png : bytes
    points_px : dict
        Name -> [column, row] in the PNG of each given point (projected).
    """
    u, v = axes if axes is not None else PLANES[plane]
    center = np.asarray(center, dtype=np.float64)
    if pixel_mm is None:
        pixel_mm = min(0.2, min(t2.spacing_mm) / 3)
    pts, s = plane_points(center, u, v, half_width_mm, pixel_mm)
    if windows is None:
        windows = (
            Intensity.of(t2.array, 1, 99.5),
            Intensity.of(tof.array, 90, 99.9) if tof is not None else None,
        )
    rgb = fuse(sample_world(t2, pts), sample_world(tof, pts) if tof is not None else None, *windows)
    dpi = 100
    fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    h = half_width_mm
    ax.imshow(
        rgb,
        extent=(-h - pixel_mm / 2, h + pixel_mm / 2, h + pixel_mm / 2, -h - pixel_mm / 2),
        interpolation="bilinear",
    )
    drawn: list[int] = []
    if labels is not None and structures:
        drawn = _draw_outlines(ax, structure_fractions(labels, pts, structures), s, s, structures)
    points_px = {}
    projected = {}
    for name, p in (points or {}).items():
        d = np.asarray(p, dtype=np.float64) - center
        projected[name] = (float(d @ u), float(d @ v))
    if "nerve_point" in projected and "vessel_point" in projected:
        (x0, y0), (x1, y1) = projected["nerve_point"], projected["vessel_point"]
        ax.plot([x0, x1], [y0, y1], color=GAP_COLOR, lw=1.6, path_effects=HALO)
        ax.plot([x0, x1], [y0, y1], "o", ms=4.5, mfc=GAP_COLOR, mec="black", mew=0.8)
        if gap_mm is not None:
            _text(
                ax,
                max(x0, x1) + 0.04 * h,
                min(y0, y1) - 0.04 * h,
                f"gap {gap_mm:.1f} mm",
                color=GAP_COLOR,
                fontsize=10,
            )
    ax.set_xlim(-h, h)
    ax.set_ylim(h, -h)
    left, right, top, bottom = letters or LETTERS.get(plane, ("", "", "", ""))
    _text(ax, -h * 0.96, 0, left, ha="left", va="center", fontsize=_edge_size(left))
    _text(ax, h * 0.96, 0, right, ha="right", va="center", fontsize=_edge_size(right))
    # long (oblique-plane) labels sit below the title line
    top_y = -h * (0.96 if len(top) <= 2 else 0.84)
    _text(ax, 0, top_y, top, ha="center", va="top", fontsize=_edge_size(top))
    _text(ax, 0, h * 0.96, bottom, ha="center", va="bottom", fontsize=_edge_size(bottom))
    if title:
        _text(ax, -h * 0.96, -h * 0.96, title, ha="left", va="top", fontsize=8, fontweight="normal")
    _scale_bar(ax, h, h, 2 * h)
    entries = legend_entries(
        drawn,
        structures,
        tof is not None,
        "nerve_point" in projected and "vessel_point" in projected,
    )
    _draw_legend(fig, entries)
    if legend is not None:
        legend[:] = entries
    for name, (x, y) in projected.items():
        points_px[name] = _to_px(fig, ax, x, y)
    return _png(fig), points_px


def _resample_polyline(path: np.ndarray, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    keep = np.concatenate([[True], seg > 1e-9])
    path, arc = path[keep], arc[keep]
    s = np.arange(0.0, arc[-1] + step_mm / 2, step_mm)
    out = np.stack([np.interp(s, arc, path[:, k]) for k in range(3)], axis=1)
    return out, s


def _frames(path: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit tangents and the component of ``up`` orthogonal to them, along a path."""
    t = np.gradient(path, axis=0)
    t = ndimage.gaussian_filter1d(t, sigma=3, axis=0, mode="nearest")
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    n = up[None, :] - (t @ up)[:, None] * t
    norms = np.linalg.norm(n, axis=1, keepdims=True)
    if np.any(norms < 1e-3):  # path runs along "up": fall back to another axis
        alt = np.array([0.0, -1.0, 0.0]) if abs(up[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        n = alt[None, :] - (t @ alt)[:, None] * t
        norms = np.linalg.norm(n, axis=1, keepdims=True)
    return t, n / norms


def render_nerve_reformat(
    t2: Image,
    centreline: np.ndarray,
    *,
    tof: Image | None = None,
    labels: Image | None = None,
    structures: Sequence[Structure] = (),
    landmarks: Mapping[str, Sequence[float]] | None = None,
    contacts: Sequence[tuple[str, np.ndarray]] = (),
    half_height_mm: float = 6.0,
    extend_mm: float = 3.0,
    pixel_mm: float = 0.15,
    windows: tuple[Intensity, Intensity | None] | None = None,
    ups: tuple[np.ndarray, np.ndarray] | None = None,
    panel_names: tuple[str, str] = ("superior up", "anterior up"),
    legend: list[tuple[str, str]] | None = None,
) -> tuple[bytes, dict[str, list[float]]]:
    """Straightened reformat along the nerve centreline, two views stacked.

    Each column is one point of the centreline (arc length grows to the right:
    brainstem on the left, IAC on the right); rows sample the plane through the
    centreline's tangent and a second direction: the patient's superior for the
    upper panel (superior up) and anterior for the lower panel (anterior up).

    Parameters
    ----------
    centreline : (N, 3) array
        Facial nerve centreline, RExP -> IAC, LPS mm.
    landmarks : dict, optional
        Name -> LPS mm (RExP, RDP, IAC), marked by arc length along the top.
    contacts : sequence of (label, xyz)
        Contact points (LPS mm) to mark, e.g. the nerve-side closest points.
    ups : (up1, up2), optional
        LPS directions shown upward in the two panels (default superior, anterior);
        give the direction from the nerve toward a contact so that the contact lies
        in the upper panel's plane.
    panel_names : (str, str)
        Labels of the two panels' up directions.
    legend : list, optional
        Filled with the (name, colour) legend entries drawn.

    Returns
    -------
    png : bytes
    points_px : dict
        Landmark and contact name -> [column, row] in the upper panel.
    """
    path = np.asarray(centreline, dtype=np.float64)
    if path.ndim != 2 or path.shape[0] < 2 or path.shape[1] != 3:
        raise ValueError(f"nerve centreline must be (N>=2, 3) LPS mm, got {path.shape}")
    t0 = path[1] - path[0]
    t1 = path[-1] - path[-2]
    path = np.vstack(
        [
            path[0] - extend_mm * t0 / np.linalg.norm(t0),
            path,
            path[-1] + extend_mm * t1 / np.linalg.norm(t1),
        ]
    )
    samples, arc = _resample_polyline(path, pixel_mm)
    arc = arc - extend_mm  # 0 at the first centreline point (RExP)
    offs = np.arange(-half_height_mm, half_height_mm + pixel_mm / 2, pixel_mm)
    if windows is None:
        windows = (
            Intensity.of(t2.array, 1, 99.5),
            Intensity.of(tof.array, 90, 99.9) if tof is not None else None,
        )
    panels = []
    if ups is None:
        ups = (np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0]))
    for up in ups:
        _, n = _frames(samples, up)
        # row r (top = +half_height) samples samples + offs * n
        grid = samples[None, :, :] + offs[::-1][:, None, None] * n[None, :, :]
        rgb = fuse(
            sample_world(t2, grid), sample_world(tof, grid) if tof is not None else None, *windows
        )
        lab = structure_fractions(labels, grid, structures) if labels is not None else None
        panels.append((rgb, lab, n))
    width_mm = arc[-1] - arc[0]
    height_mm = 2 * half_height_mm
    dpi = 100
    w_in = 8.0
    fig = Figure(
        figsize=(w_in, min(w_in, w_in * (2 * height_mm) / width_mm + 0.3)),
        dpi=dpi,
        facecolor="black",
    )
    points_px: dict[str, list[float]] = {}
    names = panel_names
    axes = []
    drawn: set[int] = set()
    for i, (rgb, lab, n) in enumerate(panels):
        bottom = 0.5 - 0.5 * i
        ax = fig.add_axes((0, bottom + 0.02, 1, 0.46))
        ax.set_axis_off()
        ext = (arc[0], arc[-1], -half_height_mm, half_height_mm)
        ax.imshow(rgb, extent=ext, aspect="auto", interpolation="bilinear")
        if lab is not None and structures:
            drawn |= set(_draw_outlines(ax, lab, arc, offs[::-1], structures))
        ax.set_xlim(arc[0], arc[-1])
        ax.set_ylim(-half_height_mm, half_height_mm)
        _text(
            ax,
            arc[0] + 0.3,
            half_height_mm * 0.9,
            f"brainstem  ({names[i]})",
            ha="left",
            va="top",
            fontsize=9,
        )
        _text(ax, arc[-1] - 0.3, half_height_mm * 0.9, "IAC", ha="right", va="top", fontsize=9)
        for name, p in (landmarks or {}).items():
            k = int(np.argmin(np.linalg.norm(samples - np.asarray(p), axis=1)))
            ax.axvline(arc[k], color="white", lw=0.8, ls="--", alpha=0.8)
            _text(ax, arc[k], -half_height_mm * 0.92, name, ha="center", va="bottom", fontsize=8)
            if i == 0:
                points_px[name] = _to_px(fig, ax, arc[k], 0.0)
        for name, point in contacts:
            xyz = np.asarray(point, dtype=np.float64)
            k = int(np.argmin(np.linalg.norm(samples - xyz, axis=1)))
            off = float((xyz - samples[k]) @ n[k])
            ax.plot([arc[k]], [off], marker="o", ms=9, mfc="none", mec=CONTACT_COLOR, mew=2)
            _text(
                ax,
                arc[k],
                off + 1.0,
                name,
                ha="center",
                va="bottom",
                color=CONTACT_COLOR,
                fontsize=8,
            )
            if i == 0:
                points_px[name] = _to_px(fig, ax, arc[k], off)
        axes.append(ax)
    # scale bar on the lower panel
    ax = axes[1]
    bar = 5.0
    x0 = arc[-1] - 1.0 - bar
    y0 = -half_height_mm * 0.75
    ax.plot([x0, x0 + bar], [y0, y0], color="white", lw=3, solid_capstyle="butt", path_effects=HALO)
    ax.text(
        x0 + bar / 2,
        y0 + 0.3,
        "5 mm",
        color="white",
        fontsize=8,
        ha="center",
        va="bottom",
        path_effects=HALO,
    )
    entries = legend_entries(sorted(drawn), structures, tof is not None, False)
    if contacts:
        entries.append(("contact point", CONTACT_COLOR))
    _draw_legend(fig, entries, fontsize=7)
    if legend is not None:
        legend[:] = entries
    return _png(fig), points_px


@dataclass
class SourceFrame:
    """One acquired image of the reference series, to name a shown slice on PACS."""

    series_number: int | None
    instance_number: int | None
    frame_number: int | None
    position: np.ndarray  # LPS mm of the first pixel
    normal: np.ndarray
    sop_instance_uid: str
    series_uid: str
    description: str


def source_frames(datasets: Sequence) -> list[SourceFrame]:
    """Frames of DICOM headers (single- or multi-frame) with their numbers and planes."""
    from nvcview.report.seg import frame_geometries

    out = []
    for ds in datasets:
        for g in frame_geometries(ds):
            sn, inum = ds.get("SeriesNumber"), ds.get("InstanceNumber")
            out.append(
                SourceFrame(
                    series_number=int(sn) if sn not in (None, "") else None,
                    instance_number=int(inum) if inum not in (None, "") else None,
                    frame_number=g.frame_number,
                    position=np.asarray(g.position, dtype=float),
                    normal=np.asarray(g.normal, dtype=float),
                    sop_instance_uid=str(ds.SOPInstanceUID),
                    series_uid=str(ds.get("SeriesInstanceUID", "")),
                    description=str(ds.get("SeriesDescription", "")),
                )
            )
    return out


def locate(
    frames: Sequence[SourceFrame], center: np.ndarray, normal: np.ndarray | None, role: str = "T2"
) -> tuple[str, dict | None]:
    """Where a shown plane is on PACS: the acquired image nearest its centre.

    Returns the sentence for the caption and a dict of the numbers (None without
    DICOM sources). A plane parallel to the acquired images is that image; any
    other plane is a reformat, named by the acquired image through its centre.
    """
    if not frames:
        return "", None
    c = np.asarray(center, dtype=float)
    best = min(frames, key=lambda f: abs(float(f.normal @ (c - f.position))))
    series = f"{role} series {best.series_number}" if best.series_number is not None else role
    if best.description:
        series += f" ({best.description})"
    image = f"image {best.instance_number}" if best.instance_number is not None else "image ?"
    if best.frame_number is not None:
        image += f" frame {best.frame_number}"
    parallel = normal is not None and abs(float(np.asarray(normal) @ best.normal)) > 0.995
    if parallel:
        text = f"On PACS: {series}, {image}"
    else:
        text = f"On PACS: reformatted from {series}; the contact is on {image}"
    info = {
        "series_number": best.series_number,
        "instance_number": best.instance_number,
        "frame_number": best.frame_number,
        "sop_instance_uid": best.sop_instance_uid,
        "series_uid": best.series_uid,
        "in_plane": bool(parallel),
    }
    return text, info


def _tangent_at(centreline: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit tangent of the centreline (toward its end, the IAC) nearest a point, and
    that nearest centreline point (LPS mm)."""
    path, _ = _resample_polyline(np.asarray(centreline, dtype=float), 0.2)
    k = int(np.argmin(np.linalg.norm(path - point, axis=1)))
    lo, hi = max(0, k - 5), min(len(path) - 1, k + 5)
    t = path[hi] - path[lo]
    return t / np.linalg.norm(t), path[k]


def contact_plane(m, centreline: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plane holding the nerve's axis at a contact and its closest-point pair.

    Returns
    -------
    u : (3,) unit LPS vector, screen right: along the nerve toward the IAC.
    up : (3,) unit LPS vector, screen up: from the nerve toward the vessel,
        orthogonal to ``u``.
    center : (3,) LPS mm, the midpoint of the closest-point pair.
    """
    a = np.asarray(m.nerve_point_lps, dtype=float)
    b = np.asarray(m.vessel_point_lps, dtype=float)
    t, on_axis = _tangent_at(centreline, a)
    candidates = [b - a, a - on_axis, (a + b) / 2 - on_axis, np.array([0.0, 0.0, 1.0])]
    up = None
    for w in candidates:
        w = w - (w @ t) * t
        if np.linalg.norm(w) > 0.05:
            up = w / np.linalg.norm(w)
            break
    if up is None:  # the nerve runs along z: any orthogonal direction
        up = np.cross(t, [1.0, 0.0, 0.0])
        up /= np.linalg.norm(up)
    return t, up, (a + b) / 2


@dataclass
class ImageContext:
    """What every key image slot renderer gets (series, labels, geometry)."""

    t2: Image
    tof: Image | None
    labels: Image | None
    structures: Sequence[Structure]
    centreline: np.ndarray | None
    landmarks: Mapping[str, Sequence[float]] | None
    frames: list[SourceFrame]
    windows: tuple[Intensity, Intensity | None]
    side_role: str
    prefix: str
    nerve: str  # "left facial nerve"
    #: "left"/"right": the side the images are of (the retrosigmoid view's side)
    side: str | None = None
    #: every measured vessel of the side (the 3D scene's closest-point pairs)
    measurements: Sequence = ()


def _key(m, name: str) -> str:
    return f"vessel{m.vessel_label}-{name}"


def _slice_image(m, ctx: ImageContext, plane: str) -> KeyImage:
    a = np.asarray(m.nerve_point_lps, dtype=np.float64)
    b = np.asarray(m.vessel_point_lps, dtype=np.float64)
    center = (a + b) / 2
    u, v = PLANES[plane]
    coord = center[2] if plane == "axial" else center[1]
    axis = "z" if plane == "axial" else "y"
    legend: list[tuple[str, str]] = []
    png, pts = render_slice(
        plane,
        ctx.t2,
        center=center,
        tof=ctx.tof,
        labels=ctx.labels,
        structures=ctx.structures,
        points={"nerve_point": a, "vessel_point": b},
        gap_mm=m.gap_mm,
        title=f"{plane} {axis}={coord:.1f} mm | {m.vessel_name}",
        windows=ctx.windows,
        legend=legend,
    )
    location, info = locate(ctx.frames, center, np.cross(u, v))
    fused = " with TOF fused in green" if ctx.tof is not None else ""
    return _vessel_key_image(
        m, ctx, plane,
        f"{m.vessel_name[:1].upper()}{m.vessel_name[1:]}: {plane}",
        f"{plane.capitalize()} T2{fused} through the closest point of the "
        f"{m.vessel_name} to the {ctx.nerve}; white line: gap {m.gap_mm:.1f} mm; "
        "outline colours in the legend. Patient's right on screen left.",
        png, pts, legend, location, info, (center, u, v),
    )  # fmt: skip


def _vessel_key_image(
    m,
    ctx: ImageContext,
    kind: str,
    title: str,
    caption: str,
    png: bytes,
    pts: dict,
    legend: list,
    location: Any,
    info: Any,
    plane: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> KeyImage:
    """The KeyImage of one vessel's slice (plane: centre, screen-right and screen-down, LPS)."""
    w, h = _png_size(png)
    center, u, v = plane
    return KeyImage(
        key=_key(m, kind), kind=kind, title=title, caption=caption, png=png,
        vessel_label=m.vessel_label, width_px=w, height_px=h, points_px=pts,
        side_role=ctx.side_role, location=location, legend=legend, source=info,
        plane={"center": center.tolist(), "u": u.tolist(), "v": v.tolist()},
    )  # fmt: skip


def _contact_image(m, ctx: ImageContext) -> KeyImage | None:
    if ctx.centreline is None or len(ctx.centreline) < 2:
        return None
    t, up, center = contact_plane(m, ctx.centreline)
    a = np.asarray(m.nerve_point_lps, dtype=np.float64)
    b = np.asarray(m.vessel_point_lps, dtype=np.float64)
    legend: list[tuple[str, str]] = []
    png, pts = render_slice(
        "contact",
        ctx.t2,
        center=center,
        tof=ctx.tof,
        labels=ctx.labels,
        structures=ctx.structures,
        points={"nerve_point": a, "vessel_point": b},
        gap_mm=m.gap_mm,
        title=f"plane of nerve axis and contact | {m.vessel_name}",
        half_width_mm=10.0,
        windows=ctx.windows,
        axes=(t, -up),
        letters=("brainstem", "IAC", "toward vessel", "away"),
        legend=legend,
    )
    location, info = locate(ctx.frames, center, np.cross(t, -up))
    return _vessel_key_image(
        m, ctx, "contact",
        f"{m.vessel_name[:1].upper()}{m.vessel_name[1:]}: reformat through the contact",
        f"Oblique reformat in the plane that holds the {ctx.nerve}'s axis and the "
        f"closest-point pair of the {m.vessel_name} (gap {m.gap_mm:.1f} mm, white line), so "
        "the contact lies in the image: screen right = along the nerve toward the IAC, "
        "up = toward the vessel.",
        png, pts, legend, location, info, (center, t, -up),
    )  # fmt: skip


def _nerve_image(chosen: Sequence, ctx: ImageContext) -> KeyImage | None:
    if ctx.centreline is None or len(ctx.centreline) < 2:
        return None
    line = np.asarray(ctx.centreline, dtype=float)
    ups = None
    names = ("superior up", "anterior up")
    conflicts = [m for m in chosen if m.grade != "none"]
    if conflicts:  # upper panel in the plane of the first contact, lower one across it
        t, up, _ = contact_plane(conflicts[0], line)
        ups = (up, np.cross(t, up))
        names = (f"up = toward the {conflicts[0].vessel_name}", "rotated 90° about the nerve")
    contacts = [(m.vessel_name, np.asarray(m.nerve_point_lps)) for m in chosen]
    legend: list[tuple[str, str]] = []
    png, pts = render_nerve_reformat(
        ctx.t2,
        line,
        tof=ctx.tof,
        labels=ctx.labels,
        structures=ctx.structures,
        landmarks=ctx.landmarks,
        contacts=contacts,
        windows=ctx.windows,
        ups=ups,
        panel_names=names,
        legend=legend,
    )
    w, h = _png_size(png)
    up_text = (
        f"top: the plane of the nerve and the {conflicts[0].vessel_name} contact, bottom: "
        "rotated 90° about the nerve"
        if conflicts
        else "top: superior up, bottom: anterior up"
    )
    where = ""
    if ctx.frames:
        f = ctx.frames[0]
        where = f"Reformatted from T2 series {f.series_number}" if f.series_number else ""
    return KeyImage(
        key=f"{ctx.prefix}nerve-reformat",
        kind="nerve",
        title=f"Reformat along the {ctx.nerve}",
        caption=(
            f"Straightened reformat along the {ctx.nerve} centreline from the brainstem "
            f"(left) to the internal auditory canal (right); {up_text}. Circles: contact "
            "points; dashed lines: landmarks (RExP = root exit point, RDP = root detachment "
            "point)."
        ),
        png=png,
        vessel_label=None,
        width_px=w,
        height_px=h,
        points_px=pts,
        side_role=ctx.side_role,
        location=where,
        legend=legend,
    )


#: Size (width, height) in pixels of the 3D key image.
SCENE_SIZE_PX = (900, 700)
#: Field of view (mm) of the 3D key image's panel.
SCENE_WIDTH_MM = 36.0


def _scene_image(chosen: Sequence, ctx: ImageContext) -> KeyImage | None:
    """The 3D view of the REZ from the retrosigmoid approach (:mod:`nvcview.scene`).

    Surfaces are the engine's meshes (LPS mm), the facial nerve coloured by its
    gap to the nearest vessel (legend in mm), the closest-point pairs as lines.
    Rendered by the numpy z-buffer renderer: no display, no GPU.
    """
    if ctx.labels is None or not ctx.structures or ctx.side not in ("left", "right"):
        return None  # the retrosigmoid view needs the side
    from nvcview.scene import (
        GAP_COLORMAP,
        PAIR_COLOR,
        build_scene,
        gap_colors,
        key_image,
        png_bytes,
        view,
    )

    measured = list(ctx.measurements) or list(chosen)
    landmarks = {k: np.asarray(v, dtype=np.float64) for k, v in (ctx.landmarks or {}).items()}
    scene = build_scene(
        ctx.labels, ctx.structures, measured or None, side=ctx.side, landmarks=landmarks
    )
    if not scene.surfaces:
        return None
    png = png_bytes(
        key_image(scene, "retrosigmoid", ctx.side, size=SCENE_SIZE_PX, width_mm=SCENE_WIDTH_MM)
    )
    v = view("retrosigmoid", ctx.side)
    best = scene.offending_pair()
    legend = [(s.name, _hex(s.color)) for s in scene.surfaces if s.gap_mm is None]
    if scene.nerve is not None:
        legend.insert(
            0,
            (
                f"{scene.nerve.name}: gap to the nearest vessel, 0 mm (dark) to "
                f">= {scene.gap_range_mm:g} mm (yellow), colormap {GAP_COLORMAP}",
                _hex(gap_colors(np.array([0.0]), scene.gap_range_mm)[0]),
            ),
        )
    if best is not None:
        legend.append((GAP_LEGEND, _hex(PAIR_COLOR)))
    what = (
        f"closest-point line to the {best.vessel_name} (gap {best.gap_mm:.2f} mm, green)"
        if best is not None
        else "no vessel measured"
    )
    side_text = f"{ctx.side} side" if ctx.side else "side not recorded"
    w, h = _png_size(png)
    return KeyImage(
        key=f"{ctx.prefix}scene-3d",
        kind="3d",
        title=f"3D view of the REZ of the {ctx.nerve} (retrosigmoid)",
        caption=(
            f"3D surfaces of the labelled structures seen from the {side_text} retrosigmoid "
            f"approach ({v.description}); the {ctx.nerve} is coloured by its distance to the "
            f"nearest vessel surface, 0 to >= {scene.gap_range_mm:g} mm (colour bar in mm); "
            f"{what}; other structures in their legend colours; 5 mm scale bar."
        ),
        png=png,
        vessel_label=best.vessel_label if best is not None else None,
        width_px=w,
        height_px=h,
        side_role=ctx.side_role,
        location="3D surface rendering (not a slice of a series)",
        legend=legend,
        plane={
            "center": scene.focus_lps().tolist(),
            "u": np.asarray(v.right, dtype=float).tolist(),
            "v": (-np.asarray(v.up, dtype=float)).tolist(),
            "view": "retrosigmoid",
            "width_mm": SCENE_WIDTH_MM,
        },
    )


#: Key image slots made for each vessel shown: name -> renderer (None = skipped).
#: Add a per-vessel image here; its file is ``vessel<label>-<name>.png``.
VESSEL_SLOTS: dict[str, Callable[[Any, ImageContext], KeyImage | None]] = {
    "axial": lambda m, ctx: _slice_image(m, ctx, "axial"),
    "coronal": lambda m, ctx: _slice_image(m, ctx, "coronal"),
    "contact": _contact_image,
}
#: Key image slots made once per side: name -> renderer(chosen vessels, ctx), file
#: ``<prefix><key>.png``: the straightened nerve reformat and the 3D view of the REZ
#: from the retrosigmoid approach.
CASE_SLOTS: dict[str, Callable[[Sequence, ImageContext], KeyImage | None]] = {
    "nerve-reformat": _nerve_image,
    "scene-3d": _scene_image,
}


def render_key_images(
    t2: Image,
    measurements: Sequence,
    *,
    tof: Image | None = None,
    labels: Image | None = None,
    structures: Sequence[Structure] = (),
    centreline: np.ndarray | None = None,
    landmarks: Mapping[str, Sequence[float]] | None = None,
    only_conflicts: bool = True,
    sources: Sequence | None = None,
    side_role: str = "symptomatic",
    side: str | None = None,
) -> list[KeyImage]:
    """Render the key images of one side of a case (slots :data:`VESSEL_SLOTS`,
    :data:`CASE_SLOTS`).

    Parameters
    ----------
    measurements : sequence of VesselMeasurement
        Images are made for each vessel whose grade is not "none" (all vessels
        when ``only_conflicts`` is false, or the nearest one when no vessel is in
        conflict).
    centreline : (N, 3) array, optional
        Nerve centreline in LPS mm (RExP -> IAC); adds the reformat through each
        contact and the straightened reformat along the nerve.
    sources : sequence of pydicom.Dataset, optional
        Headers of the T2 DICOM images: each caption then names the series and
        image number of the shown slice.
    side_role : str
        "symptomatic" or "control"; control images get keys prefixed ``control-``
        for the per-side images.
    side : str, optional
        "left"/"right", for the wording ("the left facial nerve").

    Returns
    -------
    list of KeyImage
    """
    windows = (
        Intensity.of(t2.array, 1, 99.5),
        Intensity.of(tof.array, 90, 99.9) if tof is not None else None,
    )
    ctx = ImageContext(
        t2=t2,
        tof=tof,
        labels=labels,
        structures=structures,
        centreline=None if centreline is None else np.asarray(centreline, dtype=float),
        landmarks=landmarks,
        frames=source_frames(sources) if sources else [],
        windows=windows,
        side_role=side_role,
        prefix="control-" if side_role == "control" else "",
        nerve=f"{side} facial nerve" if side else "facial nerve",
        side=side,
        measurements=list(measurements),
    )
    chosen = [m for m in measurements if not only_conflicts or m.grade != "none"]
    if not chosen and measurements:
        chosen = [min(measurements, key=lambda m: m.gap_mm)]
    out: list[KeyImage] = []
    for m in chosen:
        for render in VESSEL_SLOTS.values():
            k = render(m, ctx)
            if k is not None:
                out.append(k)
    for render_case in CASE_SLOTS.values():
        k = render_case(chosen, ctx)
        if k is not None:
            out.append(k)
    return out


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
