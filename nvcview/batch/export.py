"""``nvcview batch``: every review under a root folder to one set of tables.

Flow: find reviews -> hash their inputs -> reuse cached results -> run the rest
(:mod:`nvcview.batch.run`) -> de-identify (main process) -> cache -> write the
vessel, case and error tables (:mod:`nvcview.batch.table`).
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nvcview import __version__
from nvcview.batch.cache import ResultCache, inputs_hash
from nvcview.batch.case import process_case
from nvcview.batch.deidentify import deidentify_result
from nvcview.batch.discover import find_reviews
from nvcview.batch.pseudonym import Pseudonymizer
from nvcview.batch.run import run_tasks
from nvcview.batch.table import (
    CASE_COLUMNS,
    ERROR_COLUMNS,
    VESSEL_COLUMNS,
    make_frame,
    output_paths,
    write_table,
)
from nvcview.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class BatchOptions:
    """What ``nvcview batch`` was asked to do.

    Attributes
    ----------
    root : Path
        Folder searched (any depth) for review folders.
    out : Path
        Vessel table, ``.csv`` or ``.parquet``; the case and error tables and the
        cache folder are written beside it.
    stored : bool
        Use the measurements stored in each review.json instead of recomputing.
    workers : int
        Local worker processes (1 = in this process).
    scheduler : str or None
        Address of a running Dask scheduler (overrides ``workers``).
    force : bool
        Ignore the cache and redo every review.
    pseudonymizer : Pseudonymizer or None
        De-identify the output with this key.
    progress : bool
        Show a progress bar on stderr.
    """

    root: Path
    out: Path
    stored: bool = False
    workers: int = 1
    scheduler: str | None = None
    force: bool = False
    pseudonymizer: Pseudonymizer | None = None
    progress: bool = False


@dataclass
class BatchSummary:
    """What a batch run did.

    Attributes
    ----------
    n_reviews, n_computed, n_cached, n_failed, n_rows : int
        Reviews found; computed this run; reused from the cache; failed; vessel rows.
    seconds : float
        Wall time of the run (s).
    paths : dict
        "vessels", "cases", "errors", "cache" -> Path.
    worker_peak_rss_mb : dict
        Peak resident memory (MiB) reported by each worker ("host:pid").
    compute_seconds, compute_cpu_seconds : float
        Sum over computed reviews of the wall and CPU time spent in the worker (s).
    """

    n_reviews: int = 0
    n_computed: int = 0
    n_cached: int = 0
    n_failed: int = 0
    n_rows: int = 0
    seconds: float = 0.0
    paths: dict[str, Path] = field(default_factory=dict)
    worker_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    compute_seconds: float = 0.0
    compute_cpu_seconds: float = 0.0


def engine_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the measurement engine's source files.

    Part of the cache key of recomputed runs, so that results computed by an
    earlier engine are not reused after the engine changed, even within one
    version number (development installs).
    """
    import nvcview.case.measurement
    import nvcview.measure

    h = hashlib.sha256()
    files = sorted(Path(nvcview.measure.__file__).parent.glob("*.py"))
    files.append(Path(nvcview.case.measurement.__file__))
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run_fingerprint(stored: bool, pz: Pseudonymizer | None) -> str:
    """Everything besides the input files that changes a review's rows."""
    mode = "stored" if stored else f"recomputed-{engine_fingerprint()}"
    deid = pz.fingerprint() if pz is not None else "identified"
    return f"nvcview-{__version__}|{mode}|{deid}"


def _error_row(task: dict, result: dict) -> dict:
    return {
        "review_folder": task["rel"],
        "case_id": result.get("case_id") or None,
        "reader": result.get("reader") or None,
        "stage": result.get("stage"),
        "error_type": result.get("error_type"),
        "message": result.get("message"),
    }


def check_key_outside(out: Path, key_file: Path | None) -> None:
    """Refuse a key file inside the output folder (it would be shared with the tables)."""
    if key_file is None:
        return
    out_dir = Path(out).resolve().parent
    key = key_file.resolve()
    if key.parent == out_dir or out_dir in key.parents:
        raise InputError(
            f"{key_file}: the key file must be kept out of the output folder {Path(out).parent}"
        )


