"""Bounded memory for transformers' SAM 2 / EdgeTAM video inference sessions.

The session (``Sam2VideoInferenceSession``; EdgeTAM uses the same class through
``Sam2VideoProcessor``) keeps everything it is given and everything it computes, forever:
every streamed frame in ``processed_frames``, and per object and frame an output dict with
the 1024x1024 high-resolution logits in it. On a long video that grows without limit. These
helpers keep exactly what the model reads back (the findings are written down in
``annotator/engines/sam2_video.py``'s docstring) and drop the rest:

- every conditioning (user) output stays, minus the high-resolution logits and the mask input
  that are only needed while that frame is computed;
- tracked (non-conditioning) outputs stay only within ``memory_window(config)`` frames behind
  the current frame, in the direction of travel, and only their memory and object pointer;
- all stored memories share one copy of the memory positional encoding (it depends only on
  the feature-map shape, so it is the same tensor value for every frame);
- ``processed_frames`` and the vision-feature cache hold at most the frame being computed.

torch is imported lazily: importing this module is free.
"""

from __future__ import annotations

from typing import Any

COND = "cond_frame_outputs"
NON_COND = "non_cond_frame_outputs"
# Only needed while the frame itself is computed (the memory encoder reads it in the same call).
_TRANSIENT_KEYS = ("high_res_masks",)
# A tracked output's masks are never read back (``forward`` reuses the masks of conditioning
# outputs only); its memory and object pointer are.
_TRACKED_TRANSIENT_KEYS = (*_TRANSIENT_KEYS, "pred_masks")


def memory_window(config: Any) -> int:
    """How many tracked frames behind the current one the model can read back.

    Mask memories come from ``num_maskmem - 1`` earlier frames (times the temporal stride;
    transformers 5.x only has stride 1, a config attribute for it is honoured if a later
    version adds one) and object pointers from ``max_object_pointers_in_encoder - 1`` earlier
    frames. The window is the larger of the two: 15 frames for SAM 2.1 and EdgeTAM.
    """
    stride = int(getattr(config, "memory_temporal_stride_for_eval", 1) or 1)
    mask_reach = (int(config.num_maskmem) - 1) * stride
    pointer_reach = int(config.max_object_pointers_in_encoder) - 1
    return max(mask_reach, pointer_reach, 1)


def begin_run(session: Any) -> None:
    """Forget the tracked outputs of earlier runs: a run reads only conditioning frames and its own
    frames, so its result does not depend on what was propagated before (or on pruning)."""
    for obj_idx in list(session.output_dict_per_obj):
        session.output_dict_per_obj[obj_idx][NON_COND].clear()
        session.frames_tracked_per_obj[obj_idx].clear()
    drop_frame_pixels(session)


def drop_frame_pixels(session: Any) -> None:
    """Release the streamed frame tensors and cached vision features (the features are recomputed
    or re-inserted for the next frame anyway)."""
    if session.processed_frames:
        session.processed_frames.clear()
    session.cache.clear_all()


def forget_tracked_frame(session: Any, obj_idx: int, frame: int) -> None:
    """Before a correction on ``frame``: drop what tracking left there, so the correction is
    computed and stored as a conditioning frame (transformers decides "conditioning" by
    ``frame not in frames_tracked_per_obj``; a stale tracked output would also be read back as
    a second, outdated memory of the same frame)."""
    session.frames_tracked_per_obj[obj_idx].pop(frame, None)
    session.output_dict_per_obj[obj_idx][NON_COND].pop(frame, None)


def slim_conditioning(session: Any, obj_idx: int, frame: int, shared: dict[tuple, Any]) -> None:
    """After a conditioning frame is computed: keep its memory, drop what is never read again.

    The mask input has become the stored output (SAM 2 uses a mask input as the output), and
    the positional encoding of the memory is the same tensor for every frame of a given shape,
    so all outputs point at one copy (``shared``).
    """
    session.mask_inputs_per_obj[obj_idx].pop(frame, None)
    session.point_inputs_per_obj[obj_idx].pop(frame, None)
    out = session.output_dict_per_obj[obj_idx][COND].get(frame)
    if out is not None:
        _slim_output(out, shared, _TRANSIENT_KEYS)


def prune(session: Any, frame: int, direction: int, window: int, shared: dict[tuple, Any]) -> None:
    """After ``frame`` is tracked (moving in ``direction``): keep the ``window`` most recent
    tracked outputs, drop the rest, and release the frame's pixels."""
    for obj_idx, outputs in session.output_dict_per_obj.items():
        tracked = outputs[NON_COND]
        for f in list(tracked):
            behind = (frame - f) * direction
            if behind >= window or behind < 0:
                del tracked[f]
        if frame in tracked:  # the older ones were slimmed when they were new
            _slim_output(tracked[frame], shared, _TRACKED_TRANSIENT_KEYS)
        seen = session.frames_tracked_per_obj[obj_idx]
        for f in list(seen):
            behind = (frame - f) * direction
            if behind >= window or behind < 0:
                del seen[f]
    drop_frame_pixels(session)


def retained_counts(sessions: list[Any]) -> dict[str, int]:
    """What the sessions hold now: outputs per kind, frames tracked, frame tensors, mask inputs."""
    counts = {"conditioning_outputs": 0, "tracked_outputs": 0, "tracked_flags": 0,
              "processed_frames": 0, "mask_inputs": 0, "cached_features": 0}
    for s in sessions:
        for outputs in s.output_dict_per_obj.values():
            counts["conditioning_outputs"] += len(outputs[COND])
            counts["tracked_outputs"] += len(outputs[NON_COND])
        counts["tracked_flags"] += sum(len(v) for v in s.frames_tracked_per_obj.values())
        counts["mask_inputs"] += sum(len(v) for v in s.mask_inputs_per_obj.values())
        counts["processed_frames"] += len(s.processed_frames or {})
        counts["cached_features"] += len(getattr(s.cache, "_vision_features", ()))
    return counts


def _slim_output(out: dict, shared: dict[tuple, Any], drop: tuple[str, ...]) -> None:
    import torch

    for key in drop:
        out.pop(key, None)
    pos = out.get("maskmem_pos_enc")
    if isinstance(pos, torch.Tensor):
        key = (tuple(pos.shape), pos.dtype, str(pos.device))
        known = shared.get(key)
        if known is None:
            shared[key] = pos
        elif known is not pos and torch.equal(known, pos):
            out["maskmem_pos_enc"] = known
