"""A tiny Qt-free event emitter: the Session emits, views subscribe.

Callbacks run on the thread that emits. The GUI bridges them onto the UI thread with Qt
signals (gui/jobs.py); tests and the CLI simply read them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Callback = Callable[..., None]


class Emitter:
    """Named events with keyword payloads: ``connect('masks_changed', cb)``; ``emit(...)``."""

    def __init__(self, *names: str) -> None:
        self._names = frozenset(names)
        self._callbacks: dict[str, list[Callback]] = {n: [] for n in names}
        self._lock = threading.Lock()

    @property
    def names(self) -> frozenset[str]:
        return self._names

    def connect(self, name: str, callback: Callback) -> Callable[[], None]:
        """Subscribe; returns a function that unsubscribes."""
        self._check(name)
        with self._lock:
            self._callbacks[name].append(callback)

        def disconnect() -> None:
            with self._lock:
                if callback in self._callbacks[name]:
                    self._callbacks[name].remove(callback)

        return disconnect

    def emit(self, name: str, **payload: Any) -> None:
        self._check(name)
        with self._lock:
            callbacks = list(self._callbacks[name])
        for cb in callbacks:
            try:
                cb(**payload)
            except Exception:  # a broken view must not break the model
                log.exception("event handler for %r failed", name)

    def _check(self, name: str) -> None:
        if name not in self._names:
            raise KeyError(f"unknown event {name!r}; known: {sorted(self._names)}")
