"""napari front end of nvcview: readers, writers, sample data and the review widget.

A thin layer: converts napari layers to core models and back, calls nvcview core.
"""

__version__ = "0.1.0"
