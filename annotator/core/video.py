"""VideoSource: frame-accurate random access to a video file, a folder of images, or one image.

``open_video(path)`` returns a VideoSource. ``frame(i)`` is exactly the i-th displayed frame
(HxWx3 uint8 RGB, display orientation, read-only: ``copy()`` it before drawing on it).

How a video file is read (details in video_index.py and docs/design.md):
- the frame index (display-order pts, keyframes) comes from a demux scan, cached on disk;
- ``frame(i)`` seeks to the keyframe the index names and decodes forward to the frame whose
  pts is pts[i]; a request just ahead of the decoder's position decodes on without seeking;
- every decoded frame goes into an LRU bounded in bytes (frames passed over on the way to a
  seek target wait there in YUV and are converted only if asked for);
- ``prefetch`` decodes ahead on its own container in a thread; ``clone()`` gives another
  thread its own decoder over the same index and cache.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.frame_cache import FrameCache, Prefetch
from annotator.core.video_decoder import Decoder, frame_nbytes
from annotator.core.video_images import ImageSequence
from annotator.core.video_index import FrameIndex, fingerprint_path, load_cached, save_cached, scan
from annotator.core.video_source import VideoSource
from annotator.errors import VideoDecodeError, VideoOpenError

__all__ = ["VideoFile", "open_video", "fingerprint_path", "DEFAULT_CACHE_BYTES"]

log = logging.getLogger(__name__)
_local = threading.local()

DEFAULT_CACHE_BYTES = 256 * 2**20
# Backward iteration holds at most this many bytes of decoded frames per chunk.
_BACKWARD_CHUNK_BYTES = 256 * 2**20


def open_video(path: str | Path, cache_bytes: int = DEFAULT_CACHE_BYTES, *,
               fps: float | None = None) -> VideoSource:
    """Open a video file, a folder of images (natural order) or a single image.

    ``fps`` sets the rate of a frame folder or an image (default 25); it is ignored for video
    files, whose timing comes from their timestamps.
    """
    from annotator.core.imageio import IMAGE_EXTENSIONS

    path = Path(os.path.abspath(Path(path).expanduser()))
    if not path.exists():
        raise VideoOpenError("file not found", path)
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSequence(path, cache_bytes, fps=fps)
    return VideoFile(path, cache_bytes)


class VideoFile(VideoSource):
    """A video file decoded with PyAV."""

    def __init__(self, path: Path, cache_bytes: int = DEFAULT_CACHE_BYTES, *,
                 _template: VideoFile | None = None, _cache: FrameCache | None = None) -> None:
        super().__init__(path, _cache if _cache is not None else FrameCache(cache_bytes))
        self._prefetch_decoder: Decoder | None = None
        self._prefetch_lock = threading.Lock()
        if _template is not None:  # clone: same metadata and index, own container
            for name in ("frame_count", "fps", "width", "height", "duration_s", "codec", "rotation",
                         "_fingerprint", "_index", "_rot_k", "_stored_size", "_times"):
                setattr(self, name, getattr(_template, name))
            self._decoder = Decoder(path, self._index)
            return
        self._open_and_index()

    def _open_and_index(self) -> None:
        path = self.path
        decoder = Decoder(path)
        try:
            stream = decoder.stream
            self._fingerprint = fingerprint_path(path)
            index = load_cached(self._fingerprint, stream.index)
            if index is None:
                index = scan(decoder.container, stream, path)
                save_cached(self._fingerprint, index)
                decoder.rewind()
            if index.frame_count == 0:
                raise VideoOpenError("the video stream holds no frames", path)
            decoder.index = index
            self._index = index
            # The first frame tells the real picture size and the display rotation, and proves
            # that the stream decodes at all.
            try:
                first = decoder.decode_one(0)
            except VideoDecodeError as exc:
                raise VideoOpenError(f"the first frame does not decode ({exc.reason})", path) from exc
        except BaseException:
            decoder.close()
            raise
        self._decoder = decoder
        ccw = int(round(first.rotation / 90.0)) * 90  # counter-clockwise degrees, as FFmpeg reports
        self.rotation = (-ccw) % 360  # clockwise, as the "rotate" tag of phone videos
        self._rot_k = (ccw // 90) % 4  # np.rot90 turns counter-clockwise
        self._stored_size = (first.width, first.height)
        self.width, self.height = first.width, first.height
        if self._rot_k % 2:
            self.width, self.height = self.height, self.width
        self.frame_count = index.frame_count
        self.duration_s = index.duration_s()
        self._times = (index.pts - index.pts[0]).astype(np.float64) * float(index.time_base)
        # rewind() above opened a fresh container: the first ``stream`` belongs to a closed one,
        # and PyAV >= 18.1.1 refuses to read a closed container's stream.
        stream = decoder.stream
        self.fps = _average_fps(stream, index, self.duration_s)
        self.codec = _codec_name(stream)
        if index.truncated:
            log.warning("%s: the file ends early; %d complete frames are listed", path, self.frame_count)
        self._cache.put(0, self._convert_pending(first))

    # --- VideoSource ---------------------------------------------------------------------
    def timestamp(self, index: int) -> float:
        return float(self._times[self._check_index(index)])

    def index_at(self, seconds: float) -> int:
        i = int(np.searchsorted(self._times, float(seconds) + 1e-9, side="right")) - 1
        return min(max(i, 0), self.frame_count - 1)

    def clone(self) -> VideoFile:
        """Same file and index, its own PyAV container; shares the frame cache (thread-safe)."""
        self._check_open()
        return VideoFile(self.path, _template=self, _cache=self._cache)

    def close(self) -> None:
        super().close()
        with self._lock:
            self._decoder.close()
        with self._prefetch_lock:
            if self._prefetch_decoder is not None:
                self._prefetch_decoder.close()
                self._prefetch_decoder = None

    def _decode(self, index: int) -> np.ndarray:
        frames: dict[int, Any] = {}

        def keep(i: int, vf: Any) -> None:
            if i == index:
                frames[i] = vf
            else:
                self._cache.put(i, vf, frame_nbytes(vf))

        self._decoder.run(index, index, keep)
        return self._convert_pending(frames[index])

    def _convert_pending(self, vf: Any) -> np.ndarray:
        """YUV VideoFrame -> RGB array in display orientation (any thread)."""
        width, height = self._stored_size
        # One swscale context per thread, reused frame after frame (a fresh one per frame
        # costs more than the conversion at small sizes). Slice threads only pay off on big
        # frames; on small ones their hand-offs cost more than they save.
        reformatter = getattr(_local, "reformatter", None)
        if reformatter is None:
            from av.video.reformatter import VideoReformatter

            reformatter = _local.reformatter = VideoReformatter()
        threads = 0 if width * height >= 1_000_000 else 1
        # A mid-stream size change is scaled back to the first frame's size: one size throughout.
        rgb = reformatter.reformat(vf, width=width, height=height, format="rgb24",
                                   threads=threads).to_ndarray()
        if self._rot_k:
            rgb = np.rot90(rgb, self._rot_k)
        return np.ascontiguousarray(rgb)

    def _backward(self, indices: range) -> Iterator[tuple[int, np.ndarray]]:
        """One keyframe interval at a time: decode it forward, then hand it out in reverse.
        Memory: the frames of one interval (at most _BACKWARD_CHUNK_BYTES of YUV)."""
        for lo, hi, wanted in self._backward_spans(indices):
            if len(wanted) == 1 and self._cache.contains(hi):
                hit = self._cache.get(hi, self._convert_pending)
                if hit is not None:
                    yield hi, hit
                    continue
            got: dict[int, Any] = {}

            def keep(i: int, vf: Any, wanted: set[int] = wanted, got: dict[int, Any] = got) -> None:
                if i in wanted:
                    got[i] = vf
                else:
                    self._cache.put(i, vf, frame_nbytes(vf))

            with self._lock:
                self._check_open()
                self._decoder.run(lo, hi, keep)
            for i in sorted(got, reverse=True):
                rgb = self._convert_pending(got.pop(i))
                self._cache.put(i, rgb)
                yield i, rgb

    def _backward_spans(self, indices: range) -> Iterator[tuple[int, int, set[int]]]:
        """(lo, hi, wanted) spans of a backward range, from its high end: lo..hi is decoded
        forward in one pass (one keyframe interval, or less where a frame is large); a cached
        frame is a span of its own, which needs no decoding."""
        chunk = max(2, _BACKWARD_CHUNK_BYTES // max(1, self.width * self.height * 3 // 2))
        index, step, pos = self._index, indices.step, 0
        while pos < len(indices):
            hi = indices[pos]
            if self._cache.contains(hi):
                yield hi, hi, {hi}
                pos += 1
                continue
            seg_start = index.first_frame_at_or_after(int(index.key_pts[index.keyframe_for(hi)]))
            lo = max(seg_start, indices[-1], hi - chunk + 1)
            wanted = set(indices[pos:pos + (hi - lo) // -step + 1])
            yield lo, hi, wanted
            pos += len(wanted)

    def _prefetch_work(self, handle: Prefetch, indices: range) -> None:
        with self._prefetch_lock:
            if self._closed:
                return
            if self._prefetch_decoder is None:
                self._prefetch_decoder = Decoder(self.path, self._index)
            decoder = self._prefetch_decoder
            wanted = set(indices)

            def keep(i: int, vf: Any) -> None:
                if i in wanted:  # the frames asked for are converted here, off the caller's thread
                    self._cache.put(i, self._convert_pending(vf))
                    handle.decoded += 1
                else:
                    self._cache.put(i, vf, frame_nbytes(vf))

            if indices.step > 0:
                spans: Iterator[tuple[int, int, set[int]]] = ((i, i, {i}) for i in indices)
            else:
                spans = self._backward_spans(indices)  # nearest frames first, each span forward
            for lo, hi, _ in spans:
                if handle.cancelled() or self._closed:
                    return
                if lo == hi and self._cache.contains(hi):
                    continue
                if not decoder.run(lo, hi, keep, cancelled=handle.cancelled):
                    return


def _codec_name(stream: Any) -> str:
    try:
        return str(stream.codec.canonical_name)
    except Exception:
        return str(stream.codec_context.name)


def _average_fps(stream: Any, index: FrameIndex, duration_s: float) -> float:
    """The stream's average rate when it agrees with the timestamps (exact rationals such as
    30000/1001), else frames / duration from the index (variable frame rate, odd headers)."""
    measured = index.frame_count / duration_s if duration_s > 0 else 0.0
    declared = float(stream.average_rate) if stream.average_rate else 0.0
    if declared > 0 and (measured == 0 or abs(declared - measured) <= 0.01 * measured):
        return declared
    return measured if measured > 0 else (declared or 25.0)
