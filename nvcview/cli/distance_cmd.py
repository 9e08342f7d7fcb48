"""``nvcview distance``: nerve-vessel surface gaps on a label map segmented elsewhere."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "minimum surface gap (mm, LPS closest points) between a nerve label and vessel labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments: LABELS, ``--nerve L``, ``--vessel L`` (repeatable), ``--json``,
    ``--surface-method``, ``--image``, ``--contact-mm``."""
    parser.add_argument("labels", help="label map (NIfTI .nii/.nii.gz or a DICOM file/folder)")
    parser.add_argument("--nerve", type=int, required=True, help="label value of the nerve")
    parser.add_argument(
        "--vessel",
        type=int,
        action="append",
        required=True,
        help="label value of a vessel (repeat for several)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--surface-method",
        metavar="METHOD",
        default="corrected",
        help="surface estimator: 'corrected' (default) or 'image-edge', each surface at the "
        "half-way intensity of --image ('gaussian', 'antialias': comparison methods)",
    )
    parser.add_argument(
        "--image",
        help="with --surface-method image-edge: the series the labels were drawn on "
        "(NIfTI or DICOM, on the label map's grid; the T2)",
    )
    parser.add_argument(
        "--contact-mm",
        type=float,
        default=None,
        help="absolute contact threshold in mm (default: one voxel along the gap)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the gap (mm), closest points (LPS mm), resolution and contact call per vessel.

    With ``--json`` the output is ``{"pairs": [{"nerve_label", "vessel_label", "gap_mm",
    "gap_low_mm", "gap_high_mm", "uncertainty_method", "nerve_point_lps",
    "vessel_point_lps", "resolution_mm", "contact"}, ...]}``; the true gap lies in
    ``[gap_low_mm, gap_high_mm]`` and contact is called when that includes 0.
    Bad input raises :class:`~nvcview.errors.InputError` naming the file (exit 2).
    """
    from nvcview.errors import InputError
    from nvcview.io import load
    from nvcview.measure.case import is_contact
    from nvcview.measure.labelmap import as_label_grid, label_boxes, require_label
    from nvcview.measure.records import MeasureSettings
    from nvcview.measure.surface import gap_between_labels, image_on_grid

    path = Path(args.labels)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    grid = as_label_grid(load(path), source=str(path))
    method = getattr(args, "surface_method", None) or "corrected"
    settings = MeasureSettings(contact_mm=args.contact_mm, surface_method=method)
    image = None
    if method == "image-edge":
        if not getattr(args, "image", None):
            raise InputError(f"{path}: --surface-method image-edge needs --image SERIES")
        img_path = Path(args.image)
        if not img_path.exists():
            raise InputError(f"{img_path}: no such file")
        image = image_on_grid(load(img_path), grid)
    elif getattr(args, "image", None):
        raise InputError(f"{path}: --image is read only with --surface-method image-edge")
    boxes = label_boxes(grid.array)
    nerve_box = require_label(grid, boxes, args.nerve, "nerve")
    pairs = []
    for v in args.vessel:
        if v == args.nerve:
            raise InputError(
                f"{path}: vessel label {v} is the nerve label: nerve and vessel labels "
                "overlap (the same voxels cannot be both); give distinct labels"
            )
        vbox = require_label(grid, boxes, v, "vessel")
        g = gap_between_labels(
            grid, args.nerve, v, nerve_box, vbox, method=method, image=image
        ).with_interval(settings)
        pairs.append(
            {
                "nerve_label": int(args.nerve),
                "vessel_label": int(v),
                "gap_mm": round(float(g.gap_mm), 3),
                "gap_low_mm": g.gap_low_mm,
                "gap_high_mm": g.gap_high_mm,
                "uncertainty_method": g.uncertainty_method,
                "nerve_point_lps": [round(float(x), 3) for x in g.point_a_lps],
                "vessel_point_lps": [round(float(x), 3) for x in g.point_b_lps],
                "resolution_mm": round(float(g.resolution_mm), 3),
                "contact": bool(is_contact(g, settings)),
            }
        )
    if args.json:
        print(json.dumps({"pairs": pairs}, indent=2))
        return 0
    for p in pairs:
        call = "contact" if p["contact"] else "no contact"
        print(
            f"nerve {p['nerve_label']} - vessel {p['vessel_label']}: "
            f"gap {p['gap_mm']:.2f} mm [{p['gap_low_mm']:.2f}-{p['gap_high_mm']:.2f}] "
            f"({call}; resolution {p['resolution_mm']:.2f} mm), "
            f"nerve point LPS {p['nerve_point_lps']}, vessel point LPS {p['vessel_point_lps']}"
        )
    return 0
