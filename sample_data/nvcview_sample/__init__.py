"""Synthetic cerebellopontine-angle phantom with analytic ground truth.

``make_phantom(...)`` builds the study in memory; ``write_sample(out_dir, ...)``
writes it as DICOM (and NIfTI on request) with ``truth.json`` and the
ground-truth review. All positions are patient LPS mm.
"""

from __future__ import annotations

from nvcview_sample.phantom import Phantom, make_phantom
from nvcview_sample.sample_writer import SamplePaths, write_sample

__all__ = ["Phantom", "SamplePaths", "make_phantom", "write_sample"]
