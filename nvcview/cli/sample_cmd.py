"""``nvcview sample OUT_DIR``: write the synthetic CPA phantom with its ground truth."""

from __future__ import annotations

import argparse

HELP = "write the synthetic CPA phantom (DICOM T2 + TOF, truth.json, ground-truth review)"

SEGMENT_CHOICES = ("RExP", "AS", "RDP", "cisternal")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="noise and anatomy variation (0)")
    parser.add_argument("--side", choices=("left", "right"), default="left", help="conflict side")
    parser.add_argument(
        "--gap-mm", type=float, default=0.0, help="AICA to facial nerve surface gap, mm (0)"
    )
    parser.add_argument(
        "--segment",
        choices=SEGMENT_CHOICES,
        default="AS",
        help="where along the facial nerve the AICA comes closest (AS)",
    )
    parser.add_argument(
        "--indent-mm",
        type=float,
        default=0.0,
        help="AICA dents the nerve by this depth, mm (needs --gap-mm 0)",
    )
    parser.add_argument("--oblique", action="store_true", help="tilt both series a few degrees")
    parser.add_argument("--full-size", action="store_true", help="512 x 512 matrices")
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="realistic variant: Rician noise at CISS-like SNR, bias field, partial volume, "
        "TOF inflow fall-off, veins dark on TOF",
    )
    parser.add_argument(
        "--motion",
        action="store_true",
        help="with --realistic: small rigid motion between T2 and TOF (truth in truth.json)",
    )
    parser.add_argument("--nifti", action="store_true", help="also write nifti/t2, nifti/tof")


def run(args: argparse.Namespace) -> int:
    from nvcview_sample import write_sample

    from nvcview.errors import InputError

    if args.motion and not args.realistic:
        raise InputError("--motion needs --realistic (the clean phantom has no motion)")
    paths = write_sample(
        args.out_dir,
        nifti=args.nifti,
        seed=args.seed,
        side=args.side,
        gap_mm=args.gap_mm,
        segment=args.segment,
        indent_mm=args.indent_mm,
        oblique=args.oblique,
        full_size=args.full_size,
        realistic=args.realistic,
        motion=True if args.motion else None,
    )
    print(f"wrote the nvcview phantom to {paths.out_dir}")
    for line in paths.lines():
        print("  " + line)
    return 0
