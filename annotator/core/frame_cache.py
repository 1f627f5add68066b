"""Decoded frames kept in memory: an LRU bounded in bytes, and the handle of a background prefetch.

The cache may hold a frame in one of two forms:
- the final HxWx3 RGB array (read-only, so no caller can change what another one sees);
- a *pending* frame: a decoded but not yet converted frame (a PyAV ``VideoFrame`` in YUV,
  half the bytes of RGB). A seek decodes every frame from the keyframe to its target; turning
  all of them into RGB would cost more than the decode itself, so they wait in YUV and are
  converted the first time someone asks for them (scrubbing backward is then instant).

The pending form is opaque here: the owner passes ``convert`` to ``get`` and ``nbytes`` to ``put``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np


class FrameCache:
    """Thread-safe LRU of frames by index, bounded in bytes (``capacity`` 0 disables it)."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity = max(0, int(capacity_bytes))
        self._entries: OrderedDict[int, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, index: int, convert: Callable[[Any], np.ndarray] | None = None) -> np.ndarray | None:
        """The RGB frame, or None. A pending entry is converted (outside the lock) and replaced."""
        with self._lock:
            entry = self._entries.get(index)
            if entry is None:
                self._misses += 1
                return None
            self._hits += 1
            self._entries.move_to_end(index)
            value = entry[0]
        if isinstance(value, np.ndarray):
            return value
        if convert is None:
            return None
        rgb = convert(value)
        self.put(index, rgb)
        return rgb

    def contains(self, index: int) -> bool:
        """Whether the frame is cached (pending or final), without counting a hit or a miss."""
        with self._lock:
            return index in self._entries

    def put(self, index: int, value: Any, nbytes: int | None = None) -> None:
        """Store a frame (an RGB array, or a pending frame with its ``nbytes``), evicting the oldest.

        A final RGB entry stays as it is (the same frame decodes to the same pixels). A frame
        bigger than the whole cache is not stored.
        """
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
            nbytes = value.nbytes
        elif nbytes is None:
            raise ValueError("nbytes is required for a pending frame")
        with self._lock:
            old = self._entries.get(index)
            if old is not None:
                if isinstance(old[0], np.ndarray):
                    self._entries.move_to_end(index)
                    return
                self._bytes -= old[1]
                del self._entries[index]
            if nbytes > self.capacity:
                return
            self._entries[index] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.capacity:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"bytes": self._bytes, "capacity": self.capacity, "frames": len(self._entries),
                    "hits": self._hits, "misses": self._misses}


class Prefetch:
    """Handle of a background decode into the cache: ``cancel()``, ``done()``, ``wait(timeout)``.

    The worker calls ``cancelled()`` between frames (and inside long seeks), so a cancel takes
    effect within about one frame's decode. ``error`` holds what stopped it early, if anything.
    """

    def __init__(self, start: int, count: int, step: int) -> None:
        self.start, self.count, self.step = start, count, step
        self.decoded = 0
        self.error: BaseException | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def _run_in_thread(self, work: Callable[[Prefetch], None], name: str) -> None:
        def target() -> None:
            try:
                work(self)
            except BaseException as exc:  # kept for the caller; a prefetch never raises into a UI
                self.error = exc

        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (or ``timeout`` seconds); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done()

    def __repr__(self) -> str:
        state = "done" if self.done() else ("cancelling" if self.cancelled() else "running")
        return f"<Prefetch {self.start}+{self.count}x{self.step} {state}, decoded {self.decoded}>"
