"""``nvcview report REVIEW --out DIR``: write the structured report of a review."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "write the report of a review (JSON, HTML, PDF; DICOM SR, SEG, Encapsulated PDF, "
    "key images and a Key Object Selection)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("review", help="review folder (or its review.json)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--format",
        default="all",
        help="comma-separated formats among json,html,pdf,sr,seg,pdf-dicom,key-images-dicom "
        "(default: all)",
    )
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="no patient identifiers in any output: stable pseudonym, new DICOM UIDs; "
        "outputs of an earlier run in --out are removed first",
    )
    parser.add_argument(
        "--key-file",
        help="secret key file for pseudonyms and UID mapping (recommended with --deidentify)",
    )
    parser.add_argument(
        "--stored",
        action="store_true",
        help="use the measurements stored in the review instead of measuring again",
    )


def run(args: argparse.Namespace) -> int:
    from nvcview.report import parse_formats, write_reports

    key = None
    if args.key_file:
        from nvcview.errors import InputError

        try:
            key = Path(args.key_file).read_bytes().strip()
        except OSError as exc:
            raise InputError(f"{args.key_file}: key file cannot be read ({exc})") from exc
        if len(key) < 16:
            raise InputError(f"{args.key_file}: key file too short (need at least 16 bytes)")
    written = write_reports(
        args.review,
        None,
        args.out,
        formats=parse_formats(args.format),
        deidentify=args.deidentify,
        recompute=not args.stored,
        key=key,
    )
    for fmt, path in written.items():
        print(f"{fmt}: {path}")
    return 0
