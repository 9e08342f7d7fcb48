"""Time ``nvcview.load`` against SimpleITK's ImageSeriesReader on CPA-sized series.

Writes a CISS-like series (512 x 512, 160 slices, 0.39 x 0.39 x 0.5 mm, one file
per slice, shuffled file names) and a TOF-like one (512 x 512 x 200), then loads
each alternately with nvcview and SimpleITK, printing medians and the ratio
(target: nvcview <= 0.5 x SimpleITK) and nvcview's peak Python memory
(tracemalloc, which numpy reports to) against the volume's size (target <= 1.5x).

Usage: ``python benchmarks/bench_load.py [--repeats 5] [--out DIR] [--only ciss]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

SERIES = {
    "ciss": dict(shape=(160, 512, 512), spacing=(0.5, 0.39, 0.39), desc="T2 CISS 3D CPA"),
    "tof": dict(shape=(200, 512, 512), spacing=(0.5, 0.35, 0.35), desc="TOF 3D multi-slab"),
}


def write_series(folder: Path, shape, spacing, desc, seed=0) -> None:
    """One uncompressed 16-bit (12 stored) file per slice, names shuffled."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = (2000 + 1500 * np.sin(xx / 17.0) * np.cos(yy / 23.0)).astype(np.float32)
    series_uid, study_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    names = rng.permutation(n)
    c, s = np.cos(np.radians(8)), np.sin(np.radians(8))
    row, col = np.array([1.0, 0, 0]), np.array([0, c, s])
    normal = np.cross(row, col)
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PatientName, ds.PatientID = "Bench^Mark", "BENCH"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = (
            study_uid,
            series_uid,
            for_uid,
        )
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber = "MR", desc, 5
        ds.InstanceNumber = int(names[k]) + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in (-100, -80, -30) + k * spacing[0] * normal]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row, *col)]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        img = base + 300 * np.sin(k / 9.0) + rng.normal(0, 50, size=(rows, cols))
        ds.PixelData = np.clip(img, 0, 4095).astype(np.uint16).tobytes()
        ds.save_as(folder / f"{names[k]:08x}.dcm", enforce_file_format=True)


def time_nvcview(folder: Path) -> tuple[float, np.ndarray]:
    import nvcview

    gc.collect()
    t0 = time.perf_counter()
    image = nvcview.load(folder)
    return time.perf_counter() - t0, image.array


def peak_memory_nvcview(folder: Path) -> int:
    """Peak bytes allocated during one load (tracemalloc; slows the load, so untimed)."""
    import nvcview

    gc.collect()
    tracemalloc.start()
    image = nvcview.load(folder)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del image
    return peak


def time_sitk(folder: Path) -> tuple[float, np.ndarray]:
    import SimpleITK as sitk

    gc.collect()
    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    dt = time.perf_counter() - t0
    return dt, sitk.GetArrayFromImage(img)  # a copy, after the clock: the view dies with img


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="keep the series here")
    parser.add_argument("--only", choices=sorted(SERIES), default=None)
    args = parser.parse_args(argv)
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="nvcview-bench-")
        root = Path(tmp.name)
    else:
        root = args.out
    names = [args.only] if args.only else list(SERIES)
    import nvcview.io.dicom  # noqa: F401  (imports are not part of the timing)

    ok = True
    for name in names:
        spec = SERIES[name]
        folder = root / name
        if not folder.exists():
            t0 = time.perf_counter()
            write_series(folder, **spec)
            print(f"[{name}] wrote {spec['shape']} in {time.perf_counter() - t0:.1f} s")
        # warm the page cache and imports once, untimed
        time_nvcview(folder)
        time_sitk(folder)
        ours, theirs = [], []
        for _ in range(args.repeats):
            dt, arr = time_nvcview(folder)
            ours.append(dt)
            dt_s, sarr = time_sitk(folder)
            theirs.append(dt_s)
        peaks = [peak_memory_nvcview(folder)]
        same = np.array_equal(arr, sarr)  # same order here: axial-ish stack sorted along +normal
        med_o, med_s = statistics.median(ours), statistics.median(theirs)
        ratio = med_o / med_s
        mem_ratio = max(peaks) / arr.nbytes
        print(
            f"[{name}] nvcview.load median {med_o:.3f} s | SimpleITK median {med_s:.3f} s | "
            f"ratio {ratio:.2f} (target <= 0.50) | peak memory {max(peaks) / 2**20:.0f} MiB = "
            f"{mem_ratio:.2f} x volume {arr.nbytes / 2**20:.0f} MiB (target <= 1.5) | "
            f"identical arrays: {same}"
        )
        ok &= ratio <= 0.5 and mem_ratio <= 1.5 and same
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
