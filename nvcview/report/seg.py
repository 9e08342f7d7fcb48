"""DICOM Segmentation (SEG) of a review's label map, written with highdicom.

The label map (any grid, LPS affine) is resampled by nearest neighbour onto
the pixel centres of each source (T2) image, so the SEG frames line up with
the source frames exactly and share their frame of reference. Each structure
of the review becomes one segment, numbered 1..N in label order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from nvcview import __version__
from nvcview.errors import InputError
from nvcview.fsutil import atomic_path
from nvcview.io.image import Image
from nvcview.report import codes as C
from nvcview.report.keyimages import sample_world
from nvcview.structures import Structure


def find_series_files(path: str | os.PathLike, series_uid: str | None) -> list[pydicom.Dataset]:
    """Read the headers of the DICOM images of one series under ``path``.

    Parameters
    ----------
    path : path-like
        A folder (searched recursively) or a single file.
    series_uid : str, optional
        Keep only this SeriesInstanceUID (all image files when None).

    Returns
    -------
    list of pydicom.Dataset
        Headers (no pixel data), sorted along the slice normal.

    Raises
    ------
    InputError
        The path does not exist or holds no image of the series.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: source series folder does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out: list[pydicom.Dataset] = []
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # not DICOM: skip (README files, DICOMDIR parts)
            continue
        if "ImagePositionPatient" not in ds and "PerFrameFunctionalGroupsSequence" not in ds:
            continue
        if series_uid and ds.get("SeriesInstanceUID") != series_uid:
            continue
        out.append(ds)
    if not out:
        which = f"series {series_uid}" if series_uid else "an image series"
        raise InputError(f"{path}: no DICOM image of {which} found")
    if all("ImagePositionPatient" in d for d in out):
        iop = np.asarray(out[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        out.sort(key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, float))))
    return out


@dataclass
class FrameGeometry:
    """Where one image frame lies: position of the first pixel, orientation, spacing (mm)."""

    sop_instance_uid: str
    frame_number: int | None  # 1-based in a multi-frame object, None for single-frame
    position: np.ndarray  # ImagePositionPatient, LPS mm
    orientation: np.ndarray  # ImageOrientationPatient (row cosines, column cosines)
    spacing: tuple[float, float]  # PixelSpacing: (between rows, between columns) mm
    rows: int
    columns: int

    def pixel_centres(self) -> np.ndarray:
        """(rows, cols, 3) LPS mm of the pixel centres."""
        dr, dc = self.spacing
        r = np.arange(self.rows)[:, None, None]
        c = np.arange(self.columns)[None, :, None]
        return self.position + c * dc * self.orientation[:3] + r * dr * self.orientation[3:]

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])


def _functional(ds: pydicom.Dataset, frame: Dataset, seq: str, attr: str, where: str):
    for group in (frame, *ds.get("SharedFunctionalGroupsSequence", [])):
        if seq in group and len(group[seq].value) and attr in group[seq].value[0]:
            return group[seq].value[0][attr].value
    raise InputError(f"{where}: no {attr} in the per-frame or shared {seq}")


def frame_geometries(ds: pydicom.Dataset) -> list[FrameGeometry]:
    """Geometry of every frame of a single-frame or enhanced (multi-frame) image.

    Raises
    ------
    InputError
        The object lacks position, orientation or pixel spacing.
    """
    uid = str(ds.get("SOPInstanceUID", "?"))
    where = f"SOP instance {uid}"
    rows, cols = int(ds.Rows), int(ds.Columns)
    if "PerFrameFunctionalGroupsSequence" in ds:
        out = []
        for i, frame in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
            ipp = _functional(ds, frame, "PlanePositionSequence", "ImagePositionPatient", where)
            iop = _functional(
                ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient", where
            )
            ps = _functional(ds, frame, "PixelMeasuresSequence", "PixelSpacing", where)
            out.append(
                FrameGeometry(
                    uid,
                    i,
                    np.asarray(ipp, float),
                    np.asarray(iop, float),
                    (float(ps[0]), float(ps[1])),
                    rows,
                    cols,
                )
            )
        return out
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        if kw not in ds:
            raise InputError(f"{where}: source image has no {kw}; cannot place it in space")
    ps = ds.PixelSpacing
    return [
        FrameGeometry(
            uid,
            None,
            np.asarray(ds.ImagePositionPatient, float),
            np.asarray(ds.ImageOrientationPatient, float),
            (float(ps[0]), float(ps[1])),
            rows,
            cols,
        )
    ]


def label_frames(labels: Image, sources: Sequence[pydicom.Dataset]) -> np.ndarray:
    """The label map sampled at each source frame's pixel centres: (frames, rows, cols).

    Frames come in source order (and frame order within a multi-frame source),
    the order highdicom expects for the SEG pixel array.
    """
    arr = np.asarray(labels.array)
    inv = np.linalg.inv(np.asarray(labels.affine, dtype=np.float64))
    frames = []
    for ds in sources:
        for geom in frame_geometries(ds):
            frames.append(_frame_labels(arr, inv, labels, geom))
    return np.stack(frames)


