"""nvcview.report."""
