"""Time ``nvcview.load`` against SimpleITK's ImageSeriesReader on CPA-sized oblique series.

Writes a CISS-like T2 series (512 x 512 x 160 at 0.39 x 0.39 x 0.5 mm) and a TOF-like
one (512 x 512 x 170 at 0.3 x 0.3 x 0.6 mm), both tilted 3 degrees, one file per
slice with shuffled names and 40-60 KB of private (Siemens CSA-like) header per
file, as real Siemens exports carry. Each is then loaded alternately with nvcview
and SimpleITK; the script prints both medians, the ratio (bar: nvcview <= 0.5 x
SimpleITK, goal 0.25 x) and nvcview's peak memory during a load (tracemalloc, which
numpy reports to) against the volume's size (target <= 1.1 x), and checks that both
readers put the same values at the same LPS positions.

Usage: ``python benchmarks/bench_load.py [--repeats 3] [--out DIR] [--only ciss]
[--private-kb 0]`` (``--private-kb 0`` writes no private header, for comparison).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import struct
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
    "tof": dict(shape=(170, 512, 512), spacing=(0.6, 0.3, 0.3), desc="TOF 3D multi-slab"),
}

TILT_DEG = 3.0


def csa_like(n_bytes: int, rng: np.random.Generator) -> bytes:
    """A Siemens CSA2-like blob: "SV10" header, named elements with string items."""
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<II", 0, 77)
    k = 0
    while len(out) < n_bytes - 120:
        name = f"Element{k:04d}".encode().ljust(64, b"\x00")
        out += name + struct.pack("<i4sIII", 1, b"DS\x00\x00", 0, 1, 77)
        value = f"{rng.normal():.6f}".encode().ljust(16, b"\x00")
        out += struct.pack("<IIII", len(value), len(value), 77, len(value)) + value
        k += 1
    out += b"\x00" * (n_bytes - len(out))
    return bytes(out[:n_bytes])


def write_series(folder: Path, shape, spacing, desc, private_kb=(40, 60), seed=0) -> None:
    """One uncompressed 16-bit (12 stored) file per slice, names shuffled, tilted."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = (2000 + 1500 * np.sin(xx / 17.0) * np.cos(yy / 23.0)).astype(np.float32)
    series_uid, study_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    names = rng.permutation(n)
    c, s = np.cos(np.radians(TILT_DEG)), np.sin(np.radians(TILT_DEG))
    row, col = np.array([c, 0, s]), np.array([0, 1.0, 0])  # tilted about the y axis
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
        ds.Manufacturer = "SIEMENS"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
        ds.InstanceNumber = int(names[k]) + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in (-100, -80, -30) + k * spacing[0] * normal]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row, *col)]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if private_kb[1] > 0:
            total = int(rng.integers(private_kb[0], private_kb[1], endpoint=True)) * 1024
            image_part = total * 3 // 5
            block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
            block.add_new(0x08, "CS", "IMAGE NUM 4")
            block.add_new(0x09, "LO", "20100114")
            block.add_new(0x10, "OB", csa_like(image_part, rng))
            block.add_new(0x18, "CS", "MR")
            block.add_new(0x19, "LO", "20100114")
            block.add_new(0x20, "OB", csa_like(total - image_part, rng))
        img = base + 300 * np.sin(k / 9.0) + rng.normal(0, 50, size=(rows, cols))
        ds.PixelData = np.clip(img, 0, 4095).astype(np.uint16).tobytes()
        ds.save_as(folder / f"{names[k]:08x}.dcm", enforce_file_format=True)


def time_nvcview(folder: Path):
    import nvcview

    gc.collect()
    t0 = time.perf_counter()
    image = nvcview.load(folder)
    return time.perf_counter() - t0, image


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


def time_sitk(folder: Path):
    import SimpleITK as sitk

    gc.collect()
    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    return time.perf_counter() - t0, img


def sitk_affine(img) -> np.ndarray:
    """SimpleITK image (array [k, j, i], LPS) -> affine of its numpy array index."""
    direction = np.array(img.GetDirection()).reshape(3, 3)
    lin = direction * np.array(img.GetSpacing())  # columns: i, j, k steps
    affine = np.eye(4)
    affine[:3, :3] = lin[:, ::-1]  # array axes are (k, j, i)
    affine[:3, 3] = img.GetOrigin()
    return affine


def same_world(image, sitk_img) -> bool:
    """True when both put the same values at the same LPS points (corners and samples)."""
    import SimpleITK as sitk

    arr_s = sitk.GetArrayViewFromImage(sitk_img)
    aff_s = sitk_affine(sitk_img)
    arr_o, aff_o = image.array, image.affine
    if arr_o.shape != arr_s.shape:
        return False
    rng = np.random.default_rng(0)
    idx = rng.integers(0, np.array(arr_o.shape), size=(20000, 3)).astype(float)
    pos = idx @ aff_o[:3, :3].T + aff_o[:3, 3]
    inv = np.linalg.inv(aff_s)
    j = pos @ inv[:3, :3].T + inv[:3, 3]
    if np.max(np.abs(j - np.rint(j))) > 1e-3:
        return False
    i0, j0 = idx.astype(int), np.rint(j).astype(int)
    return bool(np.array_equal(arr_o[tuple(i0.T)], arr_s[tuple(j0.T)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="keep the series here")
    parser.add_argument("--only", choices=sorted(SERIES), default=None)
    parser.add_argument(
        "--private-kb", type=int, default=None, help="private header size per file (KB)"
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one load")
    args = parser.parse_args(argv)
    private = (40, 60) if args.private_kb is None else (args.private_kb, args.private_kb)
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
        folder = root / f"{name}-p{private[0]}-{private[1]}"
        if not folder.exists():
            t0 = time.perf_counter()
            write_series(folder, **spec, private_kb=private)
            print(f"[{name}] wrote {spec['shape']} in {time.perf_counter() - t0:.1f} s")
        # warm the page cache and imports once, untimed
        time_nvcview(folder)
        time_sitk(folder)
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            nvcview.load(folder)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        ours, theirs = [], []
        for _ in range(args.repeats):
            dt, image = time_nvcview(folder)
            ours.append(dt)
            dt_s, simg = time_sitk(folder)
            theirs.append(dt_s)
        peak = peak_memory_nvcview(folder)
        same = same_world(image, simg)
        nbytes = image.array.nbytes
        med_o, med_s = statistics.median(ours), statistics.median(theirs)
        ratio = med_o / med_s
        mem_ratio = peak / nbytes
        print(
            f"[{name}] {spec['shape']} tilt {TILT_DEG:g} deg, private header "
            f"{private[0]}-{private[1]} KB/file | nvcview.load median {med_o:.3f} s | "
            f"SimpleITK median {med_s:.3f} s | ratio {ratio:.2f} (bar <= 0.50, goal 0.25) | "
            f"peak memory {peak / 2**20:.0f} MiB = {mem_ratio:.2f} x volume "
            f"{nbytes / 2**20:.0f} MiB (target <= 1.10) | same values at same LPS: {same}"
        )
        ok &= ratio <= 0.5 and mem_ratio <= 1.1 and same
        del image, simg
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
