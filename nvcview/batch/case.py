"""One case of a batch: load a review, measure it, flatten it to table rows.

:func:`process_case` is what runs in the worker processes (local pool or Dask).
It takes and returns plain JSON-able dicts (nothing of ours is pickled to
disk; the results go to the JSON cache and the tables), and never raises: a
failure comes back as ``{"status": "error", ...}`` so one broken case cannot
stop a run.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
import traceback
from pathlib import Path

from nvcview import __version__
from nvcview.errors import NvcviewError
from nvcview.measure.records import GRADES, VesselMeasurement
from nvcview.review.model import Review

#: how the measurements of a row were obtained
SOURCES = ("recomputed", "stored")


def _float(v) -> float | None:
    """A finite float, or None for missing / non-finite values (strict JSON)."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _voxel(values, n: int = 3) -> list[float | None]:
    vals = [_float(v) for v in (values or [])][:n]
    return vals + [None] * (n - len(vals))


def _worst_grade(grades: list[str]) -> str:
    ranked = [GRADES.index(g) for g in grades if g in GRADES]
    return GRADES[max(ranked)] if ranked else "none"


def case_identity(review: Review, folder: Path) -> tuple[str, str]:
    """``(case_id, reader)`` of a review, falling back to folder names.

    Readers of one case are sibling folders, so a missing case id falls back to
    the parent folder's name and a missing reader to the review folder's name.
    """
    case_id = review.case_id or folder.parent.name
    reader = review.reader or folder.name
    return case_id, reader


