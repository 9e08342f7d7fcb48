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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from nvcview.case.measurement import (
    can_measure,
    edge_image,
    measure_review_labels,
)
from nvcview.case.pseudonym import DEFAULT_KEY, Pseudonymizer
from nvcview.case.resolve import (
    find_series_path,
    load_review_series,
    reference_ref,
    resolve_series_path,
)
from nvcview.case.session import CaseSession
from nvcview.errors import InputError
from nvcview.io.image import Image
from nvcview.measure.records import VesselMeasurement
from nvcview.report.content import KeyImage, ReportModel, build_report
from nvcview.review.model import Review, SeriesRef

__all__ = [
    "DICOM_FORMATS",
    "FORMATS",
    "KeyImage",
    "ReportModel",
    "build_report",
    "case_formats",
    "patient_pseudonym",
    "resolve_series_path",
    "write_case_reports",
    "write_reports",
]

log = logging.getLogger(__name__)

FORMATS = ("json", "html", "pdf", "sr", "seg", "pdf-dicom", "key-images-dicom")
#: Formats that reference the source DICOM files (need the reference series on disk as DICOM)
DICOM_FORMATS = ("sr", "seg", "pdf-dicom", "key-images-dicom")
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


#: The review -> measurement path (one, in :mod:`nvcview.case.measurement`).
measure = measure_review_labels


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


def _scrubbed(review: Review, headers: Sequence = ()) -> Review:
    from nvcview.report.deidentify import scrub_review_text

    return scrub_review_text(review, headers)


def _remove_stale_images(folder: Path, keep: set[str], pattern: re.Pattern | None = None) -> None:
    """Remove key images of an earlier run (our own file names only) not written now."""
    if not folder.is_dir():
        return
    pattern = pattern or key_image_pattern()
    for p in folder.iterdir():
        if p.name not in keep and pattern.match(p.name):
            p.unlink()


