"""``write_sample``: the phantom on disk (DICOM, truth.json, ground-truth review, NIfTI).

Layout of ``OUT``::

    dicom/T2/IM0001.dcm ...    3D CISS-like series, one file per slice
    dicom/TOF/IM0001.dcm ...   3D TOF series (same study and frame of reference)
    truth.json                 the analytic answer (positions LPS mm)
    review/review.json         ground-truth review (reader "truth") ...
    review/labels.nii.gz       ... and its label map on the T2 grid
    nifti/t2.nii.gz, nifti/tof.nii.gz   with nifti=True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvcview.fsutil import atomic_write_text
from nvcview.io.nifti import write_nifti
from nvcview.measure.records import MeasureSettings, VesselMeasurement
from nvcview.review.model import ReaderCall, Review, SeriesRef
from nvcview_sample.dicom_writer import write_series
from nvcview_sample.phantom import T2_SPEC, TOF_SPEC, Phantom, make_phantom, phantom_uid


@dataclass
class SamplePaths:
    """Everything :func:`write_sample` wrote (absolute paths)."""

    out_dir: Path
    t2_dir: Path
    tof_dir: Path
    truth: Path
    review_dir: Path
    review_json: Path
    labels: Path
    t2_files: list[Path] = field(default_factory=list)
    tof_files: list[Path] = field(default_factory=list)
    nifti_t2: Path | None = None
    nifti_tof: Path | None = None

    def lines(self) -> list[str]:
        """Human-readable summary, one line per item."""
        out = [
            f"T2 DICOM:  {self.t2_dir} ({len(self.t2_files)} files)",
            f"TOF DICOM: {self.tof_dir} ({len(self.tof_files)} files)",
            f"truth:     {self.truth}",
            f"review:    {self.review_json}",
            f"labels:    {self.labels}",
        ]
        if self.nifti_t2 is not None:
            out.append(f"NIfTI:     {self.nifti_t2}, {self.nifti_tof}")
        return out


def resolution_along(affine: np.ndarray, direction: np.ndarray) -> float:
    """Voxel extent (mm) of a grid along a unit LPS direction: ``1 / |A^-1 d|``."""
    inv = np.linalg.inv(np.asarray(affine)[:3, :3])
    return float(1.0 / np.linalg.norm(inv @ np.asarray(direction, float)))


def truth_measurements(ph: Phantom, settings: MeasureSettings | None = None) -> list:
    """The truth as :class:`VesselMeasurement` records (exact values, T2 resolution)."""
    settings = settings or MeasureSettings()
    nerve_label = ph.truth["nerves"]["VII"]["label"]
    out = []
    for v in ph.truth["vessels"]:
        pn, pv = np.array(v["nerve_point_lps"]), np.array(v["vessel_point_lps"])
        axis = np.array(v["vessel_axis_point_lps"]) - np.array(v["nerve_axis_point_lps"])
        res = resolution_along(ph.t2.affine, axis / np.linalg.norm(axis))
        # as nvcview.measure.case.contact_threshold_mm: contact_mm is absolute (no factor)
        limit = (
            settings.contact_mm
            if settings.contact_mm is not None
            else settings.contact_factor * res
        )
        out.append(
            VesselMeasurement(
                vessel_label=v["label"],
                vessel_name=v["name"],
                vessel_type=v["vessel_type"],
                nerve_label=nerve_label,
                gap_mm=v["gap_mm"],
                nerve_point_lps=tuple(float(x) for x in pn),
                vessel_point_lps=tuple(float(x) for x in pv),
                resolution_mm=res,
                contact=bool(v["gap_mm"] < limit),
                near=bool(v["gap_mm"] <= settings.near_mm),
                arc_length_from_rexp_mm=v["arc_length_from_rexp_mm"],
                dist_from_rdp_mm=v["dist_from_rdp_mm"],
                segment=v["segment"],
                crossing_angle_deg=v["crossing_angle_deg"],
                vessel_diameter_mm=v["vessel_diameter_mm"],
                side_of_nerve=v["side_of_nerve"],
                indentation_depth_mm=v["indentation_depth_mm"],
                suggested_grade=v["grade"],
                gap_to_cn8_mm=v["gap_to_cn8_mm"],
                multiplicity="single",
                notes=["analytic ground truth of the nvcview phantom"],
            )
        )
    return out


def truth_review(ph: Phantom, t2_rel: str, tof_rel: str) -> Review:
    """The ground-truth :class:`Review` of a phantom (reader "truth").

    ``t2_rel``/``tof_rel`` are the series folders relative to the review folder.
    """
    t = ph.truth
    conflict = t["conflict"]
    aica = next(v for v in t["vessels"] if v["label"] == conflict["vessel_label"])
    impression = (
        f"Ground truth: {aica['name']} {conflict['grade']} with the {t['side']} facial nerve "
        f"at the {conflict['segment']} segment, gap {conflict['gap_mm']:.2f} mm"
        + (
            f", indentation {conflict['indentation_depth_mm']:.2f} mm"
            if conflict["indentation_depth_mm"]
            else ""
        )
        + "."
    )
    series = []
    for img, rel in ((ph.t2, t2_rel), (ph.tof, tof_rel)):
        series.append(
            SeriesRef(
                series_uid=img.meta.series_uid,
                role=img.meta.role,
                path=rel,
                description=img.meta.series_description,
                sequence_name=img.meta.sequence_name,
                voxel_size_mm=[float(s) for s in img.meta.spacing_mm],
            )
        )
    return Review(
        case_id=f"phantom-seed{t['settings']['seed']}-{t['side']}",
        reader="truth",
        side=t["side"],
        status="draft",
        study_uid=t["study_uid"],
        patient=ph.t2.patient,
        series=series,
        reference_series_uid=ph.t2.meta.series_uid,
        labelmap_path="labels.nii.gz",
        structures=list(ph.structures),
        landmarks={k: [float(x) for x in v] for k, v in ph.landmarks.items()},
        nerve_path_lps=[[float(x) for x in p] for p in ph.centreline],
        calls=[
            ReaderCall(vessel_label=v["label"], grade=v["grade"], confidence="high")
            for v in t["vessels"]
        ],
        impression=impression,
        va_dominance="codominant",
        fusion_used=True,
        measurements=truth_measurements(ph),
        review_id=phantom_uid(t["settings"], "review").replace(".", "")[-32:],
        created="2025-01-01T12:00:00+00:00",
        modified="2025-01-01T12:00:00+00:00",
    )


def write_sample(
    out_dir: str | os.PathLike,
    nifti: bool = False,
    *,
    seed: int = 0,
    side: str = "left",
    gap_mm: float = 0.0,
    segment: str = "AS",
    indent_mm: float = 0.0,
    oblique: bool = False,
    full_size: bool = False,
    realistic: bool = False,
    motion: bool | np.ndarray | None = None,
    phantom: Phantom | None = None,
) -> SamplePaths:
    """Build the phantom and write it under ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created; existing phantom files are overwritten).
    nifti : bool
        Also write ``nifti/t2.nii.gz`` and ``nifti/tof.nii.gz``.
    seed, side, gap_mm, segment, indent_mm, oblique, full_size, realistic, motion
        As :func:`nvcview_sample.make_phantom`.
    phantom : Phantom, optional
        Write this already built phantom instead (the other parameters are then
        ignored; its own settings are recorded in truth.json).

    Returns
    -------
    SamplePaths
    """
    from nvcview.review.store import save_review

    ph = phantom or make_phantom(
        seed=seed,
        side=side,
        gap_mm=gap_mm,
        segment=segment,
        indent_mm=indent_mm,
        oblique=oblique,
        full_size=full_size,
        realistic=realistic,
        motion=motion,
    )
    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    settings = ph.truth["settings"]

    def uid_for(name: str) -> str:
        return phantom_uid(settings, name)

    t2_dir, tof_dir = out / "dicom" / "T2", out / "dicom" / "TOF"
    for d in (t2_dir, tof_dir):  # stale slices of an earlier, larger phantom
        if d.is_dir():
            for f in d.glob("IM*.dcm"):
                f.unlink()
    t2_files = write_series(ph.t2, T2_SPEC, t2_dir, uid_for)
    tof_files = write_series(ph.tof, TOF_SPEC, tof_dir, uid_for)
    truth = dict(ph.truth)
    truth["series"] = {k: dict(v) for k, v in truth["series"].items()}
    truth["series"]["T2"]["path"] = "dicom/T2"
    truth["series"]["TOF"]["path"] = "dicom/TOF"
    truth["review_path"] = "review"
    truth_path = out / "truth.json"
    atomic_write_text(truth_path, json.dumps(truth, indent=1) + "\n")

    review_dir = out / "review"
    review = truth_review(ph, "../dicom/T2", "../dicom/TOF")
    review_json = save_review(review, review_dir, ph.labels, actor="nvcview sample")
    paths = SamplePaths(
        out_dir=out,
        t2_dir=t2_dir,
        tof_dir=tof_dir,
        truth=truth_path,
        review_dir=review_dir,
        review_json=Path(review_json),
        labels=review_dir / review.labelmap_path,
        t2_files=t2_files,
        tof_files=tof_files,
    )
    if nifti:
        paths.nifti_t2 = write_nifti(ph.t2, out / "nifti" / "t2.nii.gz")
        paths.nifti_tof = write_nifti(ph.tof, out / "nifti" / "tof.nii.gz")
    else:  # volumes of an earlier phantom written here with nifti=True: now stale
        for name in ("t2.nii.gz", "tof.nii.gz"):
            (out / "nifti" / name).unlink(missing_ok=True)
    return paths


__all__ = ["SamplePaths", "truth_measurements", "truth_review", "write_sample"]
