"""``nvcview convert PATH OUT.nii[.gz] [--series UID]``: one volume to NIfTI.

The NIfTI file puts every voxel at the same patient position (and value) as
dcm2niix does: the LPS affine is converted to RAS on write. The array is stored
in the usual NIfTI layout (column, row, slice) so that tools which assume the
third axis runs across slices show it as expected; the affine accounts for it.
"""

from __future__ import annotations

import argparse
import sys

HELP = "convert one DICOM series (or NIfTI, MetaImage, NRRD) to NIfTI with exact geometry"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", metavar="PATH", help="DICOM folder or file, .nii[.gz], .mha/.mhd or .nrrd file"
    )
    parser.add_argument("out", metavar="OUT", help="output file ending in .nii or .nii.gz")
    parser.add_argument(
        "--series",
        metavar="UID",
        default=None,
        help="SeriesInstanceUID, volume id (see `nvcview info`) or series number",
    )
    parser.add_argument(
        "--resample",
        action="store_true",
        help="interpolate unevenly spaced / missing slices onto a regular grid (warns)",
    )


def run(args: argparse.Namespace) -> int:
    from nvcview.errors import InputError
    from nvcview.io import load, write_nifti
    from nvcview.io.nifti import is_nifti_path

    if not is_nifti_path(args.out):
        raise InputError(f"{args.out}: output name must end in .nii or .nii.gz")
    image = load(args.path, series_uid=args.series, allow_resample=args.resample)
    for warning in image.meta.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    volume = image.volume
    if not is_nifti_path(args.path):
        # DICOM (slice, row, column) and MetaImage/NRRD (k, j, i) layouts -> NIfTI (i, j, k)
        volume = volume.permute_spatial_axes((2, 1, 0))
    out = write_nifti(volume, args.out)
    shape = "x".join(str(s) for s in volume.array.shape)
    spacing = "x".join(f"{s:.3g}" for s in volume.spacing)
    print(f"wrote {out} ({image.meta.volume_id or image.meta.source_path}, {shape}, {spacing} mm)")
    return 0