def _frame_labels(
    arr: np.ndarray, inv: np.ndarray, labels: Image, geom: FrameGeometry
) -> np.ndarray:
    """Nearest-neighbour labels at one frame's pixel centres (0 outside the label map).

    When the frame's pixel centres fall on label voxel centres (the label map is
    on the source grid, the usual case) the voxels are gathered directly;
    otherwise the label map is resampled in world space.
    """
    lin = inv[:3, :3]
    start = lin @ geom.position + inv[:3, 3]
    step_c = lin @ (geom.spacing[1] * geom.orientation[:3])
    step_r = lin @ (geom.spacing[0] * geom.orientation[3:])
    on_grid = all(np.allclose(v, np.round(v), atol=1e-3) for v in (start, step_c, step_r))
    if not on_grid:
        vals = sample_world(labels, geom.pixel_centres(), order=0)
        return np.nan_to_num(vals, nan=0).astype(np.int64)
    istart, istep_c, istep_r = (np.round(v).astype(np.int64) for v in (start, step_c, step_r))
    r = np.arange(geom.rows)[:, None, None]
    c = np.arange(geom.columns)[None, :, None]
    idx = istart + r * istep_r + c * istep_c  # (rows, cols, 3)
    inside = np.all((idx >= 0) & (idx < np.array(arr.shape[:3])), axis=-1)
    out = np.zeros((geom.rows, geom.columns), dtype=np.int64)
    sel = idx[inside]
    out[inside] = arr[sel[:, 0], sel[:, 1], sel[:, 2]]
    return out


def segment_numbers(structures: Sequence[Structure]) -> dict[int, int]:
    """Label value -> SEG segment number (1..N in label order)."""
    return {s.label: i for i, s in enumerate(sorted(structures, key=lambda s: s.label), 1)}


def segment_descriptions(
    structures: Sequence[Structure],
) -> list[hd.seg.SegmentDescription]:
    """One SegmentDescription per structure (codes from :mod:`nvcview.report.codes`)."""
    numbers = segment_numbers(structures)
    out = []
    algo = hd.AlgorithmIdentificationSequence(
        name="nvcview",
        family=hd.sr.CodedConcept("123109", "DCM", "Manual Processing"),
        version=__version__,
    )
    for s in sorted(structures, key=lambda s: s.label):
        out.append(
            hd.seg.SegmentDescription(
                segment_number=numbers[s.label],
                segment_label=s.name[:64] or f"label {s.label}",
                segmented_property_category=C.ANATOMICAL_STRUCTURE,
                segmented_property_type=C.structure_code(s),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
                algorithm_identification=algo,
                tracking_uid=generate_uid(),
                tracking_id=f"{s.kind} label {s.label}",
                display_color=hd.color.CIELabColor(*_lab(s.color)),
            )
        )
    return out


def _lab(rgb: Sequence[float]) -> tuple[float, float, float]:
    from skimage.color import rgb2lab

    lab = rgb2lab(np.asarray(rgb, dtype=float).reshape(1, 1, 3))[0, 0]
    return float(lab[0]), float(np.clip(lab[1], -128, 127)), float(np.clip(lab[2], -128, 127))


def build_seg(
    sources: Sequence[pydicom.Dataset],
    labels: Image,
    structures: Sequence[Structure],
    *,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    series_number: int = 901,
) -> tuple[hd.seg.Segmentation, dict[int, int]]:
    """Build a binary SEG of the label map on the source (T2) images.

    Parameters
    ----------
    sources : sequence of pydicom.Dataset
        Source image headers (already de-identified when the output must be).
    labels : Image
        Integer label map (LPS affine), in the sources' frame of reference.
    structures : sequence of Structure
        What each label is; labels without a structure are left out.

    Returns
    -------
    seg : highdicom.seg.Segmentation
    numbers : dict
        Label value -> segment number.
    """
    if not structures:
        raise InputError("SEG export: the review has no structures")
    numbers = segment_numbers(structures)
    raw = label_frames(labels, sources)
    seg_arr = np.zeros(raw.shape, dtype=np.uint16)
    for label, n in numbers.items():
        seg_arr[raw == label] = n
    if not seg_arr.any():
        raise InputError(
            "SEG export: the label map does not overlap the source series "
            "(different frame of reference or grid?)"
        )
    seg = hd.seg.Segmentation(
        source_images=list(sources),
        pixel_array=seg_arr,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(structures),
        series_instance_uid=series_uid or generate_uid(),
        series_number=series_number,
        sop_instance_uid=sop_uid or generate_uid(),
        instance_number=1,
        manufacturer="nvcview",
        manufacturer_model_name="nvcview",
        software_versions=__version__,
        device_serial_number="0",
        content_label="NVC_LABELS",
        content_description="nvcview review label map",
        series_description="nvcview segmentation",
    )
    C.add_private_scheme(seg)
    return seg, numbers


def write_dicom(ds: pydicom.Dataset, path: str | os.PathLike) -> Path:
    """Save a DICOM object atomically (with file meta and preamble)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path
