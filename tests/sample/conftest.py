"""Phantoms shared by the sample tests (built once per session: each takes ~2 s)."""

from __future__ import annotations

import pytest
from nvcview_sample import make_phantom


@pytest.fixture(scope="session")
def default_phantom():
    """The default study: left AICA touching VII midway along the attached segment."""
    return make_phantom(seed=0)
