"""Image and text embeddings in one space, for search: CLIP or SigLIP 2 through transformers.

The model class is the one the snapshot's config names (``AutoModel``: ``CLIPModel``,
``SiglipModel``, ``Siglip2Model``), with ``AutoProcessor``; both families expose
``get_image_features`` and ``get_text_features``. Every vector comes back float32 and
L2-normalised, so a dot product is the cosine similarity the index ranks by.

SigLIP was trained on text padded to 64 tokens ("max_length"); CLIP pads to the longest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from annotator.engines.snapshots import check_config, load_complete_weights, quiet_transformers
from annotator.errors import FormatError

IMAGE_INPUTS = ("pixel_values", "pixel_attention_mask", "spatial_shapes")
_FAMILIES = {"clip": "clip", "siglip": "siglip", "siglip2": "siglip"}  # config model_type -> family


@runtime_checkable
class Embedder(Protocol):
    name: str  # registry name ("clip-vit-b-32", "siglip2-base") or a test stub's
    dim: int

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dim) float32, rows L2-normalised."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, rows L2-normalised."""
        ...


class HubEmbedder:
    """The Embedder protocol over a transformers CLIP / SigLIP model and its processor."""

    def __init__(self, model: Any, processor: Any, name: str, family: str, device: str = "cpu",
                 batch_size: int = 16) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.name = name
        self.family = family
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.dim = int(getattr(model.config, "projection_dim", 0) or model.config.text_config.hidden_size)
        self._lock = threading.Lock()

    def embed_images(self, images: Sequence[np.ndarray],
                     on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = [_rgb(im) for im in images[start:start + self.batch_size]]
            inputs = self.processor.image_processor(images=batch, return_tensors="pt")
            # CLIP and fixed-size SigLIP take pixel_values; SigLIP 2 NaFlex also takes its
            # patch mask and grid shapes.
            tensors = {k: v.to(self.device) for k, v in inputs.items() if k in IMAGE_INPUTS}
            rows.append(self._run(lambda m, t=tensors: m.get_image_features(**t)))
            if on_batch is not None:
                on_batch(len(batch))
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.family == "siglip":
            tokens = self.processor.tokenizer(list(texts), padding="max_length", max_length=64,
                                              truncation=True, return_tensors="pt")
        else:
            limit = int(self.model.config.text_config.max_position_embeddings)
            tokens = self.processor.tokenizer(list(texts), padding=True, truncation=True, max_length=limit,
                                              return_tensors="pt")
        kwargs = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
        return self._run(lambda m: m.get_text_features(**kwargs))

    def _run(self, fn: Callable[[Any], Any]) -> np.ndarray:
        import torch

        from annotator.engines.device import autocast

        with self._lock, torch.inference_mode(), autocast(self.device):
            out = fn(self.model)
            feats = getattr(out, "pooler_output", out).float()  # transformers 5: an output object
            feats = torch.nn.functional.normalize(feats, dim=-1)
        return feats.cpu().numpy().astype(np.float32)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    return image if image.flags.writeable else image.copy()


def load_embedder(name: str | None = "auto", weights: str | Path | None = None, device: str | None = None,
                  **options: Any) -> HubEmbedder:
    """The search embedder for a registry name (clip-*, siglip2-base) or "auto"."""
    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device

    dev = pick_device(device)
    name, _why = choose_embedder(name, weights, dev)
    folder = Path(registry.require(name, weights))
    model, processor, family = load_snapshot(folder)
    return HubEmbedder(model, processor, name, family, dev, **options)


def choose_embedder(name: str | None = "auto", weights: str | Path | None = None,
                    device: str = "cpu") -> tuple[str, str]:
    """(registry name, why) of the search model ``load_embedder`` would load; a snapshot folder
    with "auto" is taken as CLIP ViT-B/32 (its config says which CLIP, not which registry name)."""
    from annotator.engines import weights as registry

    name = name or "auto"
    if name == "auto" and weights is not None:
        name = "clip-vit-b-32"
    return registry.choose("search", name, device, weights)


def load_snapshot(folder: Path) -> tuple[Any, Any, str]:
    """(model, processor, family) with the model class the config names; errors name the folder."""
    from transformers import AutoModel, AutoProcessor

    model_type = check_config(folder, tuple(_FAMILIES), "CLIP or SigLIP",
                              "a search model install is a Hugging Face snapshot folder")
    with quiet_transformers():
        model = load_complete_weights(AutoModel, folder, model_type)
        try:
            processor = AutoProcessor.from_pretrained(folder)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FormatError(f"the tokenizer or image preprocessor files are missing or unreadable ({why})",
                              folder) from exc
    if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
        raise FormatError(f"{type(model).__name__} has no image and text embeddings", folder)
    return model.eval(), processor, _FAMILIES[model_type]
