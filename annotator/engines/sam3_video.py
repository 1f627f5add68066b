"""SAM 3 text tracking through transformers' ``Sam3VideoModel``: frames streamed one at a time,
bounded memory, duplicate tracks merged, new instances reported as new objects.

The stock streaming loop (transformers' docs and tests) is followed exactly::

    session = processor.init_video_session(inference_device=..., processing_device="cpu", ...)
    processor.add_text_prompt(session, phrases)
    for frame in frames:
        inputs = processor(images=frame, device=..., return_tensors="pt")
        out = model(inference_session=session, frame=inputs.pixel_values[0])
        result = processor.postprocess_outputs(session, out, original_sizes=inputs.original_sizes)

What the stock session keeps forever, and what this module keeps instead (read from
transformers 5.25 ``modeling_sam3_video.py`` / ``modeling_sam3_tracker_video.py``):

- ``processed_frames``: every streamed frame (about 12 MB each at 1008 px). Only the current
  frame is read (``get_frame``), but the tracker reads ``len(processed_frames)`` as the number
  of frames for its object-pointer window (``min(num_frames, 16)`` pointers, positions scaled by
  it). ``StreamedFrames`` keeps the newest frame only and still counts every frame streamed, so
  the results do not change.
- tracked outputs per object (``non_cond_frame_outputs``, ``frames_tracked_per_obj``): the
  tracker reads ``num_maskmem - 1`` mask memories and ``max_object_pointers_in_encoder - 1``
  pointers back; outputs further back than ``sam2_memory.memory_window`` are dropped.
- conditioning outputs: the first mask of every instance, and every 16th frame a re-conditioned
  tracked frame (``recondition_every_nth_frame``). Mask memories read the
  ``max_cond_frame_num`` (4) closest, which in a forward stream are the newest four; object
  pointers read all of them. Only the newest ``max_cond_frame_num`` are kept, so after a track's
  fifth re-conditioning its object pointers differ from the unbounded stock session (a
  deliberate departure: otherwise memory grows by one frame's memory every 16 frames).
- per-frame metadata (``obj_id_to_tracker_score_frame_wise``, ``suppressed_obj_ids``): only the
  current frame is read, yet the whole dict is deep-copied every frame (quadratic time). Older
  frames are dropped. ``unmatched_frame_inds`` / ``overlap_pair_to_frame_inds`` only feed the
  hot-start removal, which streaming switches off; they are cut to their thresholds.
- the high-resolution logits of stored outputs (read only while their frame is computed).

Streaming switches off SAM 3's hot-start filters (they need future frames), so duplicate and
spurious tracks are more common than in the pre-loaded mode. ``merge_iou``: two tracks of one
phrase whose masks overlap at IoU >= merge_iou on a frame are one track from then on (the
younger is folded into the older; its later masks fill the older's gaps). Spurious tracks are
the caller's to filter by score.

Memory of one frame: transformers' ``mask_iou`` (detector NMS, detection-to-track matching)
broadcasts (N, 1, H*W) against (1, M, H*W): about 9 bytes per N*M*H*W element (the bool and
its int64 sum; measured 551 MB for N = M = 50 at 160x160). The random bench detector passes all
200 queries, so at 560 px (160x160 masks) that is ~9 GB, at 1008 px (288x288) ~30 GB, on top of
the 3.4 GB of weights: the video bench was OOM-killed there. ``install_mask_iou``
swaps in ``blocked_mask_iou``: the same IoUs as one float32 matrix product (exact: the counts
stay far below 2**24), N*H*W*4 bytes. It is installed when this module loads a tracker.

tests/test_sam3.py compares this path with the stock streaming loop frame by frame and checks
that what the session holds stays flat from 50 to 500 frames.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.engines.sam2_memory import COND, NON_COND, memory_window
from annotator.engines.sam3 import SAM3, mask_iou, parse_phrases
from annotator.engines.tracker import FrameSource
from annotator.errors import FrameIndexError


@dataclass
class TrackedInstance:
    track_id: int  # stable for the run (1, 2, ...), after duplicates are merged
    phrase: str
    mask: np.ndarray  # HxW bool, full resolution
    score: float  # the detection score of the track (0..1)
    new: bool  # True on the first frame the track is reported


class StreamedFrames(dict):
    """``processed_frames`` that holds only the newest frame but counts every frame streamed.

    ``len()`` is what the session reports as its number of frames, and the tracker sizes its
    object-pointer window by it; the frames themselves are never read back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __setitem__(self, key: int, value: Any) -> None:
        super().clear()
        super().__setitem__(key, value)
        self.count = max(self.count, int(key) + 1)

    def __len__(self) -> int:
        return self.count


