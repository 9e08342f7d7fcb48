"""``nvcview agreement TABLE --out DIR``: inter-reader agreement from a batch table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "inter-reader agreement (kappa, ICC, Bland-Altman) from an nvcview batch table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "table", type=Path, help="vessel table written by nvcview batch (.csv or .parquet)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for agreement.csv/.html and the plots"
    )
    parser.add_argument(
        "--all-vessels",
        action="store_true",
        help="ICC and Bland-Altman over every vessel, not only those graded as a conflict "
        "by at least one reader",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")


def run(args: argparse.Namespace) -> int:
    from nvcview.batch.agreement_report import write_agreement

    written = write_agreement(args.table, args.out, all_vessels=args.all_vessels)
    if not args.quiet:
        n_plots = sum(1 for k in written if k.startswith("plot:"))
        print(
            f"wrote {written['html']}, {written['csv'].name} and {n_plots} Bland-Altman plot(s)",
            file=sys.stderr,
        )
    return 0
