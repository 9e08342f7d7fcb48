"""``nvcview scene``: surface models of a review for 3D Slicer and 3D viewers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write one surface mesh per structure (OBJ/STL in LPS mm for 3D Slicer, glTF binary)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments: REVIEW, ``--out DIR``, ``--format glb,obj,stl``, ``--image``, ``--view``."""
    parser.add_argument("review", help="review folder (or its review.json)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--format",
        default="glb,obj,stl",
        help="comma-separated mesh formats: glb, obj, stl (default: all three)",
    )
    parser.add_argument(
        "--image",
        action="store_true",
        help="also render the 3D key image (PNG, headless) into DIR",
    )
    parser.add_argument(
        "--view",
        default="retrosigmoid",
        help="view of the key image: retrosigmoid (side of the review), A, P, L, R, S, I",
    )


def _import_nibabel_without_pydicom() -> None:
    """Import nibabel with its optional pydicom import refused (0.4-1 s saved).

    nibabel imports pydicom at start-up only to decode DICOM extensions inside NIfTI
    headers (``nibabel.nifti1.Nifti1DicomExtension``); without it such an extension
    is kept as raw bytes, and the label map's header, affine and voxels are read
    exactly as before. ``nvcview scene`` reads nothing else that needs pydicom, and
    the block lasts only for this import: a later ``import pydicom`` works. Nothing
    is done when nibabel or pydicom is already imported (a long-lived process).
    """
    if "nibabel" in sys.modules or "pydicom" in sys.modules:
        return
    sys.modules["pydicom"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import nibabel  # noqa: F401
    finally:
        if sys.modules.get("pydicom", 0) is None:
            del sys.modules["pydicom"]


def run(args: argparse.Namespace) -> int:
    """Write the meshes and ``scene.json``; print one line per file written."""
    _import_nibabel_without_pydicom()
    from nvcview.scene import load_review_scene, parse_formats, write_key_image, write_scene
    from nvcview.scene.views import view

    formats = parse_formats(args.format)
    if args.image:
        view(args.view, "left")  # refuse an unknown view before any work
    scene, review, labels = load_review_scene(args.review)
    meta = {
        "file": review.labelmap_path,
        "shape": [int(n) for n in labels.array.shape[:3]],
        "affine_index_to_lps_mm": [[round(float(v), 6) for v in row] for row in labels.affine],
    }
    written = write_scene(scene, args.out, formats, labelmap=meta)
    if args.image:
        if args.view == "retrosigmoid" and scene.side not in ("left", "right"):
            print(
                "nvcview scene: note: the review has no side; key image from the anterior view",
                file=sys.stderr,
            )
            name = "A"
        else:
            name = args.view
        written["png"] = [
            write_key_image(scene, Path(args.out) / f"key_3d_{name}.png", view_name=name)
        ]
    for fmt, paths in written.items():
        for p in paths:
            print(f"{fmt}\t{p}")
    nerve = scene.nerve
    if nerve is not None and nerve.gap_mm is not None:
        best = scene.offending_pair()
        if best is not None:
            print(f"closest vessel: {best.vessel_name}, gap {best.gap_mm:.2f} mm")
    return 0
