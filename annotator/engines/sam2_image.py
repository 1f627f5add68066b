"""SAM 2.1 image click engine through transformers' ``Sam2Model``: the CPU-friendly click model.

The Hiera-T/S image encoders take about 2 s per frame on a CPU, against 11 to 24 s for SAM
ViT-B, and the sam2.1-* weights are the ones the video tracker uses. The engine does what
transformers' own pipeline does (``Sam2Processor`` -> ``Sam2Model`` -> ``post_process_masks``),
split so the slow half runs once per frame:

- ``prepare`` runs the processor and ``get_image_embeddings`` (the three FPN levels, with
  the decoder's high-resolution projections already applied) and caches them: in memory,
  and on disk per video, so reopening a video does not encode its frames again;
- ``predict`` runs the prompt encoder and mask decoder on the cached levels. The first click
  uses multimask output and keeps the best-scoring mask; later clicks pass the previous
  low-resolution logits as the mask prompt and ask for one mask. The pick happens at low
  resolution and only the kept mask is upsampled to the frame size.

tests/test_sam2_image.py checks the logits and masks against the stock pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.engines.embedding_cache import DiskEmbeddingCache, Embedding, as_frame_key
from annotator.engines.sam import PromptableSegmenter, _mask_to_logits, _use_multimask, weights_tag
from annotator.engines.segmenter import MaskResult, Prompt
from annotator.engines.snapshots import check_config, load_complete_weights, quiet_transformers

if TYPE_CHECKING:
    import torch
    from transformers import Sam2Model, Sam2Processor

    from annotator.engines.shared_features import SharedFeatures

_LEVELS = ("level0", "level1", "level2")  # FPN levels, finest first; level2 is the decoder input


class Sam2ImageSegmenter(PromptableSegmenter):
    """Segmenter protocol over a transformers ``Sam2Model`` (image path, no memory)."""

    def __init__(
        self,
        model: Sam2Model,
        processor: Sam2Processor,
        name: str,
        device: str,
        cache_mb: float = 256,
        disk_cache: DiskEmbeddingCache | None = None,
        model_tag: str | None = None,
        on_fallback: Callable[[str], None] | None = None,
        *,
        encoder: str | None = None,
        weights_dir: Path | None = None,
    ) -> None:
        super().__init__(name, device, cache_mb, disk_cache, model_tag, on_fallback)
        self.model = model.to(device).eval()
        self.processor = processor
        self._image_pe: torch.Tensor | None = None  # the same for every frame: computed once
        # The image encoder (ONNX Runtime on a CPU when installed), shared with a tracker on the
        # same weights, and the frames either of them encoded (engines/shared_features.py).
        self._encoder_choice = encoder
        self._weights_dir = weights_dir
        self._features: SharedFeatures | None = None

    @property
    def input_size(self) -> int:
        """The square side the processor resizes every frame to (1024 for the real models)."""
        return int(self.processor.target_size)

    def _move_model(self, device: str) -> None:
        self.model.to(device)
        self._image_pe = None
        self._features = None  # the encoder follows the model to its new device

    @property
    def features(self) -> SharedFeatures:
        """The shared encoder and encoded frames for these weights (made on first use)."""
        if self._features is None:
            from annotator.engines.shared_features import shared_features

            self._features = shared_features(self.model, self.input_size, self._weights_dir,
                                             self._encoder_choice)
        return self._features

    @property
    def encoder_runtime(self) -> str:
        """How the encoder runs ("onnxruntime", "pytorch"; "" before the first encode). Never
        builds it: the UI thread reads this."""
        return self._features.encoder.runtime if self._features is not None else ""

    def _encode(self, image: np.ndarray) -> Embedding:
        return self._encode_for(image, None)

    def _encode_for(self, image: np.ndarray, key: Hashable | None) -> Embedding:
        import torch

        from annotator.engines.device import autocast

        features = self.features
        shared_key = key if as_frame_key(key) is not None else None  # only frames of a video
        levels = features.get(shared_key)
        if levels is None:
            if not image.flags.writeable:  # decoded frames are read-only; torch warns on those
                image = image.copy()
            pixel_values = self.processor(images=image, return_tensors="pt")["pixel_values"].to(self.device)
            with torch.inference_mode(), autocast(self.device):
                levels = features.encode(shared_key, pixel_values)
        embedding: Embedding = dict(zip(_LEVELS, levels, strict=True))
        embedding["original_size"] = torch.tensor(image.shape[:2], dtype=torch.int64)
        return embedding

    def _positional_embedding(self) -> torch.Tensor:
        if self._image_pe is None:
            import torch

            with torch.inference_mode():
                self._image_pe = self.model.get_image_wide_positional_embeddings()
        return self._image_pe

    def _decode(self, prompt: Prompt, embedding: Embedding) -> MaskResult:
        import torch
        import torch.nn.functional as F

        from annotator.engines.device import autocast

        start = time.perf_counter()
        model = self.model
        original_size = tuple(int(v) for v in embedding["original_size"].tolist())
        multimask = _use_multimask(prompt)
        points, labels, boxes, masks = self._prompt_tensors(prompt, original_size)
        with torch.inference_mode(), autocast(self.device):
            # Sam2Model.forward with image_embeddings=..., minus its per-call overhead.
            sparse, dense = model.prompt_encoder(
                input_points=points, input_labels=labels, input_boxes=boxes, input_masks=masks
            )
            low_res, iou, _, _ = model.mask_decoder(
                image_embeddings=embedding["level2"],
                image_positional_embeddings=self._positional_embedding(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
                high_resolution_features=[embedding["level0"], embedding["level1"]],
            )
            best = int(torch.argmax(iou[0, 0])) if multimask else 0
            logits = low_res[0, :, best : best + 1].float()  # (1, 1, h, w)
            decoded = time.perf_counter()
            # Sam2Processor.post_process_masks on the one mask we keep.
            full = F.interpolate(logits, original_size, mode="bilinear", align_corners=False)
            mask = (full[0, 0] > 0.0).cpu().numpy()
        done = time.perf_counter()
        return MaskResult(
            mask=mask,
            score=float(iou[0, 0, best]),
            logits=logits[0].cpu().numpy(),
            timings={
                "encode_ms": 0.0,
                "decode_ms": (done - start) * 1000.0,
                "upsample_ms": (done - decoded) * 1000.0,
            },
        )

    def _prompt_tensors(self, prompt: Prompt, original_size: tuple[int, ...]) -> tuple[Any, Any, Any, Any]:
        """Points, labels, boxes and mask prompt as Sam2Processor / Sam2Model shape them."""
        import torch
        import torch.nn.functional as F

        height, width = original_size
        side = self.input_size
        points = labels = boxes = masks = None
        if len(prompt.points):
            coords = torch.tensor(prompt.points, dtype=torch.float32)
            # Sam2Processor._normalize_coordinates: the same float32 arithmetic, for parity.
            coords[..., 0] = coords[..., 0] * (side / width)
            coords[..., 1] = coords[..., 1] * (side / height)
            points = coords.reshape(1, 1, -1, 2).to(self.device)
            labels = torch.tensor(prompt.labels, dtype=torch.int64).reshape(1, 1, -1).to(self.device)
        if prompt.box is not None:
            box = torch.tensor(prompt.box, dtype=torch.float32).reshape(-1, 2, 2)
            box[..., 0] = box[..., 0] * (side / width)
            box[..., 1] = box[..., 1] * (side / height)
            boxes = box.reshape(1, 1, 4).to(self.device)
        if prompt.prior is not None:
            prior = np.asarray(prompt.prior, np.float32)
            if prior.ndim not in (2, 3) or (prior.ndim == 3 and prior.shape[0] != 1):
                raise ValueError(f"prior must be low-resolution logits of shape (1, h, w), got {prior.shape}")
            masks = torch.as_tensor(prior.reshape(1, 1, *prior.shape[-2:]), device=self.device)
            expected = tuple(self.model.prompt_encoder.mask_input_size)
            if tuple(masks.shape[-2:]) != expected:  # as Sam2Model.forward does
                masks = F.interpolate(masks, size=expected, mode="bilinear", align_corners=False,
                                      antialias=True)
        return points, labels, boxes, masks

    def _prior_from_mask(self, mask: np.ndarray, embedding: Embedding) -> np.ndarray:
        # The low-res grid covers the whole frame stretched to a square (no padding in SAM 2).
        side = int(self.model.prompt_encoder.mask_input_size[0])
        return _mask_to_logits(mask, side, side)[None]


# --- loading -----------------------------------------------------------------------------------
def load_sam2_image(
    name: str,
    weights: str | Path | None = None,
    device: str | None = None,
    cache_mb: float = 256,
    disk_cache: DiskEmbeddingCache | None = None,
    persist: bool = True,
    encoder: str | None = None,
) -> Sam2ImageSegmenter:
    """Load ``name`` (sam2.1-*, edgetam) from its Hugging Face snapshot folder (``weights`` or
    installed). ``encoder``: how the image encoder runs ("auto", "onnx", "pytorch").

    The official facebook/sam2.1-hiera-* snapshots are ``sam2_video`` checkpoints; the image
    model is the subset of their weights that ``Sam2Model`` holds, so both kinds load. With
    ``persist`` (the default), embeddings are kept on disk under the user cache folder.
    """
    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device

    families = {s.name: s.family for s in registry.REGISTRY.values()
                if s.family in ("sam2", "edgetam") and "segment" in s.tasks}
    if name not in families:
        raise ValueError(f"unknown SAM 2.1 / EdgeTAM model {name!r}; expected one of {', '.join(families)}")
    folder = Path(registry.require(name, weights))
    if families[name] == "edgetam":
        model, processor = load_edgetam_snapshot(folder)
    else:
        model, processor = load_sam2_snapshot(folder)
    if disk_cache is None and persist:
        disk_cache = DiskEmbeddingCache()
    return Sam2ImageSegmenter(model, processor, name, pick_device(device), cache_mb=cache_mb,
                              disk_cache=disk_cache, model_tag=f"{name}-{weights_tag(folder)}",
                              weights_dir=folder, encoder=encoder)


def load_sam2_snapshot(folder: Path) -> tuple[Sam2Model, Sam2Processor]:
    """``Sam2Model`` + ``Sam2Processor`` from a snapshot folder, with errors that name the folder."""
    from transformers import Sam2Model, Sam2Processor

    check_config(folder, ("sam2", "sam2_video"), "SAM 2",
                 "a SAM 2.1 install is a Hugging Face snapshot folder")
    with quiet_transformers():
        model = load_complete_weights(Sam2Model, folder, "SAM 2")
        try:
            processor = Sam2Processor.from_pretrained(folder)
        except (OSError, ValueError):
            # Weights without a processor config: SAM 2 always uses ImageNet mean/std and a
            # square resize to the prompt encoder's input size.
            processor = _default_processor(int(model.config.prompt_encoder_config.image_size))
    return model.eval(), processor


def load_edgetam_snapshot(folder: Path) -> tuple[Any, Sam2Processor]:
    """``EdgeTamModel`` (the click model) + ``Sam2Processor`` from an EdgeTAM snapshot folder.

    EdgeTAM snapshots are ``edgetam_video`` checkpoints; the click model is the subset of their
    weights that ``EdgeTamModel`` holds (image encoder, prompt encoder, mask decoder), as for
    SAM 2.1. The backbone must be timm's RepViT (``model_configs.backbone_name``).
    """
    from transformers import EdgeTamModel, Sam2Processor

    from annotator.engines.model_configs import REPVIT, backbone_name
    from annotator.errors import FormatError

    check_config(folder, ("edgetam", "edgetam_video"), "EdgeTAM",
                 "an EdgeTAM install is a Hugging Face snapshot folder")
    with quiet_transformers():
        try:
            model = load_complete_weights(EdgeTamModel, folder, "EdgeTAM")
        except ImportError as exc:  # the RepViT backbone comes from timm
            raise FormatError(f"cannot build EdgeTAM ({str(exc).splitlines()[0]}); it needs the timm "
                              "package: pip install timm", folder) from exc
        if backbone_name(model) != REPVIT:
            raise FormatError(f"the EdgeTAM backbone is {backbone_name(model)}, not {REPVIT}: "
                              "config.json does not describe EdgeTAM", folder)
        try:
            processor = Sam2Processor.from_pretrained(folder)
        except (OSError, ValueError, TypeError):
            processor = _default_processor(int(model.config.prompt_encoder_config.image_size))
    return model.eval(), processor


def _default_processor(side: int) -> Sam2Processor:
    """What every SAM 2 / EdgeTAM processor does: ImageNet mean/std, a square resize to ``side``."""
    from transformers import Sam2ImageProcessor, Sam2Processor

    return Sam2Processor(image_processor=Sam2ImageProcessor(size={"height": side, "width": side}))