def patient_pseudonym(review: Review, key: bytes | None = None) -> str:
    """The patient's pseudonym in de-identified reports: the one keyed scheme
    (:meth:`nvcview.case.pseudonym.Pseudonymizer.patient`) the batch table uses too."""
    p = review.patient
    return Pseudonymizer(key or DEFAULT_KEY).patient(
        p.patient_id if p is not None else None, review.study_uid, review.case_id
    )


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
    images: Mapping[str, Image] | None = None,
    labels: Image | None = None,
) -> dict[str, Path]:
    """Write the report of a review in the requested formats.

    Parameters
    ----------
    review : Review or path-like
        The review, or its folder / ``review.json`` (then ``folder`` may be None).
    folder : path-like or None
        The review folder (label map, relative series paths). May be None when
        ``images`` and ``labels`` are given (a case in memory) and no DICOM
        format is asked for.
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
        stable pseudonym instead (:func:`patient_pseudonym`); new UIDs in the
        DICOM outputs. Outputs of an earlier run in ``out_dir`` (nvcview's own
        file names) are removed first, so no identified file stays beside the
        de-identified ones.
    measurements : sequence of VesselMeasurement, optional
        Use these instead of measuring.
    recompute : bool
        Measure with the engine (default); False uses the review's stored
        measurements (when it has any).
    key : bytes, optional
        Secret for the pseudonym and UID mapping (see :mod:`.deidentify`).
    images : mapping, optional
        Role ("T2", "TOF") -> Image already loaded (default: found through the
        review's series references, :func:`nvcview.case.load_review_series`).
    labels : Image, optional
        The label map already in memory (default: read from ``folder``).

    Returns
    -------
    dict
        Format -> path written (plus "images" -> the key image folder when written).
    """
    from nvcview.report.deidentify import deidentify_dataset
    from nvcview.report.keyimages import render_key_images
    from nvcview.review.store import load_labels, load_review

    formats = parse_formats(formats)
    if not isinstance(review, Review):
        folder = Path(folder or review)
        review = load_review(review)
    if folder is not None:
        folder = Path(folder)
        if folder.is_file():
            folder = folder.parent
    if folder is None and (labels is None or images is None):
        raise InputError("write_reports: the review folder is needed (label map, series)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if deidentify:
        remove_earlier_outputs(out_dir)

    if labels is None:
        assert folder is not None
        labels = load_labels(review, folder)
    if images is None:  # read once: the key images and the image-edge surface use them
        assert folder is not None
        images = load_review_series(review, folder, required=("reference",))
    if measurements is None:
        if not recompute and review.measurements:
            # stored measurements: the reader's current calls win (as in the report rows)
            measurements = [
                dataclasses.replace(m, reader_grade=c.grade)
                if (c := review.call_for(m.vessel_label)) is not None and c.grade
                else m
                for m in review.measurements
            ]
        elif can_measure(review.structures):
            measurements = measure_review_labels(
                review, labels, image=edge_image(review.settings, images, labels)
            )
        else:
            measurements = []  # nothing labelled to measure yet: a report of the case as it is
    ref = reference_ref(review)
    base = images.get(ref.role)
    if base is None:
        raise InputError(f"{folder or 'case'}: the {ref.role} (reference) series is not loaded")
    t2 = images.get("T2")
    tof = images.get("TOF")
    if tof is None:
        log.warning("no TOF series in the review: key images show T2 only")
    elif tof is not base:
        from nvcview.register import through_review

        tof = through_review(tof, review)  # fused key images through the stored registration

    pseud = patient_pseudonym(review, key) if deidentify else ""
    headers = [im.patient for im in (t2, tof) if im is not None]  # DICOM identifiers
    shown = _scrubbed(review, headers) if deidentify else review
    from nvcview.report.sides import control_review, measure_control

    control = measure_control(review, labels, image=edge_image(review.settings, images, labels))
    where = folder if folder is not None else Path.cwd()
    dicom_out = set(DICOM_FORMATS) & set(formats)
    sources: list = []
    others: list = []
    if dicom_out:
        from nvcview.report.deidentify import deidentify_dataset
        from nvcview.report.seg import find_series_files

        sources = find_series_files(resolve_series_path(ref, where), ref.series_uid or None)
        other_ref = next(
            (s for s in review.series if s.role in ("T2", "TOF") and s is not ref), None
        )
        other_path = find_series_path(other_ref, where) if other_ref is not None else None
        if other_ref is not None and other_path is not None:
            others = find_series_files(other_path, other_ref.series_uid or None)
        if deidentify:
            sources = [deidentify_dataset(ds, pseud, key) for ds in sources]
            others = [deidentify_dataset(ds, pseud, key) for ds in others]
    else:
        sources = _headers_if_dicom(ref, where, pseud if deidentify else None, key)
    key_images: list[KeyImage] = []
    if {"json", "html", "pdf", "pdf-dicom", "key-images-dicom"} & set(formats):
        key_images = render_key_images(
            base,
            measurements,
            tof=tof if tof is not base else None,
            labels=labels,
            structures=review.structures,
            centreline=nerve_centreline(review, labels),
            landmarks=dict(review.landmarks),
            sources=sources,
            side=review.side,
        )
        view = control_review(review)
        if view is not None and control:
            key_images += render_key_images(
                base,
                control,
                tof=tof if tof is not base else None,
                labels=labels,
                structures=view.structures,
                centreline=nerve_centreline(view, labels),
                landmarks=dict(view.landmarks),
                sources=sources,
                side_role="control",
                side=view.side,
            )
    model = build_report(
        shown,
        measurements,
        {k: v for k, v in (("T2", t2), ("TOF", tof)) if v is not None},
        deidentify=deidentify,
        pseudonym=pseud or None,
        key_images=key_images,
        control_measurements=control,
    )
    written: dict[str, Path] = {}
    if "json" in formats:
        from nvcview.fsutil import atomic_write_bytes
        from nvcview.report.json_report import write_json

        for k in key_images:
            atomic_write_bytes(out_dir / IMAGE_DIR / k.filename, k.png)
        _remove_stale_images(out_dir / IMAGE_DIR, {k.filename for k in key_images})
        if key_images:
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


def case_formats(session: CaseSession, formats: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """Which of ``formats`` a case can be reported in now, and why the others cannot.

    The DICOM SR and SEG reference the reference series' DICOM files: a case
    whose reference series is not DICOM on disk (the practice phantom, NIfTI)
    gets the JSON / HTML / PDF report only.

    Returns
    -------
    formats : tuple of str
        The formats that can be written.
    note : str
        Why some were left out ("" when none was).
    """
    wanted = parse_formats(formats)
    ref = session.reference
    path = ref.meta.source_path
    dicom = bool(path) and Path(path).exists() and not _is_nifti(path)
    if dicom:
        return wanted, ""
    kept = tuple(f for f in wanted if f not in DICOM_FORMATS)
    dropped = [f for f in wanted if f in DICOM_FORMATS]
    note = ""
    if dropped:
        note = (
            f"{'/'.join(f.upper() for f in dropped)} not written: the reference series is not "
            "a DICOM series on disk"
        )
    return kept, note


def _is_nifti(path: str) -> bool:
    from nvcview.io.nifti import is_nifti_path

    return bool(is_nifti_path(Path(path)))


def write_case_reports(
    session: CaseSession,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    deidentify: bool = False,
    *,
    key: bytes | None = None,
) -> tuple[dict[str, Path], str]:
    """Report a case as it is now, from any state the core can report on.

    A draft with unsaved edits and a review folder is saved first (with fresh
    measurements); a signed review or a case never saved (the practice phantom)
    is reported from memory. The measurements are always those of the current
    state. Formats the case cannot give (:func:`case_formats`) are left out.

    Returns
    -------
    written : dict
        Format -> path written.
    note : str
        What was left out and why ("" when nothing was).
    """
    if not session.has_series:
        raise InputError("no series loaded: nothing to report")
    if session.folder is not None and session.dirty and session.editable:
        session.save()
    review = session.to_review()
    kept, note = case_formats(session, formats)
    measurements = session.fresh_measurements()
    if not measurements and "sr" in kept:
        kept = tuple(f for f in kept if f != "sr")  # a TID 1500 SR needs a measurement
        note = "; ".join(x for x in (note, "SR not written: no measurement to report") if x)
    if not kept:
        raise InputError(note or "no report format left to write")
    images = {k: v for k, v in (("T2", session.t2), ("TOF", session.tof)) if v is not None}
    written = write_reports(
        review,
        session.folder,
        out_dir,
        kept,
        deidentify,
        measurements=measurements,
        key=key,
        images=images,
        labels=session.labels_image(),
    )
    return written, note
