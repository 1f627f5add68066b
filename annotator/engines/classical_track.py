"""The classical (no weights) mask tracker: dense optical flow plus appearance refinement.

Two modes (one class):

- ``mode="fast"`` ("classical-fast"): frames scaled to a 240 px short side; each mask is
  carried as a soft mask pulled along the backward DIS flow (ultrafast), snapped in a thin
  band around its boundary to the colour model of the user's masks, then holes are filled and
  stray specks dropped (engines/pull_warp.py says why). No graph cut, no re-detection.
- ``mode="quality"`` ("classical"): DIS medium on frames scaled to a 240 px short side; the
  carried mask is corrected against the new frame inside a band around its boundary
  (engines/appearance.py: a motion-compensated local colour grid, a global colour model from
  the user's masks, GrabCut), plus:
  * an *amodal* layer: object pixels the flow cannot follow (occluded) are kept hidden and
    moved with the object for a few frames, so a part that passes behind a pole can come
    back when it reappears;
  * drift check and re-detection (engines/redetect.py), for objects whose colours stand out
    on the user's frame: when the mask stops looking like the object, the object's colour
    log-odds are correlated with its own shape over the frame; a clearly better place near
    the expected one is taken up, and with none the object is marked lost (it left the
    frame or is hidden) until it is found again.

Frames are pulled from the FrameSource one at a time; the tracker keeps one previous frame
(gray + Lab at the working resolution), each object's current mask and motion, and the
user's masks as RLE, so memory does not grow with the length of the video.

Confidence per frame: an estimate of the frame's IoU from its error evidence (flow
consistency over the object, area and shape jumps, drift since the lock and, in quality mode,
how the locked frames' colour model scores the mask against the user's own masks), calibrated
in engines/track_confidence.py; 0.3 on a re-detected frame and 0 while the object is lost.

Honest limits: thin structures (wheel rims, spokes, ropes) are lost within a few frames;
an occluder with the object's colours can capture the mask; re-detection only works for
objects whose colours stand out from the scene (a grey car on a grey street is never
re-detected, by design); flow runs on luminance, so a fast mode mask slides off an object
of the background's brightness; motion blur and large motion of small objects break DIS.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from annotator.core import masks as rle_ops
from annotator.engines import appearance as app
from annotator.engines import keyframes, pull_warp, redetect
from annotator.engines import track_confidence as conf
from annotator.engines.flow import IDENTITY, DenseFlow, PixelGrid, move_mask
from annotator.engines.tracker import FrameSource, TrackUpdate

MODES = ("quality", "fast")
LOST_AGREEMENT = 0.25  # a distinctive object whose mask scores below this P(object|colour) is lost


@dataclass(frozen=True)
class ClassicalParams:
    refine: bool = True  # appearance refinement (quality mode)
    graphcut: bool = True
    amodal: bool = True
    redetect: bool = True
    use_motion: bool = True  # unreliable-flow pixels follow the object's fitted motion
    warp: str = "splat"  # "splat": forward splatting (engines/flow.py); "pull": engines/pull_warp.py
    flow_preset: str = "medium"
    flow_short_side: int | None = 240  # DIS runs on frames scaled to this short side (None: full size)
    work_max_side: int = 960  # larger frames are tracked downscaled (masks come back full size)
    work_short_side: int | None = None  # ... and frames whose short side is larger than this
    snap_weight: float = 0.75  # "pull": weight of the colour log-odds in the boundary band
    snap_band_frac: float = 0.008  # "pull": half-width of that band, fraction of the frame diagonal
    snap_distrust: bool = False  # "pull": inconsistent flow in the band defers to the colours
    snap_ring_frac: float = 0.012  # "pull": the colour model's "surroundings" ring, same unit
    fb_sigma: float = 1.5  # px: forward/backward mismatch at which flow counts as unreliable
    band_frac: float = 0.04  # refinement band half-width, fraction of the frame diagonal
    ring_frac: float = 0.07  # width of the "surroundings" ring of the colour model, same unit
    hidden_decay: float = 0.85  # per frame, for the amodal layer
    hidden_prior: float = 0.6  # how strongly a hidden pixel is expected to be object again
    min_part: float = 0.1  # components smaller than this fraction of the largest are dropped
    fuse: bool = True  # a span ending at another lock is also carried back from it (engines/keyframes.py)
    grid: app.GridSpec = field(default_factory=app.GridSpec)
    weights: app.FusionWeights = field(default_factory=app.FusionWeights)

    @classmethod
    def for_mode(cls, mode: str) -> ClassicalParams:
        if mode == "quality":
            return cls()
        if mode == "fast":
            return cls(refine=False, graphcut=False, amodal=False, redetect=False, use_motion=False,
                       warp="pull", snap_distrust=True, flow_preset="ultrafast", flow_short_side=None,
                       work_short_side=240)
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")


@dataclass
class _Frame:
    """One frame at the working resolution: what the next step needs from it."""

    index: int
    gray: np.ndarray
    lab: np.ndarray | None
    bgr: np.ndarray | None


@dataclass
class _ObjectState:
    object_id: int
    mask: np.ndarray  # HxW bool at the working resolution
    colour: app.ColourModel
    soft: np.ndarray | None = None  # "pull": HxW float32 P(object), the state that is carried
    motion: np.ndarray = field(default_factory=lambda: IDENTITY.copy())
    hidden: np.ndarray | None = None  # HxW float32 amodal layer, None when empty
    ref_area: float = 0.0  # area on the last user mask
    lost_frames: int = 0
    reference: redetect.Reference | None = None  # for re-detection, from the last user mask
    template: redetect.Template | None = None  # its shape when it last looked like itself
    centre: tuple[float, float] | None = None  # (y, x) last seen, or where it should be now
    steps: int = 0  # frames carried since the user's mask (confidence evidence)
    reliability_sum: float = 0.0
    colour_trend: tuple[float, float] | None = None  # confidence evidence averaged since the lock
    features: dict[str, float] = field(default_factory=dict)  # this frame's confidence evidence


class ClassicalTracker:
    """Tracker protocol implementation (engines/tracker.py) without learned weights."""

    def __init__(self, source: FrameSource, mode: str = "quality", params: ClassicalParams | None = None,
                 seed: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
        self.name = "classical" if mode == "quality" else "classical-fast"
        self.mode = mode
        self.params = params or ClassicalParams.for_mode(mode)
        self._source = source
        self._seed = seed
        self._lock = threading.Lock()
        self._conditioning: dict[int, dict[int, rle_ops.RLE]] = {}
        self._last: dict[int, tuple[int, rle_ops.RLE]] = {}  # object -> (frame, mask) of its latest output
        self._geometry: tuple[int, int, int, int] | None = None  # full h, w, work h, w
        self._grid: PixelGrid | None = None
        self._flow: DenseFlow | None = None
        self._coarse_flow: DenseFlow | None = None  # "pull": the forward flow for the consistency check
        self.retained_frames = 0  # frame states held right now (1 while propagating: the previous frame)

    # --- protocol ------------------------------------------------------------------------------
    def add_conditioning(self, frame: int, masks: dict[int, np.ndarray]) -> None:
        encoded = {int(oid): rle_ops.encode(np.asarray(m, dtype=bool)) for oid, m in masks.items()}
        with self._lock:
            self._conditioning.setdefault(int(frame), {}).update(encoded)

    def reset(self) -> None:
        with self._lock:
            self._conditioning.clear()
            self._last.clear()

    def conditioning_frames(self) -> list[int]:
        with self._lock:
            return sorted(self._conditioning)

    def propagate(self, start: int, direction: int, stops: dict[int, int]) -> Iterator[TrackUpdate]:
        if direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1, got {direction}")
        count = self._source.frame_count
        if not 0 <= start < count:
            raise ValueError(f"start frame {start} outside 0..{count - 1}")
        stops = dict(stops)
        with self._lock:
            far = keyframes.far_locks(self._conditioning, start, direction, stops) if self.params.fuse else {}
        if far:
            return keyframes.fused_run(self._run, start, direction, stops, far, self.mode)
        return self._run(start, direction, stops)

    # --- the run -----------------------------------------------------------------------------------
    def _run(self, start: int, direction: int, stops: dict[int, int]) -> Iterator[TrackUpdate]:
        count = self._source.frame_count
        stops = {oid: min(max(stop, 0), count - 1) for oid, stop in stops.items()
                 if (stop - start) * direction > 0}
        if not stops:
            return
        prev = self._load(start)
        rng = np.random.default_rng(self._seed)
        objects: dict[int, _ObjectState] = {}
        for oid in stops:
            mask = self._start_mask(oid, start)
            if mask is not None:
                objects[oid] = self._new_object(oid, mask, prev)
        last = max(((stop - start) * direction for oid, stop in stops.items() if oid in objects), default=0)
        self.retained_frames = 1
        try:
            for step in range(1, last + 1):
                t = start + direction * step
                active = [objects[oid] for oid in objects if (stops[oid] - t) * direction >= 0]
                if not active:
                    break
                cur = self._load(t)
                cv2.setRNGSeed(self._seed + t)  # GrabCut's k-means draws from OpenCV's RNG: be reproducible
                forward, backward = self._flows(prev, cur)
                anchors = self._conditioning_at(t)
                scores: dict[int, np.ndarray] = {}
                confidence: dict[int, float] = {}
                for obj in active:
                    if obj.object_id in anchors:
                        confidence[obj.object_id] = self._reanchor(obj, anchors[obj.object_id], cur)
                        scores[obj.object_id] = np.where(obj.mask, 20.0, -20.0).astype(np.float32)
                    else:
                        others = [o for o in active if o is not obj]
                        confidence[obj.object_id], scores[obj.object_id] = self._step(
                            obj, prev, cur, forward, backward, rng, others)
                _resolve_overlaps(active, scores)
                for obj in active:
                    full = self._output(obj)
                    self._last[obj.object_id] = (t, rle_ops.encode(full))
                    yield TrackUpdate(t, obj.object_id, full, float(np.clip(confidence[obj.object_id], 0, 1)),
                                      dict(obj.features))
                prev = cur
        finally:
            self.retained_frames = 0

    # --- per object ---------------------------------------------------------------------------------
    def _step(self, obj: _ObjectState, prev: _Frame, cur: _Frame, forward: np.ndarray,
              backward: np.ndarray, rng: np.random.Generator,
              others: list[_ObjectState]) -> tuple[float, np.ndarray]:
        p = self.params
        assert self._grid is not None
        if p.warp == "pull":
            return self._pull_step(obj, cur, forward, backward)
        before = int(obj.mask.sum())
        moved = move_mask(obj.mask, forward, backward, self._grid, p.fb_sigma, obj.motion, rng,
                          use_motion=p.use_motion)
        obj.motion = moved.motion
        prior = moved.prior
        if p.amodal and obj.hidden is not None:
            h, w = prior.shape
            moved_hidden = cv2.warpAffine(obj.hidden, obj.motion, (w, h), flags=cv2.INTER_LINEAR)
            obj.hidden = moved_hidden * p.hidden_decay
            prior = np.maximum(prior, obj.hidden * p.hidden_prior)
        if p.refine and (prior > 0.5).any():
            new, score = self._refine(obj, prev, cur, forward, prior)
        else:
            new = prior > 0.5
            if new.any():
                new = app.cleanup(new, new, p.min_part)
            score = app.logit(prior)
        if p.amodal:
            self._update_hidden(obj, new, prior, moved.occluded)
        agreement = 0.5  # mean P(object | colour) over the mask; 0.5 = uninformative
        if p.refine and new.any() and not obj.colour.empty:
            assert cur.lab is not None
            agreement = float(obj.colour.prob(cur.lab[new]).mean())
        obj.mask = new
        jumped = False
        if p.redetect and obj.reference is not None and obj.reference.distinctive:
            jumped = self._check_drift(obj, cur, agreement, others)
        after = int(obj.mask.sum())
        obj.steps += 1
        obj.reliability_sum += moved.reliability
        obj.features = self._evidence(obj, cur, prior > 0.5, moved.reliability, before, after, agreement)
        if after == 0:
            obj.lost_frames += 1
            obj.centre = _advance(obj.centre, obj.motion)
            return self._fixed(obj, 0.0), score
        obj.lost_frames = 0
        obj.centre = _centre(obj.mask)
        if jumped:
            return self._fixed(obj, 0.3), np.where(obj.mask, 5.0, -5.0).astype(np.float32)
        return self._estimate(obj), score

    def _pull_step(self, obj: _ObjectState, cur: _Frame, forward: np.ndarray,
                   backward: np.ndarray) -> tuple[float, np.ndarray]:
        """The fast mode's step (engines/pull_warp.py): no motion model, no re-detection."""
        p = self.params
        assert self._grid is not None and self._geometry is not None
        before = int(obj.mask.sum())
        if obj.soft is None:
            obj.soft = obj.mask.astype(np.float32)
        diagonal = math.hypot(self._geometry[2], self._geometry[3])
        pulled = pull_warp.step(obj.soft, backward, forward, self._grid, cur.lab, obj.colour,
                                band_px=max(1, round(p.snap_band_frac * diagonal)),
                                colour_weight=p.snap_weight,
                                fb_sigma=p.fb_sigma, min_part=p.min_part, distrust=p.snap_distrust)
        obj.soft = pulled.soft
        obj.mask = pulled.soft > 0.5
        after = int(obj.mask.sum())
        obj.steps += 1
        obj.reliability_sum += pulled.reliability
        obj.features = self._evidence(obj, cur, pulled.carried, pulled.reliability, before, after, 0.5)
        score = app.logit(pulled.soft)
        if after == 0:
            obj.lost_frames += 1
            return self._fixed(obj, 0.0), score
        obj.lost_frames = 0
        obj.centre = _centre(obj.mask)
        return self._estimate(obj), score

    def _estimate(self, obj: _ObjectState) -> float:
        """The frame's confidence; its evidence also keeps the estimate a fused span weighs this
        run by (``frame_estimate``: the colour read on this frame alone, see estimate_iou)."""
        obj.features["frame_estimate"] = conf.estimate_iou(obj.features, self.mode, trend=False)
        return conf.estimate_iou(obj.features, self.mode)

    @staticmethod
    def _fixed(obj: _ObjectState, confidence: float) -> float:
        """A confidence set outside the model (lost: 0, re-detected: 0.3), for fusion too."""
        obj.features["frame_estimate"] = confidence
        return confidence

    def _evidence(self, obj: _ObjectState, cur: _Frame, carried: np.ndarray, reliability: float,
                  before: int, after: int, agreement: float) -> dict[str, float]:
        """This frame's error evidence (engines/track_confidence.py says what each term is)."""
        colour = obj.colour if self.params.refine and not obj.colour.empty else None
        features = conf.evidence(cur.gray, cur.lab, obj.mask, carried, colour, max(3, self._ring_px() // 3),
                                 steps=obj.steps, reliability=reliability,
                                 reliability_mean=obj.reliability_sum / max(1, obj.steps),
                                 previous_area=before, reference_area=obj.ref_area, agreement=agreement)
        obj.colour_trend = conf.follow(obj.colour_trend, features)
        return features

    def _check_drift(self, obj: _ObjectState, cur: _Frame, agreement: float,
                     others: list[_ObjectState]) -> bool:
        """For an object whose colours stand out: if the mask no longer looks like it (or is gone),
        look for a clearly better match near where it should be and continue from there; if there
        is none and the mask looks like background, the object is lost (left, or fully hidden)."""
        assert cur.lab is not None and cur.bgr is not None and obj.reference is not None
        assert obj.template is not None
        scores = redetect.score_map(obj.colour, cur.lab, obj.template)
        here = redetect.score_at(scores, obj.mask) if obj.mask.any() else -np.inf
        if here >= obj.reference.threshold:
            if not _touches_border(obj.mask):  # a shape cut by the frame edge is no template
                obj.template = redetect.Template.of(obj.mask) or obj.template
            return False
        hint = _centre(obj.mask) if obj.mask.any() else _advance(obj.centre, obj.motion)
        # Never jump onto this mask or onto another tracked object (look-alike objects).
        taken = obj.mask.copy()
        for other in others:
            taken |= other.mask
        place = redetect.best_place(scores, obj.reference, hint, exclude=taken)
        if place is None or place[2] < here + 0.5:
            if obj.mask.any() and agreement < LOST_AGREEMENT:
                obj.mask = np.zeros_like(obj.mask)
                obj.hidden = None
            return False
        found = redetect.segment_at(obj.colour, cur.lab, cur.bgr, place[:2], obj.template)
        if found is None:
            return False
        obj.mask = found
        obj.hidden = None
        return True

    def _refine(self, obj: _ObjectState, prev: _Frame, cur: _Frame, forward: np.ndarray,
                prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        assert prev.lab is not None and cur.lab is not None and cur.bgr is not None
        h, w = prior.shape
        band = max(6, int(p.band_frac * math.hypot(h, w)))
        roi = app.roi_around(prior > 0.05, band + 8)
        assert roi is not None
        y0, y1, x0, x1 = roi
        prior_roi = prior[y0:y1, x0:x1]
        lab_roi = cur.lab[y0:y1, x0:x1]
        local_p = app.local_colour_prob(prev.lab, obj.mask, forward, lab_roi, prior_roi, roi, p.grid)
        global_p = obj.colour.prob(lab_roi) if not obj.colour.empty else np.full_like(prior_roi, 0.5)
        mask_roi, score_roi = app.band_refine(cur.bgr[y0:y1, x0:x1], prior_roi, local_p, global_p, band,
                                              p.weights, p.graphcut)
        if mask_roi.any():
            mask_roi = app.cleanup(np.ascontiguousarray(mask_roi), prior_roi > 0.5, p.min_part)
        new = np.zeros((h, w), bool)
        new[y0:y1, x0:x1] = mask_roi
        score = np.full((h, w), -20.0, np.float32)
        score[y0:y1, x0:x1] = score_roi
        return new, score

    def _update_hidden(self, obj: _ObjectState, new: np.ndarray, prior: np.ndarray,
                       occluded: np.ndarray) -> None:
        """Keep the expected-but-unseen part of the object: pixels the flow could not follow (or
        already hidden) that the refinement did not find visible."""
        evidence = occluded if obj.hidden is None else np.maximum(occluded, obj.hidden)
        hidden = np.where(new | (prior <= 0.5), 0.0, evidence).astype(np.float32)
        hidden[hidden < 0.2] = 0.0
        obj.hidden = hidden if hidden.any() else None

    def _reanchor(self, obj: _ObjectState, rle: rle_ops.RLE, cur: _Frame) -> float:
        """A user mask met during propagation: the object continues from it, and its colours are learnt."""
        obj.mask = self._to_work(rle_ops.decode(rle))
        obj.soft = None
        obj.hidden = None
        obj.motion = IDENTITY.copy()
        obj.lost_frames = 0
        self._learn(obj, cur)
        return 1.0

    def _learn(self, obj: _ObjectState, frame: _Frame) -> None:
        """A user mask on ``frame``: learn the object's colours and how it stands out."""
        if not obj.mask.any():
            return
        obj.ref_area = float(obj.mask.sum())
        obj.steps, obj.reliability_sum, obj.colour_trend = 0, 0.0, None
        obj.centre = _centre(obj.mask)
        if self.params.warp == "pull" and frame.lab is not None and self.params.snap_weight > 0:
            assert self._geometry is not None
            diagonal = math.hypot(self._geometry[2], self._geometry[3])
            ring = max(2, round(self.params.snap_ring_frac * diagonal))
            obj.colour.add(frame.lab, obj.mask, ring)
        if self.params.refine and frame.lab is not None:
            obj.colour.add(frame.lab, obj.mask, self._ring_px())
            if self.params.redetect:
                obj.template = redetect.Template.of(obj.mask)
                assert obj.template is not None
                obj.reference = redetect.make_reference(obj.colour, frame.lab, obj.mask, obj.template)

    def _new_object(self, oid: int, mask: np.ndarray, frame: _Frame) -> _ObjectState:
        obj = _ObjectState(oid, mask, app.ColourModel())
        self._learn(obj, frame)
        return obj

    # --- frames and sizes -------------------------------------------------------------------------
    def _load(self, index: int) -> _Frame:
        rgb = np.asarray(self._source.frame(index))
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        rgb = rgb[..., :3]
        h, w = rgb.shape[:2]
        if self._geometry is None or self._geometry[:2] != (h, w):
            scale = min(1.0, self.params.work_max_side / max(h, w))
            if self.params.work_short_side:
                scale = min(scale, self.params.work_short_side / min(h, w))
            wh, ww = max(16, round(h * scale)), max(16, round(w * scale))
            self._geometry = (h, w, wh, ww)
            self._grid = PixelGrid.of(wh, ww)
            self._flow = DenseFlow(self.params.flow_preset, self.params.flow_short_side)
            # One pyramid level coarser than the carrying flow: about 4x cheaper (DenseFlow.min_level).
            self._coarse_flow = DenseFlow(self.params.flow_preset, self.params.flow_short_side,
                                          min_level=self._flow.min_level // 2)
        _, _, wh, ww = self._geometry
        if (wh, ww) != (h, w):
            rgb = cv2.resize(rgb, (ww, wh), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self.params.refine:
            lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
            return _Frame(index, gray, lab, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if self.params.warp == "pull" and self.params.snap_weight > 0:
            return _Frame(index, gray, cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), None)
        return _Frame(index, gray, None, None)

    def _flows(self, prev: _Frame, cur: _Frame) -> tuple[np.ndarray, np.ndarray]:
        """(forward, backward) flow between two frames; "pull" carries masks on the backward flow
        and needs the forward one only for the consistency check, so it gets a coarser one."""
        assert self._flow is not None and self._coarse_flow is not None
        if self.params.warp == "pull":
            return self._coarse_flow.calc(prev.gray, cur.gray), self._flow.calc(cur.gray, prev.gray)
        return self._flow.pair(prev.gray, cur.gray)

    def _output(self, obj: _ObjectState) -> np.ndarray:
        """The object's mask at full size; a soft mask is upsampled before it is thresholded."""
        if obj.soft is None or self.params.warp != "pull":
            return self._to_full(obj.mask)
        # Overlap resolution may have changed the hard mask: the soft one follows it.
        obj.soft = np.where(obj.mask == (obj.soft > 0.5), obj.soft,
                            np.where(obj.mask, 0.51, 0.49)).astype(np.float32)
        assert self._geometry is not None
        h, w, wh, ww = self._geometry
        if (wh, ww) == (h, w):
            return obj.mask.copy()
        return cv2.resize(obj.soft, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5

    def _to_work(self, mask: np.ndarray) -> np.ndarray:
        assert self._geometry is not None
        h, w, wh, ww = self._geometry
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (h, w):
            raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but frames are {w}x{h}")
        if (wh, ww) == (h, w):
            return mask.copy()
        return cv2.resize(mask.astype(np.float32), (ww, wh), interpolation=cv2.INTER_AREA) >= 0.5

    def _to_full(self, mask: np.ndarray) -> np.ndarray:
        assert self._geometry is not None
        h, w, wh, ww = self._geometry
        if (wh, ww) == (h, w):
            return mask.copy()
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)
        return cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5

    def _ring_px(self) -> int:
        assert self._geometry is not None
        return max(8, int(self.params.ring_frac * math.hypot(self._geometry[2], self._geometry[3])))

    def _start_mask(self, oid: int, start: int) -> np.ndarray | None:
        with self._lock:
            rle = self._conditioning.get(start, {}).get(oid)
            if rle is None and oid in self._last and self._last[oid][0] == start:
                rle = self._last[oid][1]
        return None if rle is None else self._to_work(rle_ops.decode(rle))

    def _conditioning_at(self, frame: int) -> dict[int, rle_ops.RLE]:
        with self._lock:
            return dict(self._conditioning.get(frame, {}))


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _centre(mask: np.ndarray) -> tuple[float, float] | None:
    roi = app.roi_around(mask, 0)
    return None if roi is None else ((roi[0] + roi[1]) / 2.0, (roi[2] + roi[3]) / 2.0)


def _advance(point: tuple[float, float] | None, motion: np.ndarray) -> tuple[float, float] | None:
    if point is None:
        return None
    y, x = point
    return (motion[1, 0] * x + motion[1, 1] * y + motion[1, 2],
            motion[0, 0] * x + motion[0, 1] * y + motion[0, 2])


def _resolve_overlaps(objects: list[_ObjectState], scores: dict[int, np.ndarray]) -> None:
    """Masks of different objects must not overlap: a contested pixel goes to the surest object."""
    if len(objects) < 2:
        return
    claimed = np.zeros(objects[0].mask.shape, np.int32)
    for obj in objects:
        claimed += obj.mask
    contested = claimed > 1
    if not contested.any():
        return
    best = np.full(int(contested.sum()), -np.inf, np.float32)
    owner = np.full(best.shape, -1, np.int64)
    for k, obj in enumerate(objects):
        s = np.where(obj.mask[contested], scores[obj.object_id][contested], -np.inf)
        better = s > best
        best[better] = s[better]
        owner[better] = k
    for k, obj in enumerate(objects):
        obj.mask[contested] = owner == k
