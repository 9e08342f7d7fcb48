"""``nvcview register FIXED MOVING``: rigid registration of MOVING (TOF) onto FIXED (T2).

Prints the 4x4 ``moving_to_fixed_lps`` transform (maps the LPS mm position of a
point of the moving series' anatomy to the LPS mm position of the same anatomy in
the fixed series), its rotation and shift, and its quality (estimated residual,
metric, iterations, region). ``--json`` prints ``Registration.to_dict()`` plus
``rotation_deg`` and ``translation_mm``.
"""

from __future__ import annotations

import argparse
import json

HELP = "rigidly register a moving series (TOF, T1) onto the reference T2 in the CPA region"


def _landmark(text: str) -> tuple[str, list[float]]:
    name, sep, coords = text.partition("=")
    try:
        values = [float(v) for v in coords.split(",")]
    except ValueError:
        values = []
    if not sep or not name.strip() or len(values) != 3:
        raise argparse.ArgumentTypeError(
            f"landmark {text!r}: expected NAME=X,Y,Z (LPS mm), e.g. IAC=26.5,-4.6,9.1"
        )
    return name.strip(), values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments: FIXED, MOVING, ``--json``, ``--landmark``, ``--side``, ``--region-mm``, ``--force``."""
    parser.add_argument(
        "fixed", metavar="FIXED", help="reference series (T2): DICOM folder/file or NIfTI"
    )
    parser.add_argument(
        "moving", metavar="MOVING", help="series to align (TOF): DICOM folder/file or NIfTI"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--landmark",
        type=_landmark,
        action="append",
        default=[],
        metavar="NAME=X,Y,Z",
        help="landmark in LPS mm centring the region (RExP, RDP, IAC; repeatable)",
    )
    parser.add_argument("--side", choices=("left", "right"), help="side of the landmarks")
    parser.add_argument(
        "--region-mm", type=float, default=50.0, help="edge of the registration box, mm (50)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="accept a transform beyond 10 mm / 10 degrees or one that did not converge",
    )
    parser.add_argument("--fixed-series", help="SeriesInstanceUID in FIXED when it holds several")
    parser.add_argument("--moving-series", help="SeriesInstanceUID in MOVING when it holds several")


def run(args: argparse.Namespace) -> int:
    """Register and print; errors (no overlap, refused, bad file) exit 2 with one line."""
    from pathlib import Path

    import numpy as np

    from nvcview.errors import InputError
    from nvcview.io import load
    from nvcview.jsonutil import plain_json
    from nvcview.register import register_series

    for p in (args.fixed, args.moving):
        if not Path(p).exists():
            raise InputError(f"{p}: no such file or folder")
    fixed = load(args.fixed, args.fixed_series)
    moving = load(args.moving, args.moving_series)
    if not fixed.meta.source_path:
        fixed.meta.source_path = str(args.fixed)
    if not moving.meta.source_path:
        moving.meta.source_path = str(args.moving)
    reg = register_series(
        fixed,
        moving,
        landmarks=dict(args.landmark) or None,
        side=args.side,
        region_mm=args.region_mm,
        force=args.force,
    )
    out = reg.to_dict()
    out["rotation_deg"] = reg.rotation_deg
    out["translation_mm"] = reg.translation_mm.tolist()
    if args.json:
        print(json.dumps(plain_json(out), indent=2, allow_nan=False))
        return 0
    with np.printoptions(precision=4, suppress=True):
        print("moving_to_fixed_lps (moving anatomy LPS mm -> fixed LPS mm):")
        for row in reg.moving_to_fixed_lps:
            print("  " + "  ".join(f"{v:10.5f}" for v in row))
    t = reg.translation_mm
    print(
        f"rotation {reg.rotation_deg:.2f} deg, region centre moved by "
        f"({t[0]:.2f}, {t[1]:.2f}, {t[2]:.2f}) mm = {float(np.linalg.norm(t)):.2f} mm"
    )
    print(
        f"estimated residual {reg.residual_mm:.2f} mm; {reg.metric} {reg.metric_value:.4f}; "
        f"{reg.iterations} iterations"
    )
    lo, hi = reg.region_lps
    print(
        "region LPS mm: "
        + " .. ".join("(" + ", ".join(f"{v:.1f}" for v in c) + ")" for c in (lo, hi))
    )
    for w in reg.warnings:
        print(f"warning: {w}")
    return 0
