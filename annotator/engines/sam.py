"""SAM click engine on the ``segment-anything`` package (ViT-B, ViT-L, ViT-H).

The model is separate from the engine state, as in sam2: ``SamSegmenter`` holds a ``Sam``
module and an embedding store, and does what ``SamPredictor`` does, with three changes:

- the image embedding of each frame is cached (memory LRU, optionally on disk), so a frame
  is encoded once however many objects and clicks it gets;
- the first click of an object uses multimask output and keeps the best-scoring mask; later
  clicks pass the previous low-resolution logits as the mask prompt and ask for one mask
  (what Track-Anything and the SAM demo do);
- the best of the three masks is picked at low resolution and only that one is upsampled to
  the frame size (``SamPredictor.predict`` upsamples all three).

Preprocessing is SamPredictor's own (``ResizeLongestSide``, ``Sam.preprocess``), so the
logits match upstream bit for bit on the same weights (tests/test_sam.py checks it).

``PromptableSegmenter`` holds what this engine shares with the SAM 2.1 image engine
(sam2_image.py): the embedding store, the prepare/predict flow, ``prior_from_mask`` and the
out-of-memory fallback to the CPU (device.OomFallback).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from annotator.engines.embedding_cache import DiskEmbeddingCache, Embedding, EmbeddingStore
from annotator.engines.segmenter import MaskResult, Prompt
from annotator.errors import FormatError

if TYPE_CHECKING:
    import torch
    from segment_anything.modeling import Sam

log = logging.getLogger(__name__)
T = TypeVar("T")

# A mask turned into a prior: +10 inside, -10 outside (sigmoid 0.99995), soft at the edges.
_PRIOR_LOGIT = 10.0

# Model name (CLI contract) -> segment_anything.sam_model_registry key.
SAM_ARCHITECTURES = {"sam-vit-b": "vit_b", "sam-vit-l": "vit_l", "sam-vit-h": "vit_h"}
# ViT width of each variant: how a checkpoint file says which variant it is.
_EMBED_DIMS = {"vit_b": 768, "vit_l": 1024, "vit_h": 1280}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


class PromptableSegmenter:
    """What the SAM-family engines share: the embedding store, the prepare/predict flow,
    the out-of-memory fallback and the lock. Subclasses encode and decode."""

    def __init__(
        self,
        name: str,
        device: str,
        cache_mb: float,
        disk_cache: DiskEmbeddingCache | None,
        model_tag: str | None,
        on_fallback: Callable[[str], None] | None,
    ) -> None:
        self.name = name
        self.device = device
        # model_tag names the weights in the disk cache; it must change when the weights do.
        self.store = EmbeddingStore(model_tag or name, cache_mb, disk_cache)
        self.on_fallback = on_fallback
        self._lock = threading.RLock()  # model work is serialized even outside the engine lane

    # --- Segmenter protocol ------------------------------------------------------------------
    def prepare(self, image: np.ndarray, key: Hashable) -> float:
        """Encode ``image`` under ``key``; returns the ms spent (0 when cached, here or on disk)."""
        _check_image(image)
        with self._lock:
            if self.store.get(key, self.device) is not None:
                return 0.0
            start = time.perf_counter()
            embedding = self._guarded(lambda: self._encode_for(image, key))
            self.store.put(key, embedding)
            return (time.perf_counter() - start) * 1000.0

    def is_prepared(self, key: Hashable) -> bool:
        return self.store.contains(key)

    def predict(self, prompt: Prompt, key: Hashable) -> MaskResult:
        with self._lock:
            if prompt.empty:  # every click removed: no object here
                height, width = (int(v) for v in self._embedding(key)["original_size"].tolist())
                timings = {"encode_ms": 0.0, "decode_ms": 0.0}
                return MaskResult(np.zeros((height, width), bool), 0.0, None, timings)
            # The retry after a fallback re-reads the embedding, which has moved to the CPU.
            return self._guarded(lambda: self._decode(prompt, self._embedding(key)))

    def prior_from_mask(self, mask: np.ndarray, key: Hashable) -> np.ndarray:
        """Low-resolution logits standing for an existing full-resolution mask (a tracked or
        imported one), so the next click refines it instead of starting over."""
        with self._lock:
            embedding = self._embedding(key)
            original = tuple(int(v) for v in embedding["original_size"].tolist())
            if tuple(mask.shape) != original:
                raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the frame is "
                                 f"{original[1]}x{original[0]}")
            return self._prior_from_mask(mask, embedding)

    # --- engine control -----------------------------------------------------------------------
    def to(self, device: str) -> None:
        """Move the model and the cached embeddings (the out-of-memory fallback uses it)."""
        with self._lock:
            self._move_model(device)
            self.store.move_to(device)
            self.device = device

    # --- for subclasses ------------------------------------------------------------------------
    def _encode(self, image: np.ndarray) -> Embedding:
        raise NotImplementedError

    def _encode_for(self, image: np.ndarray, key: Hashable) -> Embedding:
        """Encode the frame known as ``key`` (an engine that shares encoded frames with a
        tracker looks there first)."""
        return self._encode(image)

    def _decode(self, prompt: Prompt, embedding: Embedding) -> MaskResult:
        raise NotImplementedError

    def _prior_from_mask(self, mask: np.ndarray, embedding: Embedding) -> np.ndarray:
        raise NotImplementedError

    def _move_model(self, device: str) -> None:
        raise NotImplementedError

    # --- internals ----------------------------------------------------------------------------
    def _embedding(self, key: Hashable) -> Embedding:
        embedding = self.store.get(key, self.device)
        if embedding is None:
            raise LookupError(f"{self.name}: frame {key!r} is not prepared; call prepare() first")
        return embedding

    def _guarded(self, fn: Callable[[], T]) -> T:
        """Run model work; on GPU out-of-memory move everything to the CPU and retry once."""
        from annotator.engines.device import OomFallback

        fallback = OomFallback(move_to_cpu=lambda: self.to("cpu"), notify=self._notify,
                               device=self.device, what=self.name)
        return fallback.run(fn)

    def _notify(self, message: str) -> None:
        if self.on_fallback is not None:
            self.on_fallback(message)
        else:
            log.warning("%s", message)


class SamSegmenter(PromptableSegmenter):
    """Segmenter protocol over a segment-anything ``Sam`` model."""

    def __init__(
        self,
        model: Sam,
        name: str,
        device: str,
        cache_mb: float = 256,
        disk_cache: DiskEmbeddingCache | None = None,
        model_tag: str | None = None,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        super().__init__(name, device, cache_mb, disk_cache, model_tag, on_fallback)
        self.model = model.to(device).eval()
        self.transform = ResizeLongestSide(model.image_encoder.img_size)

    def _move_model(self, device: str) -> None:
        self.model.to(device)

    def _encode(self, image: np.ndarray) -> Embedding:
        import torch

        from annotator.engines.device import autocast

        input_image = self.transform.apply_image(image)  # the exact resize SamPredictor uses
        x = torch.as_tensor(input_image, device=self.device).permute(2, 0, 1).contiguous()[None]
        with torch.inference_mode(), autocast(self.device):
            features = self.model.image_encoder(self.model.preprocess(x))
        return {
            "features": features,
            "input_size": torch.tensor(x.shape[-2:], dtype=torch.int64),
            "original_size": torch.tensor(image.shape[:2], dtype=torch.int64),
        }

    def _decode(self, prompt: Prompt, embedding: Embedding) -> MaskResult:
        import torch
        import torch.nn.functional as F

        from annotator.engines.device import autocast

        start = time.perf_counter()
        model = self.model
        original_size = tuple(int(v) for v in embedding["original_size"].tolist())
        input_size = tuple(int(v) for v in embedding["input_size"].tolist())
        multimask = _use_multimask(prompt)
        points, box, mask_input = self._prompt_tensors(prompt, original_size)
        with torch.inference_mode(), autocast(self.device):
            sparse, dense = model.prompt_encoder(points=points, boxes=box, masks=mask_input)
            low_res, iou = model.mask_decoder(
                image_embeddings=embedding["features"],
                image_pe=model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
            best = int(torch.argmax(iou[0])) if multimask else 0
            logits = low_res[:, best : best + 1].float()
            decoded = time.perf_counter()
            # Sam.postprocess_masks on the one mask we keep: up to the padded input, crop, then
            # to the frame size (two bilinear steps, exactly as upstream, for identical masks).
            size = model.image_encoder.img_size
            full = F.interpolate(logits, (size, size), mode="bilinear", align_corners=False)
            full = full[..., : input_size[0], : input_size[1]]
            full = F.interpolate(full, original_size, mode="bilinear", align_corners=False)
            mask = (full[0, 0] > model.mask_threshold).cpu().numpy()
        done = time.perf_counter()
        return MaskResult(
            mask=mask,
            score=float(iou[0, best]),
            logits=logits[0].cpu().numpy(),
            timings={
                "encode_ms": 0.0,
                "decode_ms": (done - start) * 1000.0,
                "upsample_ms": (done - decoded) * 1000.0,
            },
        )

    def _prompt_tensors(
        self, prompt: Prompt, original_size: tuple[int, ...]
    ) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, torch.Tensor | None, torch.Tensor | None]:
        """Points, box and mask prompt exactly as SamPredictor.predict builds them."""
        import torch

        points = box = mask_input = None
        if len(prompt.points):
            coords = self.transform.apply_coords(prompt.points, original_size)
            coords_t = torch.as_tensor(coords, dtype=torch.float, device=self.device)[None]
            labels_t = torch.as_tensor(prompt.labels, dtype=torch.int, device=self.device)[None]
            points = (coords_t, labels_t)
        if prompt.box is not None:
            boxes = self.transform.apply_boxes(prompt.box[None], original_size)
            box = torch.as_tensor(boxes, dtype=torch.float, device=self.device)
        if prompt.prior is not None:
            side = self._low_res_side()
            prior = np.asarray(prompt.prior, np.float32)
            if prior.shape not in ((1, side, side), (side, side)):
                raise ValueError(f"prior must be low-resolution logits of shape (1, {side}, {side}), "
                                 f"got {prior.shape}")
            mask_input = torch.as_tensor(prior.reshape(1, 1, side, side), device=self.device)
        return points, box, mask_input

    def _low_res_side(self) -> int:
        return 4 * int(self.model.prompt_encoder.image_embedding_size[0])

    def _prior_from_mask(self, mask: np.ndarray, embedding: Embedding) -> np.ndarray:
        # The low-res grid covers the padded square input: resize the mask as the image was
        # resized (longest side), then pad with background.
        input_h, input_w = (int(v) for v in embedding["input_size"].tolist())
        side = self._low_res_side()
        scale = side / self.model.image_encoder.img_size
        h, w = max(1, round(input_h * scale)), max(1, round(input_w * scale))
        prior = np.full((1, side, side), -_PRIOR_LOGIT, np.float32)
        prior[0, :h, :w] = _mask_to_logits(mask, h, w)
        return prior


def _use_multimask(prompt: Prompt) -> bool:
    """Three candidate masks only for an ambiguous prompt: one click with no prior and no box.

    Several clicks, a box or a prior say enough for one mask, which SAM's authors recommend.
    """
    return prompt.prior is None and prompt.box is None and len(prompt.points) == 1


def _check_image(image: np.ndarray) -> None:
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if not ok:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {getattr(image, 'shape', type(image))} "
                         f"{getattr(image, 'dtype', '')}")


def _mask_to_logits(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A binary mask area-resampled to (height, width) and mapped to logits in [-10, 10]."""
    import cv2

    small = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return (small * 2.0 - 1.0) * _PRIOR_LOGIT


