"""Shot-change (hard cut) detection from consecutive-frame distances with an adaptive threshold.

Each frame is reduced to a small signature: a blurred grey thumbnail (64 px wide) and a
hue-saturation histogram. The distance between consecutive frames is the larger of

- the *structure* change: the mean absolute difference of the two thumbnails after the best
  small global shift (up to ``shift`` thumbnail pixels, about 5 % of the width), divided by
  the sum of their contrasts (standard deviations). The shift search absorbs pans and camera
  shake, the contrast normalisation makes the score independent of exposure: two unrelated
  frames score about 0.5, the same scene a frame later about 0.05-0.15;
- the *colour* change: 1 - the intersection of the two normalised hue-saturation histograms.
  It catches cuts between shots with the same layout but different colours.

A cut is declared at frame ``t`` (the first frame of the new shot) when its distance is at
least ``min_score``, at least ``ratio`` times the median distance of the ``window`` frames
either side (so a shot full of motion needs a bigger jump), and the largest within
``min_shot`` frames (two cuts closer than that keep the stronger). Gradual transitions
(dissolves, fades) are not detected: they spread the change over many frames.

Signatures are computed one frame at a time (:class:`ShotDetector`), so a long video is
streamed and never held in memory. No Qt, no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

THUMB_WIDTH = 64
HIST_BINS = (16, 8)  # hue, saturation


@dataclass(frozen=True)
class Shot:
    """Frames ``start`` .. ``stop - 1`` (half-open, like every frame range in the store)."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def middle(self) -> int:
        return self.start + (self.stop - self.start - 1) // 2


@dataclass(frozen=True)
class CutParams:
    min_score: float = 0.25  # absolute floor: unrelated frames score ~0.5, a frame of motion ~0.1
    ratio: float = 3.0  # times the local median distance
    window: int = 8  # frames either side for the local median
    min_shot: int = 8  # frames: two cuts closer than this keep the stronger
    shift: int = 3  # thumbnail pixels searched for the best global shift


@dataclass(frozen=True)
class Signature:
    thumb: np.ndarray  # float32 (h, THUMB_WIDTH) blurred grey
    hist: np.ndarray  # float32 (16 * 8,) normalised hue-saturation histogram
    contrast: float


def signature(image: np.ndarray) -> Signature:
    """The frame's signature (an HxWx3 uint8 RGB frame of any size)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB frame, got shape {image.shape}")
    h, w = image.shape[:2]
    tw = THUMB_WIDTH
    th = max(8, round(tw * h / w))
    small = cv2.resize(np.ascontiguousarray(image), (tw, th), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.2)  # compression noise, fine texture, sub-pixel motion
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256]).ravel()
    hist /= max(float(hist.sum()), 1.0)
    return Signature(grey, hist.astype(np.float32), float(grey.std()))


def distance(a: Signature, b: Signature, shift: int = CutParams.shift) -> float:
    """How different two frames look: ~0.05-0.15 within a shot, ~0.5 across a cut."""
    return max(_structure_change(a, b, shift), _colour_change(a, b))


def _structure_change(a: Signature, b: Signature, shift: int) -> float:
    h, w = a.thumb.shape
    if b.thumb.shape != (h, w):
        raise ValueError("signatures of frames of different sizes")
    r = max(0, min(shift, (min(h, w) - 2) // 2))
    core = a.thumb[r:h - r, r:w - r]
    best = np.inf
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            moved = b.thumb[r + dy:h - r + dy, r + dx:w - r + dx]
            best = min(best, float(np.abs(core - moved).mean()))
    # Flat frames (black, a title card) have no contrast: compare their brightness instead.
    return best / max(a.contrast + b.contrast, 8.0)


def _colour_change(a: Signature, b: Signature) -> float:
    return float(1.0 - np.minimum(a.hist, b.hist).sum())


class ShotDetector:
    """Feed frames in order with :meth:`add`; :meth:`cuts` and :meth:`shots` give the result."""

    def __init__(self, params: CutParams | None = None) -> None:
        self.params = params or CutParams()
        self._previous: Signature | None = None
        self.distances: list[float] = []  # distances[t]: frame t-1 -> t (0.0 for frame 0)

    def add(self, image: np.ndarray) -> float:
        sig = signature(image)
        d = 0.0 if self._previous is None else distance(self._previous, sig, self.params.shift)
        self._previous = sig
        self.distances.append(d)
        return d

    @property
    def frame_count(self) -> int:
        return len(self.distances)

    def cuts(self) -> list[int]:
        return find_cuts(self.distances, self.params)

    def shots(self) -> list[Shot]:
        return shots_from_cuts(self.cuts(), self.frame_count)


def find_cuts(distances: Iterable[float], params: CutParams | None = None) -> list[int]:
    """Frames that start a new shot (see the module docstring for the rule)."""
    p = params or CutParams()
    d = np.asarray(list(distances), np.float64)
    n = len(d)
    candidates: list[int] = []
    for t in range(1, n):
        if d[t] < p.min_score:
            continue
        lo, hi = max(1, t - p.window), min(n, t + p.window + 1)
        around = np.concatenate([d[lo:t], d[t + 1:hi]])
        baseline = float(np.median(around)) if around.size else 0.0
        if d[t] >= p.ratio * baseline:
            candidates.append(t)
    # Of candidates closer than min_shot (a flash, a shaky cut over two frames), the strongest wins.
    kept: list[int] = []
    for t in sorted(candidates, key=lambda k: -d[k]):
        if all(abs(t - k) >= p.min_shot for k in kept):
            kept.append(t)
    return sorted(kept)


def shots_from_cuts(cuts: Iterable[int], frame_count: int) -> list[Shot]:
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < frame_count), frame_count]
    return [Shot(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def detect_shots(frames: Iterable[np.ndarray], params: CutParams | None = None,
                 on_frame: Callable[[int], None] | None = None) -> list[Shot]:
    """Shots of a stream of frames; ``on_frame(i)`` after each one (progress, cancel)."""
    detector = ShotDetector(params)
    for i, image in enumerate(frames):
        detector.add(image)
        if on_frame is not None:
            on_frame(i)
    return detector.shots()


def split_long(shots: Iterable[Shot], max_length: int) -> list[Shot]:
    """Shots longer than ``max_length`` frames cut into equal parts (for timed descriptions)."""
    out: list[Shot] = []
    for shot in shots:
        if max_length <= 0 or shot.length <= max_length:
            out.append(shot)
            continue
        parts = -(-shot.length // max_length)
        edges = np.linspace(shot.start, shot.stop, parts + 1).round().astype(int)
        out.extend(Shot(int(a), int(b)) for a, b in zip(edges, edges[1:]) if b > a)
    return out
