"""Dense optical flow and moving masks with it, for the classical tracker.

Masks are moved by *forward splatting*: every object pixel of frame t-1 is pushed along
its forward flow to frame t. Backward warping (pulling each pixel of frame t from where its
backward flow points) looks simpler but is wrong at the trailing edge of a moving object:
background revealed behind it has no true match in frame t-1, its flow is smoothed from the
object, and it inherits the object label, so the mask smears along the motion path.

Where the forward and backward flows disagree (occlusions, textureless or blurred regions)
a pixel is moved by the object's own motion instead: a similarity transform fitted with
RANSAC to the flow of its reliable pixels. So a part of the object that slips behind
something keeps moving with the object rather than sticking to the occluder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class DenseFlow:
    """DIS optical flow between two grayscale frames.

    ``target_short``: frames are downscaled so their short side is about this many pixels
    before DIS runs (None: full size). DIS itself stops refining at a "finest scale"; on small
    inputs that level is lowered so the flow field never gets coarser than ``min_level`` pixels
    on its short side (ultrafast on a 320x180 clip would otherwise estimate flow at 80x45,
    too coarse to see a small object move against the background).
    """

    def __init__(self, preset: str = "ultrafast", target_short: int | None = None,
                 min_level: int = 100) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose from {sorted(PRESETS)}")
        self.preset = preset
        self.target_short = target_short
        self.min_level = min_level
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        self._preset_finest = self._dis.getFinestScale()
        self._size: tuple[int, int] | None = None
        self.scale = 1.0

    def _configure(self, h: int, w: int) -> None:
        short = min(h, w)
        self.scale = min(1.0, self.target_short / short) if self.target_short else 1.0
        flow_short = short * self.scale
        finest = int(np.clip(np.floor(np.log2(max(flow_short, 1) / self.min_level)), 0, self._preset_finest))
        self._dis.setFinestScale(finest)
        self._size = (h, w)

    def pair(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(forward prev->cur, backward cur->prev), each HxWx2 float32 in pixels of the input size."""
        a, b = self._scaled(prev), self._scaled(cur)
        forward, backward = self._dis.calc(a, b, None), self._dis.calc(b, a, None)
        return self._full(forward, prev.shape), self._full(backward, prev.shape)

    def calc(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The flow from ``source`` to ``target`` alone: HxWx2 float32 in pixels of the input size."""
        return self._full(self._dis.calc(self._scaled(source), self._scaled(target), None), source.shape)

    def _scaled(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape
        if self._size != (h, w):
            self._configure(h, w)
        if self.scale == 1.0:
            return image
        return cv2.resize(image, (max(8, round(w * self.scale)), max(8, round(h * self.scale))),
                          interpolation=cv2.INTER_AREA)

    def _full(self, flow: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        h, w = shape[:2]
        if flow.shape[:2] == (h, w):
            return flow
        sx, sy = w / flow.shape[1], h / flow.shape[0]
        return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([sx, sy])


@dataclass
class PixelGrid:
    """Pixel coordinates of one frame size, made once and reused for every frame."""

    xs: np.ndarray  # HxW float32
    ys: np.ndarray

    @classmethod
    def of(cls, height: int, width: int) -> PixelGrid:
        xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        return cls(xs, ys)


def fb_consistency(forward: np.ndarray, backward: np.ndarray, grid: PixelGrid, sigma: float,
                   ys: np.ndarray | None = None, xs: np.ndarray | None = None) -> np.ndarray:
    """How well the forward flow at each pixel of frame t-1 is undone by the backward flow where it
    lands: exp(-|f(x) + b(x + f(x))|² / 2σ²), 1 = reliable. Only at (ys, xs) when given."""
    if ys is None or xs is None:
        fx, fy = forward[..., 0], forward[..., 1]
        tx, ty = grid.xs + fx, grid.ys + fy
        back = cv2.remap(backward, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err2 = (fx + back[..., 0]) ** 2 + (fy + back[..., 1]) ** 2
    else:
        f = forward[ys, xs]
        back = sample_bilinear(backward, xs + f[:, 0], ys + f[:, 1])
        err2 = ((f + back) ** 2).sum(axis=1)
    return np.exp(-err2 / (2.0 * sigma * sigma)).astype(np.float32)


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image`` (HxW or HxWxC) read at float points, edges replicated (cv2.remap needs < 32767 points)."""
    h, w = image.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(len(x), np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(len(y), np.int64)
    fx, fy = x - x0, y - y0
    if image.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def splat(weights: np.ndarray, tx: np.ndarray, ty: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear forward splatting: the density (sum of weights) landing on each pixel, HxW float32."""
    h, w = shape
    x0 = np.floor(tx).astype(np.int64)
    y0 = np.floor(ty).astype(np.int64)
    fx = (tx - x0).astype(np.float64)
    fy = (ty - y0).astype(np.float64)
    weights = weights.astype(np.float64, copy=False)
    out = np.zeros(h * w, np.float64)
    for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                       (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xx = x0 + dx
        yy = y0 + dy
        ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
        out += np.bincount(yy[ok] * w + xx[ok], weights=(weights * wt)[ok], minlength=h * w)
    return out.reshape(h, w).astype(np.float32)


def object_motion(ys: np.ndarray, xs: np.ndarray, forward: np.ndarray, reliable: np.ndarray,
                  fallback: np.ndarray, rng: np.random.Generator, max_points: int = 2000) -> np.ndarray:
    """A 2x3 similarity transform fitted (RANSAC) to the flow of the object's reliable pixels.

    Falls back to ``fallback`` (the last motion) when too few pixels are reliable, e.g. while
    the object is hidden: a constant-velocity guess is the best a classical tracker has then.
    """
    keep = reliable > 0.5
    ys, xs = ys[keep], xs[keep]
    if len(ys) < 30:
        return fallback
    if len(ys) > max_points:
        pick = rng.choice(len(ys), max_points, replace=False)
        ys, xs = ys[pick], xs[pick]
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    dst = src + forward[ys, xs]
    motion, _inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                   ransacReprojThreshold=2.0, maxIters=200)
    if motion is None or not np.all(np.isfinite(motion)):
        return fallback
    return motion


def apply_motion(motion: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (motion[0, 0] * xs + motion[0, 1] * ys + motion[0, 2],
            motion[1, 0] * xs + motion[1, 1] * ys + motion[1, 2])


@dataclass
class MovedMask:
    prior: np.ndarray  # HxW float32 in [0, 1]: where the object's pixels landed
    occluded: np.ndarray  # HxW float32: the part of ``prior`` moved by the object motion (unreliable flow)
    reliability: float  # mean forward-backward consistency over the object's pixels
    motion: np.ndarray  # the 2x3 object motion used


def move_mask(mask: np.ndarray, forward: np.ndarray, backward: np.ndarray, grid: PixelGrid,
              fb_sigma: float, last_motion: np.ndarray, rng: np.random.Generator,
              use_motion: bool = True) -> MovedMask:
    """Carry ``mask`` (frame t-1) to frame t by forward splatting along the flow."""
    shape = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        zero = np.zeros(shape, np.float32)
        return MovedMask(zero, zero, 0.0, last_motion)
    reliable = fb_consistency(forward, backward, grid, fb_sigma, ys, xs)
    f = forward[ys, xs]
    tx, ty = xs + f[:, 0], ys + f[:, 1]
    if use_motion:
        motion = object_motion(ys, xs, forward, reliable, last_motion, rng)
        ax, ay = apply_motion(motion, xs.astype(np.float64), ys.astype(np.float64))
        by_flow = splat(reliable, tx, ty, shape)
        by_motion = splat(1.0 - reliable, ax, ay, shape)
        density = by_flow + by_motion
    else:
        motion = last_motion
        density = splat(np.ones(len(ys)), tx, ty, shape)
        by_motion = np.zeros(shape, np.float32)
    # Splatting leaves pinholes where the flow diverges; a light blur closes them.
    prior = cv2.GaussianBlur(np.minimum(density, 1.0), (0, 0), 1.0)
    return MovedMask(prior, np.minimum(by_motion, 1.0), float(reliable.mean()), motion)


def plain_warp(frames: Iterable[np.ndarray], mask: np.ndarray,
               preset: str = "ultrafast") -> Iterator[np.ndarray]:
    """The baseline the trackers are measured against: the previous mask pulled along the
    backward flow (bilinear, threshold 0.5), frame after frame. ``frames`` are RGB and start
    with the frame of ``mask``; yields one mask per following frame."""
    flow = DenseFlow(preset)
    it = iter(frames)
    prev = cv2.cvtColor(np.ascontiguousarray(next(it)), cv2.COLOR_RGB2GRAY)
    grid = PixelGrid.of(*prev.shape)
    current = mask.astype(np.float32)
    for rgb in it:
        cur = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        _forward, backward = flow.pair(prev, cur)
        warped = cv2.remap(current, grid.xs + backward[..., 0], grid.ys + backward[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out = warped > 0.5
        yield out
        current = out.astype(np.float32)
        prev = cur
