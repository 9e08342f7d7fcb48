"""Reviews: the annotation model and its storage on disk."""

from nvcview.review.document import review_from_dict, review_to_dict
from nvcview.review.history import HistoryEntry, list_history
from nvcview.review.lock import ReviewLock, ReviewLockedError
from nvcview.review.model import ReaderCall, Review, SeriesRef
from nvcview.review.store import (
    ReviewFinalError,
    ReviewSaveError,
    load_labels,
    load_review,
    reopen_review,
    restore_version,
    save_review,
)

__all__ = [
    "HistoryEntry",
    "ReaderCall",
    "Review",
    "ReviewFinalError",
    "ReviewLock",
    "ReviewLockedError",
    "ReviewSaveError",
    "SeriesRef",
    "list_history",
    "load_labels",
    "load_review",
    "reopen_review",
    "restore_version",
    "review_from_dict",
    "review_to_dict",
    "save_review",
]
