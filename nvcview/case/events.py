"""Change events of a case, napari-style and Qt-free.

A front end subscribes to the case's events the way napari's Qt controls
listen to its layer models::

    session.events.labels.connect(on_labels)      # on_labels(event)
    session.events.status.connect(on_status)

Each emitter calls its callbacks synchronously, in the thread that made the
change, with one :class:`Event` (``event.type``, ``event.source`` and the
keyword arguments of the emit as attributes). Bound methods are held weakly,
so a closed widget is not kept alive (nor called) by the case it showed.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["CaseEvents", "Event", "EventEmitter"]

log = logging.getLogger(__name__)

Callback = Callable[["Event"], Any]


class Event:
    """One change: ``type`` (the emitter's name), ``source`` (the case) and details."""

    def __init__(self, type: str, source: object, **kwargs: Any) -> None:  # noqa: A002
        self.type = type
        self.source = source
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k not in ("source",))
        return f"Event({extra})"


class EventEmitter:
    """Callbacks for one kind of change (``connect`` / ``disconnect`` / ``emit``)."""

    def __init__(self, source: object, type: str) -> None:  # noqa: A002
        self._source = weakref.ref(source) if source is not None else (lambda: None)
        self.type = type
        self._callbacks: list[Callable[[], Callback | None]] = []
        self._blocked = 0

    def connect(self, callback: Callback) -> Callback:
        """Call ``callback(event)`` on every emit; bound methods are held weakly."""
        ref: Callable[[], Callback | None]
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref = weakref.WeakMethod(callback)
        else:

            def ref(cb: Callback = callback) -> Callback:
                return cb

        if callback not in [r() for r in self._callbacks]:
            self._callbacks.append(ref)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Remove one callback (or all of them with ``None``)."""
        if callback is None:
            self._callbacks.clear()
        else:
            self._callbacks = [r for r in self._callbacks if r() not in (None, callback)]

    @property
    def callbacks(self) -> list[Callback]:
        """The live callbacks, in connection order."""
        return [cb for cb in (r() for r in self._callbacks) if cb is not None]

    @contextlib.contextmanager
    def blocker(self) -> Iterator[None]:
        """Suppress this emitter inside a ``with`` block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def emit(self, **kwargs: Any) -> Event:
        """Call every callback with one :class:`Event`; a dead weak callback is dropped."""
        event = Event(self.type, self._source(), **kwargs)
        if self._blocked:
            return event
        self._callbacks = [r for r in self._callbacks if r() is not None]
        for cb in self.callbacks:
            cb(event)
        return event


class CaseEvents:
    """The emitters of one case.

    Attributes
    ----------
    labels
        The label map changed (``box``: index box of the change, or None for all).
    structures
        The structure table changed (added, removed, retyped).
    landmarks, path
        Landmarks / the traced nerve centreline changed (LPS mm).
    calls
        A reader call (grade, confidence, comment) changed (``vessel_label``).
    fields
        Case fields changed (side, reader, case id, impression, VA dominance).
    series
        The case's T2 / TOF series changed (``resampled``: the label map moved grid).
    registration
        A moving series' registration onto the reference was stored or removed
        (``moving_series_uid``, ``registration``: the Registration or None).
    alignment
        The T2 / TOF alignment check of the case finished (``check``: an
        :class:`~nvcview.register.check.AlignmentCheck`); not an edit.
    status
        Draft / final changed (``status``).
    saved
        The review was written (``path``: its review.json).
    measured
        Fresh measurements (``measurements``).
    closed
        The case was closed (a front end drops its layers).
    changed
        After any edit of the review (``what``: the name of the specific event), so a
        front end can schedule one re-measurement and autosave for every kind of edit.
    """

    NAMES = (
        "labels",
        "structures",
        "landmarks",
        "path",
        "calls",
        "fields",
        "series",
        "registration",
        "alignment",
        "status",
        "saved",
        "measured",
        "closed",
        "changed",
    )

    def __init__(self, source: object) -> None:
        for name in self.NAMES:
            setattr(self, name, EventEmitter(source, name))

    def __getattr__(self, name: str) -> EventEmitter:  # for type checkers: every emitter
        raise AttributeError(name)

    def emitters(self) -> list[EventEmitter]:
        """Every emitter of the case."""
        return [getattr(self, n) for n in self.NAMES]

    def disconnect_all(self) -> None:
        """Drop every callback of every emitter."""
        for e in self.emitters():
            e.disconnect()