class Sam3TextTracker:
    """Every instance of some phrases, tracked through a streamed video (see the module docstring).

    ``prune=False`` keeps everything the stock session keeps (tests, benchmarks);
    ``merge_iou=None`` reports the model's tracks as they are.
    """

    def __init__(self, source: FrameSource, model: Any, processor: Any, name: str = SAM3,
                 device: str | None = None, *, prune: bool = True, merge_iou: float | None = 0.5) -> None:
        self.source = source
        self.name = name
        self.device = device or "cpu"
        self.model = model.to(self.device).eval()
        self.processor = processor
        install_mask_iou()
        self.prune = prune
        self.merge_iou = merge_iou
        tracker_config = model.config.tracker_config
        self.window = memory_window(tracker_config)
        self.max_cond = max(int(tracker_config.max_cond_frame_num), 1)
        self._session: Any = None
        self._lock = threading.Lock()

    # --- the run ------------------------------------------------------------------------------
    def track(self, phrases: str | Sequence[str], start: int = 0,
              stop: int | None = None) -> Iterator[tuple[int, list[TrackedInstance]]]:
        """(frame, instances on it) for ``start..stop`` (inclusive; default: to the end).

        Closing the generator ends the run. Each run starts a fresh session.
        """
        phrases = parse_phrases(phrases)
        last = self.source.frame_count - 1
        stop = last if stop is None else min(int(stop), last)
        if not 0 <= start <= max(stop, 0) or self.source.frame_count == 0:
            raise FrameIndexError(f"frames {start}..{stop} are outside 0..{last}")
        return self._run(phrases, int(start), int(stop))

    def raw(self, phrases: str | Sequence[str], start: int = 0, stop: int | None = None) -> Iterator[dict]:
        """The processor's own per-frame results (object_ids, scores, masks, prompt_to_obj_ids):
        what parity tests compare with the stock loop."""
        phrases = parse_phrases(phrases)
        stop = self.source.frame_count - 1 if stop is None else int(stop)
        for _frame, result, _low_res in self._stream(phrases, int(start), stop):
            yield result

    def retained_counts(self) -> dict[str, int]:
        """What the session holds now (the memory bound tests and benchmarks check)."""
        s = self._session
        if s is None:
            return {}
        outputs = s.output_dict_per_obj.values()
        return {
            "objects": len(s.obj_ids),
            "processed_frames": len(dict.keys(s.processed_frames or {})),
            "conditioning_outputs": sum(len(o[COND]) for o in outputs),
            "tracked_outputs": sum(len(o[NON_COND]) for o in outputs),
            "tracked_flags": sum(len(v) for v in s.frames_tracked_per_obj.values()),
            "mask_inputs": sum(len(v) for v in s.mask_inputs_per_obj.values()),
            "score_frames": len(s.obj_id_to_tracker_score_frame_wise),
            "suppressed_frames": len(s.suppressed_obj_ids),
            "unmatched_entries": sum(len(v) for v in s.unmatched_frame_inds.values()),
            "overlap_entries": sum(len(v) for v in s.overlap_pair_to_frame_inds.values()),
            "cached_features": len(s.cache._vision_features),
        }

    def _run(self, phrases: list[str], start: int, stop: int) -> Iterator[tuple[int, list[TrackedInstance]]]:
        alias: dict[int, int] = {}  # SAM 3 object id -> our track id
        birth: dict[int, int] = {}  # track id -> the order it was created (older wins a merge)
        reported: set[int] = set()
        with contextlib.closing(self._stream(phrases, start, stop)) as frames:
            for frame, result, low_res in frames:
                by_track = self._assign(result, low_res, alias, birth)
                instances = []
                for track_id, (phrase, mask, score) in sorted(by_track.items()):
                    instances.append(TrackedInstance(track_id, phrase, mask, score, track_id not in reported))
                    reported.add(track_id)
                yield frame, instances

    def _assign(self, result: dict, low_res: dict[int, Any], alias: dict[int, int],
                birth: dict[int, int]) -> dict[int, tuple]:
        """Map this frame's SAM 3 objects to tracks, folding duplicates of one phrase together.

        Duplicates are judged on the model's own low-resolution masks: the processor's
        non-overlap step has already cut overlapping masks of one phrase apart.
        """
        prompt_of = {oid: text for text, oids in result["prompt_to_obj_ids"].items() for oid in oids}
        ids = [int(oid) for oid in result["object_ids"].tolist()]
        masks = result["masks"].cpu().numpy().astype(bool)
        scores = result["scores"].float().cpu().numpy()
        for oid in ids:
            birth.setdefault(alias.setdefault(oid, len(birth) + 1), len(birth))
        if self.merge_iou is not None:
            coarse = {oid: (low_res[oid][0] > 0).cpu().numpy() for oid in ids if oid in low_res}
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    ta, tb = alias[a], alias[b]
                    if (ta != tb and prompt_of[a] == prompt_of[b] and a in coarse and b in coarse
                            and mask_iou(coarse[a], coarse[b]) >= self.merge_iou):
                        keep, fold = sorted((ta, tb), key=lambda t: birth[t])
                        for sam_id, t in alias.items():
                            if t == fold:
                                alias[sam_id] = keep
        current: dict[int, tuple[str, np.ndarray, float]] = {}
        for oid, mask, score in zip(ids, masks, scores, strict=True):
            track = alias[oid]
            if track in current:  # a folded duplicate: one mask for the track
                _phrase, other, other_score = current[track]
                mask, score = np.logical_or(mask, other), max(float(score), other_score)
            current[track] = (prompt_of[oid], mask, float(score))
        # Masks the processor's non-overlap step emptied have nothing to report.
        return {t: v for t, v in current.items() if v[1].any()}

    def _stream(self, phrases: list[str], start: int, stop: int) -> Iterator[tuple[int, dict, dict]]:
        """(frame, the processor's result, {SAM 3 id: low-res mask logits}) per frame."""
        import torch

        with self._lock:
            session = self.processor.init_video_session(inference_device=self.device, processing_device="cpu",
                                                        video_storage_device="cpu",
                                                        inference_state_device=self.device)
            if self.prune:
                session.processed_frames = StreamedFrames()
            self.processor.add_text_prompt(inference_session=session, text=phrases)
            self._session = session
        for frame in range(start, stop + 1):
            rgb = self.source.frame(frame)
            if not rgb.flags.writeable:
                rgb = rgb.copy()  # decoded frames are read-only; torch warns on those
            with torch.inference_mode(), self._autocast():
                inputs = self.processor(images=rgb, device=self.device, return_tensors="pt")
                out = self.model(inference_session=session, frame=inputs.pixel_values[0].to(self.device),
                                 reverse=False)
                result = self.processor.postprocess_outputs(session, out,
                                                            original_sizes=inputs.original_sizes)
                if self.prune:
                    prune_session(session, out.frame_idx, self.window, self.max_cond,
                                  self.model.config)
            yield frame, result, out.obj_id_to_mask  # outside every torch context

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        from annotator.engines.device import autocast

        return autocast(self.device)