# --- loading -----------------------------------------------------------------------------------
def load_sam(
    name: str,
    weights: str | Path | None = None,
    device: str | None = None,
    cache_mb: float = 256,
    disk_cache: DiskEmbeddingCache | None = None,
    persist: bool = True,
) -> SamSegmenter:
    """Build ``name`` (sam-vit-b/l/h) from its checkpoint (``weights`` or the installed file).

    With ``persist`` (the default) embeddings are also kept on disk under the user cache
    folder: a ViT-B frame costs 11 s to encode on a CPU and 2 MB to keep.
    """
    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device

    if name not in SAM_ARCHITECTURES:
        raise ValueError(f"unknown SAM model {name!r}; expected one of {', '.join(SAM_ARCHITECTURES)}")
    path = Path(registry.require(name, weights))
    model = build_sam_from_checkpoint(SAM_ARCHITECTURES[name], path)
    if disk_cache is None and persist:
        disk_cache = DiskEmbeddingCache()
    return SamSegmenter(model, name, pick_device(device), cache_mb=cache_mb, disk_cache=disk_cache,
                        model_tag=f"{name}-{weights_tag(path)}")


def build_sam_from_checkpoint(arch: str, path: Path) -> Sam:
    """``sam_model_registry[arch]`` with the state dict at ``path``, checked for the variant.

    The model is built on the meta device and the weights are assigned, which skips the random
    initialisation of 90-640 M parameters that the checkpoint overwrites anyway.
    """
    import torch
    from segment_anything import sam_model_registry

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise FormatError("weights file not found", path) from exc
    except Exception as exc:  # pickle errors, truncated zip, not a torch file
        raise FormatError(f"not a readable SAM checkpoint ({type(exc).__name__}: {exc})", path) from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise FormatError("not a SAM checkpoint (expected a state dict)", path)
    patch = state.get("image_encoder.patch_embed.proj.weight")
    if patch is None:
        raise FormatError("not a SAM checkpoint (no image_encoder.patch_embed weights)", path)
    found = next((a for a, d in _EMBED_DIMS.items() if d == patch.shape[0]), None)
    if found != arch:
        what = f"a SAM {found} checkpoint" if found else f"an image encoder of width {patch.shape[0]}"
        raise FormatError(f"expected SAM {arch} weights but the file holds {what}", path)
    with torch.device("meta"):
        model = sam_model_registry[arch](checkpoint=None)
    try:
        model.load_state_dict(state, assign=True)
    except RuntimeError as exc:
        raise FormatError(f"weights do not fit SAM {arch}: {str(exc).splitlines()[0]}", path) from exc
    # pixel_mean/pixel_std are non-persistent buffers: not in the file, so set them here.
    model.pixel_mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    model.pixel_std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise FormatError(f"weights missing for {', '.join(left[:3])}", path)
    return model.eval()


def weights_tag(path: Path) -> str:
    """A short digest of the weights (file names, sizes, mtimes): new weights, new disk cache.

    For a snapshot folder only the weight and config files count, so bookkeeping files (the
    download manifest) can change without orphaning every cached embedding.
    """
    import hashlib

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
        files += [path / "config.json"] if (path / "config.json").is_file() else []
    else:
        files = [path]
    digest = hashlib.sha1()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:10]
