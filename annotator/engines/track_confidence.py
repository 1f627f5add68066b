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
- ``refine``: how much the appearance refinement changed the flow-carried mask;
- ``colour_lock`` / ``ring_lock``: what the colour model gives the user's own masks and their
  surroundings, the baseline the colour evidence is read against (INPUTS: the gaps);
- ``colour_trend`` / ``ring_trend``: ``colour`` and ``colour_ring`` averaged along the run since
  the lock (``follow``). One frame's colour score is noisy (light, blur, pose); a mask that went
  wrong stays wrong, so the gaps are read on the average, and the raw scores still catch a
  single bad frame.

``estimate_iou`` is a logistic model over those and a few terms derived from them (INPUTS),
chosen and fitted by bench/calibrate.py on the nine development sequences and stored below as
constants. Inputs measured against the object itself (the colour gaps to the lock, the drift
accumulated since it) carry over to unseen video better than absolute ones: an object whose
colours never stood out scores low colour agreement on every frame, good or bad (goat: median
0.63 at a mean IoU of 0.68; blackswan 0.88 at 0.90). Two runs that meet in a
fused span add one more, strong, signal: how much they disagree (engines/keyframes.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np

from annotator.engines.appearance import ColourModel

FEATURES = ("dist", "rel", "rel_mean", "area_step", "area_ref", "colour", "colour_ring", "edge", "refine",
            "colour_lock", "ring_lock", "colour_trend", "ring_trend")
# Model inputs: the evidence above plus terms derived from it that are relative to the object
# itself rather than to a sequence's absolute scales (bench/calibrate.py may choose any of them):
# - ``contrast``: colour - colour_ring, the locked frames' colour model inside the mask against
#   just outside it (a mask that slid onto background or leaked scores low whatever the palette);
# - ``colour_gap`` / ``ring_gap``: colour and colour_ring, averaged along the run (the trends),
#   minus what the user's own masks score (``colour_lock``, ``ring_lock``): the mask of an
#   object whose colours never stood out is not bad for scoring low, only for scoring lower
#   than the user's mask did;
# - ``contrast_gap``: the trends' contrast minus the lock's contrast;
# - ``drift``: log(1 + steps x (1 - rel_mean)), the unreliable flow accumulated since the lock.
DERIVED = ("contrast", "colour_gap", "ring_gap", "contrast_gap", "drift")
INPUTS = FEATURES[:9] + DERIVED  # the lock's and the trends' scores only enter through the gaps
# How fast the colour trends follow a new frame (an exponential moving average started at the
# lock's own scores): chosen by bench/calibrate.py among 0.1, 0.2, 0.3 and 1 (no averaging).
TREND_RATE = 0.1

# Chosen and fitted by bench/calibrate.py on the nine development sequences (davis16-mini +
# davis16-dev): python bench/calibrate.py --collect data.json, then --data data.json. Quality:
# every input, L2 0.1, each weight held to its input's direction (two fell out: dist and rel,
# whose evidence reaches the model through drift and rel_mean), colour trends at TREND_RATE,
# chosen by leave-one-sequence-out; nested leave-one-out judges that choice (docs/design.md).
# Each model: (inputs, their means, their scales, weights, bias).
Model = tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...], float]
MODELS: dict[str, Model] = {
    "quality": (INPUTS,
                (3.392, 0.8935, 0.8767, 0.02141, 0.3402, 0.7428, 0.3026, 1.188, 0.05134, 0.4402, -0.01369,
                 0.06272, -0.07641, 1.268),
                (0.8692, 0.1514, 0.1385, 0.03157, 0.3208, 0.1086, 0.1104, 0.07487, 0.06036, 0.1885, 0.04636,
                 0.09659, 0.1167, 0.8845),
                (0, 0, 0.1877, -0.02551, -0.01606, 0.0493, -0.1191, 0.1064, -0.1133, 0.09815, 0.1039,
                 -0.2521, 0.25, -0.1832), 0.4335),
    # Not refitted: the procedure's choice for this mode misjudged runs that lose a fast object
    # within a few frames, which fused spans rely on (docs/design.md); these are the last stop's.
    "fast": (FEATURES[:9],
             (3.387, 0.8027, 0.8088, 0.03648, 1.514, 0.5, 0.5, 1.001, 0.003689),
             (0.8616, 0.2634, 0.1544, 0.2865, 2.71, 1, 1, 0.04637, 0.01286),
             (-0.335, 0.06582, 0.7598, -0.1289, -1.284, 0, 0, 0.136, -0.1049), -0.5929),
}
# The default threshold of "next weak frame": where, on the same data, a frame below it is as
# likely to be one of the bad (IoU < 0.5) as of the good (IoU > 0.8), each class counted as a
# share of itself (bench/calibrate.py, weak_threshold). Higher than 0.5 because the estimates
# are shrunk toward the mean where the evidence is weak.
WEAK_THRESHOLD = 0.61
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


def inputs(features: Mapping[str, float]) -> dict[str, float]:
    """Every model input (INPUTS) of a frame's evidence; a missing feature counts as 0."""
    values = {name: float(features.get(name, 0.0)) for name in FEATURES[:9]}
    steps = math.expm1(values["dist"])
    for name in ("colour_lock", "ring_lock"):  # evidence collected before they existed
        values[name] = float(features.get(name, 0.5))
    colour_trend = float(features.get("colour_trend", values["colour"]))
    ring_trend = float(features.get("ring_trend", values["colour_ring"]))
    values["contrast"] = values["colour"] - values["colour_ring"]
    values["colour_gap"] = colour_trend - values["colour_lock"]
    values["ring_gap"] = ring_trend - values["ring_lock"]
    values["contrast_gap"] = (colour_trend - ring_trend) - (values["colour_lock"] - values["ring_lock"])
    values["drift"] = math.log1p(max(0.0, steps * (1.0 - values["rel_mean"])))
    return values


def vector(features: Mapping[str, float], names: tuple[str, ...] = INPUTS) -> np.ndarray:
    values = inputs(features)
    return np.array([values[name] for name in names], np.float64)


def estimate_iou(features: Mapping[str, float], mode: str = "quality", trend: bool = True) -> float:
    """The calibrated estimate of a tracked mask's IoU with the truth (0..1).

    ``trend=False`` reads the colour gaps on this frame's own scores instead of their trends:
    what fusing two runs weighs them by (engines/keyframes.py). Fusion compares two runs on
    one frame, and the trend of a run that has just gone wrong still remembers it right; in the
    loop, weighing by the trend's estimate cost cows 0.10 of its J&F@5 (docs/design.md).
    """
    if not trend:
        features = dict(features)
        features.pop("colour_trend", None)
        features.pop("ring_trend", None)
    names, mean, scale, weights, bias = MODELS[mode]
    x = (vector(features, names) - np.asarray(mean)) / np.asarray(scale)
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
        colour_lock, ring_lock = colour.self_agreement()
    else:
        agreement, ring, colour_lock, ring_lock = 0.5, 0.5, 0.5, 0.5
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
        "colour_lock": colour_lock,
        "ring_lock": ring_lock,
    }


def follow(trend: tuple[float, float] | None, features: dict[str, float],
           rate: float = TREND_RATE) -> tuple[float, float]:
    """The colour trends after this frame, stored into ``features``; ``trend`` is the state
    before it (None right after a lock: the trends start at the lock's own scores)."""
    colour, ring = trend if trend is not None else (features["colour_lock"], features["ring_lock"])
    colour += rate * (features["colour"] - colour)
    ring += rate * (features["colour_ring"] - ring)
    features["colour_trend"], features["ring_trend"] = colour, ring
    return colour, ring


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
