"""How much to trust a tracked mask: error evidence turned into an estimate of its IoU.

The classical tracker's old confidence multiplied smoothness terms (flow consistency, area
change, colour agreement) of one step. Smooth is not right: a mask that slid onto the
background moves smoothly too. The evidence here measures error instead:

- ``dist``: how far the frame is from the user's mask it was carried from (error accumulates);
- ``rel`` / ``rel_mean``: forward/backward flow consistency over the mask, this step and on
  average since the lock (a run that crossed unreliable flow has probably drifted);
- ``area_step`` / ``area_ref``: jumps in area from the previous frame and from the lock;
- ``colour`` / ``colour_ring``: how well the colour model of the locked frames explains the
  mask, and how object-like the ring just outside it is (a leak or a missed part);
- ``edge``: how well the mask boundary sits on image edges, against the band around it;
- ``refine``: how much the appearance refinement changed the flow-carried mask.

``estimate_iou`` is a logistic model over those, fitted by bench/calibrate.py on the nine
development sequences (leave-one-sequence-out figures in its report) and stored below as
constants. Two runs that meet in a fused span add one more, strong, signal: how much they
disagree (engines/keyframes.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np

from annotator.engines.appearance import ColourModel

FEATURES = ("dist", "rel", "rel_mean", "area_step", "area_ref", "colour", "colour_ring", "edge", "refine")

# Fitted by bench/calibrate.py on the nine development sequences (davis16-mini + davis16-dev):
#   python bench/calibrate.py --collect data.json   (then --data data.json to refit and report)
# Each model: (feature means, feature scales, weights, bias) over FEATURES, per tracker mode.
MODELS: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], float]] = {
    "quality": ((3.387, 0.8712, 0.8719, 0.06682, 0.6684, 0.7366, 0.3295, 1.186, 0.068),
                (0.8616, 0.1883, 0.1341, 0.4682, 1.463, 0.1213, 0.1254, 0.07748, 0.1263),
                (-0.02877, -0.05376, 0.6249, 0.05642, -0.332, 0.08979, -0.5058, 0.2219, -0.1576), 0.3518),
    "fast": ((3.387, 0.8027, 0.8088, 0.03648, 1.514, 0.5, 0.5, 1.001, 0.003689),
             (0.8616, 0.2634, 0.1544, 0.2865, 2.71, 1, 1, 0.04637, 0.01286),
             (-0.335, 0.06582, 0.7598, -0.1289, -1.284, 0, 0, 0.136, -0.1049), -0.5929),
}
# A fused frame, per mode: weights over (logit of the chosen run's estimate, logit of the other
# run's, the two runs' agreement as IoU) and a bias; same script, same data (its round 2).
FUSED: dict[str, tuple[tuple[float, float, float], float]] = {
    "quality": ((0.2909, 0.05551, 2.087), -1.33),
    "fast": ((0.5441, -0.1538, 3.033), -1.657),
}


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


def vector(features: Mapping[str, float]) -> np.ndarray:
    return np.array([float(features.get(name, 0.0)) for name in FEATURES], np.float64)


def estimate_iou(features: Mapping[str, float], mode: str = "quality") -> float:
    """The calibrated estimate of a tracked mask's IoU with the truth (0..1)."""
    mean, scale, weights, bias = MODELS[mode]
    x = (vector(features) - np.asarray(mean)) / np.asarray(scale)
    return _sigmoid(float(x @ np.asarray(weights)) + bias)


def fused_estimate(chosen: float, other: float, agreement: float, mode: str = "quality") -> float:
    """The estimate for a frame where two runs met: their own estimates and their agreement (IoU)."""
    (a, b, c), bias = FUSED[mode]
    return _sigmoid(a * _logit(chosen) + b * _logit(other) + c * agreement + bias)


def evidence(gray: np.ndarray, lab: np.ndarray | None, mask: np.ndarray, carried: np.ndarray,
             colour: ColourModel | None, ring_px: int, *, steps: int, reliability: float,
             reliability_mean: float, previous_area: float, reference_area: float,
             agreement: float | None = None) -> dict[str, float]:
    """The evidence (FEATURES) for ``mask`` on a frame (gray, and Lab when a colour model is given).

    ``carried``: the mask the flow alone brought (before appearance refinement); ``steps``
    frames since the user's mask; the flow reliability of this step and its mean since the
    lock; the areas of the previous mask and of the user's. ``agreement`` (mean P(object |
    colour) over the mask) is computed here when not given.
    """
    area = float(np.count_nonzero(mask))
    if colour is not None and lab is not None and area:
        if agreement is None:
            agreement = float(colour.prob(lab[mask]).mean())
        outside = ring_of(mask, ring_px)
        ring = float(colour.prob(lab[outside]).mean()) if outside.any() else 0.5
    else:
        agreement, ring = 0.5, 0.5
    return {
        "dist": math.log1p(steps),
        "rel": reliability,
        "rel_mean": reliability_mean,
        "area_step": abs(math.log((area + 1.0) / (previous_area + 1.0))),
        "area_ref": abs(math.log((area + 1.0) / (reference_area + 1.0))),
        "colour": float(agreement),
        "colour_ring": ring,
        "edge": edge_alignment(gray, mask),
        "refine": 1.0 - mask_iou(carried, mask),
    }


def edge_alignment(gray: np.ndarray, mask: np.ndarray, width: int = 4) -> float:
    """Mean gradient magnitude on the mask boundary over the mean in a band around it (~1 when
    the boundary ignores the edges, higher when it follows them). 1.0 for an empty mask."""
    if not mask.any():
        return 1.0
    roi = _roi(mask, width + 2)
    y0, y1, x0, x1 = roi
    sub = np.ascontiguousarray(gray[y0:y1, x0:x1], dtype=np.float32)
    m = mask[y0:y1, x0:x1].astype(np.uint8)
    gx = cv2.Sobel(sub, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(sub, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    boundary = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    band = (cv2.dilate(m, kernel) - cv2.erode(m, kernel)) > 0
    if not boundary.any() or not band.any():
        return 1.0
    # Dilated boundary: edges a pixel or two off still count as "on" the boundary.
    near = cv2.dilate(boundary.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return float(mag[near].mean()) / (float(mag[band].mean()) + 1.0)


def ring_of(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels within ``width`` outside the mask."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~mask


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _roi(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, ys[0] - margin), min(h, ys[-1] + margin + 1),
            max(0, xs[0] - margin), min(w, xs[-1] + margin + 1))
