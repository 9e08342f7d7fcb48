"""``nvcview info PATH [--json]``: list the volumes under a path, from headers only.

One line per volume: volume id, role guess, description, shape (slices x rows x
columns), voxel size in mm, orientation, number of files, warnings. ``--json``
prints a JSON array with one object per volume instead. Patient identifiers are
printed only with ``--phi`` (to check that a folder holds the right patient).
"""

from __future__ import annotations

import argparse
import json

HELP = "list the volumes (series, stacks, echoes) under a DICOM folder/file or NIfTI file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", metavar="PATH", help="DICOM folder or file, .nii[.gz], .mha/.mhd or .nrrd file"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array of volumes")
    parser.add_argument(
        "--phi",
        action="store_true",
        help="also print patient name, ID, birth date and study date (identifying!)",
    )


def format_line(meta) -> str:
    """One human-readable line for a :class:`~nvcview.io.image.SeriesMeta`."""
    shape = "x".join(str(s) for s in meta.shape) or "?"
    spacing = "x".join(f"{s:.3g}" for s in meta.spacing_mm) + " mm" if meta.spacing_mm else "?"
    desc = meta.series_description or "(no description)"
    parts = [
        meta.volume_id or meta.source_path,
        meta.role,
        repr(desc),
        shape,
        spacing,
        meta.orientation or "?",
        f"{meta.n_files} file{'s' if meta.n_files != 1 else ''}",
    ]
    line = "  ".join(parts)
    if meta.warnings:
        line += "  warnings: " + "; ".join(meta.warnings)
    return line


def _patient_line(patient) -> str:
    return (
        f"    patient: {patient.patient_name or '?'}  id {patient.patient_id or '?'}  "
        f"born {patient.patient_birth_date or '?'}  study {patient.study_date or '?'}  "
        f"accession {patient.accession_number or '?'}"
    )


def run(args: argparse.Namespace) -> int:
    from nvcview.io import list_series
    from nvcview.io.image import PatientInfo
    from nvcview.io.itkimage import is_itk_path
    from nvcview.io.nifti import is_nifti_path

    if args.phi and not is_nifti_path(args.path) and not is_itk_path(args.path):
        from nvcview.io.dicom import list_dicom_series_with_patient

        pairs = list_dicom_series_with_patient(args.path)
    else:
        pairs = [(m, PatientInfo()) for m in list_series(args.path)]
    if args.json:
        docs = []
        for meta, patient in pairs:
            doc = meta.to_dict()
            if args.phi:
                doc["patient"] = patient.to_dict()
            docs.append(doc)
        print(json.dumps(docs, indent=2))
    else:
        for meta, patient in pairs:
            print(format_line(meta))
            if args.phi:
                print(_patient_line(patient))
    return 0
