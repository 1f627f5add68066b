"""Finding a lost or drifted object again by its colours and shape (classical tracker).

When the flow has nothing to follow (the object left the frame or is hidden) or has been
captured by the background (an occluder that moves differently), the object's global colour
model is back-projected over the frame at quarter resolution as clipped log-odds, and
correlated with the object's own mask as a template: the score of a place is the mean
log-odds under the object's shape put there. A place is accepted only if it scores like the
object did on the user's frame *and* clearly better than the best look-alike there was on
that frame. Objects whose colours do not stand out (a grey car on a grey street) are never
re-detected: a wrong jump is worse than an honest "lost".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from annotator.engines.appearance import ColourModel, logit, roi_around

STEP = 4  # search resolution: one sample per 4x4 pixels
CLIP = 3.0  # log-odds clip, so one saturated colour cannot dominate a place
MIN_GAP = 0.5  # how much better than its best look-alike the object must score to be searched for


@dataclass(frozen=True)
class Template:
    kernel: np.ndarray  # float32 at search resolution, sums to 1
    mask: np.ndarray  # bool crop of the object's mask at full working resolution
    area: float

    @classmethod
    def of(cls, mask: np.ndarray) -> Template | None:
        roi = roi_around(mask, 0)
        if roi is None:
            return None
        y0, y1, x0, x1 = roi
        crop = mask[y0:y1, x0:x1]
        kh, kw = max(1, round(crop.shape[0] / STEP)), max(1, round(crop.shape[1] / STEP))
        kernel = cv2.resize(crop.astype(np.float32), (kw, kh), interpolation=cv2.INTER_AREA)
        if kernel.sum() <= 0:
            return None
        return cls((kernel / kernel.sum()).astype(np.float32), crop.copy(), float(crop.sum()))


@dataclass(frozen=True)
class Reference:
    """How the object scored on a user frame, and the best look-alike place elsewhere."""

    object_score: float
    distractor_score: float

    @property
    def distinctive(self) -> bool:
        return self.object_score - self.distractor_score > MIN_GAP

    @property
    def threshold(self) -> float:
        return self.distractor_score + 0.6 * (self.object_score - self.distractor_score)


def score_map(colour: ColourModel, lab: np.ndarray, template: Template) -> np.ndarray:
    """Mean clipped log-odds under the template centred on each search sample."""
    small = lab[::STEP, ::STEP]
    s = np.clip(logit(colour.prob(small)), -CLIP, CLIP).astype(np.float32)
    kh, kw = template.kernel.shape
    # Outside the frame counts as "not the object", so a place half out of view scores lower.
    padded = cv2.copyMakeBorder(s, kh, kh, kw, kw, cv2.BORDER_CONSTANT, value=-CLIP)
    out = cv2.filter2D(padded, -1, template.kernel, borderType=cv2.BORDER_CONSTANT)
    return out[kh:kh + s.shape[0], kw:kw + s.shape[1]]


def score_at(scores: np.ndarray, mask: np.ndarray) -> float:
    """The score at the centre of ``mask``'s box."""
    roi = roi_around(mask, 0)
    if roi is None:
        return -CLIP
    cy = min((roi[0] + roi[1]) // 2 // STEP, scores.shape[0] - 1)
    cx = min((roi[2] + roi[3]) // 2 // STEP, scores.shape[1] - 1)
    return float(scores[cy, cx])


def make_reference(colour: ColourModel, lab: np.ndarray, mask: np.ndarray,
                   template: Template) -> Reference | None:
    if colour.empty:
        return None
    scores = score_map(colour, lab, template)
    roi = roi_around(mask, 0)
    assert roi is not None
    cy = min((roi[0] + roi[1]) // 2 // STEP, scores.shape[0] - 1)
    cx = min((roi[2] + roi[3]) // 2 // STEP, scores.shape[1] - 1)
    # Look-alikes: places farther than one object size from the object itself.
    hy, hx = template.kernel.shape
    away = np.ones(scores.shape, bool)
    away[max(0, cy - hy):cy + hy + 1, max(0, cx - hx):cx + hx + 1] = False
    distractor = float(scores[away].max()) if away.any() else -CLIP
    return Reference(float(scores[cy, cx]), distractor)


def best_place(scores: np.ndarray, reference: Reference, hint: tuple[float, float] | None = None,
               exclude: np.ndarray | None = None) -> tuple[int, int, float] | None:
    """(y, x, score) of the best place that passes the reference threshold, or None.

    With ``hint`` (where the object is expected), far places pay a penalty of up to one
    log-odds unit across the frame diagonal, so a look-alike far away loses to a near match.
    ``exclude`` (a mask) rules out the places on it.
    """
    if not reference.distinctive:
        return None
    ranked = scores
    if hint is not None:
        gy, gx = np.mgrid[0:scores.shape[0], 0:scores.shape[1]]
        dist = np.hypot(gy - hint[0] / STEP, gx - hint[1] / STEP) / math.hypot(*scores.shape)
        ranked = scores - dist.astype(np.float32)
    if exclude is not None and exclude.any():
        small = cv2.resize(exclude.view(np.uint8), (scores.shape[1], scores.shape[0]),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
        ranked = np.where(small, -np.inf, ranked)
    cy, cx = np.unravel_index(int(np.argmax(ranked)), ranked.shape)
    score = float(scores[cy, cx])
    if score < reference.threshold:
        return None
    return int(cy) * STEP, int(cx) * STEP, score


def segment_at(colour: ColourModel, lab: np.ndarray, bgr: np.ndarray, centre: tuple[int, int],
               template: Template) -> np.ndarray | None:
    """The object's mask with its template centred on ``centre``, refined by colour and GrabCut."""
    h, w = lab.shape[:2]
    th, tw = template.mask.shape
    ty0, tx0 = centre[0] - th // 2, centre[1] - tw // 2
    pad_y, pad_x = th // 2 + 4, tw // 2 + 4
    y0, y1 = max(0, ty0 - pad_y), min(h, ty0 + th + pad_y)
    x0, x1 = max(0, tx0 - pad_x), min(w, tx0 + tw + pad_x)
    if y1 - y0 < 4 or x1 - x0 < 4:
        return None
    shape_prior = np.zeros((y1 - y0, x1 - x0), bool)
    sy0, sx0 = max(0, ty0), max(0, tx0)
    sy1, sx1 = min(h, ty0 + th), min(w, tx0 + tw)
    if sy0 >= sy1 or sx0 >= sx1:
        return None
    inside = template.mask[sy0 - ty0:sy1 - ty0, sx0 - tx0:sx1 - tx0]
    shape_prior[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = inside
    p = colour.prob(lab[y0:y1, x0:x1])
    grown = cv2.dilate(shape_prior.view(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    labels = np.full(p.shape, cv2.GC_BGD, np.uint8)
    labels[grown] = cv2.GC_PR_BGD
    labels[grown & (p > 0.5)] = cv2.GC_PR_FGD
    labels[shape_prior & (p > 0.8)] = cv2.GC_FGD
    if not ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).any():
        return None
    try:
        cv2.grabCut(np.ascontiguousarray(bgr[y0:y1, x0:x1]), labels, None, np.zeros((1, 65)),
                    np.zeros((1, 65)), 2, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    found = np.ascontiguousarray((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD))
    count, comp, stats, _ = cv2.connectedComponentsWithStats(found.view(np.uint8), connectivity=8)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    found = comp == largest
    if not 0.1 * template.area <= float(found.sum()) <= 3.0 * template.area:
        return None
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = found
    return mask
