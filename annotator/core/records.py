"""Plain records the project store hands out: immutable, no database handles inside.

Everything here is safe to pass between threads and to keep after the project is closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class _Unset:
    """Marker for "leave this field as it is" in update calls (None is a real value there)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

# "detected": found by a text or example prompt (SAM 3); never locked, left out of exports unless
# asked for, until the user accepts it (it becomes "user" and locked).
MASK_SOURCES = ("user", "tracked", "imported", "detected")

# Distinct, colour-blind-friendly-ish object colours (tab10 then the lighter tab20 half, reordered
# so neighbours differ in hue). Object N gets PALETTE[(N - 1) % len(PALETTE)].
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)


def palette_color(object_id: int) -> str:
    return PALETTE[(int(object_id) - 1) % len(PALETTE)]


@dataclass(frozen=True)
class VideoRef:
    """Where the project's video is and what it is; ``fingerprint`` identifies the content."""

    path: str
    fingerprint: str
    frame_count: int
    width: int
    height: int
    fps: float
    codec: str = ""
    rotation: int = 0


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    supercategory: str = ""


@dataclass(frozen=True)
class ObjectInfo:
    id: int
    name: str
    category_id: int | None
    color: str  # "#rrggbb"
    attributes: dict = field(default_factory=dict)
    hidden: bool = False


@dataclass(frozen=True)
class MaskRecord:
    object_id: int
    frame: int
    rle: dict  # {"size": [h, w], "counts": str}
    source: str  # "user" | "tracked" | "imported" | "detected"
    score: float | None
    locked: bool
    area: int
    bbox: list[float]  # [x, y, w, h] as core.masks.bbox computes it


@dataclass(frozen=True)
class Insight:
    id: int
    kind: str
    object_id: int | None
    frame_start: int | None
    frame_end: int | None
    model: str | None
    payload: dict
    created: float


@dataclass(frozen=True)
class Change:
    """One changed row, as listeners see it after a commit (or an undo/redo)."""

    kind: str  # "mask" | "object" | "category" | "mark" | "prompt" | "insight" | "video" | "history"
    object_id: int | None
    frame: int | None


@dataclass(frozen=True)
class HistoryResult:
    """What one undo or redo did: ``skipped`` rows had been changed since, so they were left alone."""

    label: str
    applied: int
    skipped: int
