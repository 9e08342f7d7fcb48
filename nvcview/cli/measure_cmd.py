"""``nvcview measure``: run the measurement engine on a review and print the contacts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nvcview.io.image import Image
    from nvcview.measure.records import MeasureSettings
    from nvcview.review.model import Review

HELP = "measure every vessel against the facial nerve in a review (table or JSON)"

_COLUMNS = (
    ("label", 5),
    ("vessel", 16),
    ("type", 7),
    ("gap mm", 7),
    ("interval mm", 11),
    ("res mm", 7),
    ("contact", 7),
    ("segment", 18),
    ("RDP mm", 7),
    ("suggested", 11),
    ("reader", 11),
    ("nerve point LPS mm", 24),
    ("vessel point LPS mm", 24),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``nvcview measure``."""
    parser.add_argument(
        "review",
        help="review folder (or its review.json); or a label map .nii/.nii.gz made in "
        "Slicer/ITK-SNAP, given with --table or --structures",
    )
    parser.add_argument("--json", action="store_true", help='print JSON {"contacts": [...]}')
    parser.add_argument(
        "--contact-mm",
        type=float,
        default=None,
        help="absolute contact threshold in mm (default: the review's settings, one voxel); "
        "with --save it is stored in the review's settings",
    )
    parser.add_argument(
        "--surface-method",
        metavar="METHOD",
        default=None,
        help="surface estimator: 'corrected' (default: the review's settings) or 'image-edge' "
        "places each surface at the half-way intensity of the series the labels lie on "
        "(the T2, found from the review or given with --reference); with --save it is "
        "stored in the review's settings ('gaussian', 'antialias': comparison methods)",
    )
    parser.add_argument(
        "--save",
        action="store_true",
        help="store the measurements in the review (a logged save; refused for final reviews)",
    )
    parser.add_argument("--actor", default=None, help="who saves (audit trail); default reader")
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="also write the label map, Slicer colour table, ITK-SNAP label file and "
        "Slicer markups (landmarks, nerve curve) into DIR",
    )
    imp = parser.add_argument_group("label map input (import from Slicer / ITK-SNAP)")
    imp.add_argument(
        "--table", help="label table: ITK-SNAP label description, Slicer .ctbl, CSV or JSON"
    )
    imp.add_argument("--structures", help="structure table inline: '1=facial nerve,2=AICA'")
    imp.add_argument(
        "--markups",
        action="append",
        default=[],
        help="Slicer .mrk.json with landmarks (RExP, RDP, IAC) or the nerve curve (repeatable)",
    )
    imp.add_argument("--reference", help="series the labels were drawn on (checked grid)")
    imp.add_argument("--reader", default="", help="reader ID for the imported review")
    imp.add_argument("--side", choices=("left", "right"), help="side of symptoms")
    imp.add_argument("--save-review", metavar="DIR", help="save the imported review folder here")


def _fmt_num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _fmt_interval(lo: float | None, hi: float | None) -> str:
    from nvcview.measure.uncertainty import interval_text

    return interval_text(lo, hi) or "-"


def _fmt_point(p: list[float] | None) -> str:
    return "-" if p is None else "(" + ", ".join(f"{v:.1f}" for v in p) + ")"


def format_table(rows: list[dict], header: str) -> str:
    """Plain-text table of contact rows (see :func:`nvcview.review.measuring.contact_rows`)."""
    lines = [header]
    lines.append("  ".join(name.ljust(w) for name, w in _COLUMNS).rstrip())
    for r in rows:
        cells = (
            str(r["vessel_label"]),
            r["vessel_name"][:16],
            r["vessel_type"],
            _fmt_num(r["gap_mm"]),
            _fmt_interval(r.get("gap_low_mm"), r.get("gap_high_mm")),
            _fmt_num(r["resolution_mm"]),
            "yes" if r["contact"] else "no",
            r["segment"] or "-",
            _fmt_num(r["dist_from_rdp_mm"]),
            r["suggested_grade"],
            r["reader_grade"] or "-",
            _fmt_point(r["nerve_point_lps"]),
            _fmt_point(r["vessel_point_lps"]),
        )
        lines.append("  ".join(c.ljust(w) for c, (_, w) in zip(cells, _COLUMNS, strict=True)))
    if not rows:
        lines.append("(no vessel voxels in the label map)")
    for r in rows:
        for what in ("indentation", "deviation"):
            key = "indentation_depth_mm" if what == "indentation" else "deviation_mm"
            v, t = r.get(key), r.get(f"{what}_threshold_mm")
            if v is not None and t is not None and r["contact"]:
                lines.append(f"  {r['vessel_name']}: {what} {v:.2f} mm (called from {t:.2f} mm)")
    lines.append(
        "the true gap lies in 'interval mm' (one voxel along the gap below, the method's "
        "measured error above); contact when it includes 0; positions are patient LPS mm"
    )
    return "\n".join(line.rstrip() for line in lines)


