"""The fast mode's step: a soft mask pulled along the backward flow, snapped to the lock's colours.

Why a *pull* of a *soft* mask (engines/flow.py explains why the quality mode splats instead):

- one flow per frame (backward, frame t -> t-1) is enough to carry the mask, and DIS is most
  of the cost; the forward flow is only needed for the forward/backward consistency that the
  confidence reads, so it is computed one pyramid level coarser (about 4x cheaper);
- the mask is carried as probabilities, not re-thresholded each frame: thin parts and
  boundaries do not erode or grow by a rounding step per frame;
- the known weakness of pulling, background revealed behind a moving object inheriting its
  label, is what the colour snap corrects: inside a thin band around the carried boundary the
  mask's log-odds get the log-odds of the object's colour model (Lab histograms of the object
  and its close surroundings on the user's masks, engines/appearance.ColourModel), which does
  not drift with tracking errors. Where a band pixel's flow is inconsistent (forward and
  backward disagree: revealed background, fast limbs) its carried value is first pulled toward
  0.5 in proportion, so the colours decide there.

Then the usual cleanup (stray specks dropped, holes inside the carried mask filled). All of it
runs at the working resolution (short side 240 px by default), so the step costs a fraction of
plain full-size warping (bench/track.py, table 1, shows the ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from annotator.engines.appearance import ColourModel, cleanup, logit, roi_around
from annotator.engines.flow import PixelGrid, sample_bilinear


@dataclass
class Pulled:
    soft: np.ndarray  # HxW float32 in [0, 1]: P(object) after the colour snap and cleanup
    carried: np.ndarray  # HxW bool: what the flow alone brought (before the snap)
    reliability: float  # mean forward/backward consistency over the carried mask (1 = reliable)


def pull(soft: np.ndarray, backward: np.ndarray, grid: PixelGrid) -> np.ndarray:
    """``soft`` (frame t-1) read where each pixel of frame t came from; outside the frame = 0."""
    return cv2.remap(soft, grid.xs + backward[..., 0], grid.ys + backward[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def consistency(backward: np.ndarray, forward: np.ndarray, mask: np.ndarray, sigma: float,
                max_points: int = 4000) -> float:
    """Mean exp(-|b(x) + f(x + b(x))|² / 2σ²) over ``mask``'s pixels of frame t: does the forward
    flow bring back to x the pixel the backward flow took it from? (the same measure as
    flow.fb_consistency, seen from frame t)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0.0
    if len(ys) > max_points:  # an even sample of the mask is as good a mean, and cheaper
        ys, xs = ys[:: len(ys) // max_points + 1], xs[:: len(xs) // max_points + 1]
    return float(_pixel_consistency(backward, forward, ys, xs, sigma).mean())


def _pixel_consistency(backward: np.ndarray, forward: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                       sigma: float) -> np.ndarray:
    b = backward[ys, xs]
    f = sample_bilinear(forward, xs + b[:, 0], ys + b[:, 1])
    return np.exp(-((b + f) ** 2).sum(axis=1) / (2.0 * sigma * sigma)).astype(np.float32)


def colour_snap(soft: np.ndarray, lab: np.ndarray, colour: ColourModel, band_px: int,
                weight: float, trust: tuple[np.ndarray, np.ndarray] | None = None,
                fb_sigma: float = 1.5) -> np.ndarray:
    """Add ``weight`` x the colour log-odds to the mask's log-odds within ``band_px`` of its boundary.
    ``trust`` = (backward, forward) flows: band pixels whose flow is inconsistent lose their carried
    value in proportion (a trailing edge's revealed background has no true match in frame t-1)."""
    inside = (soft > 0.5).astype(np.uint8)
    if not inside.any() or colour.empty:
        return soft
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
    band = cv2.dilate(inside, kernel).view(bool) & ~cv2.erode(inside, kernel).view(bool)
    if not band.any():
        return soft
    carried = soft[band]
    if trust is not None:
        ys, xs = np.nonzero(band)
        rel = _pixel_consistency(trust[0], trust[1], ys, xs, fb_sigma)
        carried = rel * carried + (1.0 - rel) * 0.5
    score = logit(carried) + weight * logit(colour.prob(lab[band]))
    out = soft.copy()
    out[band] = 1.0 / (1.0 + np.exp(-score))
    return out


def step(soft: np.ndarray, backward: np.ndarray, forward: np.ndarray, grid: PixelGrid,
         lab: np.ndarray | None, colour: ColourModel, *, band_px: int, colour_weight: float,
         fb_sigma: float, min_part: float, distrust: bool = False) -> Pulled:
    """Carry the soft mask of frame t-1 to frame t (module docstring)."""
    moved = pull(soft, backward, grid)
    carried = moved > 0.5
    reliability = consistency(backward, forward, carried, fb_sigma)
    if lab is not None and colour_weight > 0:
        moved = colour_snap(moved, lab, colour, band_px, colour_weight,
                            (backward, forward) if distrust else None, fb_sigma)
    hard = moved > 0.5
    roi = roi_around(hard, 2)
    if roi is not None:
        y0, y1, x0, x1 = roi  # the cleanup around the mask only: the same result, less work
        part, sub = hard[y0:y1, x0:x1], moved[y0:y1, x0:x1]
        kept = cleanup(np.ascontiguousarray(part), part, min_part)
        # Dropped specks and filled holes move just past 0.5, so the soft mask keeps its shape.
        moved[y0:y1, x0:x1] = np.where(kept == part, sub, np.where(kept, 0.51, 0.49))
    return Pulled(moved.astype(np.float32, copy=False), carried, reliability)
