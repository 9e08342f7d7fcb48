"""The application layer (Qt-free): one reader's review of one case.

- :mod:`.resolve`: the one series resolver (study folder, series files, review folder)
- :mod:`.session`: :class:`CaseSession`, its edits, saving with fresh measurements,
  sign-off and reopen (logged in the review's audit trail)
- :mod:`.events`: the change events front ends subscribe to (napari-style, no Qt)
- :mod:`.measurement`: the one review -> measurement path (CLI, report, batch, viewer)
- the one grid-equality rule (``same_grid``, ``grid_mismatch``, ``GRID_TOL_VOXELS``) is
  :mod:`nvcview.io.grids`'s, re-exported here
- :mod:`.pseudonym`: the one keyed pseudonym scheme (report and batch)
- :mod:`.files`: label map files, which series make one study

Front ends (the napari widget, the npe2 reader and writer, scripts) call these
and hold no workflow rule of their own. Positions are patient LPS mm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The names below are imported on first use (PEP 562), so that a command that needs
# one module (``nvcview scene``: .measurement) does not import the session, the
# series resolver and the segmentation tools behind them.
_SOURCES = {
    "CaseEvents": "nvcview.case.events",
    "Event": "nvcview.case.events",
    "EventEmitter": "nvcview.case.events",
    "same_study": "nvcview.case.files",
    "save_label_map": "nvcview.case.files",
    "can_measure": "nvcview.case.measurement",
    "contact_midpoint": "nvcview.case.measurement",
    "measure_review": "nvcview.case.measurement",
    "measure_review_labels": "nvcview.case.measurement",
    "reader_grades": "nvcview.case.measurement",
    "review_centreline": "nvcview.case.measurement",
    "review_landmarks": "nvcview.case.measurement",
    "Pseudonymizer": "nvcview.case.pseudonym",
    "read_key_file": "nvcview.case.pseudonym",
    "find_series_path": "nvcview.case.resolve",
    "is_review_path": "nvcview.case.resolve",
    "load_review_series": "nvcview.case.resolve",
    "open_paths": "nvcview.case.resolve",
    "open_review_folder": "nvcview.case.resolve",
    "open_study": "nvcview.case.resolve",
    "reference_ref": "nvcview.case.resolve",
    "resolve_series_path": "nvcview.case.resolve",
    "review_folder_of": "nvcview.case.resolve",
    "CASE_FIELDS": "nvcview.case.session",
    "CaseSession": "nvcview.case.session",
    "ReviewSignedError": "nvcview.case.session",
    "GRID_TOL_VOXELS": "nvcview.io.grids",
    "grid_mismatch": "nvcview.io.grids",
    "same_grid": "nvcview.io.grids",
}

if TYPE_CHECKING:
    from nvcview.case.events import CaseEvents, Event, EventEmitter
    from nvcview.case.files import same_study, save_label_map
    from nvcview.case.measurement import (
        can_measure,
        contact_midpoint,
        measure_review,
        measure_review_labels,
        reader_grades,
        review_centreline,
        review_landmarks,
    )
    from nvcview.case.pseudonym import Pseudonymizer, read_key_file
    from nvcview.case.resolve import (
        find_series_path,
        is_review_path,
        load_review_series,
        open_paths,
        open_review_folder,
        open_study,
        reference_ref,
        resolve_series_path,
        review_folder_of,
    )
    from nvcview.case.session import CASE_FIELDS, CaseSession, ReviewSignedError
    from nvcview.io.grids import GRID_TOL_VOXELS, grid_mismatch, same_grid


def __getattr__(name: str) -> Any:
    """Import a re-exported name from its module on first use."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CASE_FIELDS",
    "GRID_TOL_VOXELS",
    "CaseEvents",
    "CaseSession",
    "Event",
    "EventEmitter",
    "Pseudonymizer",
    "ReviewSignedError",
    "can_measure",
    "contact_midpoint",
    "find_series_path",
    "grid_mismatch",
    "is_review_path",
    "load_review_series",
    "measure_review",
    "measure_review_labels",
    "open_paths",
    "open_review_folder",
    "open_study",
    "read_key_file",
    "reader_grades",
    "reference_ref",
    "resolve_series_path",
    "review_centreline",
    "review_folder_of",
    "review_landmarks",
    "same_grid",
    "same_study",
    "save_label_map",
]
