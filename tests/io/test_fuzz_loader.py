"""Fuzz the loader with damaged copies of valid series; every outcome must be accounted for.

About 130 inputs are generated in code from three small valid series (classic
single-frame files, one enhanced multi-frame file, RLE-compressed files): random bit
and byte flips in one file's header, cuts at random offsets, and targeted damage
(bad value representations, zero / negative / huge sizes, missing attributes,
declared sizes the pixel data cannot hold). Each input is loaded in a forked
subprocess under a memory limit (``RLIMIT_AS``: what the parent uses plus 1 GiB)
and a time limit, which runs ``nvcview.list_series`` and ``nvcview.load`` and
classifies the outcome:

- ``right``: loaded, and the same values sit at the same LPS positions as in the
  original series (warnings allowed);
- ``warned``: loaded but different from the original, with a warning naming the
  damaged file (what the loader assumed, or which file it left out);
- ``refused``: an :class:`~nvcview.errors.NvcviewError` whose message names the
  damaged file or the series;
- ``unclear``: an NvcviewError naming neither, or with "nan" in it;
- ``crash``: any other exception, a killed or hung child;
- ``wrong``: loaded, different from the original, and no warning says so.

The test asserts zero unclear, crash and wrong outcomes and prints the tally.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import write_enhanced, write_series
from pydicom.uid import RLELossless

#: random damage per base series: every mutation class (bit/byte flips in the header, cuts,
#: each targeted edit below) is kept; the random classes have enough instances to hit the
#: preamble, the meta header, the dataset's tags, VRs, lengths and values of each series
N_FLIPS_CLASSIC = 48
N_FLIPS_ENHANCED = 16
N_FLIPS_RLE = 10
N_CUTS = 12
TIME_LIMIT_S = 60  # a hang, not a slow load on a busy machine
MEMORY_LIMIT = 1 << 30  # on top of what the parent already maps


def _pixel_offset(path: Path) -> int:
    """Byte offset of the top-level pixel data element (header bytes are before it)."""
    from nvcview.io.discovery import _read_header

    _, offset = _read_header(str(path))
    assert offset is not None
    return offset


def _same_world(image, truth_values, truth_affine, atol_mm=1e-2) -> bool:
    arr, aff = image.array, image.affine
    if arr.size != truth_values.size or arr.ndim != 3:
        return False
    idx = np.indices(arr.shape).reshape(3, -1).T.astype(np.float64)
    pos = idx @ aff[:3, :3].T + aff[:3, 3]
    inv = np.linalg.inv(truth_affine)
    j = pos @ inv[:3, :3].T + inv[:3, 3]
    rnd = np.rint(j)
    back = rnd @ truth_affine[:3, :3].T + truth_affine[:3, 3]
    if np.max(np.linalg.norm(back - pos, axis=1)) > atol_mm:
        return False
    rnd = rnd.astype(int)
    if np.any(rnd < 0) or np.any(rnd >= np.array(truth_values.shape)):
        return False
    other = truth_values[tuple(rnd.T)]
    return bool(np.allclose(arr.reshape(-1).astype(np.float64), other, atol=1e-3))


def _child(case: dict, out: Path) -> None:
    """Runs in the forked child: load under limits, classify, write the verdict."""
    import nvcview
    from nvcview.errors import NvcviewError

    with open("/proc/self/statm") as fh:
        mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + MEMORY_LIMIT, mapped + MEMORY_LIMIT))
    signal.alarm(TIME_LIMIT_S)
    names = [case["file"], case["series_uid"]]

    def named(text: str) -> bool:
        return any(n and n in text for n in names)

    verdict, detail = "crash", ""
    try:
        try:
            nvcview.list_series(case["path"])
        except NvcviewError as exc:
            if not named(str(exc)):
                raise  # classified below as unclear
        image = nvcview.load(case["path"])
    except NvcviewError as exc:
        msg = str(exc)
        detail = msg[:300]
        verdict = "refused" if named(msg) and not re.search(r"\bnan\b", msg) else "unclear"
    except BaseException as exc:  # noqa: BLE001 - every other outcome is a crash here
        detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    else:
        truth = np.load(case["truth"], allow_pickle=False)
        values, affine = truth["values"], truth["affine"]
        if _same_world(image, values, affine):
            verdict = "right"
        elif any(named(w) for w in image.meta.warnings):
            verdict = "warned"
            detail = "; ".join(image.meta.warnings)[:300]
        else:
            verdict = "wrong"
            detail = f"shape {image.array.shape}, warnings {image.meta.warnings}"
    out.write_text(json.dumps({"verdict": verdict, "detail": detail}))


def _run_case(case: dict, out: Path) -> tuple[str, str]:
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            _child(case, out)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    deadline = time.monotonic() + TIME_LIMIT_S + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "crash", "hung (killed)"
        time.sleep(0.005)
    if not out.exists():
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no verdict"
        return "crash", f"child died ({how})"
    doc = json.loads(out.read_text())
    return doc["verdict"], doc["detail"]


def _edit(path: Path, **changes) -> None:
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            if key in ds:
                delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


def _raw_replace(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert old in raw, (path, old)
    path.write_bytes(raw.replace(old, new, 1))


def _set_raw(path: Path, keyword: str, vr: str, value: bytes) -> None:
    """Write ``value`` as the raw bytes of an element (no validation)."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement

    ds = pydicom.dcmread(path)
    tag = tag_for_keyword(keyword)
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), vr, len(value), value, 0, False, True)
    ds.save_as(path, enforce_file_format=True)


