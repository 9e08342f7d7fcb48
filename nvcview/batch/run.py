"""Where the per-review work runs: in this process, a local process pool, or Dask.

- ``workers <= 1`` and no scheduler: in this process, one review after another.
- ``workers >= 2``: a :class:`concurrent.futures.ProcessPoolExecutor` of that
  many processes (``spawn`` start method: no threads forked from the parent;
  one BLAS/OpenMP thread per process so that N workers use N cores).
- ``scheduler``: an existing ``dask.distributed`` cluster at that address
  (``tcp://host:8786``); the workers need nvcview installed and must see the
  review folders at the same paths. No home-made scheduling.

Task functions take and return plain dicts. A task whose process dies (killed,
out of memory) or that raises comes back as an error dict, never as an
exception, so the run goes on; in the local pool the other reviews in flight
when a process died are rerun, so only the culprit is reported.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from nvcview.errors import InputError

TaskFn = Callable[[dict], dict]


def default_workers() -> int:
    """Number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _failure(exc: BaseException, where: str) -> dict:
    return {
        "status": "error",
        "stage": where,
        "error_type": type(exc).__name__,
        "message": f"{where}: {exc}" if str(exc) else where,
    }


def _run_inline(fn: TaskFn, tasks: list[dict]) -> Iterator[tuple[int, dict]]:
    for i, task in enumerate(tasks):
        try:
            yield i, fn(task)
        except Exception as exc:
            yield i, _failure(exc, "task raised")


#: thread pools of numerical libraries, limited to one thread per worker process
#: (as dask.distributed does for its workers) unless the user set them
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_thread_per_worker() -> None:
    """Pool initializer: runs in each fresh (spawned) worker before numpy is imported."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")


def _make_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_one_thread_per_worker,
    )


def _run_isolated(fn: TaskFn, task: dict) -> dict:
    """Run one task alone in a fresh process: a crash there is that task's own."""
    with _make_pool(1) as pool:
        try:
            return pool.submit(fn, task).result()
        except BrokenProcessPool:
            return {
                "status": "error",
                "stage": "worker process died",
                "error_type": "WorkerDied",
                "message": "the worker process died while running this review "
                "(killed, out of memory, or crashed in native code)",
            }
        except Exception as exc:
            return _failure(exc, "worker process failed")


def _run_pool(fn: TaskFn, tasks: list[dict], workers: int) -> Iterator[tuple[int, dict]]:
    """Process pool with at most ``2 * workers`` tasks in flight.

    When a worker process dies (a crash, the out-of-memory killer) the pool breaks
    and every task in flight fails with it. Those few suspects are then rerun one
    by one, each in a fresh process, so that only the review that really kills
    its process is reported; the rest continue in a new pool.
    """
    queue = deque(range(len(tasks)))
    while queue:
        suspects: list[int] = []
        pool = _make_pool(workers)
        inflight: dict = {}
        try:
            while queue or inflight:
                while queue and not suspects and len(inflight) < 2 * workers:
                    i = queue.popleft()
                    try:
                        inflight[pool.submit(fn, tasks[i])] = i
                    except BrokenProcessPool:
                        suspects.append(i)
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        suspects.append(i)
                        continue
                    except Exception as exc:
                        result = _failure(exc, "worker process failed")
                    yield i, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for i in sorted(suspects):
            yield i, _run_isolated(fn, tasks[i])


def connect(scheduler: str, timeout_s: float = 10.0):
    """A ``distributed.Client`` connected to ``scheduler``.

    Raises
    ------
    InputError
        No scheduler answers at that address within ``timeout_s`` seconds.
    """
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"{scheduler}: no Dask scheduler reachable there ({type(exc).__name__}: {exc})"
        ) from exc


def _run_dask(fn: TaskFn, tasks: list[dict], scheduler: str) -> Iterator[tuple[int, dict]]:
    from distributed import as_completed as dask_as_completed

    client = connect(scheduler)
    try:
        futures = [client.submit(fn, task, pure=False) for task in tasks]
        index = {fut.key: i for i, fut in enumerate(futures)}
        try:
            for fut in dask_as_completed(futures):
                try:
                    result = fut.result()
                except Exception as exc:  # KilledWorker, CancelledError, ...
                    result = _failure(exc, "dask task failed")
                yield index[fut.key], result
        finally:
            client.cancel(futures)
    finally:
        client.close()


def run_tasks(
    fn: TaskFn, tasks: list[dict], *, workers: int = 1, scheduler: str | None = None
) -> Iterator[tuple[int, dict]]:
    """Run ``fn`` on every task; yield ``(task index, result)`` as each finishes.

    Parameters
    ----------
    fn : callable
        Module-level function ``dict -> dict`` (importable by the workers).
    tasks : list of dict
        Inputs.
    workers : int
        Local processes (ignored with ``scheduler``); ``<= 1`` runs in this process.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler.
    """
    if not tasks:
        return iter(())
    if scheduler:
        return _run_dask(fn, tasks, scheduler)
    if workers <= 1:
        return _run_inline(fn, tasks)
    return _run_pool(fn, tasks, min(workers, len(tasks)))
