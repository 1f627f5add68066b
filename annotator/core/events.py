"""A tiny Qt-free emitter of typed events: the Session emits, views subscribe.

An event is any object (the Session's are frozen dataclasses, app/events.py); subscribers
pick events by type. Callbacks run on the thread that emits. The GUI bridges them onto the
UI thread with one Qt signal (gui/jobs.py); tests and the CLI simply read them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Callback = Callable[[Any], None]


class Emitter:
    """``connect(MasksChanged, cb)`` calls ``cb(event)`` for each MasksChanged; ``connect_all(cb)``
    for every event; ``emit(event)``. Only the event types given at construction are accepted."""

    def __init__(self, *types: type) -> None:
        self._types = tuple(types)
        self._callbacks: dict[type | None, list[Callback]] = {t: [] for t in types}
        self._callbacks[None] = []  # subscribers of every event
        self._lock = threading.Lock()

    @property
    def types(self) -> tuple[type, ...]:
        return self._types

    def connect(self, event_type: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Subscribe to one type of event; returns a function that unsubscribes."""
        self._check(event_type)
        return self._add(event_type, callback)

    def connect_all(self, callback: Callback) -> Callable[[], None]:
        """Subscribe to every event (the GUI bridge); returns a function that unsubscribes."""
        return self._add(None, callback)

    def emit(self, event: object) -> None:
        self._check(type(event))
        with self._lock:
            callbacks = self._callbacks[type(event)] + self._callbacks[None]
        for cb in callbacks:
            try:
                cb(event)
            except Exception:  # a broken view must not break the model
                log.exception("event handler for %s failed", type(event).__name__)

    def _add(self, key: type | None, callback: Callback) -> Callable[[], None]:
        with self._lock:
            self._callbacks[key].append(callback)

        def disconnect() -> None:
            with self._lock:
                if callback in self._callbacks[key]:
                    self._callbacks[key].remove(callback)

        return disconnect

    def _check(self, event_type: type) -> None:
        if event_type not in self._callbacks or event_type is None:
            known = ", ".join(t.__name__ for t in self._types)
            raise KeyError(f"unknown event {getattr(event_type, '__name__', event_type)!r}; known: {known}")