def rows_from_review(
    review: Review,
    measurements: list[VesselMeasurement],
    *,
    folder: Path,
    rel: str,
    source: str,
    labels_voxel_mm: list[float] | None = None,
) -> tuple[list[dict], dict]:
    """Flatten one review and its measurements into vessel rows and a case row.

    Parameters
    ----------
    review : Review
        The review (may hold patient identifiers; :mod:`nvcview.batch.deidentify`
        removes them later when asked).
    measurements : list of VesselMeasurement
        One per vessel; lengths in mm, angles in degrees, points in LPS mm.
    folder : Path
        Review folder (for fallback names).
    rel : str
        Folder relative to the batch root.
    source : str
        One of :data:`SOURCES`.
    labels_voxel_mm : list of float, optional
        Voxel size of the label map along its three array axes (mm).

    Returns
    -------
    (list of dict, dict)
        Vessel rows and the case row, keys as in :mod:`nvcview.batch.table`.
    """
    case_id, reader = case_identity(review, folder)
    patient = review.patient
    common = {
        "case_id": case_id,
        "patient_id": patient.patient_id if patient else "",
        "reader": reader,
        "review_folder": rel,
        "side": review.side,
    }
    rows: list[dict] = []
    for m in sorted(measurements, key=lambda m: m.vessel_label):
        call = review.call_for(m.vessel_label)
        # the reader's call in review.json wins over a grade stored with old measurements
        reader_grade = (call.grade if call and call.grade else None) or m.reader_grade
        nerve = [_float(v) for v in m.nerve_point_lps]
        vessel = [_float(v) for v in m.vessel_point_lps]
        rows.append(
            {
                **common,
                "vessel_label": int(m.vessel_label),
                "vessel_name": m.vessel_name,
                "vessel_type": m.vessel_type,
                "nerve_label": int(m.nerve_label),
                "gap_mm": _float(m.gap_mm),
                "gap_low_mm": _float(m.gap_low_mm),
                "gap_high_mm": _float(m.gap_high_mm),
                "uncertainty_method": m.uncertainty_method,
                # "segment=fraction" pairs and the uncovered segments, ";"-separated
                "nerve_coverage": ";".join(
                    f"{k}={float(v):.2f}" for k, v in sorted(m.nerve_coverage.items())
                ),
                "not_assessable_segments": ";".join(m.not_assessable_segments),
                "resolution_mm": _float(m.resolution_mm),
                "contact": bool(m.contact),
                "near": bool(m.near),
                "arc_length_from_rexp_mm": _float(m.arc_length_from_rexp_mm),
                "dist_from_rdp_mm": _float(m.dist_from_rdp_mm),
                "segment": m.segment,
                "crossing_angle_deg": _float(m.crossing_angle_deg),
                "vessel_diameter_mm": _float(m.vessel_diameter_mm),
                "side_of_nerve": m.side_of_nerve,
                "indentation_depth_mm": _float(m.indentation_depth_mm),
                "deviation_mm": _float(m.deviation_mm),
                "indentation_threshold_mm": _float(m.indentation_threshold_mm),
                "deviation_threshold_mm": _float(m.deviation_threshold_mm),
                "suggested_grade": m.suggested_grade,
                "reader_grade": reader_grade,
                "grade": reader_grade or m.suggested_grade,
                "reader_confidence": call.confidence if call else None,
                "gap_to_cn8_mm": _float(m.gap_to_cn8_mm),
                "relation_to_cn8": m.relation_to_cn8,
                "multiplicity": m.multiplicity,
                "nerve_point_x_lps_mm": nerve[0],
                "nerve_point_y_lps_mm": nerve[1],
                "nerve_point_z_lps_mm": nerve[2],
                "vessel_point_x_lps_mm": vessel[0],
                "vessel_point_y_lps_mm": vessel[1],
                "vessel_point_z_lps_mm": vessel[2],
                "notes": "; ".join(m.notes),
                "measurement_source": source,
            }
        )
    conflicts = sorted(
        (r for r in rows if r["grade"] != "none"),
        key=lambda r: r["gap_mm"] if r["gap_mm"] is not None else float("inf"),
    )
    gaps = [r["gap_mm"] for r in rows if r["gap_mm"] is not None]
    t2 = review.series_by_role("T2")
    tof = review.series_by_role("TOF")
    t2_vox, tof_vox = (
        _voxel(t2.voxel_size_mm if t2 else None),
        _voxel(tof.voxel_size_mm if tof else None),
    )
    lab_vox = _voxel(labels_voxel_mm)
    case = {
        **common,
        "review_id": review.review_id,
        "status": review.status,
        "va_dominance": review.va_dominance,
        "fusion_used": bool(review.fusion_used),
        "n_vessels": len(rows),
        "n_conflicts": len(conflicts),
        "worst_grade": _worst_grade([r["grade"] for r in rows]),
        "offending_vessels": ";".join(r["vessel_type"] for r in conflicts),
        "min_gap_mm": min(gaps) if gaps else None,
        "multiplicity": conflicts[0]["multiplicity"] if conflicts else None,
        "study_uid": review.study_uid,
        "accession_number": patient.accession_number if patient else "",
        "study_date": patient.study_date if patient else "",
        "review_created": review.created,
        "review_modified": review.modified,
        "t2_sequence": (t2.sequence_name or t2.description) if t2 else None,
        "t2_voxel_i_mm": t2_vox[0],
        "t2_voxel_j_mm": t2_vox[1],
        "t2_voxel_k_mm": t2_vox[2],
        "tof_sequence": (tof.sequence_name or tof.description) if tof else None,
        "tof_voxel_i_mm": tof_vox[0],
        "tof_voxel_j_mm": tof_vox[1],
        "tof_voxel_k_mm": tof_vox[2],
        "labels_voxel_i_mm": lab_vox[0],
        "labels_voxel_j_mm": lab_vox[1],
        "labels_voxel_k_mm": lab_vox[2],
        "review_software_version": review.software_version,
        "engine_version": __version__,
        "measurement_source": source,
    }
    return rows, case


def _labels_voxel_mm(review: Review, folder: Path) -> list[float] | None:
    """Voxel size of the label map from its NIfTI header only (no pixel data read)."""
    import nibabel as nib

    try:
        header = nib.load(str(folder / review.labelmap_path)).header
        zooms = header.get_zooms()[:3]  # type: ignore[attr-defined]
    except Exception:  # unreadable: the measurement step reports it properly
        return None
    return [round(float(z), 6) for z in zooms]  # float32 header -> micrometre precision


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (MiB); None where unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # KiB on Linux, bytes on macOS
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _worker_info(t0: float, c0: float) -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "peak_rss_mb": peak_rss_mb(),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }


