"""Click-to-segment without weights: a seeded graph cut on a region graph, refined at pixel level.

GrabCut relative with the spatial reasoning GrabCut lacks when the user gives clicks, not a box:

1. ``prepare`` works at a reduced resolution (long side 480), over-segments the frame into
   about 1,500 regions and builds their adjacency graph (graphcut.py), about 0.2 s a frame.
2. ``predict`` labels the regions by minimising a graph-cut energy (solved exactly enough by
   a primal-dual method on its tight convex relaxation):
   - colour: Lab-histogram likelihoods of foreground and background, learned from the previous
     mask (or, on the first click, from the geodesic guess below);
   - geodesic competition (Bai and Sapiro; Criminisi's GeoS): a region joined to a positive
     click by a colour-homogeneous path, and far along such paths from the negative clicks and
     the image border (or the outside of the box), leans foreground;
   - the previous mask (``Prompt.prior``), so each click refines instead of starting over;
   - the newest click's reach: people click in the middle of a wrong area, so its distance to
     the current boundary says how far the correction should go;
   - contrast-sensitive smoothness along region boundaries (GrabCut's pairwise term).
   Clicked regions are hard constraints, only foreground connected to a positive click is kept,
   a positive click never removes and a negative click never adds.
3. The boundary is then placed by pixel-level cuts in a band around it (refine.py), first at
   the working resolution and then at the frame's own, with local colour models.
4. ``logits`` is the working-resolution log-odds map that ``Prompt.prior`` brings back.

A box alone works like GrabCut (inside is probably foreground, outside is background) with a
soft centre prior. See bench/segment_clicks.py for the simulated-user figures on DAVIS.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

import cv2
import numpy as np

from annotator.engines import graphcut as gc
from annotator.engines import refine
from annotator.engines.segmenter import MaskResult, Prompt

_LOGIT = 8.0  # |logit| of the returned map and of prior_from_mask


@dataclass
class ClassicalParams:
    long_side: int = 480  # working resolution (pixels on the long side)
    regions: int = 1500  # superpixels per frame
    gamma: float = 15.0  # smoothness weight per boundary pixel pair
    colour_weight: float = 1.0  # weight of the colour log-likelihood ratio per pixel
    geo_weight: float = 1.0  # weight of the geodesic-competition log-odds per pixel
    prior_weight: float = 0.5  # pull towards the previous mask per pixel
    reach_weight: float = 2.0  # pull of the newest click over its reach per pixel
    reach_limit: float = 3.0  # a click changes nothing farther than this many reaches away (0: no limit)
    box_rounds: int = 4  # colour re-estimations for a box alone (GrabCut iterates too)
    band: int = 5  # free band of the working-resolution pass (working pixels)
    full_band: float = 1.5  # free band of the full-resolution pass (working pixels)
    roi_margin: int = 20  # colour models of the working-resolution pass: band box + margin
    click_radius: float = 0.006  # hard disc around a click, fraction of the long side
    tv_iterations: int = 300
    band_iterations: int = 200
    full_iterations: int = 150
    cache_frames: int = 8  # prepared frames kept (LRU); about 7 MB each at 854x480


@dataclass
class _Frame:
    shape: tuple[int, int]  # full-resolution (H, W)
    scale: float  # working / full
    lab: np.ndarray  # working-resolution Lab
    bins: np.ndarray  # HxW Lab histogram bin of each working pixel
    contrast: list[np.ndarray]  # working-pixel contrast to 4 neighbours (graphcut.pixel_contrast)
    graph: gc.RegionGraph
    border_dist: np.ndarray  # geodesic distance of each region from the image border
    full_rgb: np.ndarray | None  # the frame itself when it is larger than the working size
    seed_dist: dict[int, np.ndarray] = field(default_factory=dict)  # region -> geodesic distances

    @property
    def size(self) -> tuple[int, int]:
        return self.lab.shape[:2]


class ClassicalSegmenter:
    """The Segmenter protocol without model weights (CPU only, numpy + OpenCV)."""

    name = "classical"
    device = "cpu"

    def __init__(self, params: ClassicalParams | None = None) -> None:
        self.params = params or ClassicalParams()
        self._frames: OrderedDict[Hashable, _Frame] = OrderedDict()
        self._lock = threading.RLock()

    # --- Segmenter protocol ------------------------------------------------------------------
    def prepare(self, image: np.ndarray, key: Hashable) -> float:
        """Build the region graph of an HxWx3 uint8 RGB frame; returns ms spent (0 when cached)."""
        _check_image(image)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return 0.0
            start = time.perf_counter()
            self._frames[key] = self._build_frame(image)
            while len(self._frames) > max(1, self.params.cache_frames):
                self._frames.popitem(last=False)
            return (time.perf_counter() - start) * 1000.0

    def is_prepared(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._frames

    def predict(self, prompt: Prompt, key: Hashable) -> MaskResult:
        if prompt.empty:
            raise ValueError("classical segmenter: the prompt has no points and no box; click on the "
                             "object or draw a box around it")
        with self._lock:
            frame = self._frame(key)
            start = time.perf_counter()
            result = self._segment(frame, prompt)
            result.timings = {"encode_ms": 0.0, "decode_ms": (time.perf_counter() - start) * 1000.0}
            return result

    def prior_from_mask(self, mask: np.ndarray, key: Hashable) -> np.ndarray:
        """Logits standing for an existing full-resolution mask (a tracked or imported one), so
        the next click refines it instead of starting over."""
        with self._lock:
            frame = self._frame(key)
            if tuple(mask.shape) != frame.shape:
                raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the frame is "
                                 f"{frame.shape[1]}x{frame.shape[0]}")
            h, w = frame.size
            small = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            return ((small * 2.0 - 1.0) * _LOGIT).astype(np.float32)

    # --- preparation ---------------------------------------------------------------------------
    def _frame(self, key: Hashable) -> _Frame:
        frame = self._frames.get(key)
        if frame is None:
            raise LookupError(f"classical: frame {key!r} is not prepared; call prepare() first")
        self._frames.move_to_end(key)
        return frame

    def _build_frame(self, image: np.ndarray) -> _Frame:
        p = self.params
        height, width = image.shape[:2]
        scale = min(1.0, p.long_side / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
        lab = gc.lab_image(rgb)
        graph = gc.build_region_graph(rgb, lab, p.regions)
        contrast, _ = gc.pixel_contrast(lab)
        return _Frame(
            shape=(height, width), scale=scale, lab=lab, bins=gc.colour_bins(lab).astype(np.int32),
            contrast=contrast, graph=graph, border_dist=gc.geodesic_distance(graph, graph.border),
            full_rgb=image.copy() if scale < 1.0 else None,
        )

    def _distance_from(self, frame: _Frame, regions: list[int]) -> np.ndarray:
        """Geodesic distance from the nearest of ``regions`` (inf when none); cached per region."""
        out = np.full(frame.graph.size, np.inf)
        for r in set(regions):
            d = frame.seed_dist.get(r)
            if d is None:
                d = frame.seed_dist[r] = gc.geodesic_distance(frame.graph, [r])
            out = np.minimum(out, d)
        return out

    # --- prediction ----------------------------------------------------------------------------
    def _segment(self, frame: _Frame, prompt: Prompt) -> MaskResult:
        p = self.params
        graph = frame.graph
        h, w = frame.size
        pts = prompt.points * frame.scale
        ipts = np.clip(np.round(pts).astype(np.int64), 0, [w - 1, h - 1])
        clicked = graph.labels[ipts[:, 1], ipts[:, 0]]
        pos = sorted(set(clicked[prompt.labels == 1].tolist()))
        neg = sorted(set(clicked[prompt.labels == 0].tolist()) - set(pos))

        # Hard constraints: clicked regions, and regions mostly outside the box.
        outside = self._box_outside(frame, prompt.box)
        fixed = np.full(graph.size, -1.0)
        if outside is not None:
            fixed[np.bincount(graph.labels.ravel(), outside.ravel(), graph.size) / graph.count > 0.5] = 0.0
        fixed[neg] = 0.0
        fixed[pos] = 1.0

        prior = self._prior_fraction(frame, prompt.prior)
        box_only = not pos and outside is not None
        if box_only:
            spatial = p.geo_weight * graph.count * self._box_centre_prior(frame, prompt.box)
            label = fixed < 0  # GrabCut's start: everything inside the box
        else:
            d_pos = self._distance_from(frame, pos)
            background = np.flatnonzero(fixed == 0.0).tolist() if outside is not None else []
            d_bg = gc.geodesic_distance(graph, background) if background else frame.border_dist
            d_bg = np.minimum(d_bg, self._distance_from(frame, neg))
            geo = np.clip((d_bg + 1e-3) / (d_pos + d_bg + 2e-3), 0.02, 0.98)
            spatial = p.geo_weight * graph.count * np.log(geo / (1.0 - geo))  # log-odds, + = foreground
            label = prior > 0.5 if prior is not None else d_pos < d_bg
        # A click on the wrong side of the previous mask is a correction: ``reach`` is its distance
        # to the boundary (None for a click that agrees with the mask, or a changed box).
        before = self._prior_pixels(frame, prompt.prior)
        newest_positive = bool(len(pts) and prompt.labels[-1] == 1)
        reach = self._reach(before, pts[-1], newest_positive) if before is not None and len(pts) else None
        if prior is not None:
            spatial = spatial + p.prior_weight * graph.count * (2.0 * prior - 1.0)
        if reach is not None:
            spatial = spatial + self._click_pull(frame, pts[-1], reach, newest_positive)
        label = np.where(fixed >= 0, fixed > 0.5, label)

        weight = p.gamma * graph.contrast
        u = label.astype(np.float64)
        for _ in range(p.box_rounds if box_only else 1):
            unary = p.colour_weight * self._colour_llr(frame, label) - spatial
            u = gc.tv_min_cut(unary, graph.src, graph.dst, weight, fixed, init=u, iterations=p.tv_iterations)
            if box_only and not (u > 0.5).any():
                break  # colour cannot tell the object from the rest: keep the last labels
            label = u > 0.5
            if pos:
                label = gc.reachable(graph, label, pos)

        fine = self._refine_working(frame, label[graph.labels], pts, prompt.labels, outside)
        if reach is not None:
            # A correction is one-way (a positive click only adds, a negative one only removes)
            # and local (nothing changes beyond reach_limit reaches from the click).
            fine = (fine | before) if newest_positive else (fine & before)
            if p.reach_limit > 0:
                near = np.zeros(fine.shape, np.uint8)
                cv2.circle(near, (int(round(pts[-1][0])), int(round(pts[-1][1]))),
                           int(round(p.reach_limit * reach)), 1, -1)
                fine = np.where(near.astype(bool), fine, before)
        if outside is not None:
            fine &= ~outside
        fine = refine.keep_connected(fine, ipts[prompt.labels == 1])
        score = self._score(frame, fine)
        logits = np.where(fine, _LOGIT, -_LOGIT).astype(np.float32)
        return MaskResult(self._to_full(frame, fine, prompt), score, logits)

    def _colour_llr(self, frame: _Frame, fg: np.ndarray) -> np.ndarray:
        """Per region: the sum over its pixels of -log p(colour | fg) + log p(colour | bg), with
        the two Lab histograms taken from the regions labelled ``fg`` and the rest."""
        graph = frame.graph
        if fg.all() or not fg.any():
            return np.zeros(graph.size)
        nb = int(np.prod(gc.HIST_SHAPE))
        inside = fg[graph.labels]
        f = gc.smooth_histogram(np.bincount(frame.bins[inside], minlength=nb).astype(np.float32)) + 1e-2
        b = gc.smooth_histogram(np.bincount(frame.bins[~inside], minlength=nb).astype(np.float32)) + 1e-2
        ratio = np.log(b / b.sum()) - np.log(f / f.sum())
        return np.bincount(graph.labels.ravel(), ratio[frame.bins].ravel().astype(np.float64), graph.size)

    @staticmethod
    def _reach(before: np.ndarray, click: np.ndarray, positive: bool) -> float | None:
        """Distance from a click to the boundary of ``before``, or None when the click agrees
        with it (a positive click inside the mask, a negative one outside)."""
        h, w = before.shape
        wrong = ~before if positive else before  # the side the click says is mislabelled
        xi = int(np.clip(round(float(click[0])), 0, w - 1))
        yi = int(np.clip(round(float(click[1])), 0, h - 1))
        if not wrong[yi, xi]:
            return None
        dist = cv2.distanceTransform(np.pad(wrong.astype(np.uint8), 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return max(2.0, float(dist[yi + 1, xi + 1]))

    def _click_pull(self, frame: _Frame, click: np.ndarray, reach: float, positive: bool) -> np.ndarray:
        """Log-odds (+ = foreground) that the area around a correcting click has its label.

        People click in the middle of a wrong area, so the click's distance to the boundary
        measures how far the correction goes: a Gaussian of that radius around the click.
        """
        c = frame.graph.centroid
        d2 = ((c[:, 0] - float(click[0])) ** 2 + (c[:, 1] - float(click[1])) ** 2) / (reach * reach)
        pull = self.params.reach_weight * frame.graph.count * np.exp(-d2)
        return pull if positive else -pull

    def _prior_pixels(self, frame: _Frame, prior: np.ndarray | None) -> np.ndarray | None:
        """The prior as a working-resolution boolean mask (None without one)."""
        if prior is None:
            return None
        prior = np.asarray(prior, np.float32)
        if prior.ndim > 2:
            prior = prior.reshape(prior.shape[-2:])
        h, w = frame.size
        if prior.shape != (h, w):
            prior = cv2.resize(prior, (w, h), interpolation=cv2.INTER_LINEAR)
        return prior > 0

    def _prior_fraction(self, frame: _Frame, prior: np.ndarray | None) -> np.ndarray | None:
        inside = self._prior_pixels(frame, prior)
        if inside is None:
            return None
        graph = frame.graph
        return np.bincount(graph.labels.ravel(), inside.ravel().astype(np.float64), graph.size) / graph.count

    def _box_outside(self, frame: _Frame, box: np.ndarray | None) -> np.ndarray | None:
        """Working pixels outside the box (None without a box)."""
        if box is None:
            return None
        h, w = frame.size
        x0, y0, x1, y1 = (np.asarray(box, np.float64) * frame.scale).tolist()
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        outside = np.ones((h, w), bool)
        outside[max(0, int(np.floor(y0))):min(h, int(np.ceil(y1)) + 1),
                max(0, int(np.floor(x0))):min(w, int(np.ceil(x1)) + 1)] = False
        return outside

    def _box_centre_prior(self, frame: _Frame, box: np.ndarray) -> np.ndarray:
        """Log-odds per pixel from +1 at the box centre down to about -1 at its sides."""
        x0, y0, x1, y1 = (np.asarray(box, np.float64) * frame.scale).tolist()
        half_w, half_h = max(1.0, abs(x1 - x0) / 2), max(1.0, abs(y1 - y0) / 2)
        c = frame.graph.centroid
        d2 = ((c[:, 0] - (x0 + x1) / 2) / half_w) ** 2 + ((c[:, 1] - (y0 + y1) / 2) / half_h) ** 2
        return 2.0 * np.exp(-1.4 * d2) - 1.0

    def _refine_working(self, frame: _Frame, coarse: np.ndarray, pts: np.ndarray, labels: np.ndarray,
                        outside: np.ndarray | None) -> np.ndarray:
        p = self.params
        if not coarse.any():
            return coarse
        state = refine.band_state(coarse, p.band)
        h, w = frame.size
        refine.stamp_clicks(state, pts, labels, max(1, round(p.click_radius * max(h, w))))
        if outside is not None:
            state[outside] = refine.FIXED_BG
        return refine.refine_band(frame.bins, frame.contrast, coarse, state, p.gamma, p.roi_margin,
                                  p.band_iterations)

    def _to_full(self, frame: _Frame, mask: np.ndarray, prompt: Prompt) -> np.ndarray:
        if frame.full_rgb is None:
            return mask.copy()
        p = self.params
        height, width = frame.shape
        band = max(1, round(p.full_band / frame.scale))
        return refine.refine_full(frame.full_rgb, mask, band, prompt.points, prompt.labels, prompt.box,
                                  max(1, round(p.click_radius * max(height, width))), p.gamma,
                                  p.full_iterations)

    def _score(self, frame: _Frame, mask: np.ndarray) -> float:
        """How well the mask's colours separate from those around it: 1 - the Bhattacharyya
        coefficient of the two Lab histograms (0 for an empty or full mask)."""
        if not mask.any() or mask.all():
            return 0.0
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~mask
        if not ring.any():
            return 0.0
        nb = int(np.prod(gc.HIST_SHAPE))
        f = np.bincount(frame.bins[mask], minlength=nb).astype(np.float64)
        b = np.bincount(frame.bins[ring], minlength=nb).astype(np.float64)
        overlap = float(np.sqrt(f / f.sum() * b / b.sum()).sum())
        return float(np.clip(1.0 - overlap, 0.0, 1.0))


def _check_image(image: np.ndarray) -> None:
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if not ok:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {getattr(image, 'shape', type(image))} "
                         f"{getattr(image, 'dtype', '')}")
