"""One image encoder and one cache of encoded frames per set of weights, shared by the click
engine and the tracker.

EdgeTAM (and SAM 2.1) use the same image encoder for a click and for tracking: the click
model's ``get_image_embeddings`` and the video model's ``get_image_features`` compute the
same three FPN levels. So a frame encoded for a click is not encoded again when tracking
reaches it, and a frame the tracker went through costs only the decoder when clicked. The
key is the encoder's weights (sha256): two models loaded from the same snapshot share one
``SharedFeatures``; different weights never do.

Frames are keyed like the click engines' embeddings, ``(video fingerprint, frame index)``.
Only fp32 levels computed in this process are stored (the click engines' disk cache holds
fp16 copies, which would move the tracker's output off the stock model's).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator.engines.embedding_cache import EmbeddingLRU

if TYPE_CHECKING:
    import torch

    from annotator.engines.image_encoder import ImageEncoder

DEFAULT_BUDGET_MB = 512.0  # about 30 frames at 1024 px (17 MB a frame in fp32)
_LEVELS = ("level0", "level1", "level2")

_registry: dict[tuple[str, str, int, str], SharedFeatures] = {}
_registry_lock = threading.Lock()


class SharedFeatures:
    """``encode(key, pixel_values)`` -> the three levels, from the cache or the encoder."""

    def __init__(self, encoder: ImageEncoder, budget_mb: float = DEFAULT_BUDGET_MB) -> None:
        self.encoder = encoder
        self.cache = EmbeddingLRU(budget_mb)
        self._lock = threading.RLock()
        self.encoded = 0  # frames run through the encoder (tests and benches read it)

    def get(self, key: Hashable | None) -> list[torch.Tensor] | None:
        if key is None:
            return None
        hit = self.cache.get(key)
        return None if hit is None else [hit[name] for name in _LEVELS]

    def put(self, key: Hashable | None, levels: list[torch.Tensor]) -> None:
        if key is not None:
            self.cache.put(key, dict(zip(_LEVELS, levels, strict=True)))

    def encode(self, key: Hashable | None, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """The levels of one preprocessed frame (1, 3, S, S), encoded at most once per key."""
        with self._lock:
            found = self.get(key)
            if found is not None:
                return found
            levels = self.encoder.levels(pixel_values)
            self.encoded += 1
            self.put(key, levels)
            return levels

    def contains(self, key: Hashable) -> bool:
        return key in self.cache


def shared_features(model: Any, image_size: int, weights_dir: Path | None = None,
                    prefer: str | None = None) -> SharedFeatures:
    """The SharedFeatures for ``model``'s encoder weights, made on first use. ``prefer`` as for
    ImageEncoder ("auto", "onnx", "pytorch"; None reads ANNOTATOR_ENCODER)."""
    import os

    from annotator.engines.image_encoder import ENV, ImageEncoder, _levels_module, weights_sha256

    prefer = (prefer or os.environ.get(ENV) or "auto").lower()
    device = str(next(model.parameters()).device)
    sha = weights_sha256(_levels_module(model), weights_dir, "image-encoder")
    key = (sha, device, int(image_size), prefer)
    with _registry_lock:
        found = _registry.get(key)
    if found is not None:
        return found
    # Built outside the lock: the first ONNX export takes tens of seconds.
    features = SharedFeatures(ImageEncoder(model, image_size, weights_dir=weights_dir, prefer=prefer,
                                           sha256=sha))
    with _registry_lock:
        return _registry.setdefault(key, features)


def clear() -> None:
    """Forget every shared encoder and cache (tests; releasing all models)."""
    with _registry_lock:
        _registry.clear()
