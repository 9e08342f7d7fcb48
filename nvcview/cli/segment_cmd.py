"""``nvcview segment STUDY --out REVIEW_DIR ...``: nerve and vessels from landmarks and seeds."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HELP = "segment the facial nerve (from landmarks) and vessels (one seed each) into a review"

VESSEL_CHOICES = ("AICA", "PICA", "VA", "basilar", "vein", "other")


def _point(text: str, what: str) -> np.ndarray:
    import numpy as np

    from nvcview.errors import InputError

    try:
        xyz = [float(v) for v in text.split(",")]
    except ValueError:
        xyz = []
    if len(xyz) != 3 or not np.all(np.isfinite(xyz)):
        raise InputError(f"{what}: expected X,Y,Z in LPS mm, got {text!r}")
    return np.array(xyz)


def _named(text: str, what: str) -> tuple[str, np.ndarray]:
    from nvcview.errors import InputError

    if "=" not in text:
        raise InputError(f"{what}: expected NAME=X,Y,Z, got {text!r}")
    name, _, rest = text.partition("=")
    return name.strip(), _point(rest, f"{what} {name.strip()}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="STUDY", help="folder with a T2 and a TOF series")
    parser.add_argument("--out", required=True, metavar="REVIEW_DIR", help="review folder")
    parser.add_argument("--side", required=True, choices=("left", "right"))
    parser.add_argument(
        "--landmark", action="append", default=[], metavar="NAME=X,Y,Z",
        help="RExP, RDP and IAC (LPS mm on the T2); repeat",
    )  # fmt: skip
    parser.add_argument(
        "--vessel", action="append", default=[], metavar="TYPE=X,Y,Z",
        help=f"one seed per vessel, TYPE in {', '.join(VESSEL_CHOICES)}; repeat",
    )  # fmt: skip
    parser.add_argument(
        "--nerve-point", action="append", default=[], metavar="X,Y,Z",
        help="extra facial nerve centreline click (LPS mm); repeat",
    )  # fmt: skip
    parser.add_argument(
        "--cn8", action="append", default=[], metavar="X,Y,Z",
        help="CN VIII (vestibulocochlear) point, LPS mm; repeat in order from its root at "
        "the brainstem to the IAC porus (at least two) to segment VIII too",
    )  # fmt: skip
    parser.add_argument(
        "--no-register", action="store_true",
        help="use the TOF as it lies (no TOF -> T2 registration)",
    )  # fmt: skip
    parser.add_argument("--reader", default="nvcview segment", help="reader name in the review")


def _pick(images: list, role: str, study: str):
    """The one ``role`` image of a study's (role, Image) pairs (``load_images``)."""
    from nvcview.errors import InputError

    found = [img for r, img in images if r == role]
    if not found:
        raise InputError(f"{study}: no {role} series found (roles seen: "
                         f"{', '.join(sorted({str(r) for r, _ in images})) or 'none'})")  # fmt: skip
    if len(found) > 1:
        raise InputError(f"{study}: several {role} series; keep one {role} in the study folder")
    return found[0]


def run(args: argparse.Namespace) -> int:
    from nvcview.errors import InputError
    from nvcview.io.image import make_volume
    from nvcview.io.sniff import load_images
    from nvcview.review.model import Review, SeriesRef
    from nvcview.review.store import save_review
    from nvcview.segment.study import segment_study

    landmarks = dict(_named(t, "--landmark") for t in args.landmark)
    unknown = sorted(set(landmarks) - {"RExP", "RDP", "IAC"})
    if unknown:
        raise InputError(f"--landmark: unknown name {unknown[0]!r} (RExP, RDP or IAC)")
    vessels = [_named(t, "--vessel") for t in args.vessel]
    for vtype, _ in vessels:
        if vtype not in VESSEL_CHOICES:
            raise InputError(f"--vessel: unknown type {vtype!r} ({', '.join(VESSEL_CHOICES)})")
    clicks = [_point(t, "--nerve-point") for t in args.nerve_point]
    cn8 = [_point(t, "--cn8") for t in args.cn8]
    if len(cn8) == 1:
        raise InputError("--cn8: give at least two points (its root and the IAC porus)")
    study = str(args.study)
    if not os.path.exists(study):
        raise InputError(f"{study}: no such study folder")
    # one header scan of the study, as the viewer opens it (was: a scan to list the
    # series, then one more per series loaded)
    images = load_images(study)
    t2 = _pick(images, "T2", study)
    needs_tof = any(v != "vein" for v, _ in vessels)
    tof = _pick(images, "TOF", study) if needs_tof else None
    moving_to_fixed = None
    registration = None
    if tof is not None and not args.no_register:
        import dataclasses

        import numpy as np

        from nvcview.register import describe_registration, register_series

        registration = register_series(t2, tof, landmarks=landmarks, side=args.side)
        registration = dataclasses.replace(registration, who=args.reader or "nvcview segment")
        moving_to_fixed = np.asarray(registration.moving_to_fixed_lps, float)
        print(describe_registration(registration))
    seg = segment_study(
        t2.array, t2.affine,
        None if tof is None else tof.array, None if tof is None else tof.affine,
        landmarks, vessels, args.side,
        moving_to_fixed_lps=moving_to_fixed, centreline_clicks=clicks, cn8_points=cn8,
    )  # fmt: skip
    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    series = []
    for img in (t2, tof):
        if img is None:
            continue
        src = img.meta.source_path or study
        series.append(
            SeriesRef(
                series_uid=img.meta.series_uid,
                role=img.meta.role,
                path=os.path.relpath(os.path.abspath(src), out),
                description=img.meta.series_description,
                sequence_name=img.meta.sequence_name,
                voxel_size_mm=[float(s) for s in img.meta.spacing_mm],
            )
        )
    review = Review(
        case_id=Path(study).name,
        reader=args.reader,
        side=args.side,
        study_uid=t2.meta.study_uid,
        series=series,
        reference_series_uid=t2.meta.series_uid,
        structures=seg.structures,
        landmarks={k: [float(x) for x in v] for k, v in landmarks.items()},
        nerve_path_lps=[[float(x) for x in p] for p in seg.centreline_lps],
        fusion_used=tof is not None,
        impression="semi-automatic segmentation (nvcview segment); not reviewed",
        registrations=[registration] if registration is not None else [],
    )
    labels = make_volume(seg.labels, t2.affine, t2.meta.frame_of_reference_uid)
    path = save_review(review, out, labels, actor="nvcview segment")
    print(f"wrote the review to {path}")
    for n in seg.notes:
        print("  " + n)
    if moving_to_fixed is None and tof is not None:
        print("  TOF used as it lies (--no-register)")
    return 0
