"""Exceptions with messages meant for the user (printed as one line by the CLI)."""

from __future__ import annotations


class NvcviewError(Exception):
    """Base class: the message names the file or series and what is wrong."""


class InputError(NvcviewError):
    """Bad or unsupported input data (file, folder, series, label map)."""


class AmbiguousSeriesError(InputError):
    """A path holds several volumes and the caller did not say which one."""

    def __init__(self, message: str, candidates: list | None = None):
        super().__init__(message)
        self.candidates = candidates or []


class GeometryError(InputError):
    """Geometry that cannot be trusted (missing slices, uneven spacing, broken affine)."""


class SchemaError(NvcviewError):
    """A document that does not validate against its schema, or is from a newer version."""
