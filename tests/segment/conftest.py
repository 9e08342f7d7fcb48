"""Realistic phantoms shared by the segmentation tests (each takes a few seconds);
``realistic_axial`` is in tests/conftest.py (the measurement tests use it too)."""

from __future__ import annotations

import pytest
from nvcview_sample import make_phantom


@pytest.fixture(scope="session")
def realistic_oblique():
    """Realistic oblique study, AICA 0.5 mm from VII at the RExP."""
    return make_phantom(seed=1, realistic=True, oblique=True, segment="RExP", gap_mm=0.5)


@pytest.fixture(scope="session")
def realistic_oblique_fork():
    """Realistic oblique right study whose AICA seed (cisternal) lies beyond a fork."""
    return make_phantom(seed=15, realistic=True, oblique=True, side="right", segment="cisternal")
