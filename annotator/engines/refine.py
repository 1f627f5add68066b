"""Pixel-level boundary passes of the classical segmenter (numpy + OpenCV).

Region labels are only as fine as the regions. These passes move the boundary to the right
pixel: a graph cut restricted to a band around the current boundary, whose unary terms are
local colour models (learned from a ring on each side of the band) plus a pull towards the
current answer, and whose pairwise term is GrabCut's contrast-sensitive smoothness.
``refine_band`` runs at the working resolution, ``refine_full`` at the frame's own.

``state`` arrays use 0 = fixed background, 1 = free, 2 = fixed foreground.
"""

from __future__ import annotations

import cv2
import numpy as np

from annotator.engines import graphcut as gc

FIXED_BG, FREE, FIXED_FG = 0, 1, 2


def band_state(coarse: np.ndarray, band: int) -> np.ndarray:
    """Fixed labels away from the boundary of ``coarse``, free within ``band`` pixels of it."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    c8 = coarse.astype(np.uint8)
    inner = cv2.erode(c8, kernel).astype(bool)
    outer = cv2.dilate(c8, kernel).astype(bool)
    state = np.where(coarse, FIXED_FG, FIXED_BG).astype(np.uint8)
    state[outer & ~inner] = FREE
    return state


def stamp_clicks(state: np.ndarray, points: np.ndarray, labels: np.ndarray, radius: int) -> None:
    """Clicks are hard constraints: a disc of ``radius`` pixels around each."""
    for (x, y), label in zip(points.tolist(), labels.tolist()):
        cv2.circle(state, (int(round(x)), int(round(y))), radius, FIXED_FG if label == 1 else FIXED_BG, -1)


def free_roi(state: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The bounding box of the free pixels plus ``margin``, or None when nothing is free."""
    ys, xs = np.nonzero(state == FREE)
    if len(ys) == 0:
        return None
    h, w = state.shape
    return (slice(max(0, int(ys.min()) - margin), min(h, int(ys.max()) + margin + 1)),
            slice(max(0, int(xs.min()) - margin), min(w, int(xs.max()) + margin + 1)))


def local_colour_llr(bins: np.ndarray, coarse: np.ndarray, ring: int | None) -> np.ndarray:
    """cost(fg) - cost(bg) per pixel from Lab histograms of the foreground and background near
    the boundary (within ``ring`` pixels of it; the whole crop when ``ring`` is None)."""
    if ring is None:
        fg, bg = coarse, ~coarse
    else:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
        c8 = coarse.astype(np.uint8)
        fg = coarse & ~cv2.erode(c8, kernel).astype(bool)
        bg = cv2.dilate(c8, kernel).astype(bool) & ~coarse
    nb = int(np.prod(gc.HIST_SHAPE))
    f = gc.smooth_histogram(np.bincount(bins[fg], minlength=nb).astype(np.float32)) + 1e-2
    b = gc.smooth_histogram(np.bincount(bins[bg], minlength=nb).astype(np.float32)) + 1e-2
    table = (np.log(b / b.sum()) - np.log(f / f.sum())).astype(np.float32)
    return table[bins]


def local_texture_llr(texture: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """cost(fg) - cost(bg) per pixel from histograms of small-int texture bins inside and outside
    ``coarse`` (add-one smoothed)."""
    nb = int(texture.max()) + 1
    f = np.bincount(texture[coarse], minlength=nb).astype(np.float32) + 1.0
    b = np.bincount(texture[~coarse], minlength=nb).astype(np.float32) + 1.0
    return (np.log(b / b.sum()) - np.log(f / f.sum()))[texture]


def refine_band(
    bins: np.ndarray,
    contrast: list[np.ndarray],
    coarse: np.ndarray,
    state: np.ndarray,
    gamma: float,
    margin: int,
    iterations: int,
    pull: float = 1.0,
    texture: np.ndarray | None = None,
    texture_weight: float = 1.0,
) -> np.ndarray:
    """Cut the free pixels of ``state`` (working resolution, precomputed bins and contrast);
    ``texture`` (HxW small ints) adds a local texture likelihood to the colour one."""
    roi = free_roi(state, margin)
    if roi is None:
        return state == FIXED_FG
    sub_coarse = coarse[roi]
    unary = local_colour_llr(bins[roi], sub_coarse, None) + pull * (1.0 - 2.0 * sub_coarse.astype(np.float32))
    if texture is not None:
        unary += texture_weight * local_texture_llr(texture[roi], sub_coarse)
    out = state == FIXED_FG
    out[roi] = gc.band_cut(unary, [c[roi] for c in contrast], gamma, state[roi], iterations=iterations,
                           init=sub_coarse.astype(np.float32))
    return out


def refine_full(
    image: np.ndarray,
    small: np.ndarray,
    band: int,
    points: np.ndarray,
    labels: np.ndarray,
    box: np.ndarray | None,
    click_radius: int,
    gamma: float,
    iterations: int,
    pull: float = 1.0,
) -> np.ndarray:
    """Upsample a working-resolution mask to ``image``'s size and place its boundary there."""
    height, width = image.shape[:2]
    if not small.any():
        return np.zeros((height, width), bool)
    soft = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    coarse = soft > 0.5
    state = band_state(coarse, band)
    stamp_clicks(state, points, labels, click_radius)
    if box is not None:  # after the clicks: nothing outside the box, even a click's disc
        keep = np.zeros((height, width), bool)
        x0, y0, x1, y1 = box.tolist()
        keep[max(0, int(np.floor(min(y0, y1)))):int(np.ceil(max(y0, y1))) + 1,
             max(0, int(np.floor(min(x0, x1)))):int(np.ceil(max(x0, x1))) + 1] = True
        state[~keep] = FIXED_BG
    roi = free_roi(state, 2 * band + 2)
    if roi is None:
        return state == FIXED_FG
    lab = gc.lab_image(image[roi])
    unary = local_colour_llr(gc.colour_bins(lab), coarse[roi], 2 * band)
    unary += pull * (1.0 - 2.0 * soft[roi])
    contrast, _ = gc.pixel_contrast(lab)
    out = state == FIXED_FG
    out[roi] = gc.band_cut(unary, contrast, gamma, state[roi], iterations=iterations, init=soft[roi])
    return out


def keep_connected(mask: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Only the connected components of ``mask`` that hold a positive click (all when none).

    ``positive`` is an (N, 2) int array of x, y pixels.
    """
    if len(positive) == 0 or not mask.any():
        return mask
    _, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.unique(comp[positive[:, 1], positive[:, 0]])
    keep = keep[keep > 0]
    return np.isin(comp, keep) if len(keep) else mask
