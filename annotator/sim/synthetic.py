"""Synthetic video with known masks: textured objects moving over a textured, panning background.

Used for the bundled sample video (resources/make_sample.py), for fast unit tests of the
trackers and segmenters, and for benchmarks. Everything is deterministic for a given seed.

Ground truth is the *visible* part of each object: where a nearer object covers a farther
one, the farther object's mask excludes those pixels (that is how the occlusion shows up).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ShapeSpec:
    object_id: int
    kind: str  # "ellipse" | "rectangle" | "star"
    size: tuple[int, int]  # half extents (rx, ry) in pixels
    color: tuple[int, int, int]  # base RGB of its texture
    path: tuple[float, float, float, float, float, float]  # cx0, cy0, ax, ay, freq, phase (relative units)
    depth: int  # larger = nearer the camera (drawn later)


def default_shapes(width: int, height: int) -> list[ShapeSpec]:
    """Three objects: one passes in front of another halfway through (the occlusion)."""
    s = min(width, height)
    return [
        ShapeSpec(1, "ellipse", (int(0.16 * s), int(0.11 * s)), (220, 60, 50),
                  (0.30, 0.55, 0.18, 0.10, 1.0, 0.0), depth=1),
        ShapeSpec(2, "rectangle", (int(0.12 * s), int(0.12 * s)), (40, 120, 220),
                  (0.70, 0.45, 0.22, 0.08, 1.0, math.pi), depth=2),
        ShapeSpec(3, "star", (int(0.10 * s), int(0.10 * s)), (240, 200, 40),
                  (0.50, 0.25, 0.05, 0.06, 2.0, 0.5), depth=0),
    ]


def render_scene(
    num_frames: int = 100,
    width: int = 640,
    height: int = 360,
    seed: int = 0,
    shapes: list[ShapeSpec] | None = None,
) -> Iterator[tuple[np.ndarray, dict[int, np.ndarray]]]:
    """Yield ``(frame RGB uint8 HxWx3, {object_id: visible mask HxW bool})`` per frame."""
    rng = np.random.default_rng(seed)
    shapes = shapes if shapes is not None else default_shapes(width, height)
    margin = width // 4
    background = _texture(rng, height + 2 * margin, width + 2 * margin, (120, 130, 110),
                          scale=24, chroma=0.25)
    # Each texture is a square covering the shape at any rotation, so a turned shape is
    # painted all over (a patch the size of the unrotated shape leaves background corners).
    textures = {
        sh.object_id: _texture(rng, 2 * _reach(sh) + 1, 2 * _reach(sh) + 1, sh.color, scale=6, chroma=0.5)
        for sh in shapes
    }
    for t in range(num_frames):
        u = t / max(1, num_frames - 1)  # 0..1 over the clip
        # The camera pans slowly so the background moves too (trackers must not lock onto it).
        ox = int(margin + margin * 0.6 * math.sin(2 * math.pi * u * 0.5))
        oy = int(margin + margin * 0.2 * math.sin(2 * math.pi * u))
        frame = background[oy:oy + height, ox:ox + width].copy()
        masks: dict[int, np.ndarray] = {}
        for sh in sorted(shapes, key=lambda s: s.depth):
            full = _shape_mask(sh, u, width, height)
            _paste_texture(frame, full, textures[sh.object_id], sh, u, width, height)
            for other in masks.values():
                other &= ~full  # the nearer object hides what lies under it
            masks[sh.object_id] = full
        yield frame, {oid: masks[oid] for oid in sorted(masks)}


def _reach(sh: ShapeSpec) -> int:
    """Half the side of a square that holds the shape however it is turned."""
    return int(math.ceil(math.hypot(*sh.size)))


def _center(sh: ShapeSpec, u: float, width: int, height: int) -> tuple[int, int]:
    cx0, cy0, ax, ay, freq, phase = sh.path
    angle = 2 * math.pi * freq * u + phase
    return int((cx0 + ax * math.sin(angle)) * width), int((cy0 + ay * math.sin(2 * angle)) * height)


def _shape_mask(sh: ShapeSpec, u: float, width: int, height: int) -> np.ndarray:
    canvas = np.zeros((height, width), np.uint8)
    cx, cy = _center(sh, u, width, height)
    rx, ry = sh.size
    rotation = 40.0 * u  # degrees: shapes turn slowly, so masks change shape over time
    if sh.kind == "ellipse":
        cv2.ellipse(canvas, (cx, cy), (rx, ry), rotation, 0, 360, 1, thickness=-1)
    elif sh.kind == "rectangle":
        box = cv2.boxPoints(((cx, cy), (2 * rx, 2 * ry), rotation))
        cv2.fillPoly(canvas, [np.round(box).astype(np.int32)], 1)
    elif sh.kind == "star":
        angles = np.deg2rad(rotation) + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, rx, rx * 0.45)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    else:
        raise ValueError(f"unknown shape kind {sh.kind!r}")
    return canvas.astype(bool)


def _paste_texture(frame: np.ndarray, mask: np.ndarray, texture: np.ndarray, sh: ShapeSpec,
                   u: float, width: int, height: int) -> None:
    cx, cy = _center(sh, u, width, height)
    reach = _reach(sh)
    # Place the texture patch centred on the object (clipped at the frame border).
    x0, y0 = cx - reach, cy - reach
    th, tw = texture.shape[:2]
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(width, x0 + tw), min(height, y0 + th)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    patch = texture[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    region = mask[fy0:fy1, fx0:fx1]
    frame[fy0:fy1, fx0:fx1][region] = patch[region]


def _texture(rng: np.random.Generator, h: int, w: int, base: tuple[int, int, int], scale: int,
             chroma: float) -> np.ndarray:
    """Smooth noise around a base colour, mostly in brightness (``chroma`` scales the colour part):
    textured enough for optical flow, yet it compresses well in H.264."""
    def smooth(channels: int, cell: int, sigma: float) -> np.ndarray:
        small = rng.normal(0.0, 1.0, (max(2, h // cell), max(2, w // cell), channels)).astype(np.float32)
        coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
        fine = cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w, channels)).astype(np.float32), (0, 0), sigma)
        return 35.0 * coarse + 12.0 * fine.reshape(h, w, channels)

    img = np.asarray(base, np.float32) + smooth(1, scale, 1.2) + chroma * smooth(3, scale, 1.2)
    return np.clip(img, 0, 255).astype(np.uint8)
