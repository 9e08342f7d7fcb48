"""nvcview.segment."""
