"""Fused keyframes for trackers that carry one mask at a time (the classical tracker).

A span between two locks of an object used to get whichever run reached it last, so a
correction on one side could overwrite good frames carried from the other. Here, when a run
ends just before another lock of the object (its "far lock"), that lock is first carried back
toward the run's start, and each frame in between gets the fusion of the two runs.

How two runs are fused, and why per frame rather than per pixel: the classical tracker hands
out hard masks, so a weighted blend of the two thresholded at 0.5 is the same as taking the
heavier run wherever they disagree; there is no soft evidence to blend. Each frame therefore
takes the mask of the run with the larger weight

    weight = (the run's own estimate of its IoU) x (the other lock's distance / the span),

so near a lock its own run wins unless it is clearly failing, and in the middle the surer run
wins. The estimate is read on the frame's own colour evidence, not on the trends that steady
the displayed confidence: those lag behind a run that has just gone wrong. How much the two
runs disagree (their IoU) is kept as error evidence: two runs from different locks that land
on the same mask are rarely both wrong, and when they part ways at least one is
(engines/track_confidence.py turns both into the frame's confidence).

Cost: the far lock's run is computed before the first frame of the main run is yielded (it
has to start from the other end), so the span is tracked twice and the first result comes
after the backward pass. Spans are the gaps between corrections, usually short; the pass
calls engines/run_control.checkpoint() per frame, so cancelling the job stops it there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

from annotator.core import masks as rle_ops
from annotator.engines import track_confidence as conf
from annotator.engines.run_control import checkpoint
from annotator.engines.tracker import TrackUpdate

RunFn = Callable[[int, int, dict[int, int]], Iterator[TrackUpdate]]  # (start, direction, stops)


def far_locks(conditioning: Mapping[int, Mapping[int, rle_ops.RLE]], start: int, direction: int,
              stops: Mapping[int, int]) -> dict[int, int]:
    """object -> the frame just past its stop, where a non-empty user mask waits for it."""
    out = {}
    for oid, stop in stops.items():
        frame = stop + direction
        rle = conditioning.get(frame, {}).get(oid)
        if rle is not None and not rle_ops.is_empty(rle) and (stop - start) * direction > 0:
            out[oid] = frame
    return out


def fused_run(run: RunFn, start: int, direction: int, stops: dict[int, int],
              far: Mapping[int, int], mode: str = "quality") -> Iterator[TrackUpdate]:
    """The run from ``start``, each object's frames fused with the run back from its far lock."""
    back: dict[tuple[int, int], TrackUpdate] = {}
    by_frame: dict[int, dict[int, int]] = {}
    for oid, frame in far.items():
        by_frame.setdefault(frame, {})[oid] = start + direction
    for frame, back_stops in sorted(by_frame.items()):
        for update in run(frame, -direction, back_stops):
            checkpoint()  # nothing is yielded during this pass: the caller's cancel reaches it here
            # Kept as RLE: a long span must not hold full-resolution masks.
            back[(update.frame, update.object_id)] = TrackUpdate(
                update.frame, update.object_id, rle_ops.encode(update.mask), update.confidence,
                update.features)
    for update in run(start, direction, stops):
        other = back.pop((update.frame, update.object_id), None)
        if other is None:
            yield update
            continue
        yield fuse(update, other, abs(update.frame - start), abs(far[update.object_id] - update.frame), mode)


def fuse(near: TrackUpdate, far: TrackUpdate, near_distance: int, far_distance: int,
         mode: str = "quality") -> TrackUpdate:
    """One frame from two runs: ``near`` came from the run's start, ``far`` (mask as RLE) from the
    far lock; distances are in frames from each run's lock."""
    far_mask = rle_ops.decode(far.mask) if isinstance(far.mask, dict) else np.asarray(far.mask, bool)
    span = max(1, near_distance + far_distance)
    w_near = _trust(near) * far_distance / span
    w_far = _trust(far) * near_distance / span
    agreement = conf.mask_iou(near.mask, far_mask)
    chosen, other = (near, far) if w_near >= w_far else (far, near)
    mask = near.mask if chosen is near else far_mask
    features = dict(chosen.features or {})
    features.update(agreement=agreement, chosen_confidence=chosen.confidence,
                    other_confidence=other.confidence)
    confidence = conf.fused_estimate(chosen.confidence, other.confidence, agreement, mode)
    return TrackUpdate(near.frame, near.object_id, mask, confidence, features)


def _trust(update: TrackUpdate) -> float:
    """What a run's frame is weighed by: its estimate on this frame's own evidence when the
    tracker gives one (track_confidence.estimate_iou with trend=False), else its confidence."""
    return float((update.features or {}).get("frame_estimate", update.confidence))