def _print_sr(args: argparse.Namespace) -> int:
    """``nvcview measure SR_FILE [--json]``: print the SR's measurements (0 on success)."""
    import json

    from nvcview.report.sr_read import read_sr

    doc = read_sr(args.review)
    if getattr(args, "json", False):
        print(json.dumps(doc, indent=2))
        return 0
    header = (
        f"case {doc['case_id'] or '-'}  reader {doc['reader'] or '-'}  side {doc['side'] or '-'}"
        f"  ({len(doc['contacts'])} vessel(s), read from the SR)"
    )
    print(format_table(doc["contacts"], header))
    if "contralateral" in doc:
        other = doc["contralateral"]
        print()
        print(format_table(other["contacts"], f"other side as control: {other['side'] or '-'}"))
    return 0


def _edge_image(
    args: argparse.Namespace, review: Review, folder: Path | None, settings: MeasureSettings
) -> Image | None:
    """The series the "image-edge" surface reads (None for the other methods): the
    review's reference series, or ``--reference`` for an imported label map. An
    explicit ``--surface-method image-edge`` without it is an error."""
    from nvcview.case.measurement import review_edge_image
    from nvcview.errors import InputError

    if settings.surface_method != "image-edge":
        return None
    if folder is not None:
        image = review_edge_image(review, folder, settings)
    elif args.reference:
        from nvcview.io import load

        image = load(Path(args.reference))
    else:
        image = None
    if image is None and getattr(args, "surface_method", None) == "image-edge":
        raise InputError(
            f"{args.review}: --surface-method image-edge needs the series the labels lie on "
            "(the review's T2 was not found; for a label map give --reference SERIES)"
        )
    return image


def run(args: argparse.Namespace) -> int:
    """Load (or import) the review, measure it, print a table or JSON; 0 on success."""
    from nvcview.case.measurement import measure_review_labels
    from nvcview.errors import InputError
    from nvcview.io.nifti import is_nifti_path
    from nvcview.review.measuring import contact_rows, nerve_coverage_doc
    from nvcview.review.store import load_labels, load_review, save_review

    path = Path(args.review)
    from nvcview.report.sr_read import is_sr_file

    if is_sr_file(path):  # an nvcview SR (report-sr.dcm): read back, no measuring
        return _print_sr(args)
    if not path.exists():
        raise InputError(f"{path}: no such review folder or file")
    folder = None
    if is_nifti_path(path):
        from nvcview.review.importing import review_from_labelmap

        if args.save:
            raise InputError("--save needs a review folder; use --save-review DIR to import")
        review, labels = review_from_labelmap(
            path,
            table=args.table,
            structures=args.structures,
            markups=args.markups,
            reference=args.reference,
            reader=args.reader,
            side=args.side,
        )
        if args.save_review:
            save_review(review, args.save_review, labels, actor=args.actor)
    else:
        if args.table or args.structures or args.markups or args.reference or args.save_review:
            raise InputError(
                f"{path}: --table/--structures/--markups/--reference/--save-review are for a "
                "label map input, not a review folder"
            )
        folder = path.parent if path.is_file() else path
        review = load_review(path)
        labels = load_labels(review, folder)
    from dataclasses import replace

    settings = review.settings
    if args.contact_mm is not None:
        settings = replace(settings, contact_mm=float(args.contact_mm))
    if getattr(args, "surface_method", None):
        settings = replace(settings, surface_method=args.surface_method)
    image = _edge_image(args, review, folder, settings)
    measurements = measure_review_labels(review, labels, settings, image=image)
    if args.save and folder is not None:
        review.measurements = measurements
        review.settings = settings  # the threshold the stored contact flags were judged by
        save_review(review, folder, actor=args.actor)
    if args.export:
        from nvcview.review.exporting import export_for_tools

        if folder is None:  # an imported label map: export from a saved copy
            if not args.save_review:
                raise InputError("--export of an imported label map needs --save-review DIR")
            folder = Path(args.save_review)
        written = export_for_tools(review, folder, args.export)
        print(
            f"exported {', '.join(p.name for p in written.values())} to {args.export}",
            file=sys.stderr,
        )
    rows = contact_rows(measurements)
    if args.json:
        doc = {
            "review_id": review.review_id,
            "case_id": review.case_id,
            "reader": review.reader,
            "side": review.side,
            "units": {"length": "mm", "frame": "patient LPS"},
            "contacts": rows,
            **nerve_coverage_doc(measurements),
        }
        print(json.dumps(doc, indent=2))
    else:
        header = (
            f"case {review.case_id or '-'}  reader {review.reader or '-'}  "
            f"side {review.side or '-'}  ({len(rows)} vessel(s))"
        )
        print(format_table(rows, header))
        missing = nerve_coverage_doc(measurements)["not_assessable_segments"]
        if missing:
            print(f"not assessable (the nerve label does not cover them): {', '.join(missing)}")
    return 0
