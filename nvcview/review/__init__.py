"""Reviews: the annotation model and its storage on disk."""

from nvcview.review.model import ReaderCall, Review, SeriesRef

__all__ = ["ReaderCall", "Review", "SeriesRef"]
