"""Masks as polygons and boxes, and back.

Polygons use COCO's continuous coordinates: pixel (x, y) covers the square [x, x+1) x [y, y+1),
so a polygon with corners (10, 10) and (20, 20) rasterizes to pixels 10..19 (checked against
pycocotools). ``cv2.findContours`` returns the *centres* of boundary pixels; a polygon through
them would lose half a pixel all round, so each ring is moved half a pixel away from the
foreground (a mitred offset), which makes the round trip mask -> polygon -> mask exact up to the
simplification tolerance on ordinary shapes.

Holes and multi-part objects:
- ``mask_to_rings`` gives the outer rings and the hole rings separately;
- COCO polygons cannot express holes (every part is filled), so coco.py keeps a mask with holes
  as RLE (see there); multi-part objects become several parts of one polygon list;
- YOLO has one polygon per instance line, so ``merge_rings`` joins all parts and holes into one
  ring through zero-width bridges between nearest vertices (as Ultralytics' own converter does);
  the even-odd fill of a bridged ring gives back the holes.
"""

from __future__ import annotations

import cv2
import numpy as np

from annotator.core import masks as rle_ops

Ring = np.ndarray  # (N, 2) float64 vertices, x then y, not closed (the last vertex != the first)

_MITER_LIMIT = 2.0  # a vertex never moves more than this many offsets (sharp spikes)


def mask_to_rings(mask: np.ndarray, tolerance: float = 1.0) -> tuple[list[Ring], list[Ring]]:
    """(outer rings, hole rings) of a binary mask, simplified with Douglas-Peucker ``tolerance``.

    Rings with fewer than 3 vertices after simplification (one-pixel specks, thin lines) are
    dropped: a COCO polygon needs 3 points.
    """
    binary = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    outers: list[Ring] = []
    holes: list[Ring] = []
    if hierarchy is None:
        return outers, holes
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0]):
        if tolerance > 0:
            contour = cv2.approxPolyDP(contour, float(tolerance), True)
        points = contour.reshape(-1, 2).astype(np.float64)
        if len(points) < 3:
            continue
        is_hole = parent != -1
        ring = _offset_ring(points + 0.5, -0.5 if is_hole else 0.5)
        (holes if is_hole else outers).append(ring)
    return outers, holes


def mask_to_polygons(mask: np.ndarray, tolerance: float = 1.0) -> tuple[list[list[float]], bool]:
    """COCO polygon parts ([x1, y1, x2, y2, ...] each) and whether the mask has holes."""
    outers, holes = mask_to_rings(mask, tolerance)
    return [ring_to_list(r) for r in outers], bool(holes)


def merge_rings(outers: list[Ring], holes: list[Ring]) -> Ring | None:
    """One ring holding every part and hole, joined by zero-width bridges (None if no part)."""
    if not outers:
        return None
    rings = sorted(outers, key=lambda r: -abs(_signed_area(r)))
    merged = rings[0]
    for ring in [*rings[1:], *holes]:
        # Bridge from the nearest vertex of what is merged so far to the nearest vertex of the ring:
        # out along the bridge, round the ring, and back along the same bridge.
        # Two linear passes (not all pairs, which a speckled mask with thousands of holes makes
        # quadratic): the merged vertex nearest the ring's first vertex, then the ring vertex nearest it.
        i = int(np.argmin(np.sum((merged - ring[0]) ** 2, axis=1)))
        j = int(np.argmin(np.sum((ring - merged[i]) ** 2, axis=1)))
        loop = np.concatenate([ring[j:], ring[:j + 1]])
        merged = np.concatenate([merged[:i + 1], loop, merged[i:]])
    return merged


def ring_to_list(ring: Ring, decimals: int = 2) -> list[float]:
    return [round(float(v), decimals) for v in ring.ravel()]


def polygon_mask(rings: list[Ring], height: int, width: int) -> np.ndarray:
    """Even-odd fill of rings (what a bridged YOLO polygon means), via pycocotools per ring."""
    from pycocotools import mask as coco_mask

    out = np.zeros((height, width), dtype=bool)
    for ring in rings:
        if len(ring) < 3:
            continue
        rle = coco_mask.frPyObjects([ring.ravel().tolist()], height, width)[0]
        out ^= coco_mask.decode(rle).astype(bool)
    return out


def box_to_rle(x: float, y: float, w: float, h: float, height: int, width: int) -> dict:
    """RLE of the pixels a box covers: [floor(x), ceil(x + w)) x [floor(y), ceil(y + h)), clipped.

    Built from run lengths directly (no full-frame array), so MOT imports stay cheap at 4K.
    """
    x0 = min(max(int(np.floor(x)), 0), width)
    y0 = min(max(int(np.floor(y)), 0), height)
    x1 = min(max(int(np.ceil(x + w)), 0), width)
    y1 = min(max(int(np.ceil(y + h)), 0), height)
    if x1 <= x0 or y1 <= y0:
        return rle_ops.empty(height, width)
    bh = y1 - y0
    counts = [x0 * height + y0]
    for col in range(x1 - x0):
        counts.append(bh)
        if col < x1 - x0 - 1:
            counts.append(height - bh)
    counts.append(height - y1 + (width - x1) * height)
    rle = rle_ops.to_coco({"size": [height, width], "counts": counts})
    counts_str = rle["counts"]
    return {"size": [height, width],
            "counts": counts_str.decode("ascii") if isinstance(counts_str, bytes) else counts_str}


def _signed_area(ring: Ring) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _offset_ring(ring: Ring, distance: float) -> Ring:
    """Move every vertex ``distance`` outward (negative: inward) along the mitred vertex normal."""
    area = _signed_area(ring)
    if area == 0:
        return ring
    prev_edge = ring - np.roll(ring, 1, axis=0)
    next_edge = np.roll(ring, -1, axis=0) - ring
    # In image coordinates (y down), a ring with positive signed area runs clockwise on screen;
    # its outward normal of edge (dx, dy) is (dy, -dx). Flip for the other orientation.
    sign = 1.0 if area > 0 else -1.0

    def normals(edges: np.ndarray) -> np.ndarray:
        n = np.stack([edges[:, 1], -edges[:, 0]], axis=1) * sign
        length = np.linalg.norm(n, axis=1, keepdims=True)
        return np.divide(n, length, out=np.zeros_like(n), where=length > 0)

    n1, n2 = normals(prev_edge), normals(next_edge)
    bisector = n1 + n2
    length = np.linalg.norm(bisector, axis=1, keepdims=True)
    direction = np.divide(bisector, length, out=n1.copy(), where=length > 1e-9)
    cos_half = np.clip(np.sum(direction * n1, axis=1, keepdims=True), 1.0 / _MITER_LIMIT, 1.0)
    return ring + direction * (distance / cos_half)
