"""``nvcview batch ROOT --out FILE.(csv|parquet)``: all reviews under ROOT to tables.

Exit status: 0 every review exported, 1 some reviews failed (listed in the
errors table; the others are still written), 2 the run could not start (bad
root, output name, key file, scheduler address).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "export the measurements of every review under a folder to CSV/Parquet tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="folder searched (any depth) for review folders")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="vessel table FILE.csv or FILE.parquet; FILE_cases, FILE_errors and the "
        "FILE_cache folder go beside it",
    )
    parser.add_argument(
        "--stored",
        action="store_true",
        help="use the measurements stored in review.json instead of recomputing them",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local worker processes (default: the CPU cores available; 1 = in this process; "
        "ignored with --scheduler)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="run on an existing Dask distributed cluster, e.g. tcp://10.0.0.5:8786",
    )
    parser.add_argument(
        "--force", action="store_true", help="redo every review, ignoring the cache"
    )
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="replace patient/study identifiers by keyed pseudonyms and shift dates "
        "(needs --key-file)",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        metavar="K",
        help="secret key for the pseudonyms; created if missing; keep it out of the output",
    )
    parser.add_argument(
        "--drop-dates",
        action="store_true",
        help="with --deidentify: drop dates instead of shifting them",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args: argparse.Namespace) -> int:
    from nvcview.batch.export import BatchOptions, check_key_outside, describe, run_batch
    from nvcview.batch.pseudonym import Pseudonymizer, read_key_file
    from nvcview.batch.run import default_workers
    from nvcview.errors import InputError

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.key_file is not None and not args.deidentify:
        raise InputError("--key-file is only used with --deidentify")
    if args.drop_dates and not args.deidentify:
        raise InputError("--drop-dates is only used with --deidentify")
    pz = None
    if args.deidentify:
        if args.key_file is None:
            raise InputError("--deidentify needs --key-file K (the secret key of the pseudonyms)")
        check_key_outside(args.out, args.key_file)
        existed = args.key_file.exists()
        key = read_key_file(args.key_file, create=True)
        if not existed and not args.quiet:
            print(
                f"created a new pseudonym key in {args.key_file}: keep it secret and apart "
                "from the exported tables; the same key gives the same pseudonyms",
                file=sys.stderr,
            )
        pz = Pseudonymizer(key, shift_dates=not args.drop_dates)
    opts = BatchOptions(
        root=args.root,
        out=args.out,
        stored=args.stored,
        workers=args.workers if args.workers is not None else default_workers(),
        scheduler=args.scheduler,
        force=args.force,
        pseudonymizer=pz,
        progress=not args.quiet,
    )
    summary = run_batch(opts, key_file=args.key_file if pz is not None else None)
    if not args.quiet:
        print(describe(summary), file=sys.stderr)
    return 1 if summary.n_failed else 0
