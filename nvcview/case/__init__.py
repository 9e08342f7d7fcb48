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