def prune_session(session: Any, frame: int, window: int, max_cond: int, config: Any) -> None:
    """After ``frame`` is done: drop what no later frame reads (see the module docstring)."""
    for obj_idx, outputs in session.output_dict_per_obj.items():
        tracked = outputs[NON_COND]
        for f in [f for f in tracked if frame - f >= window]:
            del tracked[f]
        cond = outputs[COND]
        for f in sorted(cond)[:-max_cond]:
            del cond[f]
        for out in (*tracked.values(), *cond.values()):
            out.pop("high_res_masks", None)
        seen = session.frames_tracked_per_obj.get(obj_idx, {})
        for f in [f for f in seen if frame - f >= window]:
            del seen[f]
        for inputs in (session.mask_inputs_per_obj.get(obj_idx, {}),
                       session.point_inputs_per_obj.get(obj_idx, {})):
            for f in [f for f in inputs if f < frame]:
                del inputs[f]
    for per_frame in (session.obj_id_to_tracker_score_frame_wise, session.suppressed_obj_ids):
        for f in [f for f in per_frame if f != frame]:
            del per_frame[f]
    for lists, keep in ((session.unmatched_frame_inds, int(config.hotstart_unmatch_thresh)),
                        (session.overlap_pair_to_frame_inds, int(config.hotstart_dup_thresh))):
        for values in lists.values():
            del values[:-max(keep, 1)]
    session.cache.clear_all()


# --- transformers' mask IoU, without the N*M*H*W temporaries ---------------------------------------
def blocked_mask_iou(pred_masks: Any, gt_masks: Any) -> Any:
    """(N, M) IoUs of (N, H, W) and (M, H, W) bool masks, as transformers' ``mask_iou`` gives
    them, through one float32 product (no N*M*H*W tensor; autocast off so counts stay exact)."""
    import torch

    with torch.autocast(pred_masks.device.type, enabled=False):
        a = pred_masks.reshape(pred_masks.shape[0], -1).float()
        b = gt_masks.reshape(gt_masks.shape[0], -1).float()
        intersection = a @ b.T
        union = a.sum(dim=1)[:, None] + b.sum(dim=1)[None, :] - intersection
        return intersection / union.clamp(min=1)


def install_mask_iou() -> None:
    """Use ``blocked_mask_iou`` inside transformers' SAM 3 video model (see the module docstring)."""
    from transformers.models.sam3_video import modeling_sam3_video

    modeling_sam3_video.mask_iou = blocked_mask_iou


# --- loading -------------------------------------------------------------------------------------
def load_sam3_text_tracker(source: FrameSource, weights: str | Path | None = None, device: str | None = None,
                           image_size: int | None = None, **options: Any) -> Sam3TextTracker:
    """The text tracker over ``source`` from the installed ``sam3`` snapshot (or ``weights``)."""
    from transformers import Sam3VideoModel, Sam3VideoProcessor

    from annotator.engines.device import pick_device
    from annotator.engines.sam3 import load_sam3_parts

    model, processor = load_sam3_parts(Sam3VideoModel, Sam3VideoProcessor, weights, image_size)
    return Sam3TextTracker(source, model, processor, SAM3, pick_device(device), **options)
