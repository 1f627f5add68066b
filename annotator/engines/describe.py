"""Describers: zero-shot classification with CLIP and captioning with BLIP, through transformers.

``load_classifier`` / ``load_captioner`` read a Hugging Face snapshot folder (the installed
model, or ``weights=``) and return an engine that works on HxWx3 uint8 RGB images (whole
frames or object crops from engines/crops.py):

- ``ClipClassifier.embed_images(images)``: L2-normalised image embeddings, in batches;
  ``embed_labels(labels)``: one text embedding per label, the normalised mean over prompt
  templates ("a photo of a {}." and a few more, CLIP's prompt ensembling), cached per label;
  ``rank(embedding, labels)``: softmax over ``logit_scale * cosine`` (the model's own
  temperature), best first. A track is classified from the mean of its crops' embeddings.
- ``BlipCaptioner.caption(images)``: one caption per image (greedy on a CPU, beam search with
  3 beams on a GPU, as the BLIP authors decode), batched. BLIP's ``generate`` replaces the
  first prompt token by its decoder BOS and drops the last one (the SEP the tokenizer adds),
  so a prompt goes in as the processor tokenises it and no prompt needs no ids at all.

Work runs under ``torch.inference_mode`` with bf16 autocast on CUDA (engines/device.py);
weights stay fp32. A GPU out-of-memory error moves the engine to the CPU once and retries
(device.OomFallback). Nothing here downloads: a missing model raises WeightsMissingError
with the ``annotator models download NAME`` command.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.engines.snapshots import check_config, load_complete_weights, quiet_transformers
from annotator.errors import FormatError

log = logging.getLogger(__name__)

DEFAULT_MODELS = {"classify": "clip-vit-b-32", "caption": "blip-base"}
_TOKENIZER_FILES = {"classify": ("tokenizer.json", "vocab.json"), "caption": ("tokenizer.json", "vocab.txt")}
_FAMILY = {"classify": ("clip", "CLIP"), "caption": ("blip", "BLIP")}

# A few of the 80 prompts CLIP's authors ensembled for ImageNet: averaging the text embeddings
# over them is worth a few points of zero-shot accuracy over "a photo of a {}." alone.
TEMPLATES = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a blurry photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
)

OnBatch = Callable[[int], None]  # called with the number of images done so far


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(float(self.score), 6)}


def label_text(label: str) -> str:
    """How a label reads in a prompt: "tennis_racket" -> "tennis racket"."""
    return re.sub(r"\s+", " ", label.replace("_", " ").replace("-", " ")).strip()


class _Engine:
    """What both describers share: device moves, inference context, out-of-memory fallback."""

    task = ""

    def __init__(self, model: Any, processor: Any, name: str, device: str, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.name = name
        self.device = device
        self.model = model.to(device).eval()
        self.processor = processor
        self.batch_size = batch_size
        self.notify: Callable[[str], None] | None = None  # set by the app: tells the user about a fallback
        self._lock = threading.RLock()

    def to(self, device: str) -> None:
        """Move the model (label embeddings are numpy arrays on the host: they stay valid)."""
        with self._lock:
            self.model.to(device)
            self.device = device

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        import torch

        from annotator.engines.device import autocast

        with self._lock, torch.inference_mode(), autocast(self.device):
            yield

    def _batched(self, items: Sequence[Any], fn: Callable[[Sequence[Any]], list[Any]],
                 on_batch: OnBatch | None) -> list[Any]:
        from annotator.engines.device import OomFallback

        fallback = OomFallback(move_to_cpu=lambda: self.to("cpu"), notify=self.notify, device=self.device,
                               what=self.name)
        out: list[Any] = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            out.extend(fallback.run(fn, batch))
            if on_batch is not None:
                on_batch(len(out))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.device})"


class ClipClassifier(_Engine):
    """Zero-shot labels from a transformers ``CLIPModel`` and its ``CLIPProcessor``."""

    task = "classify"

    def __init__(self, model: Any, processor: Any, name: str = "clip", device: str = "cpu", *,
                 batch_size: int = 32, templates: Sequence[str] = TEMPLATES) -> None:
        super().__init__(model, processor, name, device, batch_size)
        if not templates or any("{}" not in t for t in templates):
            raise ValueError("every prompt template needs a '{}' where the label goes")
        self.templates = tuple(templates)
        self._label_cache: dict[str, np.ndarray] = {}
        self.dim = int(model.config.projection_dim)
        self.logit_scale = float(model.logit_scale.detach().exp().item())
        self._max_tokens = int(model.config.text_config.max_position_embeddings)

    def embed_images(self, images: Sequence[np.ndarray], on_batch: OnBatch | None = None) -> np.ndarray:
        """(N, dim) float32, each row L2-normalised."""
        rows = self._batched(list(images), self._image_batch, on_batch)
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)

    def embed_labels(self, labels: Sequence[str]) -> np.ndarray:
        """(L, dim) float32: per label the normalised mean of its prompt embeddings (cached)."""
        missing = [label for label in dict.fromkeys(labels) if label not in self._label_cache]
        if missing:
            prompts = [t.format(label_text(label)) for label in missing for t in self.templates]
            rows = self._batched(prompts, self._text_batch, None)
            k = len(self.templates)
            for i, label in enumerate(missing):
                mean = np.mean(rows[i * k:(i + 1) * k], axis=0)
                self._label_cache[label] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        if not labels:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._label_cache[label] for label in labels])

    def probabilities(self, embedding: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """Softmax over the labels of ``logit_scale * cosine`` for one image embedding (dim,)."""
        if not labels:
            raise ValueError("no labels to score against")
        vec = np.asarray(embedding, np.float64)
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        logits = self.logit_scale * (self.embed_labels(labels).astype(np.float64) @ vec)
        logits -= logits.max()
        probs = np.exp(logits)
        return probs / probs.sum()

    def rank(self, embedding: np.ndarray, labels: Sequence[str], top_k: int = 5) -> list[LabelScore]:
        """The ``top_k`` labels for one embedding, best first."""
        labels = list(dict.fromkeys(labels))
        probs = self.probabilities(embedding, labels)
        order = np.argsort(-probs, kind="stable")[:max(1, top_k)]
        return [LabelScore(labels[i], float(probs[i])) for i in order]

    def classify(self, images: Sequence[np.ndarray], labels: Sequence[str], top_k: int = 5,
                 on_batch: OnBatch | None = None) -> list[LabelScore]:
        """Labels for what the images show together (e.g. crops of one track): mean embedding."""
        embeddings = self.embed_images(images, on_batch)
        if len(embeddings) == 0:
            raise ValueError("no images to classify")
        return self.rank(mean_embedding(embeddings), labels, top_k)

    def _image_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        inputs = self.processor.image_processor(images=[_rgb(im) for im in batch], return_tensors="pt")
        with self._inference():
            pixels = inputs["pixel_values"].to(self.device)
            out = self.model.get_image_features(pixel_values=pixels)
            feats = _pooled(out).float()
            feats = torch.nn.functional.normalize(feats, dim=-1)
        return list(feats.cpu().numpy())

    def _text_batch(self, prompts: Sequence[str]) -> list[np.ndarray]:
        import torch

        tokens = self.processor.tokenizer(list(prompts), padding=True, truncation=True,
                                          max_length=self._max_tokens, return_tensors="pt")
        with self._inference():
            tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
            feats = _pooled(self.model.get_text_features(**tokens)).float()
            feats = torch.nn.functional.normalize(feats, dim=-1)
        return list(feats.cpu().numpy())


class BlipCaptioner(_Engine):
    """Captions from a transformers ``BlipForConditionalGeneration`` and its ``BlipProcessor``."""

    task = "caption"

    def __init__(self, model: Any, processor: Any, name: str = "blip", device: str = "cpu", *,
                 batch_size: int = 8, max_new_tokens: int = 30, num_beams: int | None = None,
                 prompt: str | None = None) -> None:
        super().__init__(model, processor, name, device, batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self._num_beams = num_beams
        self.prompt = prompt or None

    @property
    def num_beams(self) -> int:
        if self._num_beams is not None:
            return max(1, int(self._num_beams))
        return 3 if self.device.startswith("cuda") else 1  # beams triple the CPU time

    def caption(self, images: Sequence[np.ndarray], on_batch: OnBatch | None = None) -> list[str]:
        return self._batched(list(images), self._caption_batch, on_batch)

    def _caption_batch(self, batch: Sequence[np.ndarray]) -> list[str]:
        images = [_rgb(im) for im in batch]
        if self.prompt:
            inputs = self.processor(images=images, text=[self.prompt] * len(images), return_tensors="pt")
        else:
            inputs = self.processor(images=images, return_tensors="pt")
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}
        with self._inference():
            for key in ("input_ids", "attention_mask"):
                if key in inputs:
                    kwargs[key] = inputs[key].to(self.device)
            ids = self.model.generate(pixel_values=inputs["pixel_values"].to(self.device), **kwargs)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        return [clean_caption(t) for t in texts]


def clean_caption(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    """The normalised mean of L2-normalised embeddings (a track's appearance over its frames)."""
    mean = np.asarray(embeddings, np.float64).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _pooled(out: Any) -> Any:
    # transformers 5 returns a model output whose pooler_output is the projected embedding;
    # older releases returned the tensor itself.
    return getattr(out, "pooler_output", out)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    if not image.flags.writeable:  # decoded frames are read-only; torch.from_numpy warns on those
        return image.copy()
    return np.ascontiguousarray(image)


# --- loading -------------------------------------------------------------------------------------
def resolve_model(task: str, name: str | None = "auto", device: str = "cpu",
                  weights: str | Path | None = None) -> tuple[str, str]:
    """(registry name, why) for a describer. ``auto`` takes the best installed model for the
    device; with ``weights`` and ``auto`` the weights stand in for the task's default model.

    Nothing installed, or a named model missing: WeightsMissingError naming the model and the
    ``annotator models download NAME`` command.
    """
    from annotator.engines import weights as registry

    if task not in DEFAULT_MODELS:
        raise ValueError(f"unknown describer task {task!r}; expected classify or caption")
    name = name or "auto"
    if name == "auto" and weights is not None:
        name = DEFAULT_MODELS[task]
    if name != "auto":
        spec = registry.get_spec(name)
        if spec.family != _FAMILY[task][0]:
            usable = [s.name for s in registry.REGISTRY.values() if s.family == _FAMILY[task][0]]
            raise ValueError(f"model '{name}' cannot {task}; models that can: {', '.join(usable)}")
    return registry.choose(task, name, device, weights)


def load_classifier(name: str | None = "auto", weights: str | Path | None = None, device: str | None = None,
                    **options: Any) -> ClipClassifier:
    """A ClipClassifier for ``name`` (a clip-* registry name or "auto"); ``options`` go to it."""
    return _load("classify", ClipClassifier, name, weights, device, options)


def load_captioner(name: str | None = "auto", weights: str | Path | None = None, device: str | None = None,
                   **options: Any) -> BlipCaptioner:
    """A BlipCaptioner for ``name`` (a blip-* registry name or "auto"); ``options`` go to it."""
    return _load("caption", BlipCaptioner, name, weights, device, options)


def _load(task: str, engine_cls: Any, name: str | None, weights: str | Path | None, device: str | None,
          options: dict[str, Any]) -> Any:
    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device

    dev = pick_device(device)
    name, _why = resolve_model(task, name, dev, weights)
    folder = registry.require(name, weights)
    model, processor = load_snapshot(folder, task)
    return engine_cls(model, processor, name, dev, **options)


def load_snapshot(folder: str | Path, task: str) -> tuple[Any, Any]:
    """(model, processor) from a snapshot folder, with errors that name the folder and the problem."""
    folder = Path(folder)
    family, label = _FAMILY[task]
    check_config(folder, (family,), label, f"a {label} install is a Hugging Face snapshot folder")
    # transformers builds a placeholder tokenizer (a 3-token vocabulary) when its files are
    # missing: check for them, or every label would read as "unknown".
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES[task]):
        raise FormatError(f"the {label} tokenizer files are missing (one of "
                          f"{', '.join(_TOKENIZER_FILES[task])})", folder)
    if task == "classify":
        from transformers import CLIPModel as Model
        from transformers import CLIPProcessor as Processor
    else:
        from transformers import BlipForConditionalGeneration as Model
        from transformers import BlipProcessor as Processor
    with quiet_transformers():
        model = load_complete_weights(Model, folder, label)
        try:
            processor = Processor.from_pretrained(folder)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise FormatError(f"the {label} tokenizer or image preprocessor files are missing or unreadable "
                              f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                              folder) from exc
    vocab = len(processor.tokenizer)
    if vocab > model.config.text_config.vocab_size or vocab < 16:
        raise FormatError(f"the tokenizer ({vocab} tokens) does not belong to this {label} model "
                          f"({model.config.text_config.vocab_size} tokens)", folder)
    return model.eval(), processor
