"""Resumable runs: unchanged reviews come from the cache, changed ones are redone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nvcview.batch.cache import ResultCache, inputs_hash
from nvcview.batch.discover import find_reviews
from nvcview.batch.export import BatchOptions, engine_fingerprint, run_batch, run_fingerprint
from nvcview.batch.pseudonym import Pseudonymizer
from nvcview.io.image import make_volume
from nvcview.io.nifti import write_nifti
from tests.batch.cohort import AFFINE, labels_array, write_review


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resume") / "root"
    for case in ("c1", "c2"):
        for reader in ("r1", "r2"):
            write_review(root / case / reader, case_id=case, reader=reader)
    return root


@pytest.fixture
def root(template, tmp_path) -> Path:
    dst = tmp_path / "root"
    shutil.copytree(template, dst)
    return dst


def batch(root: Path, out: Path, **kw) -> tuple:
    summary = run_batch(BatchOptions(root=root, out=out, stored=True, workers=1, **kw))
    return summary, out.read_bytes(), summary.paths["cases"].read_bytes()


def test_second_run_skips_unchanged_force_redoes_changed_label_redone(root, tmp_path):
    out = tmp_path / "t.csv"
    first, vessels1, cases1 = batch(root, out)
    assert (first.n_reviews, first.n_computed, first.n_cached, first.n_failed) == (4, 4, 0, 0)
    # one in-process worker; its peak memory holds at least the Python + numpy runtime
    (peak,) = first.worker_peak_rss_mb.values()
    assert 20 < peak < 4096

    second, vessels2, cases2 = batch(root, out)
    assert (second.n_computed, second.n_cached) == (0, 4)
    assert (vessels2, cases2) == (vessels1, cases1)  # same tables, byte for byte

    forced, vessels3, _ = batch(root, out, force=True)
    assert (forced.n_computed, forced.n_cached) == (4, 0)
    assert vessels3 == vessels1

    # the label map of one review edited outside nvcview: only that review is redone
    write_nifti(make_volume(labels_array(shift=1), AFFINE), root / "c2" / "r1" / "labels.nii.gz")
    third, _, _ = batch(root, out)
    assert (third.n_computed, third.n_cached) == (1, 3)
    # and review.json edited: redone too
    doc_path = root / "c1" / "r2" / "review.json"
    doc = json.loads(doc_path.read_text())
    doc["impression"] = "edited"
    doc_path.write_text(json.dumps(doc))
    fourth, _, _ = batch(root, out)
    assert (fourth.n_computed, fourth.n_cached) == (1, 3)


def test_failed_reviews_are_retried_and_corrupt_cache_entries_ignored(root, tmp_path):
    (root / "c3" / "r1").mkdir(parents=True)
    (root / "c3" / "r1" / "review.json").write_text("{}", encoding="utf-8")
    out = tmp_path / "t.parquet"
    first, _, _ = batch(root, out)
    assert (first.n_computed, first.n_failed) == (5, 1)
    entries = sorted(first.paths["cache"].glob("*.json"))
    assert len(entries) == 4  # the failed review is not cached
    entries[0].write_text("{ truncated", encoding="utf-8")
    second, _, _ = batch(root, out)
    assert (second.n_computed, second.n_cached, second.n_failed) == (2, 3, 1)


def test_cache_keyed_by_mode_and_key(root, tmp_path):
    refs = find_reviews(root)
    h = inputs_hash(refs[0].folder)
    key = b"k" * 32
    fingerprints = {
        run_fingerprint(True, None),
        run_fingerprint(False, None),
        run_fingerprint(True, Pseudonymizer(key)),
        run_fingerprint(True, Pseudonymizer(key, shift_dates=False)),
        run_fingerprint(True, Pseudonymizer(b"q" * 32)),
    }
    assert len(fingerprints) == 5
    assert engine_fingerprint() in run_fingerprint(False, None)
    assert engine_fingerprint() not in run_fingerprint(True, None)  # stored: engine unused
    assert key.decode() not in "".join(fingerprints)
    cache = ResultCache(tmp_path / "cache", run_fingerprint(True, None))
    cache.put(refs[0].rel, h, {"status": "ok", "rows": [], "case": {"n": 1}})
    assert cache.get(refs[0].rel, h) == {"status": "ok", "rows": [], "case": {"n": 1}}
    assert cache.get(refs[0].rel, "0" * 64) is None
    assert ResultCache(tmp_path / "cache", run_fingerprint(False, None)).get(refs[0].rel, h) is None


def test_entries_cached_before_the_reader_scrubbing_are_not_reused(root, tmp_path):
    # format 1 de-identified entries may hold a reader column that is a folder name
    refs = find_reviews(root)
    h = inputs_hash(refs[0].folder)
    pz = Pseudonymizer(b"k" * 32)
    cache = ResultCache(tmp_path / "cache", run_fingerprint(True, pz), pz.key)
    cache.put(refs[0].rel, h, {"status": "ok", "rows": [], "case": {"reader": "Smith_J"}})
    path = next((tmp_path / "cache").glob("*.json"))
    entry = json.loads(path.read_text())
    path.write_text(json.dumps(dict(entry, format=1)))
    assert cache.get(refs[0].rel, h) is None


def test_discovery_skips_history_and_hidden_folders(root):
    # a second save keeps the previous review.json under .history
    hidden = root / "c1" / "r1" / ".history" / "old"
    hidden.mkdir(parents=True)
    shutil.copy(root / "c1" / "r1" / "review.json", hidden / "review.json")
    refs = find_reviews(root)
    assert [r.rel for r in refs] == ["c1/r1", "c1/r2", "c2/r1", "c2/r2"]
    assert all(r.folder.is_absolute() for r in refs)


def test_inputs_hash_follows_the_named_label_map(root):
    folder = root / "c1" / "r1"
    before = inputs_hash(folder)
    assert inputs_hash(folder) == before
    (folder / "audit.jsonl").write_text("not an input\n")
    assert inputs_hash(folder) == before
    arr = np.zeros((2, 2, 2), dtype=np.uint8)
    write_nifti(make_volume(arr, AFFINE), folder / "labels.nii.gz")
    assert inputs_hash(folder) != before
    changed = inputs_hash(folder)
    assert changed != before
    (folder / "labels.nii.gz").unlink()
    assert inputs_hash(folder) not in (before, changed)
