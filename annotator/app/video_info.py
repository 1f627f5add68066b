"""What a front end may know about the open video: a typed, read-only ``VideoInfo`` (size,
frame rate, frame count, the time of each frame). Frames themselves come through Session
calls (``load_frame``, ``prefetch_frames``), so the GUI never holds the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotator.core.video_source import VideoSource


@dataclass(frozen=True)
class VideoInfo:
    """The open video's geometry and clock. Timestamps are asked of the decoder on demand (a
    long video with a variable frame rate has one per frame; copying them all would be waste)."""

    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    _source: VideoSource = field(repr=False, compare=False)

    @classmethod
    def of(cls, source: VideoSource) -> VideoInfo:
        return cls(width=int(source.width), height=int(source.height), fps=float(source.fps),
                   frame_count=int(source.frame_count), duration_s=float(source.duration_s),
                   _source=source)

    @property
    def last_frame(self) -> int:
        return self.frame_count - 1

    def timestamp(self, frame: int) -> float:
        """Seconds from the first frame to ``frame``."""
        return self._source.timestamp(frame)

    def index_at(self, seconds: float) -> int:
        """The frame on screen ``seconds`` after the first (clamped to the video)."""
        return self._source.index_at(seconds)

