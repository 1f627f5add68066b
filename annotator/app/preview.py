"""The instant preview of a click: a colour region around the point, shown until the engine's
mask arrives (a few ms, no model)."""

from __future__ import annotations

import numpy as np


def rough_preview(base: np.ndarray | None, image: np.ndarray, x: float, y: float,
                  positive: bool) -> np.ndarray:
    """The colour region around the point (a flood fill at about 192 px) added to, or for a
    negative click cut from, ``base`` (the object's mask so far, or None). ``image`` is the
    frame the view already holds; the engine's answer replaces the guess."""
    if base is None:
        base = np.zeros(image.shape[:2], bool)
    region = colour_region(image, x, y)
    return base | region if positive else base & ~region


def warm_up() -> None:
    """Run the preview once on a small image: OpenCV builds its colour tables on first use."""
    colour_region(np.zeros((48, 64, 3), np.uint8), 32, 24)


def colour_region(image: np.ndarray, x: float, y: float, long_side: int = 192) -> np.ndarray:
    """The connected region of similar colour around (x, y), as a full-resolution bool mask.

    Flood fill in Lab on a small, median-filtered copy (texture flattened), with the colour
    tolerance raised step by step until the region would leak: past 12 % of the frame, or
    across from the top edge to the bottom one. Rough on purpose: it is a preview.
    """
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(np.ascontiguousarray(image), (sw, sh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(cv2.medianBlur(small, 5), cv2.COLOR_RGB2LAB)
    seed = (min(sw - 1, max(0, int(x * scale))), min(sh - 1, max(0, int(y * scale))))
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    best: np.ndarray | None = None
    for tolerance in (8, 12, 16, 20, 24, 28, 34, 40):
        filled = np.zeros((sh + 2, sw + 2), np.uint8)
        cv2.floodFill(lab, filled, seed, 0, (tolerance,) * 3, (tolerance,) * 3, flags)
        region = filled[1:-1, 1:-1]
        if region.mean() > 0.12 or (region[0].any() and region[-1].any()):
            break
        best = region
    if best is None:  # even the tightest fill leaks: show a small disc, honestly rough
        best = np.zeros((sh, sw), np.uint8)
        cv2.circle(best, seed, max(2, sw // 40), 1, -1)
    best = cv2.morphologyEx(best, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return cv2.resize(best, (w, h), interpolation=cv2.INTER_LINEAR) > 0
