"""Object crops for the describers: square, padded around the mask, background dimmed.

CLIP and BLIP processors resize the shorter side and centre-crop a square, so a tall or wide
box would lose the object's ends: crops are made square here, centred on the mask's box, with
``pad`` of context on each side. Pixels outside the (slightly grown) mask are blended towards
grey, so the model looks at the object while still seeing where it is (a fully blanked
background makes CLIP guess "a drawing" or "a logo"). Parts of the square that fall outside
the frame are grey too. No torch: numpy and OpenCV only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import cv2
import numpy as np

T = TypeVar("T")

GREY = 124  # close to the CLIP / BLIP normalisation means: dimmed pixels carry little signal
MIN_SIDE = 32  # px: smaller crops are upscaled (tiny masks; also avoids 3-pixel-wide images
# that image processors mistake for channels-first arrays)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive ends, of the mask's pixels; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def masked_crop(image: np.ndarray, mask: np.ndarray, pad: float = 0.15, dim: float = 0.6,
                min_side: int = MIN_SIDE) -> np.ndarray | None:
    """A square HxWx3 uint8 crop of the object, or None when the mask is empty.

    ``pad``: context on each side, as a fraction of the box's longer side. ``dim``: 0 keeps
    the background as it is, 1 replaces it with grey.
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match the frame {image.shape[:2]}")
    box = mask_box(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    side = int(round(side * (1 + 2 * pad))) + 1
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx, sy = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = mask.shape
    fx0, fy0, fx1, fy1 = max(0, sx), max(0, sy), min(w, sx + side), min(h, sy + side)
    crop = np.full((side, side, 3), GREY, np.uint8)
    region = image[fy0:fy1, fx0:fx1]
    inside = mask[fy0:fy1, fx0:fx1]
    if dim > 0:
        grow = max(1, side // 40)  # keep the object's edge pixels bright
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        inside = cv2.dilate(inside.astype(np.uint8), kernel) > 0
        blended = region.astype(np.float32) * (1 - dim) + GREY * dim
        region = np.where(inside[..., None], region, blended.astype(np.uint8))
    crop[fy0 - sy:fy1 - sy, fx0 - sx:fx1 - sx] = region
    if side < min_side:
        crop = cv2.resize(crop, (min_side, min_side), interpolation=cv2.INTER_CUBIC)
    return crop


def spread(items: Sequence[T], count: int) -> list[T]:
    """Up to ``count`` items evenly spread over the sequence, first and last included."""
    n = len(items)
    if count <= 0 or n == 0:
        return []
    if n <= count:
        return list(items)
    if count == 1:
        return [items[n // 2]]
    picks = np.linspace(0, n - 1, count).round().astype(int)
    return [items[i] for i in dict.fromkeys(picks.tolist())]


def touches_border(bbox: Sequence[float], width: int, height: int, margin: int = 1) -> bool:
    """Whether a COCO [x, y, w, h] box touches the frame's edge (the object is likely cut off)."""
    x, y, bw, bh = bbox
    return x <= margin or y <= margin or x + bw >= width - margin or y + bh >= height - margin
