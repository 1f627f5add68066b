"""Helpers for bench/cpu_models.py: real-size random models, per-stage timers, the stock loop.

Stages are timed with forward hooks on the model's own sub-modules, so the same timer reads
stock transformers and our fast path: image encoder (``vision_encoder``, or our encoder
runtime), memory attention, mask decoder (prompt encoder + mask decoder), memory encoder
(memory encoder + EdgeTAM's perceiver). Pre- and post-processing are timed around the
processor calls. Hooks nest: an inner module's time is not counted twice.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np

STAGES = ("preprocess", "image_encoder", "memory_attention", "mask_decoder", "memory_encoder",
          "postprocess")
_MODULE_STAGES = {
    "vision_encoder": "image_encoder",
    "memory_attention": "memory_attention",
    "prompt_encoder": "mask_decoder",
    "mask_decoder": "mask_decoder",
    "memory_encoder": "memory_encoder",
    "spatial_perceiver": "memory_encoder",
}


def build_video_model(kind: str, image_size: int = 1024, seed: int = 0) -> Any:
    """Real-size random ``EdgeTamVideoModel`` (RepViT-M1) or ``Sam2VideoModel`` (Hiera-T)."""
    import torch
    from transformers import EdgeTamVideoModel, Sam2VideoModel

    from annotator.engines.model_configs import backbone_name, edgetam_video_config, sam21_tiny_video_config

    torch.manual_seed(seed)
    if kind == "edgetam":
        model = EdgeTamVideoModel(edgetam_video_config(image_size)).eval()
        expected = "repvit_m1"
    else:
        model = Sam2VideoModel(sam21_tiny_video_config(image_size)).eval()
        expected = "hiera"
    found = backbone_name(model)
    if found != expected:  # a figure for the wrong backbone is a figure for another model
        raise SystemExit(f"{kind}: the random model's backbone is {found}, not {expected}")
    with torch.no_grad():  # random heads report the object as present (as in tests/tiny_sam2_video.py)
        model.mask_decoder.pred_obj_score_head.proj_out.bias += 2.0
    return model


class StageTimer:
    """Milliseconds per stage, per frame, from forward hooks plus explicit ``stage`` blocks."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.frames: list[dict[str, float]] = []
        self._stack: list[tuple[str, float]] = []
        self._handles: list[Any] = []

    def attach(self, model: Any) -> StageTimer:
        for name, stage in _MODULE_STAGES.items():
            module = getattr(model, name, None)
            if module is not None:
                self._handles.append(module.register_forward_pre_hook(self._pre(stage)))
                self._handles.append(module.register_forward_hook(self._post(stage)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre(self, stage: str) -> Any:
        def hook(_module: Any, _args: Any) -> None:
            self.start(stage)
        return hook

    def _post(self, stage: str) -> Any:
        def hook(_module: Any, _args: Any, _out: Any) -> None:
            self.stop(stage)
        return hook

    def start(self, stage: str) -> None:
        self._stack.append((stage, time.perf_counter()))

    def stop(self, stage: str) -> None:
        name, began = self._stack.pop()
        elapsed = (time.perf_counter() - began) * 1000.0
        if not self._stack:  # only the outermost timed stage counts
            self.current[name] += elapsed

    def end_frame(self, total_ms: float) -> None:
        row = {stage: self.current.get(stage, 0.0) for stage in STAGES}
        row["other"] = max(total_ms - sum(row.values()), 0.0)
        row["total"] = total_ms
        self.frames.append(row)
        self.current = defaultdict(float)

    def mean(self, first: int = 0) -> dict[str, float]:
        rows = self.frames[first:] or self.frames
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


class Timed:
    """``with Timed(timer, "preprocess"):`` for the stages that are not modules."""

    def __init__(self, timer: StageTimer | None, stage: str) -> None:
        self.timer, self.stage = timer, stage

    def __enter__(self) -> None:
        if self.timer is not None:
            self.timer.start(self.stage)

    def __exit__(self, *exc: Any) -> None:
        if self.timer is not None:
            self.timer.stop(self.stage)


def stock_stream(model: Any, processor: Any, frames: list[np.ndarray], mask: np.ndarray,
                 timer: StageTimer | None = None) -> Iterator[tuple[int, Any, float]]:
    """transformers' documented streaming loop (notes/verified-snippets.md): per frame the
    processor, ``model(inference_session=..., frame=...)`` and ``post_process_masks``. Frame 0
    gets the mask. Yields (frame, low-res logits (1, 1, h, w), object score) for every frame."""
    import torch

    session = processor.init_video_session(inference_device="cpu", dtype=torch.float32)
    for index, rgb in enumerate(frames):
        began = time.perf_counter()
        with torch.inference_mode():
            with Timed(timer, "preprocess"):
                inputs = processor(images=rgb, device="cpu", return_tensors="pt")
            if index == 0:
                processor.add_inputs_to_inference_session(
                    inference_session=session, frame_idx=0, obj_ids=1, input_masks=mask)
            out = model(inference_session=session, frame=inputs.pixel_values[0])
            with Timed(timer, "postprocess"):
                processor.post_process_masks([out.pred_masks], original_sizes=inputs.original_sizes,
                                             binarize=True)
        if timer is not None:
            timer.end_frame((time.perf_counter() - began) * 1000.0)
        yield index, out.pred_masks[:1].float().clone(), float(out.object_score_logits.flatten()[0])


def rendered_frames(count: int, width: int, height: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` synthetic frames (moving textured shapes) and the first object's mask on frame 0."""
    from annotator.sim.synthetic import render_scene

    pairs = list(render_scene(num_frames=count, width=width, height=height, seed=0))
    return [np.ascontiguousarray(f) for f, _ in pairs], pairs[0][1][1]


def parity(ours: list[Any], stock: list[Any]) -> dict[str, float]:
    """max |Δ| / max |logit| and the worst IoU of the binarised low-res masks over paired frames,
    plus the smallest mask (pixels) on either side (empty masks make parity vacuous)."""
    worst_rel, worst_iou, smallest = 0.0, 1.0, None
    for a, b in zip(ours, stock):
        a, b = a.float(), b.float()
        scale = float(b.abs().max()) or 1.0
        worst_rel = max(worst_rel, float((a - b).abs().max()) / scale)
        ma, mb = a > 0, b > 0
        union = int((ma | mb).sum())
        iou = int((ma & mb).sum()) / union if union else 1.0
        worst_iou = min(worst_iou, iou)
        size = min(int(ma.sum()), int(mb.sum()))
        smallest = size if smallest is None else min(smallest, size)
    return {"max_rel_logit_diff": worst_rel, "min_mask_iou": worst_iou, "min_mask_pixels": smallest or 0}
