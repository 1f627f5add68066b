"""The mask-propagation protocol every tracker implements.

A tracker is given user masks on one or more frames (conditioning frames) and carries them
through the video frame by frame, pulling frames from a FrameSource one at a time. It
yields a TrackUpdate per (frame, object) as it goes, so the caller can write results,
report progress and stop at any point (the generator is simply closed).

``stops[oid]`` is the last frame (inclusive) the tracker may produce for object ``oid`` in
this run. The propagation orchestrator sets it just before the object's next locked frame,
so each object stops at its own next lock and the others go on. Objects missing from
``stops`` are not propagated in this run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class FrameSource(Protocol):
    """What a tracker needs from a video: VideoSource satisfies it, and so does a list wrapper."""

    @property
    def frame_count(self) -> int: ...

    def frame(self, index: int) -> np.ndarray: ...


@dataclass
class TrackUpdate:
    frame: int
    object_id: int
    mask: np.ndarray  # HxW bool, full resolution
    confidence: float  # 0..1: how much to trust this frame (timeline colour, "next weak frame")
    features: dict[str, float] | None = None  # the evidence behind ``confidence``, when the tracker has it


@runtime_checkable
class Tracker(Protocol):
    name: str  # "classical", "classical-fast", "sam2.1-tiny", "edgetam" ...

    def add_conditioning(self, frame: int, masks: dict[int, np.ndarray]) -> None:
        """User masks on ``frame`` (an empty mask means 'absent here'). Corrections come this way."""
        ...

    def propagate(self, start: int, direction: int, stops: dict[int, int]) -> Iterator[TrackUpdate]:
        """Carry the masks conditioned at ``start`` in ``direction`` (+1 forward, -1 backward).

        Yields updates for frames after ``start`` (not ``start`` itself) up to each object's
        stop. Cheap to abandon: closing the generator ends the run.
        """
        ...

    def reset(self) -> None:
        """Forget all conditioning and cached state."""
        ...


class ListFrames:
    """A FrameSource over frames already in memory (tests, small clips). A ``fingerprint`` names
    the video, as the session's sources do, so encoded frames are shared by clicks and tracking."""

    def __init__(self, frames: list[np.ndarray], fingerprint: str | None = None) -> None:
        self._frames = frames
        self.fingerprint = fingerprint

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    def frame(self, index: int) -> np.ndarray:
        return self._frames[index]
