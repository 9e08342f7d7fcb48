"""nvcview.batch."""
