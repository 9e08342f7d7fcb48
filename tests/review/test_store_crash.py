"""SIGKILL at every write step of a save (API and CLI): a reload sees one committed version.

A save is killed at a named step (``NVCVIEW_TEST_KILL_AT``, see
:data:`nvcview.review.store.SAVE_STEPS`) or at a random moment; after every kill the
folder is loaded and must equal exactly one committed version, its label map included:
the one before the save for kills before the commit, the new one after it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nvcview.io.image import make_volume
from nvcview.io.nifti import write_nifti
from nvcview.review import load_labels, load_review, save_review
from nvcview.review.store import KILL_ENV, SAVE_STEPS

from .conftest import make_labels, make_review

TESTS = str(Path(__file__).resolve().parents[1])
#: steps at which the save has not yet committed (a reload sees the previous version)
BEFORE_COMMIT = ("labels-written", "history-kept", "audit-appended")

API_SAVE = """
import sys
sys.path.insert(0, {tests!r})
from review.conftest import make_labels
from nvcview.io.image import make_volume
from nvcview.review import load_labels, load_review, save_review

folder, n = sys.argv[1], int(sys.argv[2])
review = load_review(folder)
base = make_labels()
arr = base.array.copy()
arr[0, 0, 0] = n % 250
arr[15, 17, 19] = (n * 7) % 250
review.impression = f"version {{n}}"
print("saving", flush=True)
save_review(review, folder, make_volume(arr, base.affine), actor="writer")
print("saved", flush=True)
while len(sys.argv) > 3:  # random-time mode: keep saving new versions until killed
    n += 1
    arr[0, 0, 0] = n % 250
    arr[15, 17, 19] = (n * 7) % 250
    review.impression = f"version {{n}}"
    save_review(review, folder, make_volume(arr, base.affine), actor="writer")
"""


def _labels_of(n: int) -> np.ndarray:
    arr = make_labels().array.copy()
    arr[0, 0, 0] = n % 250
    arr[15, 17, 19] = (n * 7) % 250
    return arr


def _env(step: str | None) -> dict:
    env = dict(os.environ)
    env.pop(KILL_ENV, None)
    if step:
        env[KILL_ENV] = step
    return env


def _check_api_version(folder: Path) -> int:
    """Load the folder; its impression and its label map must be of one version."""
    back = load_review(folder)
    n = int(back.impression.split()[1])
    np.testing.assert_array_equal(load_labels(back, folder).array, _labels_of(n))
    return n


@pytest.fixture
def api_folder(tmp_path):
    folder = tmp_path / "r"
    review = make_review(impression="version 0")
    save_review(review, folder, make_volume(_labels_of(0), make_labels().affine))
    return folder


def test_api_save_killed_at_each_step(api_folder, tmp_path):
    script = tmp_path / "save.py"
    script.write_text(API_SAVE.format(tests=TESTS))
    n = 0
    for step in SAVE_STEPS:
        n += 1
        proc = subprocess.run(
            [sys.executable, str(script), str(api_folder), str(n)],
            env=_env(step),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == -signal.SIGKILL, (step, proc.stderr[-2000:])
        assert "saved" not in proc.stdout
        got = _check_api_version(api_folder)
        want = n - 1 if step in BEFORE_COMMIT else n
        assert got == want, step
        if step in BEFORE_COMMIT:
            n -= 1  # that save never happened; the next one reuses its number
    # a plain save afterwards finishes or sweeps whatever the kills left
    proc = subprocess.run(
        [sys.executable, str(script), str(api_folder), str(n + 1)],
        env=_env(None),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _check_api_version(api_folder) == n + 1
    left = [p.name for p in api_folder.rglob(".tmp-*")] + [
        p.name for p in api_folder.rglob(".pending-*")
    ]
    assert left == []


def test_api_save_killed_at_random_moments(api_folder, tmp_path):
    script = tmp_path / "save.py"
    script.write_text(API_SAVE.format(tests=TESTS))
    rng = random.Random(19)
    last = 0
    for i in range(5):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(api_folder), str(last + 1), "loop"],
            env=_env(None),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout.readline().strip() == "saving"  # imports done, saves begin
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()
        proc.wait(60)
        got = _check_api_version(api_folder)
        assert got >= last, i  # never an older version
        last = got


def _cli_save(folder: Path, labels_file: Path, table: Path, n: int, step: str | None):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nvcview",
            "measure",
            str(labels_file),
            "--table",
            str(table),
            "--reader",
            f"reader-{n}",
            "--side",
            "left",
            "--save-review",
            str(folder),
        ],
        env=_env(step),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_import_save_killed_at_each_step(tmp_path):
    """``nvcview measure LABELS --table T --save-review DIR`` killed at every step."""
    folder = tmp_path / "review"
    table = tmp_path / "labels.txt"
    table.write_text(
        '    0     0    0    0        0  0  0    "Clear Label"\n'
        '    1   255  255    0        1  1  1    "facial nerve"\n'
        '    2   255    0    0        1  1  1    "AICA"\n'
    )
    affine = make_labels().affine

    def labels_file(n: int) -> Path:
        path = tmp_path / f"seg{n}.nii.gz"
        arr = make_labels().array.copy()
        arr[0, 0, : n % 20] = 2  # a different label map per version
        write_nifti(make_volume(arr, affine), path)
        return path

    def version(n: int) -> np.ndarray:
        arr = make_labels().array.copy()
        arr[0, 0, : n % 20] = 2
        return arr

    assert _cli_save(folder, labels_file(0), table, 0, None).returncode == 0
    n = 0
    for step in SAVE_STEPS:
        n += 1
        proc = _cli_save(folder, labels_file(n), table, n, step)
        assert proc.returncode == -signal.SIGKILL, (step, proc.stderr[-2000:])
        back = load_review(folder)
        got = int(back.reader.split("-")[1])
        want = n - 1 if step in BEFORE_COMMIT else n
        assert got == want, step
        img = load_labels(back, folder)
        ref = make_volume(version(got), affine)
        from nvcview.io.grids import conform_to

        np.testing.assert_array_equal(conform_to(img, ref).array, ref.array)
        if step in BEFORE_COMMIT:
            n -= 1
    # and killed at random moments while it runs
    rng = random.Random(7)
    for _ in range(2):
        n += 1
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nvcview",
                "measure",
                str(labels_file(n)),
                "--table",
                str(table),
                "--reader",
                f"reader-{n}",
                "--save-review",
                str(folder),
            ],
            env=_env(None),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 3.0))
        proc.kill()
        proc.wait(60)
        back = load_review(folder)
        got = int(back.reader.split("-")[1])
        assert got in (n - 1, n) or got < n
        ref = make_volume(version(got), affine)
        from nvcview.io.grids import conform_to

        np.testing.assert_array_equal(conform_to(load_labels(back, folder), ref).array, ref.array)
        n = got
