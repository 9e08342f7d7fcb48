"""Fixtures of the case layer tests: the two-series mini case built in code."""

from __future__ import annotations

import pytest

from case.minicase import MiniCase, make_minicase


@pytest.fixture
def minicase() -> MiniCase:
    return make_minicase()


@pytest.fixture(scope="session")
def sample_study(tmp_path_factory):
    """The phantom study on disk (DICOM T2 + TOF, truth.json, truth review), 1 mm AICA gap."""
    import json

    from nvcview_sample import write_sample

    paths = write_sample(tmp_path_factory.mktemp("sample"), nifti=True, gap_mm=1.0)
    truth = json.loads(open(paths.truth).read())
    return paths, truth