def process_case(task: dict) -> dict:
    """Load, measure and flatten one review (runs in a worker).

    Parameters
    ----------
    task : dict
        ``{"folder": str, "rel": str, "stored": bool}``: the absolute review
        folder, its path relative to the batch root, and whether to use the
        measurements stored in ``review.json`` instead of recomputing them with
        the current engine.

    Returns
    -------
    dict
        ``{"status": "ok", "rows": [...], "case": {...}, "worker": {...}}`` or
        ``{"status": "error", "stage", "error_type", "message", "phi", "worker"}``.
        ``phi`` lists the patient identifiers of the review (when it was loaded)
        so that the caller can scrub them from the message; it is never stored.
        ``reader_from_folder`` is true when the reader column is the folder's name
        (no reader in review.json), which de-identification must not keep.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    folder = Path(task["folder"])
    stage = "load_review"
    review: Review | None = None
    try:
        from nvcview.review.store import load_review

        review = load_review(folder)
        if task.get("stored"):
            stage = "stored_measurements"
            measurements = list(review.measurements)
            source = "stored"
        else:
            stage = "measure"
            from nvcview.case.measurement import measure_review

            measurements = measure_review(review, folder)
            source = "recomputed"
        stage = "table"
        rows, case = rows_from_review(
            review,
            measurements,
            folder=folder,
            rel=task["rel"],
            source=source,
            labels_voxel_mm=_labels_voxel_mm(review, folder),
        )
        return {
            "status": "ok",
            "rows": rows,
            "case": case,
            "reader_from_folder": not review.reader,
            "worker": _worker_info(t0, c0),
        }
    except Exception as exc:
        user_error = isinstance(exc, NvcviewError | OSError)
        message = str(exc) if user_error else f"{exc} [{_where(exc)}]"
        phi: list[str] = []
        case_id = reader = ""
        if review is not None:
            case_id, reader = case_identity(review, folder)
            if review.patient is not None:
                phi = [v for v in review.patient.to_dict().values() if v]
            # DICOM UIDs identify the study too (pseudonymised in the tables)
            uids = [review.study_uid, review.reference_series_uid]
            phi += [u for u in uids + [s.series_uid for s in review.series] if u]
        else:  # it did not load: whatever identifiers its raw document holds
            phi = raw_identifiers(folder)
        return {
            "status": "error",
            "stage": stage,
            "error_type": type(exc).__name__,
            "message": message or type(exc).__name__,
            "case_id": case_id,
            "reader": reader,
            "reader_from_folder": review is not None and not review.reader,
            "phi": phi,
            "worker": _worker_info(t0, c0),
        }


#: fields of a review.json (current and version 0) that may carry identifiers
_ID_FIELDS = (
    "case_id",
    "case",
    "study_uid",
    "reference_series_uid",
    "reference_series",
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "accession_number",
    "study_date",
)


def _scalars(value: object, out: list[str], budget: list[int]) -> None:
    stack = [value]
    while stack and budget[0] > 0:
        v = stack.pop()
        budget[0] -= 1
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str | int | float) and not isinstance(v, bool) and str(v).strip():
            out.append(str(v))


def raw_identifiers(folder: Path) -> list[str]:
    """Identifier values of a ``review.json`` that failed to load (for scrubbing only).

    Read leniently (any type: a case id typed as a number is still an identifier);
    ``[]`` when it cannot be parsed at all. Never stored.
    """
    from nvcview.review.store import read_document

    try:
        doc = read_document(folder)
    except Exception:  # unreadable: its message cannot echo values it does not parse
        return []
    out: list[str] = []
    budget = [10_000]
    for key in _ID_FIELDS:
        if key in doc:
            _scalars(doc[key], out, budget)
    _scalars(doc.get("patient"), out, budget)
    series = doc.get("series")
    for s in series.values() if isinstance(series, dict) else series or []:
        if isinstance(s, dict):
            for k in ("series_uid", "uid", "path"):
                _scalars(s.get(k), out, budget)
    return out


def _where(exc: BaseException) -> str:
    """File and line where an unexpected exception was raised (no locals, no PHI)."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return "no traceback"
    last = tb[-1]
    return f"{Path(last.filename).name}:{last.lineno}"
