"""SAM 3 concept detection through transformers: every instance of a phrase (or of a boxed
example) on one frame.

``Sam3Detector`` wraps ``Sam3Model`` + ``Sam3Processor`` the way transformers documents it
(processor -> model -> ``post_process_instance_segmentation``), split so that several phrases on
one frame share one image encoding: ``get_vision_features`` runs once, then the DETR-style
decoder runs per phrase with ``vision_embeds=``. An instance's score is
sigmoid(query logit) x sigmoid(presence logit), kept when above ``threshold``; the image path
does no NMS, so overlapping instances of one phrase are merged here by mask IoU.

A box as an example ("more like this"): SAM 3 takes boxes as concept prompts (positive label 1),
and every similar instance on the frame comes back, the example itself included.

The model is large (840 M parameters, a ViT-L-class encoder at 1008 px). ``image_size=560``
(the smaller input transformers documents) cuts time and memory and may cost accuracy; the
same option exists for the video tracker (engines/sam3_video.py). bf16 autocast on CUDA.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.engines.snapshots import check_config, quiet_transformers
from annotator.errors import FormatError

SAM3 = "sam3"
IMAGE_SIZES = (1008, 560)  # the trained size, and the smaller one transformers documents
PATCH = 14
_CONFIG_TYPES = ("sam3_video", "sam3")
_INSTALL = "a SAM 3 install is a Hugging Face snapshot folder (annotator models download sam3)"


@dataclass
class Instance:
    """One detected instance: its phrase (the category), full-resolution mask, score and box."""

    phrase: str
    mask: np.ndarray  # HxW bool
    score: float  # 0..1
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 pixels


@dataclass
class Detections:
    instances: list[Instance]
    timings: dict[str, float] = field(default_factory=dict)  # encode_ms, decode_ms


def parse_phrases(text: str | Sequence[str]) -> list[str]:
    """"camel, person" -> ["camel", "person"]: trimmed, empty parts and repeats dropped."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    phrases = list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
    if not phrases:
        raise ValueError("no phrase given: enter one or several, separated by commas (\"camel, person\")")
    return phrases


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.logical_or(a, b).sum())
    return int(np.logical_and(a, b).sum()) / union if union else 0.0


def dedupe(instances: list[Instance], iou: float) -> list[Instance]:
    """Best first; an instance overlapping a kept one of the same phrase at >= ``iou`` is dropped."""
    kept: list[Instance] = []
    for inst in sorted(instances, key=lambda i: -i.score):
        if all(k.phrase != inst.phrase or mask_iou(k.mask, inst.mask) < iou for k in kept):
            kept.append(inst)
    return kept


class Sam3Detector:
    """Phrases or example boxes -> instances with masks and scores above ``threshold``."""

    def __init__(self, model: Any, processor: Any, name: str = SAM3, device: str = "cpu", *,
                 threshold: float = 0.5, mask_threshold: float = 0.5, dedupe_iou: float | None = 0.5) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.name = name
        self.device = device
        self.threshold = float(threshold)
        self.mask_threshold = float(mask_threshold)
        self.dedupe_iou = dedupe_iou

    @property
    def image_size(self) -> int:
        return int(self.processor.target_size)

    def detect(self, image: np.ndarray, phrases: str | Sequence[str]) -> Detections:
        """Every instance of each phrase on ``image`` (HxWx3 uint8 RGB), best first."""
        import torch

        phrases = parse_phrases(phrases)
        image = _rgb(image)
        start = time.perf_counter()
        inputs = self.processor(images=image, return_tensors="pt")
        size = [int(v) for v in inputs["original_sizes"][0].tolist()]
        with torch.inference_mode(), self._autocast():
            vision = self.model.get_vision_features(pixel_values=inputs["pixel_values"].to(self.device))
            encoded = time.perf_counter()
            found: list[Instance] = []
            for phrase in phrases:
                text = self.processor.tokenizer(phrase, return_tensors="pt", padding="max_length",
                                                max_length=32)  # as Sam3Processor pads text
                out = self.model(vision_embeds=vision, input_ids=text["input_ids"].to(self.device),
                                 attention_mask=text["attention_mask"].to(self.device))
                found += self._instances(out, size, phrase)
        return self._finish(found, start, encoded)

    def detect_like(self, image: np.ndarray, boxes: Sequence[Sequence[float]],
                    phrase: str = "object") -> Detections:
        """Every instance like the example ``boxes`` (x0, y0, x1, y1 pixels), labelled ``phrase``."""
        import torch

        boxes = [[float(v) for v in box] for box in boxes]
        if not boxes or any(len(b) != 4 or b[2] <= b[0] or b[3] <= b[1] for b in boxes):
            raise ValueError(f"example boxes must be x0, y0, x1, y1 with x1 > x0 and y1 > y0, got {boxes}")
        image = _rgb(image)
        start = time.perf_counter()
        inputs = self.processor(images=image, input_boxes=[boxes], input_boxes_labels=[[1] * len(boxes)],
                                return_tensors="pt")
        size = [int(v) for v in inputs["original_sizes"][0].tolist()]
        with torch.inference_mode(), self._autocast():
            out = self.model(**{k: v.to(self.device) for k, v in inputs.items() if k != "original_sizes"})
            found = self._instances(out, size, phrase)
        return self._finish(found, start, start)

    def _instances(self, out: Any, size: list[int], phrase: str) -> list[Instance]:
        result = self.processor.post_process_instance_segmentation(
            _float_outputs(out), threshold=self.threshold, mask_threshold=self.mask_threshold,
            target_sizes=[size])[0]
        masks = result["masks"].cpu().numpy().astype(bool)
        scores = result["scores"].float().cpu().numpy()
        boxes = result["boxes"].float().cpu().numpy()
        return [Instance(phrase, m, float(s), tuple(float(v) for v in b))  # type: ignore[arg-type]
                for m, s, b in zip(masks, scores, boxes, strict=True) if m.any()]

    def _finish(self, found: list[Instance], start: float, encoded: float) -> Detections:
        if self.dedupe_iou is not None:
            found = dedupe(found, self.dedupe_iou)
        found.sort(key=lambda i: -i.score)
        done = time.perf_counter()
        return Detections(found, {"encode_ms": (encoded - start) * 1000.0,
                                  "decode_ms": (done - encoded) * 1000.0})

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        from annotator.engines.device import autocast

        return autocast(self.device)


