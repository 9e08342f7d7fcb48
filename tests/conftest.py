"""Shared fixtures. Phantoms are built in code; nothing large is stored in git."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_API", "pyqt6")
os.environ.setdefault("PYTEST_QT_API", "pyqt6")


@pytest.fixture
def minicase():
    """The two-series mini case built in code (tests/case/minicase.py)."""
    from case.minicase import make_minicase

    return make_minicase()


@pytest.fixture(scope="session")
def realistic_axial():
    """Realistic left study (``make_phantom(seed=0, realistic=True)``), AICA touching VII
    on the attached segment; shared by the segmentation and measurement tests (read only)."""
    from nvcview_sample import make_phantom

    return make_phantom(seed=0, realistic=True)


@pytest.fixture(scope="session")
def sample_study(tmp_path_factory):
    """The phantom study on disk (DICOM T2 + TOF, truth.json, truth review), 1 mm AICA gap.

    Written once per test run and shared: a test that edits its review copies
    ``paths.review_dir`` first (series paths in review.json are relative).
    """
    import json

    from nvcview_sample import write_sample

    paths = write_sample(tmp_path_factory.mktemp("sample"), nifti=True, gap_mm=1.0)
    truth = json.loads(open(paths.truth).read())
    return paths, truth


@pytest.fixture
def header_reads(monkeypatch):
    """Counts :func:`nvcview.io.discovery._read_header` calls per file (absolute path)."""
    from collections import Counter
    from pathlib import Path

    from nvcview.io import discovery

    reads: Counter = Counter()
    real = discovery._read_header

    def counting(path, *args, **kwargs):
        reads[str(Path(path).resolve())] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(discovery, "_read_header", counting)
    return reads
