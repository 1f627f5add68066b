"""Click-to-segment without weights: a seeded graph cut on a region graph, refined at pixel level.

GrabCut relative with the spatial reasoning GrabCut lacks when the user gives clicks, not a box:

1. ``prepare`` works at a reduced resolution (long side 480), over-segments the frame three
   times (about 750, 1,500 and 3,000 regions) and builds each one's adjacency graph
   (graphcut.py), and bins each pixel's Lab colour and local texture energy; about 0.1 s a frame.
2. ``predict`` labels the regions of each over-segmentation by minimising a graph-cut energy
   (solved exactly enough by a primal-dual method on its tight convex relaxation):
   - appearance: Lab-histogram and texture-energy likelihoods (independent cues) of foreground
     and background, learned from the previous mask less what the negative clicks claim
     (or, on the first click, from the geodesic guess below);
   - geodesic competition (Bai and Sapiro; Criminisi's GeoS): a region joined to a positive
     click by a colour-homogeneous path, and far along such paths from the negative clicks and
     the image border (or the outside of the box), leans foreground;
   - the previous mask (``Prompt.prior``), so each click refines instead of starting over; it
     holds more firmly the farther a region lies beyond the newest correction's reach (the
     user accepted what the click is far from);
   - the newest click's reach: people click in the middle of a wrong area, so its distance to
     the current boundary says how far the correction should go;
   - contrast-sensitive smoothness along region boundaries (GrabCut's pairwise term).
   Clicked regions are hard constraints, only foreground connected to a positive click is kept,
   a positive click never removes and a negative click never adds. The over-segmentations then
   vote per pixel (majority; a positive correction takes any vote), so a region that straddles
   the object's edge in one of them does not decide the answer. Without a prior or a box (the
   first click) nothing tells the object's size: a few extents around the click compete, as
   SAM's three masks do, and the answer whose colours stand out best from its ring wins.
3. The boundary is then placed by pixel-level cuts in a band around it (refine.py), first at
   the working resolution (local colour and texture models) and then at the frame's own
   (local colour models).
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
    regions: int = 1500  # superpixels per frame (of the middle over-segmentation)
    region_scales: tuple[float, ...] = (0.5, 1.0, 2.0)  # over-segmentations (x regions) that vote
    gamma: float = 15.0  # smoothness weight per boundary pixel pair
    colour_weight: float = 1.0  # weight of the colour log-likelihood ratio per pixel
    texture_weight: float = 1.0  # weight of the texture log-likelihood ratio per pixel (0: colour only)
    geo_weight: float = 1.0  # weight of the geodesic-competition log-odds per pixel
    prior_weight: float = 0.5  # pull towards the previous mask per pixel
    reach_weight: float = 4.0  # pull of the newest click over its reach per pixel
    # A click changes nothing farther than this many reaches away (0: no limit). No limit scored
    # better on single tracked masks (27 of the nine: 0.787 -> 0.793) but in the loop a positive
    # click on cows flooded into the neighbouring cows again (round 2: 0.714 -> 0.677; issue 13d).
    reach_limit: float = 3.0
    box_rounds: int = 4  # colour re-estimations for a box alone (GrabCut iterates too)
    click_rounds: int = 1  # colour re-estimations with clicks (the new click's answer retrains the models)
    band: int = 5  # free band of the working-resolution pass (working pixels)
    full_band: float = 1.5  # free band of the full-resolution pass (working pixels)
    roi_margin: int = 20  # colour models of the working-resolution pass: band box + margin
    click_radius: float = 0.006  # hard disc around a click, fraction of the long side
    tv_iterations: int = 300
    band_iterations: int = 200
    full_iterations: int = 150
    # Clicks without a prior or a box (the first one) try these extents of the object (fraction of
    # the long side; 0: none) and keep the answer whose colours stand out best (``_score``).
    first_extents: tuple[float, ...] = (0.0, 0.08, 0.15, 0.25)
    prior_growth: float = 2.0  # extra prior_weight per reach beyond the first from a correcting click
    cache_frames: int = 8  # prepared frames kept (LRU); about 7 MB each at 854x480


@dataclass
class _Level:
    """One over-segmentation of the frame and what its cut needs per click."""

    graph: gc.RegionGraph
    border_dist: np.ndarray  # geodesic distance of each region from the image border
    seed_dist: dict[int, np.ndarray] = field(default_factory=dict)  # region -> geodesic distances


@dataclass
class _Frame:
    shape: tuple[int, int]  # full-resolution (H, W)
    scale: float  # working / full
    lab: np.ndarray  # working-resolution Lab
    bins: np.ndarray  # HxW Lab histogram bin of each working pixel
    contrast: list[np.ndarray]  # working-pixel contrast to 4 neighbours (graphcut.pixel_contrast)
    levels: list[_Level]  # over-segmentations at several region sizes
    texture: np.ndarray  # HxW int32 texture bin of each working pixel (local gradient energy)
    full_rgb: np.ndarray | None  # the frame itself when it is larger than the working size

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
        levels = []
        for factor in p.region_scales or (1.0,):
            graph = gc.build_region_graph(rgb, lab, max(16, round(p.regions * factor)))
            levels.append(_Level(graph, gc.geodesic_distance(graph, graph.border)))
        contrast, _ = gc.pixel_contrast(lab)
        return _Frame(
            shape=(height, width), scale=scale, lab=lab, bins=gc.colour_bins(lab).astype(np.int32),
            contrast=contrast, levels=levels, texture=_texture_bins(lab),
            full_rgb=image.copy() if scale < 1.0 else None,
        )

    @staticmethod
    def _distance_from(level: _Level, regions: list[int]) -> np.ndarray:
        """Geodesic distance from the nearest of ``regions`` (inf when none); cached per region."""
        out = np.full(level.graph.size, np.inf)
        for r in set(regions):
            d = level.seed_dist.get(r)
            if d is None:
                d = level.seed_dist[r] = gc.geodesic_distance(level.graph, [r])
            out = np.minimum(out, d)
        return out

    # --- prediction ----------------------------------------------------------------------------
    def _segment(self, frame: _Frame, prompt: Prompt) -> MaskResult:
        # Without a prior or a box nothing says how big the object is: a few extents compete
        # (as SAM's three masks do), and the one that separates best from its surroundings wins.
        hypotheses = self.params.first_extents if prompt.prior is None and prompt.box is None else ()
        best: tuple[np.ndarray, float] | None = None
        for extent in hypotheses or (0.0,):
            mask = self._working_mask(frame, prompt, extent)
            score = self._score(frame, mask)
            if best is None or score > best[1]:
                best = (mask, score)
        fine, score = best
        logits = np.where(fine, _LOGIT, -_LOGIT).astype(np.float32)
        return MaskResult(self._to_full(frame, fine, prompt), score, logits)

    def _working_mask(self, frame: _Frame, prompt: Prompt, extent: float) -> np.ndarray:
        """The answer at the working resolution; ``extent`` > 0 keeps it within about that
        fraction of the long side from the newest click."""
        h, w = frame.size
        pts = prompt.points * frame.scale
        ipts = np.clip(np.round(pts).astype(np.int64), 0, [w - 1, h - 1])
        outside = self._box_outside(frame, prompt.box)
        # A click on the wrong side of the previous mask is a correction: ``reach`` is its distance
        # to the boundary (None for a click that agrees with the mask, or a changed box).
        before = self._prior_pixels(frame, prompt.prior)
        newest_positive = bool(len(pts) and prompt.labels[-1] == 1)
        reach = self._reach(before, pts[-1], newest_positive) if before is not None and len(pts) else None

        # Each over-segmentation cuts on its own and they vote per pixel: a region that straddles
        # the object's edge in one is rarely cut the same way in the others.
        votes = np.zeros((h, w), np.float32)
        for level in frame.levels:
            label = self._cut_level(frame, level, prompt, ipts, pts, outside, reach, newest_positive, extent)
            votes += label[level.graph.labels]
        if reach is not None and newest_positive:
            # A positive correction adds as far as any over-segmentation lets it (it is one-way and
            # local below; a majority would hold back the part the click asks for). Removing
            # keeps the majority: a negative click must not take parts the user already accepted.
            coarse = votes > 0
        else:
            coarse = votes > 0.5 * len(frame.levels)

        fine = self._refine_working(frame, coarse, pts, prompt.labels, outside)
        if reach is not None:
            fine = (fine | before) if newest_positive else (fine & before)
        if outside is not None:
            fine &= ~outside
        fine = refine.keep_connected(fine, ipts[prompt.labels == 1])
        if before is not None and len(pts) and not newest_positive:
            reach = reach or 0.0  # a negative click outside the mask is held local all the same
        if reach is not None:
            # A correction is one-way (a positive click only adds, a negative one only removes)
            # and local, checked last so that dropping parts cut off from the positive clicks
            # cannot undo it (two negative clicks on a fence must not take the camel with it).
            fine = (fine | before) if newest_positive else (fine & before)
            fine = np.where(self._correction_zone(frame, before, fine, pts[-1], reach, newest_positive),
                            fine, before)
        return fine

    def _correction_zone(self, frame: _Frame, before: np.ndarray, after: np.ndarray, click: np.ndarray,
                         reach: float, positive: bool) -> np.ndarray:
        """Where the newest correction may change the mask: a positive click, within reach_limit
        reaches; a negative one, the connected part it removes plus a disc of max(20 px, 10 % of
        the mask's bounding-box diagonal) around it (full-resolution pixels)."""
        p = self.params
        h, w = before.shape
        cx, cy = int(round(float(click[0]))), int(round(float(click[1])))
        zone = np.zeros((h, w), np.uint8)
        if positive:
            if p.reach_limit <= 0:
                return np.ones((h, w), bool)
            cv2.circle(zone, (cx, cy), int(round(p.reach_limit * reach)), 1, -1)
            return zone.astype(bool)
        ys, xs = np.nonzero(before)
        diagonal = float(np.hypot(np.ptp(xs) + 1, np.ptp(ys) + 1)) / frame.scale if len(xs) else 0.0
        radius = max(20.0, 0.1 * diagonal) * frame.scale
        cv2.circle(zone, (cx, cy), max(1, int(radius)), 1, -1)
        removed = (before & ~after).astype(np.uint8)
        if 0 <= cy < h and 0 <= cx < w and removed[cy, cx]:
            _, comp = cv2.connectedComponents(removed, connectivity=8)
            zone |= (comp == comp[cy, cx]).astype(np.uint8)  # the removed part under the click
        return zone.astype(bool)

    def _cut_level(self, frame: _Frame, level: _Level, prompt: Prompt, ipts: np.ndarray, pts: np.ndarray,
                   outside: np.ndarray | None, reach: float | None, newest_positive: bool,
                   extent: float = 0.0) -> np.ndarray:
        """Foreground regions of one over-segmentation: the seeded graph cut of the module doc."""
        p = self.params
        graph = level.graph
        clicked = graph.labels[ipts[:, 1], ipts[:, 0]]
        pos = sorted(set(clicked[prompt.labels == 1].tolist()))
        neg = sorted(set(clicked[prompt.labels == 0].tolist()) - set(pos))

        # Hard constraints: clicked regions, and regions mostly outside the box.
        fixed = np.full(graph.size, -1.0)
        if outside is not None:
            fixed[np.bincount(graph.labels.ravel(), outside.ravel(), graph.size) / graph.count > 0.5] = 0.0
        fixed[neg] = 0.0
        fixed[pos] = 1.0

        prior = self._prior_fraction(frame, graph, prompt.prior)
        box_only = not pos and outside is not None
        if box_only:
            spatial = p.geo_weight * graph.count * self._box_centre_prior(frame, graph, prompt.box)
            label = fixed < 0  # GrabCut's start: everything inside the box
        else:
            d_pos = self._distance_from(level, pos)
            background = np.flatnonzero(fixed == 0.0).tolist() if outside is not None else []
            d_bg = gc.geodesic_distance(graph, background) if background else level.border_dist
            d_bg = np.minimum(d_bg, self._distance_from(level, neg))
            geo = np.clip((d_bg + 1e-3) / (d_pos + d_bg + 2e-3), 0.02, 0.98)
            spatial = p.geo_weight * graph.count * np.log(geo / (1.0 - geo))  # log-odds, + = foreground
            label = prior > 0.5 if prior is not None else d_pos < d_bg
        if prior is not None:
            held = np.full(graph.size, p.prior_weight)
            if reach is not None and p.prior_growth > 0:
                # Beyond the newest correction's reach the previous answer was accepted: it holds
                # more firmly the farther a region is from the click.
                c = graph.centroid
                d = np.hypot(c[:, 0] - pts[-1][0], c[:, 1] - pts[-1][1]) / reach
                held = held + p.prior_growth * np.maximum(0.0, d - 1.0)
            spatial = spatial + held * graph.count * (2.0 * prior - 1.0)
        if extent > 0 and not box_only:
            # Beyond ``extent`` from the newest click, each further extent costs 4 log-odds per pixel.
            c = graph.centroid
            d = np.hypot(c[:, 0] - pts[-1][0], c[:, 1] - pts[-1][1]) / (extent * max(frame.size))
            spatial = spatial - 4.0 * p.geo_weight * graph.count * np.maximum(0.0, d - 1.0)
        if reach is not None:
            spatial = spatial + self._click_pull(graph, pts[-1], reach, newest_positive)
        label = np.where(fixed >= 0, fixed > 0.5, label)

        weight = p.gamma * graph.contrast
        u = label.astype(np.float64)
        train = label
        if neg and pos:
            # Regions a negative click claims (geodesically nearer to it than to any positive
            # click) must not teach the foreground colours, or a leak keeps itself alive.
            train = label & ~(self._distance_from(level, neg) < d_pos)
        for round_ in range(p.box_rounds if box_only else p.click_rounds):
            unary = self._appearance_llr(frame, graph, train if round_ == 0 else label) - spatial
            u = gc.tv_min_cut(unary, graph.src, graph.dst, weight, fixed, init=u, iterations=p.tv_iterations)
            if box_only and not (u > 0.5).any():
                break  # colour cannot tell the object from the rest: keep the last labels
            label = u > 0.5
            if pos:
                label = gc.reachable(graph, label, pos)
        return label

    def _appearance_llr(self, frame: _Frame, graph: gc.RegionGraph, fg: np.ndarray) -> np.ndarray:
        """Per region: the sum over its pixels of -log p(appearance | fg) + log p(appearance | bg),
        with histograms of Lab colour and of texture energy (independent cues, naive Bayes) taken
        from the regions labelled ``fg`` and the rest, weighted by colour_weight / texture_weight."""
        if fg.all() or not fg.any():
            return np.zeros(graph.size)
        nb = int(np.prod(gc.HIST_SHAPE))
        inside = fg[graph.labels]
        f = gc.smooth_histogram(np.bincount(frame.bins[inside], minlength=nb).astype(np.float32)) + 1e-2
        b = gc.smooth_histogram(np.bincount(frame.bins[~inside], minlength=nb).astype(np.float32)) + 1e-2
        ratio = np.log(b / b.sum()) - np.log(f / f.sum())
        per_pixel = self.params.colour_weight * ratio[frame.bins]
        tw = self.params.texture_weight
        if tw > 0:
            # Texture as a second, independent cue (naive Bayes): smooth shirts and car bodies
            # against grass, foliage and brickwork of the same colour.
            ft = np.bincount(frame.texture[inside], minlength=_TEXTURE_BINS).astype(np.float64) + 1.0
            bt = np.bincount(frame.texture[~inside], minlength=_TEXTURE_BINS).astype(np.float64) + 1.0
            per_pixel = per_pixel + tw * (np.log(bt / bt.sum()) - np.log(ft / ft.sum()))[frame.texture]
        return np.bincount(graph.labels.ravel(), per_pixel.ravel().astype(np.float64), graph.size)

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

    def _click_pull(self, graph: gc.RegionGraph, click: np.ndarray, reach: float,
                    positive: bool) -> np.ndarray:
        """Log-odds (+ = foreground) that the area around a correcting click has its label.

        People click in the middle of a wrong area, so the click's distance to the boundary
        measures how far the correction goes: a Gaussian of that radius around the click.
        """
        c = graph.centroid
        d2 = ((c[:, 0] - float(click[0])) ** 2 + (c[:, 1] - float(click[1])) ** 2) / (reach * reach)
        pull = self.params.reach_weight * graph.count * np.exp(-d2)
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

    def _prior_fraction(self, frame: _Frame, graph: gc.RegionGraph,
                        prior: np.ndarray | None) -> np.ndarray | None:
        inside = self._prior_pixels(frame, prior)
        if inside is None:
            return None
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

    @staticmethod
    def _box_centre_prior(frame: _Frame, graph: gc.RegionGraph, box: np.ndarray) -> np.ndarray:
        """Log-odds per pixel from +1 at the box centre down to about -1 at its sides."""
        x0, y0, x1, y1 = (np.asarray(box, np.float64) * frame.scale).tolist()
        half_w, half_h = max(1.0, abs(x1 - x0) / 2), max(1.0, abs(y1 - y0) / 2)
        c = graph.centroid
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
                                  p.band_iterations, texture=frame.texture if p.texture_weight > 0 else None,
                                  texture_weight=p.texture_weight)

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


_TEXTURE_BINS = 8


def _texture_bins(lab: np.ndarray) -> np.ndarray:
    """Local texture energy (mean colour-gradient magnitude over 7x7) in frame-adaptive quantile bins."""
    energy = cv2.blur(gc.colour_gradient(lab), (7, 7))
    edges = np.quantile(energy, np.linspace(0, 1, _TEXTURE_BINS + 1)[1:-1])
    return np.searchsorted(edges, energy).astype(np.int32)


def _check_image(image: np.ndarray) -> None:
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if not ok:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {getattr(image, 'shape', type(image))} "
                         f"{getattr(image, 'dtype', '')}")
