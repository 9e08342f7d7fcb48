"""nvcview: neurovascular conflict review for hemifacial spasm.

Headless core. Never imports Qt or napari (``tests/test_core_imports.py``).
All physical coordinates are patient LPS in millimetres.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "list_series", "load"]


def __getattr__(name: str):
    # Lazy so that ``import nvcview`` stays cheap for the CLI.
    if name in ("list_series", "load"):
        from nvcview import io

        return getattr(io, name)
    raise AttributeError(name)
