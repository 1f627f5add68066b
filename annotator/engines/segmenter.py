"""The click-to-segment protocol every segmentation engine implements.

``prepare`` runs the slow part (an image encoder) once per frame and caches it under a key;
``predict`` turns prompts into a full-resolution mask quickly. Objects are independent: call
``predict`` once per object on the same prepared frame. ``prior`` is the low-resolution
logits of the previous prediction for the same object, so a new click refines the mask
instead of starting over.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class Prompt:
    """Clicks and an optional box, in full-resolution (x, y) pixels of the frame."""

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # (N, 2) x, y
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))  # (N,) 1 add, 0 remove
    box: np.ndarray | None = None  # (4,) x0, y0, x1, y1
    prior: np.ndarray | None = None  # MaskResult.logits of the previous prediction for this object

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, np.float32).reshape(-1, 2)
        self.labels = np.asarray(self.labels, np.int32).reshape(-1)
        if len(self.points) != len(self.labels):
            raise ValueError(f"{len(self.points)} points but {len(self.labels)} labels")
        if self.box is not None:
            self.box = np.asarray(self.box, np.float32).reshape(4)

    @property
    def empty(self) -> bool:
        return len(self.points) == 0 and self.box is None


@dataclass
class MaskResult:
    mask: np.ndarray  # HxW bool at full frame resolution
    score: float  # the engine's own quality estimate in [0, 1] (SAM: predicted IoU)
    logits: np.ndarray | None  # low-resolution logits to pass back as Prompt.prior
    timings: dict[str, float] = field(default_factory=dict)  # e.g. encode_ms, decode_ms


@runtime_checkable
class Segmenter(Protocol):
    name: str  # model name from the CLI contract: "sam-vit-b", "sam2.1-tiny", "classical" ...
    device: str  # "cuda", "mps" or "cpu"

    def prepare(self, image: np.ndarray, key: Hashable) -> float:
        """Encode an HxWx3 uint8 RGB frame under ``key``; returns ms spent (0 when cached)."""
        ...

    def is_prepared(self, key: Hashable) -> bool: ...

    def predict(self, prompt: Prompt, key: Hashable) -> MaskResult:
        """Segment one object on the frame prepared under ``key`` (prepare it first)."""
        ...


def replay_clicks(segmenter: Segmenter, prompt: Prompt, key: Hashable) -> MaskResult:
    """Clicks given at once, answered as if given one at a time (the box first, when there is one).

    The app sends each click with the previous answer's logits as the prior, so every click
    refines the last mask. A batch of clicks (``annotator segment --point ... --point ...``)
    goes through the same refinement in the same order, so both give the same mask; a
    single predict with all the points at once behaves differently (for the classical engine
    the newest click's reach decides how far a correction goes).
    """
    points, labels = prompt.points, prompt.labels
    if len(points) == 0 or (len(points) == 1 and prompt.box is None):
        return segmenter.predict(prompt, key)
    result: MaskResult | None = None
    prior = prompt.prior
    if prompt.box is not None:
        result = segmenter.predict(Prompt(box=prompt.box, prior=prior), key)
        prior = result.logits
    decode_ms = 0.0
    for k in range(1, len(points) + 1):
        result = segmenter.predict(Prompt(points[:k], labels[:k], prompt.box, prior), key)
        prior = result.logits
        decode_ms += result.timings.get("decode_ms", 0.0)
    assert result is not None
    result.timings = {**result.timings, "decode_ms": decode_ms}
    return result
