"""``nvcview info PATH [--json]``: list the volumes under a path, from headers only.

One line per volume: volume id, role guess, description, shape (slices x rows x
columns), voxel size in mm, orientation, number of files, warnings. ``--json``
prints a JSON array with one object per volume instead. Patient identifiers are
never printed.
"""

from __future__ import annotations

import argparse
import json

HELP = "list the volumes (series, stacks, echoes) under a DICOM folder/file or NIfTI file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="DICOM folder or file, or .nii[.gz] file")
    parser.add_argument("--json", action="store_true", help="print a JSON array of volumes")


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


def run(args: argparse.Namespace) -> int:
    from nvcview.io import list_series

    metas = list_series(args.path)
    if args.json:
        print(json.dumps([m.to_dict() for m in metas], indent=2))
    else:
        for meta in metas:
            print(format_line(meta))
    return 0