def _targeted(kind: str) -> list[tuple[str, object]]:
    """Named damage for each base series: (name, function(path))."""
    if kind == "classic":
        return [
            (
                "unknown VR UY in SOPInstanceUID",
                lambda p: _raw_replace(p, b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00UY"),
            ),
            (
                "DS -> DX in ImagePositionPatient",
                lambda p: _raw_replace(p, b"\x20\x00\x32\x00DS", b"\x20\x00\x32\x00DX"),
            ),
            ("Rows 0", lambda p: _edit(p, Rows=0)),
            (
                "Rows negative (SS)",
                lambda p: _set_raw(p, "Rows", "SS", (-8).to_bytes(2, "little", signed=True)),
            ),
            ("Rows one short", lambda p: _edit(p, Rows=int(pydicom.dcmread(p).Rows) - 1)),
            ("Columns 3 more", lambda p: _edit(p, Columns=int(pydicom.dcmread(p).Columns) + 3)),
            ("no Rows", lambda p: _edit(p, Rows=None)),
            ("no PixelRepresentation", lambda p: _edit(p, PixelRepresentation=None)),
            ("BitsStored 8", lambda p: _edit(p, BitsStored=8, HighBit=7)),
            ("PixelRepresentation 1", lambda p: _edit(p, PixelRepresentation=1)),
            ("NumberOfFrames 4 (legacy multi-frame)", lambda p: _edit(p, NumberOfFrames=4)),
            ("NumberOfFrames 0", lambda p: _set_raw(p, "NumberOfFrames", "IS", b"0 ")),
            ("NumberOfFrames twelve", lambda p: _set_raw(p, "NumberOfFrames", "IS", b"twelve")),
            ("zero-length orientation", lambda p: _edit(p, ImageOrientationPatient=[0] * 6)),
            (
                "orientation with 5 values",
                lambda p: _set_raw(p, "ImageOrientationPatient", "DS", b"1\\0\\0\\0\\1 "),
            ),
            (
                "position shifted 1 mm in plane",
                lambda p: _edit(
                    p,
                    ImagePositionPatient=[
                        float(v) + (1.0 if i == 0 else 0)
                        for i, v in enumerate(pydicom.dcmread(p).ImagePositionPatient)
                    ],
                ),
            ),
            ("PixelSpacing 'abc'", lambda p: _set_raw(p, "PixelSpacing", "DS", b"abc\\0.5 ")),
            (
                "MOSAIC image type",
                lambda p: _edit(p, ImageType=["ORIGINAL", "PRIMARY", "M", "MOSAIC"]),
            ),
            ("empty file", lambda p: p.write_bytes(b"")),
            (
                "DICM marker damaged",
                lambda p: p.write_bytes(p.read_bytes()[:128] + b"DXCM" + p.read_bytes()[132:]),
            ),
        ]
    if kind == "enhanced":
        return [
            ("Rows/Columns 65535", lambda p: _edit(p, Rows=65535, Columns=65535)),
            (
                "NumberOfFrames 2147483647",
                lambda p: _set_raw(p, "NumberOfFrames", "IS", b"2147483647"),
            ),
            ("NumberOfFrames 0", lambda p: _set_raw(p, "NumberOfFrames", "IS", b"0 ")),
            ("NumberOfFrames twelve", lambda p: _set_raw(p, "NumberOfFrames", "IS", b"twelve")),
            (
                "NumberOfFrames one more",
                lambda p: _edit(p, NumberOfFrames=int(pydicom.dcmread(p).NumberOfFrames) + 1),
            ),
            (
                "no PerFrameFunctionalGroupsSequence",
                lambda p: _edit(p, PerFrameFunctionalGroupsSequence=None),
            ),
        ]
    return [  # RLE
        ("RLE Rows/Columns 65535", lambda p: _edit(p, Rows=65535, Columns=65535)),
        ("RLE Rows 0", lambda p: _edit(p, Rows=0)),
    ]


def _base_series(root: Path) -> dict:
    """The three valid series and their truth (values and affine in acquisition order)."""
    bases = {}
    classic = write_series(root / "classic", shape=(6, 8, 10), bits_stored=12, tilt_deg=(4, 0, 0))
    enhanced = write_enhanced(root / "enhanced" / "enh.dcm", shape=(5, 8, 6))
    rle = write_series(root / "rle", shape=(4, 8, 8), bits_stored=12, compress=RLELossless, seed=3)
    for kind, series in (("classic", classic), ("enhanced", enhanced), ("rle", rle)):
        truth = root / f"{kind}-truth.npz"
        np.savez(truth, values=series.values, affine=series.affine)
        bases[kind] = (series, truth)
    return bases


def _cases(root: Path, rng: np.random.Generator) -> list[dict]:
    bases = _base_series(root)
    cases = []

    def new_case(kind: str, what: str, damage) -> None:
        series, truth = bases[kind]
        folder = root / f"case{len(cases):04d}"
        shutil.copytree(series.folder, folder)
        victim = folder / series.paths[int(rng.integers(len(series.paths)))].name
        if damage == "all":  # targeted damage applied to every file of the series
            raise AssertionError
        damage(victim)
        cases.append(
            dict(
                path=str(folder),
                file=victim.name,
                series_uid=series.series_uid,
                truth=str(truth),
                what=f"{kind}: {what} in {victim.name}",
            )
        )

    def flipper(kind: str):
        def flip(path: Path) -> None:
            raw = bytearray(path.read_bytes())
            end = _pixel_offset(path)
            pos = int(rng.integers(0, end))
            if rng.random() < 0.5:
                raw[pos] ^= 1 << int(rng.integers(8))
            else:
                raw[pos] = int(rng.integers(256))
            path.write_bytes(bytes(raw))

        return flip

    def cutter(path: Path) -> None:
        raw = path.read_bytes()
        path.write_bytes(raw[: int(rng.integers(1, len(raw)))])

    for kind, n in (
        ("classic", N_FLIPS_CLASSIC),
        ("enhanced", N_FLIPS_ENHANCED),
        ("rle", N_FLIPS_RLE),
    ):
        for _ in range(n):
            new_case(kind, "header byte flip", flipper(kind))
    for i in range(N_CUTS):
        new_case(("classic", "enhanced", "rle")[i % 3], "cut", cutter)
    for kind in ("classic", "enhanced", "rle"):
        for what, damage in _targeted(kind):
            new_case(kind, what, damage)
    # every file of the RLE series declaring 65535 x 65535: refused from headers alone
    series, truth = bases["rle"]
    folder = root / f"case{len(cases):04d}"
    shutil.copytree(series.folder, folder)
    for p in sorted(folder.iterdir()):
        _edit(p, Rows=65535, Columns=65535)
    cases.append(
        dict(
            path=str(folder),
            file=sorted(os.listdir(folder))[0],
            series_uid=series.series_uid,
            truth=str(truth),
            what="rle: every file 65535x65535",
        )
    )
    return cases


@pytest.mark.slow
def test_fuzzed_series_are_right_or_clearly_refused(tmp_path, capsys):
    import highdicom  # noqa: F401  (imported once, before forking: children share it)

    import nvcview.io.dicom  # noqa: F401

    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.IGNORE)
        cases = _cases(tmp_path, np.random.default_rng(20261201))
    t_make = time.perf_counter() - t0
    n_targeted = sum(len(_targeted(k)) for k in ("classic", "enhanced", "rle"))
    assert len(cases) == N_FLIPS_CLASSIC + N_FLIPS_ENHANCED + N_FLIPS_RLE + N_CUTS + n_targeted + 1
    tally: Counter = Counter()
    bad: list[str] = []
    warned: list[str] = []
    for i, case in enumerate(cases):
        verdict, detail = _run_case(case, tmp_path / f"verdict{i:04d}.json")
        tally[verdict] += 1
        if verdict in ("unclear", "crash", "wrong"):
            bad.append(f"{verdict}: {case['what']}: {detail}")
        elif verdict == "warned" and len(warned) < 8:
            warned.append(f"{case['what']}: {detail[:160]}")
    with capsys.disabled():
        print(
            f"\nloader fuzz: {len(cases)} inputs (made in {t_make:.1f} s, loaded in "
            f"{time.perf_counter() - t0 - t_make:.1f} s): "
            + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
        )
        for line in warned + bad[:30]:
            print("  " + line)
    assert tally["right"] > 0 and tally["refused"] > 0
    assert not bad, "\n".join(bad[:30])
