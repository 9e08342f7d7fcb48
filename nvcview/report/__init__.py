"""The structured report: JSON, HTML, PDF, DICOM SR (TID 1500) and SEG.

:func:`write_reports` is the one entry point: it loads a review's label map and
series, measures (or takes given measurements), renders key images and writes
the requested formats. All formats come from one :class:`ReportModel`, so
their numbers agree. Positions are patient LPS mm.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.records import VesselMeasurement
from nvcview.report.content import KeyImage, ReportModel, build_report
from nvcview.review.model import Review, SeriesRef

__all__ = ["FORMATS", "KeyImage", "ReportModel", "build_report", "write_reports"]

log = logging.getLogger(__name__)

FORMATS = ("json", "html", "pdf", "sr", "seg", "pdf-dicom", "key-images-dicom")
#: Output file names inside ``out_dir`` (never derived from patient data).
FILE_NAMES = {
    "json": "report.json",
    "html": "report.html",
    "pdf": "report.pdf",
    "sr": "report-sr.dcm",
    "seg": "labels-seg.dcm",
    "pdf-dicom": "report-pdf.dcm",
    "key-images-dicom": "key-images-ko.dcm",
}
IMAGE_DIR = "images"
#: Folder of the key images as DICOM Secondary Captures (``key-images-dicom``).
KEY_DICOM_DIR = "key-images-dicom"
#: File names of the key image Secondary Captures in KEY_DICOM_DIR.
KEY_DICOM_NAME = re.compile(r"^ki-\d{3}\.dcm$")


def key_image_pattern() -> re.Pattern:
    """File names of key images, from the slots of :mod:`.keyimages` (only these
    are removed as stale outputs; a user's own PNGs in the folder are kept)."""
    from nvcview.report.keyimages import CASE_SLOTS, VESSEL_SLOTS

    vessel = "|".join(re.escape(k) for k in VESSEL_SLOTS)
    case = "|".join(re.escape(k) for k in CASE_SLOTS)
    return re.compile(rf"^(vessel\d+-({vessel})|(control-)?({case}))\.png$")


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """Check and normalise a format list ("json,html" or an iterable)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for f in (i.strip().lower() for i in items):
        if not f:
            continue
        if f == "all":
            return FORMATS
        if f not in FORMATS:
            raise InputError(f"unknown report format {f!r}; choose from {', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise InputError("no report format given")
    return tuple(out)


def resolve_series_path(ref: SeriesRef, folder: Path) -> Path:
    """Where a review's series is on disk (absolute, or relative to the review folder)."""
    if not ref.path:
        raise InputError(f"{folder}: review names no path for the {ref.role} series")
    p = Path(ref.path)
    candidates = [p] if p.is_absolute() else [folder / p, folder.parent / p, Path.cwd() / p]
    for c in candidates:
        if c.exists():
            return c
    raise InputError(
        f"{folder}: the {ref.role} series path {ref.path!r} named in the review does not exist"
    )


def _load_series(ref: SeriesRef | None, folder: Path) -> Image | None:
    if ref is None:
        return None
    from nvcview import load

    return load(resolve_series_path(ref, folder), series_uid=ref.series_uid or None)


def _reference_ref(review: Review) -> SeriesRef:
    for s in review.series:
        if review.reference_series_uid and s.series_uid == review.reference_series_uid:
            return s
    ref = review.series_by_role("T2")
    if ref is None:
        raise InputError("the review names no T2 (reference) series")
    return ref


def measure(review: Review, labels: Image) -> list[VesselMeasurement]:
    """Run the measurement engine on a review's label map and annotations."""
    from nvcview.measure import measure_case

    path = np.asarray(review.nerve_path_lps, dtype=float) if review.nerve_path_lps else None
    grades = {c.vessel_label: c.grade for c in review.calls if c.grade}
    return measure_case(
        labels,
        review.structures,
        landmarks={k: np.asarray(v, dtype=float) for k, v in review.landmarks.items()},
        centreline=path if path is not None and len(path) >= 2 else None,
        settings=review.settings,
        reader_grades=grades or None,
    )


def nerve_centreline(review: Review, labels: Image) -> np.ndarray | None:
    """The facial nerve centreline (N, 3) LPS mm: the review's path, else derived.

    When the reader drew no path, the engine derives one from the nerve label
    (RExP -> IAC); None when there is no facial nerve label either.
    """
    if review.nerve_path_lps and len(review.nerve_path_lps) >= 2:
        return np.asarray(review.nerve_path_lps, dtype=float)
    from nvcview.measure import as_label_grid, derive_centreline, label_boxes
    from nvcview.structures import find_facial_nerve

    nerve = find_facial_nerve(review.structures)
    if nerve is None:
        return None
    grid = as_label_grid(labels)
    box = label_boxes(np.asarray(labels.array)).get(nerve.label)
    if box is None:
        return None
    lm = review.landmarks
    line = derive_centreline(
        grid,
        nerve.label,
        box,
        start_lps=np.asarray(lm["RExP"], dtype=float) if "RExP" in lm else None,
        end_lps=np.asarray(lm["IAC"], dtype=float) if "IAC" in lm else None,
    )
    return np.asarray(line.points, dtype=float)


def _scrubbed(review: Review) -> Review:
    from nvcview.report.deidentify import scrub_text

    calls = [
        dataclasses.replace(c, comment=scrub_text(c.comment, review.patient, review.case_id))
        for c in review.calls
    ]
    return dataclasses.replace(
        review,
        impression=scrub_text(review.impression, review.patient, review.case_id),
        calls=calls,
    )


def _remove_stale_images(folder: Path, keep: set[str], pattern: re.Pattern | None = None) -> None:
    """Remove key images of an earlier run (our own file names only) not written now."""
    if not folder.is_dir():
        return
    pattern = pattern or key_image_pattern()
    for p in folder.iterdir():
        if p.name not in keep and pattern.match(p.name):
            p.unlink()


def remove_earlier_outputs(out_dir: Path) -> list[Path]:
    """Remove every output an earlier run may have left in ``out_dir`` (our file names).

    Called before a de-identified run, so that no identified file of an earlier
    run stays beside the de-identified ones. Only nvcview's own fixed file names
    are removed; anything else is left alone.
    """
    removed = []
    for name in FILE_NAMES.values():
        p = out_dir / name
        if p.is_file():
            p.unlink()
            removed.append(p)
    for sub, pattern in ((IMAGE_DIR, key_image_pattern()), (KEY_DICOM_DIR, KEY_DICOM_NAME)):
        folder = out_dir / sub
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and pattern.match(p.name):
                    p.unlink()
                    removed.append(p)
    if removed:
        log.warning("removed %d output file(s) of an earlier run from %s", len(removed), out_dir)
    return removed


def write_reports(
    review: Review | str | os.PathLike,
    folder: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    deidentify: bool = False,
    *,
    measurements: Sequence[VesselMeasurement] | None = None,
    recompute: bool = True,
    key: bytes | None = None,
) -> dict[str, Path]:
    """Write the report of a review in the requested formats.

    Parameters
    ----------
    review : Review or path-like
        The review, or its folder / ``review.json`` (then ``folder`` may be None).
    folder : path-like or None
        The review folder (label map, relative series paths).
    out_dir : path-like
        Output folder (created). File names are fixed (:data:`FILE_NAMES`), key
        images go to ``out_dir/images/``.
    formats : sequence of str
        Any of :data:`FORMATS`: "json", "html", "pdf", "sr", "seg", "pdf-dicom"
        (the PDF as Encapsulated PDF), "key-images-dicom" (key images as Secondary
        Captures in ``out_dir/key-images-dicom/`` and a Key Object Selection
        referencing them and the SR / PDF written in the same run). The SR
        references the SEG, so "sr" writes the SEG too. All DICOM outputs join the
        study of the T2 series.
    deidentify : bool
        No patient name, ID, birth date or accession number in any output; a
        stable pseudonym instead; new UIDs in the DICOM outputs. Outputs of an
        earlier run in ``out_dir`` (nvcview's own file names) are removed first,
        so no identified file stays beside the de-identified ones.
    measurements : sequence of VesselMeasurement, optional
        Use these instead of measuring.
    recompute : bool
        Measure with the engine (default); False uses the review's stored
        measurements (when it has any).
    key : bytes, optional
        Secret for the pseudonym and UID mapping (see :mod:`.deidentify`).

    Returns
    -------
    dict
        Format -> path written (plus "images" -> the key image folder when written).
    """
    from nvcview.report.deidentify import deidentify_dataset, pseudonym
    from nvcview.report.keyimages import render_key_images
    from nvcview.review.store import load_labels, load_review

    formats = parse_formats(formats)
    if not isinstance(review, Review):
        folder = Path(folder or review)
        review = load_review(review)
    if folder is None:
        raise InputError("write_reports: the review folder is needed (label map, series)")
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if deidentify:
        remove_earlier_outputs(out_dir)

    labels = load_labels(review, folder)
    if measurements is None:
        if not recompute and review.measurements:
            # stored measurements: the reader's current calls win (as in the report rows)
            measurements = [
                dataclasses.replace(m, reader_grade=c.grade)
                if (c := review.call_for(m.vessel_label)) is not None and c.grade
                else m
                for m in review.measurements
            ]
        else:
            measurements = measure(review, labels)
    ref = _reference_ref(review)
    t2 = _load_series(ref, folder)
    if t2 is None:  # pragma: no cover - _reference_ref always names a series
        raise InputError(f"{folder}: the review's reference series cannot be loaded")
    tof_ref = review.series_by_role("TOF")
    tof = _load_series(tof_ref, folder) if tof_ref is not None else None
    if tof is None:
        log.warning("no TOF series in the review: key images show T2 only")

    pseud = pseudonym(review, key) if deidentify else None
    shown = _scrubbed(review) if deidentify else review
    from nvcview.report.sides import control_review, measure_control

    control = measure_control(review, labels)
    dicom_out = {"sr", "seg", "pdf-dicom", "key-images-dicom"} & set(formats)
    sources: list = []
    others: list = []
    if dicom_out:
        from nvcview.report.seg import find_series_files

        sources = find_series_files(resolve_series_path(ref, folder), ref.series_uid or None)
        if tof_ref is not None:
            others = find_series_files(
                resolve_series_path(tof_ref, folder), tof_ref.series_uid or None
            )
        if pseud is not None:
            sources = [deidentify_dataset(ds, pseud, key) for ds in sources]
            others = [deidentify_dataset(ds, pseud, key) for ds in others]
    else:
        sources = _headers_if_dicom(ref, folder, pseud if deidentify else None, key)
    images: list[KeyImage] = []
    if {"json", "html", "pdf", "pdf-dicom", "key-images-dicom"} & set(formats):
        images = render_key_images(
            t2,
            measurements,
            tof=tof,
            labels=labels,
            structures=review.structures,
            centreline=nerve_centreline(review, labels),
            landmarks=review.landmarks,
            sources=sources,
            side=review.side,
        )
        view = control_review(review)
        if view is not None and control:
            images += render_key_images(
                t2,
                control,
                tof=tof,
                labels=labels,
                structures=view.structures,
                centreline=nerve_centreline(view, labels),
                landmarks=view.landmarks,
                sources=sources,
                side_role="control",
                side=view.side,
            )
    model = build_report(
        shown,
        measurements,
        {"T2": t2, **({"TOF": tof} if tof is not None else {})},
        deidentify=deidentify,
        pseudonym=pseud,
        key_images=images,
        control_measurements=control,
    )
    written: dict[str, Path] = {}
    if "json" in formats:
        from nvcview.fsutil import atomic_write_bytes
        from nvcview.report.json_report import write_json

        for k in images:
            atomic_write_bytes(out_dir / IMAGE_DIR / k.filename, k.png)
        _remove_stale_images(out_dir / IMAGE_DIR, {k.filename for k in images})
        if images:
            written["images"] = out_dir / IMAGE_DIR
        written["json"] = write_json(model, out_dir / FILE_NAMES["json"], IMAGE_DIR)
    if "html" in formats:
        from nvcview.report.html import write_html

        written["html"] = write_html(model, out_dir / FILE_NAMES["html"])
    pdf_bytes = None
    if "pdf" in formats or "pdf-dicom" in formats:
        from nvcview.report.pdf import build_pdf

        pdf_bytes = build_pdf(model)
    if "pdf" in formats and pdf_bytes is not None:
        from nvcview.fsutil import atomic_write_bytes

        atomic_write_bytes(out_dir / FILE_NAMES["pdf"], pdf_bytes)
        written["pdf"] = out_dir / FILE_NAMES["pdf"]
    if dicom_out:
        written.update(
            _write_dicom_outputs(
                model, review, labels, sources, others, formats, out_dir, pdf_bytes
            )
        )
    return written


def _headers_if_dicom(ref: SeriesRef, folder: Path, pseud: str | None, key: bytes | None) -> list:
    """Headers of the reference series when it is DICOM (for PACS numbers in captions)."""
    from nvcview.errors import NvcviewError
    from nvcview.report.seg import find_series_files

    try:
        found = find_series_files(resolve_series_path(ref, folder), ref.series_uid or None)
    except NvcviewError:
        return []  # NIfTI or no headers: captions without series / image numbers
    if pseud is not None:
        from nvcview.report.deidentify import deidentify_dataset

        found = [deidentify_dataset(ds, pseud, key) for ds in found]
    return found


def _write_dicom_outputs(
    model: ReportModel,
    review: Review,
    labels: Image,
    sources: list,
    others: list,
    formats: Sequence[str],
    out_dir: Path,
    pdf_bytes: bytes | None,
) -> dict[str, Path]:
    """SEG, SR, Encapsulated PDF, key images (SC) and their Key Object Selection."""
    import pydicom

    from nvcview.report.seg import build_seg, write_dicom
    from nvcview.report.sr import build_sr

    written: dict[str, Path] = {}
    structures = list(review.structures)
    if review.contralateral is not None:
        structures += list(review.contralateral.structures)
    seg, numbers = build_seg(sources, labels, structures)
    if "seg" in formats or "sr" in formats:
        written["seg"] = write_dicom(seg, out_dir / FILE_NAMES["seg"])
    flagged: list[pydicom.Dataset] = []
    if "sr" in formats:
        sr = build_sr(model, sources, seg, numbers, other_evidence=others)
        written["sr"] = write_dicom(sr, out_dir / FILE_NAMES["sr"])
        flagged.append(sr)
    if "pdf-dicom" in formats and pdf_bytes is not None:
        from nvcview.report.pacs import encapsulated_pdf

        epdf = encapsulated_pdf(pdf_bytes, model, sources[0])
        written["pdf-dicom"] = write_dicom(epdf, out_dir / FILE_NAMES["pdf-dicom"])
        flagged.append(epdf)
    if "key-images-dicom" in formats:
        from pydicom.uid import generate_uid

        from nvcview.report.pacs import key_image_dataset, key_object_selection

        series_uid = generate_uid()
        folder = out_dir / KEY_DICOM_DIR
        folder.mkdir(parents=True, exist_ok=True)
        scs, names = [], set()
        for i, k in enumerate(model.key_images, start=1):
            side = model.header["side"]
            if k.side_role == "control":
                side = model.control.side if model.control is not None else None
            sc = key_image_dataset(
                k, sources[0], series_uid=series_uid, instance_number=i, side=side
            )
            name = f"ki-{i:03d}.dcm"
            write_dicom(sc, folder / name)
            scs.append(sc)
            names.add(name)
        _remove_stale_images(folder, names, KEY_DICOM_NAME)
        written["key-images-dicom-dir"] = folder
        ko = key_object_selection(scs, flagged, model)
        written["key-images-dicom"] = write_dicom(ko, out_dir / FILE_NAMES["key-images-dicom"])
    return written
