"""``nvcview demo``: sample study in, every report format out (offline, seconds)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "generate the sample study, measure it and write every report format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="nvcview-demo", help="output folder (default: ./nvcview-demo)"
    )
    parser.add_argument("--deidentify", action="store_true", help="de-identified report")


def _review_folder(paths, out: Path) -> Path:
    for name in ("review", "review_dir", "review_folder"):
        p = getattr(paths, name, None)
        if p is not None:
            return Path(p)
    return out / "review"


def run(args: argparse.Namespace) -> int:
    from nvcview.errors import InputError
    from nvcview.report import write_reports

    try:
        from nvcview_sample import write_sample
    except ImportError as exc:
        raise InputError(
            f"the sample generator (nvcview_sample.write_sample) is not installed: {exc}"
        ) from exc
    out = Path(args.out)
    sample_dir = out / "sample"
    print(f"writing the sample study to {sample_dir} ...", file=sys.stderr)
    paths = write_sample(sample_dir)
    folder = _review_folder(paths, sample_dir)
    written = write_reports(folder, folder, out / "report", deidentify=args.deidentify)
    doc = json.loads(Path(written["json"]).read_text(encoding="utf-8"))
    print(f"conclusion: {doc['conclusion']}", file=sys.stderr)
    for fmt, path in written.items():
        print(f"{fmt}: {path}", file=sys.stderr)
    print(Path(written["html"]).resolve())
    return 0