def _float_outputs(out: Any) -> Any:
    """Post-processing in float32 (bf16 logits under autocast would round the scores)."""
    for key in ("pred_logits", "presence_logits", "pred_masks", "pred_boxes"):
        value = getattr(out, key, None)
        if value is not None:
            setattr(out, key, value.float())
    return out


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"SAM 3 takes HxWx3 uint8 RGB frames, got {image.dtype} {image.shape}")
    return image if image.flags.writeable else image.copy()  # torch warns on read-only arrays


# --- loading -------------------------------------------------------------------------------------
def check_image_size(image_size: int | None) -> int | None:
    if image_size is not None and (int(image_size) <= 0 or int(image_size) % PATCH):
        raise ValueError(f"SAM 3 image_size must be a positive multiple of {PATCH} "
                         f"(1008, or 560 for speed), got {image_size}")
    return None if image_size is None else int(image_size)


def resize_processor(processor: Any, image_size: int, mask_size: int | None = None) -> Any:
    """Make a SAM 3 processor resize frames to ``image_size`` (the model's config must match)."""
    side = {"height": int(image_size), "width": int(image_size)}
    for part in ("image_processor", "video_processor"):
        sub = getattr(processor, part, None)
        if sub is not None:
            sub.size = dict(side)
            if mask_size is not None and hasattr(sub, "mask_size"):
                sub.mask_size = {"height": mask_size, "width": mask_size}
    processor.target_size = int(image_size)
    return processor


def load_sam3_detector(weights: str | Path | None = None, device: str | None = None,
                       image_size: int | None = None, **options: Any) -> Sam3Detector:
    """The detector from the installed ``sam3`` snapshot (or ``weights``); ``options`` go to it.

    ``image_size`` 560 runs the encoder at the smaller input transformers documents (faster, may
    be less accurate); None keeps the trained 1008.
    """
    from transformers import Sam3Model, Sam3Processor

    from annotator.engines.device import pick_device

    model, processor = load_sam3_parts(Sam3Model, Sam3Processor, weights, image_size)
    return Sam3Detector(model, processor, SAM3, pick_device(device), **options)


def load_sam3_parts(model_cls: Any, processor_cls: Any, weights: str | Path | None = None,
                    image_size: int | None = None) -> tuple[Any, Any]:
    """One SAM 3 class (detector, video, tracker) and its processor from the ``sam3`` snapshot.

    The official snapshot is a ``sam3_video`` checkpoint; each class takes its part of the
    weights (transformers maps them). ``image_size`` is set on the whole config (the video
    config passes it on to the detector and the tracker) and on the processor.
    """
    from transformers import AutoConfig

    from annotator.engines import weights as registry

    image_size = check_image_size(image_size)
    folder = Path(registry.require(SAM3, weights))
    check_config(folder, _CONFIG_TYPES, "SAM 3", _INSTALL)
    with quiet_transformers():
        try:
            config = AutoConfig.from_pretrained(folder)
            if image_size is not None:
                config.image_size = image_size
                if hasattr(config, "low_res_mask_size"):  # the video model's empty-mask shape
                    config.low_res_mask_size = 4 * image_size // PATCH  # 288 at 1008, as shipped
            model = model_cls.from_pretrained(folder, config=config)
            processor = processor_cls.from_pretrained(folder)
        except (OSError, ValueError, RuntimeError, TypeError, KeyError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FormatError(f"cannot load SAM 3 ({why})", folder) from exc
    if image_size is not None:
        resize_processor(processor, image_size)
    return model.eval(), processor