def run_batch(
    opts: BatchOptions,
    *,
    key_file: Path | None = None,
    task_fn: Callable[[dict], dict] = process_case,
) -> BatchSummary:
    """Run a batch export (see the module docstring).

    Parameters
    ----------
    opts : BatchOptions
        What to do.
    key_file : Path, optional
        Where the de-identification key came from (refused inside the output folder).
    task_fn : callable
        Worker function (module level, ``dict -> dict``); :func:`process_case`.

    Returns
    -------
    BatchSummary

    Raises
    ------
    InputError
        Root missing, no review under it, bad output name, key file in the output
        folder, or no Dask scheduler at the given address.
    """
    t0 = time.perf_counter()
    paths = output_paths(opts.out)
    check_key_outside(opts.out, key_file)
    root = Path(opts.root)
    refs = find_reviews(root)
    if not refs:
        raise InputError(f"{root}: no review folder (review.json) found under it")
    pz = opts.pseudonymizer
    cache = ResultCache(
        paths["cache"], run_fingerprint(opts.stored, pz), pz.key if pz is not None else None
    )
    summary = BatchSummary(n_reviews=len(refs), paths=paths)
    tasks: list[dict] = []
    hashes: list[str | None] = []
    for ref in refs:
        tasks.append(
            {
                "folder": str(ref.folder),
                "rel": ref.rel,
                "root": str(root.resolve()),
                "stored": opts.stored,
            }
        )
        try:
            hashes.append(inputs_hash(ref.folder))
        except OSError as exc:
            hashes.append(None)
            # the message would name the folder (may hold identifiers): log the type only
            log.debug("hashing the inputs of a review failed (%s)", type(exc).__name__)

    results: list[dict | None] = [None] * len(tasks)
    todo: list[int] = []
    for i, (task, h) in enumerate(zip(tasks, hashes, strict=True)):
        cached = None if (opts.force or h is None) else cache.get(task["rel"], h)
        if cached is not None:
            results[i] = cached
            summary.n_cached += 1
        else:
            todo.append(i)

    from tqdm import tqdm

    bar = tqdm(
        total=len(tasks),
        initial=summary.n_cached,
        unit="review",
        desc="nvcview batch",
        file=sys.stderr,
        disable=not opts.progress,
        dynamic_ncols=True,
    )
    try:
        todo_tasks = [tasks[i] for i in todo]
        for j, result in run_tasks(
            task_fn, todo_tasks, workers=opts.workers, scheduler=opts.scheduler
        ):
            i = todo[j]
            worker = result.pop("worker", None)
            if worker:
                name = f"{worker.get('host', '?')}:{worker.get('pid', '?')}"
                peak = float(worker.get("peak_rss_mb") or 0.0)
                summary.worker_peak_rss_mb[name] = max(
                    peak, summary.worker_peak_rss_mb.get(name, 0.0)
                )
                summary.compute_seconds += float(worker.get("seconds") or 0.0)
                summary.compute_cpu_seconds += float(worker.get("cpu_seconds") or 0.0)
            if pz is not None:
                result = deidentify_result(result, tasks[i], pz)
            else:
                result.pop("phi", None)
                result.pop("reader_from_folder", None)
            results[i] = result
            summary.n_computed += 1
            input_hash = hashes[i]
            if result.get("status") == "ok" and input_hash is not None:
                cache.put(tasks[i]["rel"], input_hash, result)
            bar.update(1)
    finally:
        bar.close()

    vessel_rows: list[dict] = []
    case_rows: list[dict] = []
    error_rows: list[dict] = []
    for task, maybe_result in zip(tasks, results, strict=True):
        if maybe_result is None:  # cannot happen unless a backend lost a task
            maybe_result = {"status": "error", "stage": "run", "message": "no result returned"}
        result = maybe_result
        if result.get("status") == "ok":
            vessel_rows.extend(result["rows"])
            case_rows.append(result["case"])
        else:
            row = _error_row(task, result)
            if pz is not None:
                row["review_folder"] = pz.pseudonym(task["rel"], "folder", "R")
            error_rows.append(row)
    summary.n_failed = len(error_rows)
    summary.n_rows = len(vessel_rows)

    write_table(make_frame(vessel_rows, VESSEL_COLUMNS), paths["vessels"])
    write_table(make_frame(case_rows, CASE_COLUMNS), paths["cases"])
    write_table(make_frame(error_rows, ERROR_COLUMNS), paths["errors"])
    summary.seconds = time.perf_counter() - t0
    return summary


def describe(summary: BatchSummary) -> str:
    """One-paragraph account of a run for stderr (no identifiers)."""
    lines = [
        f"{summary.n_reviews} reviews: {summary.n_computed} computed, "
        f"{summary.n_cached} unchanged (cached), {summary.n_failed} failed; "
        f"{summary.n_rows} vessel rows in {summary.seconds:.1f} s",
        f"wrote {summary.paths['vessels']}, {summary.paths['cases'].name}, "
        f"{summary.paths['errors'].name}",
    ]
    if summary.n_failed:
        lines.append(f"see {summary.paths['errors']} for the reasons")
    if summary.worker_peak_rss_mb:
        peak = max(summary.worker_peak_rss_mb.values())
        lines.append(
            f"{len(summary.worker_peak_rss_mb)} worker(s), peak memory per worker {peak:.0f} MiB"
        )
    return "\n".join(lines)
