"""VideoSource: the base of every frame source (a video file in video.py, an image sequence in
video_images.py): frame-accurate random access, iteration, prefetch and the frame cache.
``open_video`` in video.py picks the kind for a path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.frame_cache import FrameCache, Prefetch
from annotator.core.video_index import fingerprint_path
from annotator.errors import FrameIndexError, VideoOpenError


class VideoSource:
    """The common API of video files and image sequences (see the module docstring)."""

    path: Path
    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str
    rotation: int

    def __init__(self, path: Path, cache: FrameCache) -> None:
        self.path = path
        self._cache = cache
        self._fingerprint: str | None = None
        self._closed = False
        self._prefetch: Prefetch | None = None
        self._lock = threading.RLock()

    # --- to implement --------------------------------------------------------------------
    def _decode(self, index: int) -> np.ndarray:
        """Produce frame ``index`` (cache miss); called with ``self._lock`` held."""
        raise NotImplementedError

    def _prefetch_work(self, handle: Prefetch, indices: range) -> None:
        for i in indices:
            if handle.cancelled():
                return
            if not self._cache.contains(i):
                self.frame(i)
                handle.decoded += 1

    def timestamp(self, index: int) -> float:
        """Seconds from the first frame to frame ``index``."""
        raise NotImplementedError

    def index_at(self, seconds: float) -> int:
        """The frame on screen at ``seconds`` after the first frame (clamped to the video)."""
        raise NotImplementedError

    def clone(self) -> VideoSource:
        raise NotImplementedError

    def source_name(self, index: int) -> str | None:
        """The original file name of a frame from a folder; None for a video file."""
        return None

    # --- shared --------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_path(self.path)
        return self._fingerprint

    def frame(self, index: int) -> np.ndarray:
        """Exactly the ``index``-th displayed frame: HxWx3 uint8 RGB, C-contiguous, read-only."""
        index = self._check_index(index)
        hit = self._cache.get(index, self._convert_pending)
        if hit is not None:
            return hit
        with self._lock:
            self._check_open()
            if self._cache.contains(index):  # another thread decoded it while we waited
                hit = self._cache.get(index, self._convert_pending)
                if hit is not None:
                    return hit
            rgb = self._decode(index)
        self._cache.put(index, rgb)
        return rgb

    def frames(self, start: int | None = None, stop: int | None = None,
               step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` over ``range(start, stop, step)``, decoding as a stream.

        ``start`` defaults to the first frame in the walking direction, ``stop`` to the end
        in that direction (so ``frames(step=-1)`` walks the whole video backward). Forward,
        the decoder goes on frame after frame without seeking; backward, it decodes one
        keyframe interval forward and hands it out in reverse (memory: about one interval).
        The frames also go into the cache. For a long walk in a worker thread, use a clone().
        """
        indices = self._range(start, stop, step)
        if step > 0:
            for i in indices:
                yield i, self.frame(i)
        else:
            yield from self._backward(indices)

    def _backward(self, indices: range) -> Iterator[tuple[int, np.ndarray]]:
        for i in indices:
            yield i, self.frame(i)

    def prefetch(self, start: int, count: int, step: int = 1) -> Prefetch:
        """Decode ``count`` frames from ``start`` (every ``step``) into the cache, in a thread.

        The latest request wins: a new prefetch cancels the one running on this source.
        """
        if step == 0:
            raise ValueError("step must not be 0")
        self._check_open()
        start = min(max(0, start), self.frame_count - 1)
        stop = start + count * step
        indices = range(start, max(-1, min(self.frame_count, stop)), step)
        handle = Prefetch(start, len(indices), step)
        with self._lock:
            previous, self._prefetch = self._prefetch, handle
        if previous is not None:
            previous.cancel()
        handle._run_in_thread(lambda h: self._prefetch_work(h, indices), f"prefetch {self.path.name}")
        return handle

    def frame_stem(self, index: int) -> str:
        """File stem for frame ``index``: "00042" (5 digits; more from 100,000 frames on)."""
        index = self._check_index(index)
        n = self.frame_count
        width = 5 if n < 100_000 else max(6, len(str(n - 1)))
        return f"{index:0{width}d}"

    def info(self) -> dict[str, Any]:
        """The keys of the CLI contract: path, frames, fps, width, height, duration_s, codec, rotation."""
        return {
            "path": str(self.path),
            "frames": self.frame_count,
            "fps": round(float(self.fps), 6),
            "width": self.width,
            "height": self.height,
            "duration_s": round(float(self.duration_s), 6),
            "codec": self.codec,
            "rotation": self.rotation,
        }

    def cache_stats(self) -> dict[str, int]:
        """bytes, capacity, frames, hits, misses of the (possibly shared) frame cache."""
        return self._cache.stats()

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch.wait(5.0)
        self._closed = True

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.frame_count

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.path.name} {self.width}x{self.height} "
                f"{self.frame_count} frames @ {self.fps:.3f} fps>")

    # --- helpers -------------------------------------------------------------------------
    def _check_index(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < self.frame_count:
            raise FrameIndexError(f"frame {index} is out of range 0..{self.frame_count - 1}", self.path)
        return index

    def _check_open(self) -> None:
        if self._closed:
            raise VideoOpenError("the video is closed", self.path)

    def _convert_pending(self, pending: Any) -> np.ndarray:
        raise TypeError(f"no pending frames in {type(self).__name__}")

    def _range(self, start: int | None, stop: int | None, step: int) -> range:
        if step == 0:
            raise ValueError("step must not be 0")
        n = self.frame_count
        if step > 0:
            start = 0 if start is None else start
            stop = n if stop is None else min(stop, n)
        else:
            start = n - 1 if start is None else start
            stop = -1 if stop is None else max(stop, -1)
        indices = range(start, stop, step)
        if len(indices):
            self._check_index(start)
        return indices
