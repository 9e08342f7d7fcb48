"""SIGKILL at every write step of a save (API and CLI): a reload sees one committed version.

A save is killed at a named step (``NVCVIEW_TEST_KILL_AT``, see
:data:`nvcview.review.store.SAVE_STEPS`) or at a random moment; after every kill the
folder is loaded and must equal exactly one committed version, its label map included:
the one before the save for kills before the commit, the new one after it.
"""

from __future__ import annotations

import contextlib
import json
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

#: A save server: imports once, then forks one child per request (a real process, killed
#: with a real SIGKILL at a save step or at a random moment). Requests on stdin:
#: ``FOLDER<TAB>N<TAB>STEP<TAB>LOOP`` (STEP "-" for none, LOOP "1": keep saving new
#: versions until killed). Replies: ``started PID`` then ``exit CODE`` (-9 when killed);
#: the child prints ``saving`` once its saves begin and ``saved`` after the first.
SAVE_SERVER = """
import os, sys, traceback
sys.path.insert(0, {tests!r})
from review.conftest import make_labels
from nvcview.io.image import make_volume
from nvcview.review import load_labels, load_review, save_review

KILL_ENV = {kill_env!r}


def save(folder, n, loop):
    review = load_review(folder)
    base = make_labels()
    arr = base.array.copy()
    arr[0, 0, 0] = n % 250
    arr[15, 17, 19] = (n * 7) % 250
    review.impression = f"version {{n}}"
    print("saving", flush=True)
    save_review(review, folder, make_volume(arr, base.affine), actor="writer")
    print("saved", flush=True)
    while loop:  # random-time mode: keep saving new versions until killed
        n += 1
        arr[0, 0, 0] = n % 250
        arr[15, 17, 19] = (n * 7) % 250
        review.impression = f"version {{n}}"
        save_review(review, folder, make_volume(arr, base.affine), actor="writer")


for line in sys.stdin:
    folder, n, step, loop = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        os.environ.pop(KILL_ENV, None)
        if step != "-":
            os.environ[KILL_ENV] = step
        code = 0
        try:
            save(folder, int(n), loop == "1")
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        os._exit(code)
    print(f"started {{pid}}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"exit {{os.waitstatus_to_exitcode(status)}}", flush=True)
"""


#: The same for the command line: forks a child running ``nvcview.cli.main(ARGV)`` (the
#: code ``python -m nvcview`` runs) per request; requests are JSON ``[STEP, ARGV]``.
CLI_SERVER = """
import json, os, sys, traceback
from nvcview.cli import main
import nvcview.cli.measure_cmd, nvcview.review.importing, nvcview.case, nvcview.measure

KILL_ENV = {kill_env!r}
for line in sys.stdin:
    step, argv = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.pop(KILL_ENV, None)
        if step:
            os.environ[KILL_ENV] = step
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    print(f"started {{pid}}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"exit {{os.waitstatus_to_exitcode(status)}}", flush=True)
"""


class SaveServer:
    """One Python process that forks a saving child per request (see ``SAVE_SERVER``)."""

    def __init__(self, tmp_path: Path, source: str = SAVE_SERVER) -> None:
        script = tmp_path / f"server{len(list(tmp_path.glob('server*.py')))}.py"
        script.write_text(source.format(tests=TESTS, kill_env=KILL_ENV))
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            env=_env(None),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self, folder: Path, n: int, step: str | None, loop: bool = False) -> int:
        """Fork a child saving version ``n``; its pid."""
        return self.request(f"{folder}\t{n}\t{step or '-'}\t{int(loop)}")

    def request(self, line: str) -> int:
        """Send one request line; the forked child's pid."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        line = self.readline()
        assert line.startswith("started "), line
        return int(line.split()[1])

    def readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the save server died"
        return line.strip()

    def wait_exit(self) -> tuple[int, list[str]]:
        """The child's exit code (-9 when killed) and the lines it printed."""
        printed = []
        while not (line := self.readline()).startswith("exit "):
            printed.append(line)
        return int(line.split()[1]), printed

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


@pytest.fixture
def save_server(tmp_path):
    server = SaveServer(tmp_path)
    yield server
    server.close()


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


def test_api_save_killed_at_each_step(api_folder, save_server):
    n = 0
    for step in SAVE_STEPS:
        n += 1
        save_server.start(api_folder, n, step)
        code, printed = save_server.wait_exit()
        assert code == -signal.SIGKILL, (step, printed)
        assert "saved" not in printed
        got = _check_api_version(api_folder)
        want = n - 1 if step in BEFORE_COMMIT else n
        assert got == want, step
        if step in BEFORE_COMMIT:
            n -= 1  # that save never happened; the next one reuses its number
    # a plain save afterwards finishes or sweeps whatever the kills left
    save_server.start(api_folder, n + 1, None)
    code, printed = save_server.wait_exit()
    assert code == 0 and "saved" in printed, printed
    assert _check_api_version(api_folder) == n + 1
    left = [p.name for p in api_folder.rglob(".tmp-*")] + [
        p.name for p in api_folder.rglob(".pending-*")
    ]
    assert left == []


def test_api_save_killed_at_random_moments(api_folder, save_server):
    rng = random.Random(19)
    last = 0
    for i in range(5):
        pid = save_server.start(api_folder, last + 1, None, loop=True)
        assert save_server.readline() == "saving"  # the saves begin
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(pid, signal.SIGKILL)
        code, _ = save_server.wait_exit()
        assert code == -signal.SIGKILL
        got = _check_api_version(api_folder)
        assert got >= last, i  # never an older version
        last = got


def _measure_argv(labels_file: Path, table: Path, n: int, folder: Path) -> list[str]:
    return [
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
    ]


def test_cli_import_save_killed_at_each_step(tmp_path):
    """``nvcview measure LABELS --table T --save-review DIR`` killed at every step."""
    from nvcview.io.grids import conform_to

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

    # the first save through the real entry point, `python -m nvcview`
    first = subprocess.run(
        [sys.executable, "-m", "nvcview", *_measure_argv(labels_file(0), table, 0, folder)],
        env=_env(None),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    # the kills: children forked from one warm process running the same `main`
    server = SaveServer(tmp_path, CLI_SERVER)
    try:
        n = 0
        for step in SAVE_STEPS:
            n += 1
            argv = _measure_argv(labels_file(n), table, n, folder)
            server.request(json.dumps([step, argv]))
            code, printed = server.wait_exit()
            assert code == -signal.SIGKILL, (step, printed)
            back = load_review(folder)
            got = int(back.reader.split("-")[1])
            want = n - 1 if step in BEFORE_COMMIT else n
            assert got == want, step
            img = load_labels(back, folder)
            ref = make_volume(version(got), affine)
            np.testing.assert_array_equal(conform_to(img, ref).array, ref.array)
            if step in BEFORE_COMMIT:
                n -= 1
        # and killed at random moments while it runs
        rng = random.Random(7)
        for _ in range(2):
            n += 1
            pid = server.request(
                json.dumps([None, _measure_argv(labels_file(n), table, n, folder)])
            )
            time.sleep(rng.uniform(0.0, 1.0))
            with contextlib.suppress(ProcessLookupError):  # it may have finished
                os.kill(pid, signal.SIGKILL)
            server.wait_exit()
            back = load_review(folder)
            got = int(back.reader.split("-")[1])
            assert got in (n - 1, n)
            ref = make_volume(version(got), affine)
            np.testing.assert_array_equal(
                conform_to(load_labels(back, folder), ref).array, ref.array
            )
            n = got
    finally:
        server.close()
