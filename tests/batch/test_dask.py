"""The same batch on a Dask cluster (``--scheduler``) and on a local process pool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nvcview.batch.run import connect, run_tasks
from nvcview.errors import InputError
from tests.batch.cohort import write_review


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dask") / "root"
    for case in ("c1", "c2", "c3"):
        for reader in ("r1", "r2"):
            write_review(root / case / reader, case_id=case, reader=reader)
    bad = root / "c4" / "r1"
    bad.mkdir(parents=True)
    (bad / "review.json").write_text('{"schema_version": 999}', encoding="utf-8")
    return root


def batch(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvcview", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_batch_through_scheduler_matches_local_pool(root, tmp_path):
    from distributed import Client, LocalCluster

    local = batch(root, "--out", tmp_path / "local.csv", "--stored", "--workers", "1")
    assert local.returncode == 1, local.stderr  # the c4 review is from a newer schema
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        res = batch(
            root,
            "--out",
            tmp_path / "dask.csv",
            "--stored",
            "--scheduler",
            cluster.scheduler_address,
        )
        with Client(cluster) as client:
            worker_pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert res.returncode == 1, res.stderr
    assert "7 reviews: 7 computed, 0 unchanged (cached), 1 failed" in res.stderr
    for suffix in ("", "_cases", "_errors"):
        dask_bytes = (tmp_path / f"dask{suffix}.csv").read_bytes()
        local_bytes = (tmp_path / f"local{suffix}.csv").read_bytes()
        # the tables do not depend on where they were computed (review_folder is relative)
        assert dask_bytes == local_bytes, suffix
    errors = (tmp_path / "dask_errors.csv").read_text()
    assert "c4/r1" in errors and "SchemaError" in errors
    assert len(worker_pids) == 2


def test_local_pool_runs_in_other_processes():
    import os

    tasks = [{"n": i} for i in range(4)]
    got = dict(run_tasks(_pid_task, tasks, workers=2))
    assert sorted(got) == [0, 1, 2, 3]
    pids = {r["pid"] for r in got.values()}
    assert os.getpid() not in pids
    # one BLAS thread per worker unless the user chose otherwise
    assert {r["blas"] for r in got.values()} == {os.environ.get("OPENBLAS_NUM_THREADS", "1")}


def _pid_task(task: dict) -> dict:  # pragma: no cover - runs in the workers
    import os

    if task.get("crash"):
        os._exit(3)  # the process dies, as under the out-of-memory killer
    return {
        "status": "ok",
        "pid": os.getpid(),
        "n": task["n"],
        "blas": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


def test_dying_worker_fails_only_its_own_task():
    tasks = [{"n": i, "crash": i == 3} for i in range(8)]
    got = dict(run_tasks(_pid_task, tasks, workers=2))
    assert sorted(got) == list(range(8))
    failed = {i for i, r in got.items() if r["status"] != "ok"}
    assert failed == {3}
    assert got[3]["error_type"] == "WorkerDied"
    assert "worker process died while running this review" in got[3]["message"]
    assert [got[i]["n"] for i in range(8) if i != 3] == [0, 1, 2, 4, 5, 6, 7]


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(InputError, match=r"tcp://127.0.0.1:9: no Dask scheduler reachable"):
        connect("tcp://127.0.0.1:9", timeout_s=1)
