"""Appearance models that correct a flow-carried mask against the new frame (classical tracker).

Three cues are fused as log-odds inside a band around the carried mask's boundary:

- the carried mask itself and the signed distance to its boundary (shape prior);
- a *local* colour model: a bilateral grid over (x, y, L, a, b) built from frame t-1 with its
  labels, each pixel splatted where its forward flow takes it, and sliced at frame t. It
  says "pixels of this colour, at this place, were object a moment ago" (the idea of
  bilateral-space video segmentation, BVS, with motion compensation added);
- a *global* colour model: Lab histograms of the object and its surroundings from the
  user's masks, which do not drift.

GrabCut then settles the uncertain pixels with a contrast-sensitive graph cut, and small
stray components are dropped. Outside the band the carried mask is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LOGIT_EPS = 1e-3


def logit(p: np.ndarray, eps: float = LOGIT_EPS) -> np.ndarray:
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p / (1.0 - p))


Roi = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)


def roi_around(mask: np.ndarray, margin: int) -> Roi | None:
    """Bounding box of ``mask`` grown by ``margin`` and clipped to the frame; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))


# --- global colour model ---------------------------------------------------------------------
class ColourModel:
    """Object and surroundings colour histograms in Lab (32³ bins, lightly smoothed).

    Built from the user's masks (conditioning frames), so it does not drift with tracking
    errors; ``prob`` gives P(object | colour) with equal priors.
    """

    BINS = 32

    def __init__(self) -> None:
        size = self.BINS**3
        self._fg = np.zeros(size, np.float64)
        self._bg = np.zeros(size, np.float64)
        self._table: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return not self._fg.any()

    @classmethod
    def index(cls, lab: np.ndarray) -> np.ndarray:
        q = 256 // cls.BINS
        lab = lab.astype(np.int32, copy=False)
        return ((lab[..., 0] // q) * cls.BINS + lab[..., 1] // q) * cls.BINS + lab[..., 2] // q

    def add(self, lab: np.ndarray, mask: np.ndarray, ring_px: int, weight: float = 1.0) -> None:
        """Learn from one frame: the object's pixels and a ring of ``ring_px`` around it."""
        if not mask.any():
            return
        roi = roi_around(mask, ring_px + 1)
        assert roi is not None
        y0, y1, x0, x1 = roi
        sub = mask[y0:y1, x0:x1]
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
        ring = cv2.dilate(sub.view(np.uint8), kernel).view(bool) & ~sub
        idx = self.index(lab[y0:y1, x0:x1])
        size = self.BINS**3
        fg = np.bincount(idx[sub], minlength=size).astype(np.float64)
        bg = np.bincount(idx[ring], minlength=size).astype(np.float64)
        self._fg += weight * fg / max(1.0, fg.sum())
        self._bg += weight * bg / max(1.0, bg.sum())
        self._table = None

    def prob(self, lab: np.ndarray) -> np.ndarray:
        """P(object | colour) per pixel of an ...x3 Lab array."""
        if self._table is None:
            fg, bg = _smooth3(self._fg, self.BINS), _smooth3(self._bg, self.BINS)
            fg /= max(fg.sum(), 1e-12)
            bg /= max(bg.sum(), 1e-12)
            self._table = (fg / (fg + bg + 1e-12)).astype(np.float32)
            self._table[(fg + bg) == 0] = 0.5
        return self._table[self.index(lab)]

    def self_agreement(self) -> tuple[float, float]:
        """Mean ``prob`` over the pixels it learnt from: the object's, and its rings'. What a
        perfect mask and its surroundings score on the user's own frames (0.5, 0.5 when empty)."""
        if self.empty:
            return 0.5, 0.5
        self.prob(np.zeros((0, 3), np.uint8))  # builds the table
        assert self._table is not None
        fg = self._fg / self._fg.sum()
        bg = self._bg / max(self._bg.sum(), 1e-12)
        return float(fg @ self._table), float(bg @ self._table)


def _smooth3(hist: np.ndarray, bins: int) -> np.ndarray:
    h = hist.reshape(bins, bins, bins)
    for axis in range(3):
        s = np.moveaxis(h, axis, 0)
        out = 2.0 * s
        out[1:] += s[:-1]
        out[:-1] += s[1:]
        h = np.moveaxis(out, 0, axis)
    return h.ravel()


# --- local, motion-compensated colour model (bilateral grid) ----------------------------------------
@dataclass(frozen=True)
class GridSpec:
    cell: int = 16  # spatial cell, pixels
    l_step: int = 16  # Lab L bin width (0..255 scale)
    ab_step: int = 8  # a/b bin width
    prior_count: float = 0.5  # pseudo-count of the carried mask in sparsely populated cells


def local_colour_prob(prev_lab: np.ndarray, prev_mask: np.ndarray, forward: np.ndarray,
                      cur_lab_roi: np.ndarray, prior_roi: np.ndarray, roi: Roi,
                      spec: GridSpec) -> np.ndarray:
    """P(object) for the pixels of ``roi`` in frame t from frame t-1's labelled pixels.

    Each pixel of frame t-1 near the ROI is splatted into a grid over (x, y, colour) at the
    place its forward flow takes it; frame t's pixels read the grid at their own place and
    colour (spatially bilinear). Only the colour bins that occur are stored.
    """
    y0, y1, x0, x1 = roi
    h, w = prev_mask.shape
    # Frame t-1 pixels that can land in the ROI: grow it by the largest flow in reach.
    pad = 32
    sy0, sy1, sx0, sx1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    reach = int(np.ceil(np.abs(forward[sy0:sy1, sx0:sx1]).max(initial=0.0))) + 2
    sy0, sy1, sx0, sx1 = max(0, y0 - reach), min(h, y1 + reach), max(0, x0 - reach), min(w, x1 + reach)
    f = forward[sy0:sy1, sx0:sx1]
    gy, gx = np.mgrid[sy0:sy1, sx0:sx1]
    ty = (gy + f[..., 1] - y0).ravel()
    tx = (gx + f[..., 0] - x0).ravel()
    rh, rw = y1 - y0, x1 - x0
    cell = spec.cell
    inside = (tx > -cell) & (tx < rw + cell) & (ty > -cell) & (ty < rh + cell)
    ny, nx = rh // cell + 3, rw // cell + 3
    src_c = _colour_bins(prev_lab[sy0:sy1, sx0:sx1].reshape(-1, 3)[inside], spec)
    src_y = np.clip(np.floor(ty[inside] / cell + 1.5).astype(np.int64), 0, ny - 1)
    src_x = np.clip(np.floor(tx[inside] / cell + 1.5).astype(np.int64), 0, nx - 1)
    src_fg = prev_mask[sy0:sy1, sx0:sx1].ravel()[inside]
    cur_c = _colour_bins(cur_lab_roi.reshape(-1, 3), spec)
    # Only the colour bins that occur get grid cells: a lookup table over the (small, fixed)
    # bin range numbers them in O(N), where np.unique would sort.
    used = np.zeros(_n_colour_bins(spec), bool)
    used[src_c] = True
    used[cur_c] = True
    table = np.cumsum(used) - 1
    k = int(used.sum())
    src_k, cur_k = table[src_c], table[cur_c]
    flat = (src_k * ny + src_y) * nx + src_x
    size = k * ny * nx
    fg = np.bincount(flat, weights=src_fg.astype(np.float64), minlength=size).reshape(k, ny, nx)
    tot = np.bincount(flat, minlength=size).astype(np.float64).reshape(k, ny, nx)
    fg, tot = _blur_yx(fg), _blur_yx(tot)
    # Bilinear read at the cell centres: cell i covers [(i-1.5)·cell, (i-0.5)·cell).
    qy, qx = np.mgrid[0:rh, 0:rw]
    fy = qy.ravel() / cell + 1.0
    fx = qx.ravel() / cell + 1.0
    iy = np.floor(fy).astype(np.int64)
    ix = np.floor(fx).astype(np.int64)
    wy, wx = fy - iy, fx - ix
    num = np.zeros(rh * rw)
    den = np.zeros(rh * rw)
    for dy, dx, wt in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                       (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yy = np.minimum(iy + dy, ny - 1)
        xx = np.minimum(ix + dx, nx - 1)
        num += wt * fg[cur_k, yy, xx]
        den += wt * tot[cur_k, yy, xx]
    prior = prior_roi.ravel().astype(np.float64)
    p = (num + spec.prior_count * prior) / (den + spec.prior_count)
    return p.reshape(rh, rw).astype(np.float32)


def _n_colour_bins(spec: GridSpec) -> int:
    return (256 // spec.l_step + 1) * (256 // spec.ab_step) ** 2


def _colour_bins(lab: np.ndarray, spec: GridSpec) -> np.ndarray:
    n_ab = 256 // spec.ab_step
    lab = lab.astype(np.int64, copy=False)
    return ((lab[:, 0] // spec.l_step) * n_ab + lab[:, 1] // spec.ab_step) * n_ab + lab[:, 2] // spec.ab_step


def _blur_yx(grid: np.ndarray) -> np.ndarray:
    for axis in (1, 2):
        s = np.moveaxis(grid, axis, 0)
        out = 2.0 * s
        out[1:] += s[:-1]
        out[:-1] += s[1:]
        grid = np.moveaxis(out, 0, axis)
    return grid


# --- fusion, graph cut, cleanup ------------------------------------------------------------------
@dataclass(frozen=True)
class FusionWeights:
    prior: float = 1.0  # log-odds of the carried mask
    distance: float = 3.0  # signed distance to the carried boundary, scaled to [-1, 1] over the band
    local: float = 1.0  # local colour grid
    # The global colour model comes from the user's masks and does not drift. 0.5 (fitted on
    # davis16-mini) under-trusted it on sequences that set had not seen: 1.0 lifts davis16-dev
    # 0.594 -> 0.659 J&F and costs davis16-mini 0.730 -> 0.687 (issue 13A's report, per sequence).
    global_: float = 1.0
    graphcut_sure: float = 4.0  # |log-odds| above which GrabCut may not flip a pixel


def band_refine(bgr_roi: np.ndarray, prior_roi: np.ndarray, local_p: np.ndarray, global_p: np.ndarray,
                band: int, weights: FusionWeights, use_graphcut: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mask, log-odds) for the ROI: fuse the cues inside the band, GrabCut the uncertain pixels."""
    carried = (prior_roi > 0.5).astype(np.uint8)
    inside = cv2.distanceTransform(carried, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - carried, cv2.DIST_L2, 3)
    signed = inside - outside
    in_band = np.abs(signed) < band
    score = (weights.prior * logit(prior_roi) + weights.distance * np.clip(signed / band, -1.0, 1.0)
             + weights.local * logit(local_p) + weights.global_ * logit(global_p))
    mask = np.where(in_band, score > 0, carried > 0)
    if use_graphcut and in_band.any() and mask.any() and not mask.all():
        labels = np.where(mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        labels[(score > weights.graphcut_sure) | (~in_band & (carried > 0))] = cv2.GC_FGD
        labels[(score < -weights.graphcut_sure) | (~in_band & (carried == 0))] = cv2.GC_BGD
        if (labels == cv2.GC_FGD).any() or (labels == cv2.GC_PR_FGD).any():
            bgd = np.zeros((1, 65), np.float64)
            fgd = np.zeros((1, 65), np.float64)
            try:
                cv2.grabCut(np.ascontiguousarray(bgr_roi), labels, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
                mask = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
            except cv2.error:
                pass  # GrabCut refuses degenerate inputs (one class only); keep the fused mask
    score = np.where(in_band, score, np.where(carried > 0, 10.0, -10.0)).astype(np.float32)
    return mask, score


def cleanup(mask: np.ndarray, reference: np.ndarray, min_part: float = 0.1) -> np.ndarray:
    """Drop components that lie mostly outside ``reference`` (the carried mask) or are tiny next
    to the largest; fill holes that lie mostly inside it. Holes the object really has (they are
    background in the carried mask too) stay open."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    if count > 1:
        area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        overlap = np.bincount(labels.ravel(), weights=reference.ravel().astype(np.float64), minlength=count)
        keep = (overlap > 0.5 * area) & (area >= min_part * area[1:].max())
        keep[0] = False
        if not keep.any():
            keep[1 + int(np.argmax(area[1:]))] = True
        mask = keep[labels]
    holes = (~mask).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    if count > 1:
        h, w = mask.shape
        x, y, bw, bh, area = (stats[:, i] for i in range(5))
        touches = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
        inside = np.bincount(labels.ravel(), weights=reference.ravel().astype(np.float64), minlength=count)
        fill = ~touches & (inside > 0.5 * area)
        fill[0] = False
        mask = mask | fill[labels]
    return mask
