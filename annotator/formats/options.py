"""What to export: the selection every format shares, plus the few knobs some formats read.

Selection (all formats):
- ``objects``: object ids to export (None: all);
- ``categories``: category names to export (None: all). Objects with no category belong to
  ``default_category`` ("object"), so ``categories=("object",)`` picks them;
- ``frame_start`` / ``frame_stop`` (exclusive) and ``stride``: frames ``start, start+stride, ...``;
- ``locked_only`` / ``reviewed_only``: only masks the user locked (or marked reviewed). The frames
  exported are then the frames where a selected object has such a mask; a locked *empty* mask
  ("verified absent") still makes its frame a valid, empty training image;
- ``include_detected``: also export masks found by a text prompt and not yet accepted (provenance
  ``detected``); by default they are left out, as unchecked machine guesses;
- ``skip_empty``: leave out frames where no selected object has a (non-empty) mask. Without it,
  every selected frame is written (an empty image entry, an empty PNG, an empty label file), which
  is what detectors need to learn negatives.

A mask with area 0 never becomes an annotation: formats have no "empty" annotation.

Benchmark knobs (MOT / MOTS, see benchmark.py and mot.py): ``class_map`` (category name -> class
id, over the benchmark's own table), ``frame_base`` (1 as MOTChallenge counts, 0 for KITTI-MOTS)
and ``seqmap`` ("MOT17-train": TrackEval's folder layout and seqmap file). YouTube-VIS results:
``gt`` (a ground-truth file whose video and category ids the results take, see ytvis_results.py).
Polygons: ``polygon_fallback`` says what a mask a polygon cannot hold (holes) becomes: "rle"
(kept as RLE) or "approx" (the outer contour of every part, so the file holds polygons only).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

YTVIS_LAYOUTS = ("project", "2019", "2021")
POLYGON_FALLBACKS = ("rle", "approx")


@dataclass(frozen=True)
class ExportOptions:
    # --- selection ---------------------------------------------------------------------------
    objects: tuple[int, ...] | None = None
    categories: tuple[str, ...] | None = None
    frame_start: int = 0
    frame_stop: int | None = None
    stride: int = 1
    locked_only: bool = False
    reviewed_only: bool = False
    skip_empty: bool = False
    include_detected: bool = False
    default_category: str = "object"
    # --- format knobs ---------------------------------------------------------------------------
    polygons: bool = False  # COCO: polygons instead of RLE (masks with holes stay RLE, see coco.py)
    tolerance: float = 1.0  # polygon simplification (Douglas-Peucker epsilon), pixels
    write_frames: bool | None = None  # None: the format's default (YOLO yes, the others no)
    jpeg_quality: int = 95
    layout: str = "project"  # YouTube-VIS category list: the project's, or the official 2019 / 2021
    results: bool = False  # YouTube-VIS: the results format (with scores) instead of ground truth
    alpha: float = 0.5  # overlay video: mask opacity
    fps: float | None = None  # overlay video: frame rate (None: the video's)
    polygon_fallback: str = "rle"  # a mask with holes under --polygons: "rle" or "approx" (outer contours)
    class_map: tuple[tuple[str, int], ...] | None = None  # MOT / MOTS: category name -> class id
    frame_base: int = 1  # MOT / MOTS: the number of the first frame (KITTI-MOTS: 0)
    seqmap: str | None = None  # MOT / MOTS: "NAME-SPLIT" writes TrackEval's layout and seqmap file
    gt: str | None = None  # YouTube-VIS results: the ground-truth file that gives video / category ids

    def validate(self) -> ExportOptions:
        """Return self, or raise ValueError naming the bad option (the CLI turns it into usage)."""
        if self.objects is not None and any(int(o) <= 0 for o in self.objects):
            raise ValueError("object ids are positive integers")
        if self.frame_start < 0:
            raise ValueError(f"frame start must be >= 0, got {self.frame_start}")
        if self.frame_stop is not None and self.frame_stop <= self.frame_start:
            raise ValueError(f"empty frame range {self.frame_start}:{self.frame_stop}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ValueError(f"tolerance must be a finite number >= 0, got {self.tolerance}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"JPEG quality must be 1..100, got {self.jpeg_quality}")
        if self.layout not in YTVIS_LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(YTVIS_LAYOUTS)}, got {self.layout!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in 0..1, got {self.alpha}")
        if self.fps is not None and not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.polygon_fallback not in POLYGON_FALLBACKS:
            raise ValueError(f"polygon fallback must be one of {', '.join(POLYGON_FALLBACKS)}, "
                             f"got {self.polygon_fallback!r}")
        if self.frame_base not in (0, 1):
            raise ValueError(f"frame base must be 0 or 1, got {self.frame_base}")
        if self.seqmap is not None:
            check_seqmap_name(self.seqmap)
        if self.gt is not None and not self.results:
            raise ValueError("a ground-truth file (--gt) goes with YouTube-VIS --results")
        if not self.default_category.strip():
            raise ValueError("the default category needs a name")
        return self

    def check_format(self, fmt: str) -> ExportOptions:
        """Return self, or raise ValueError naming the options that ``fmt`` would silently ignore."""
        unused = []
        if fmt not in ("mot", "mots"):
            unused += [name for name, is_set in (("class map", self.class_map is not None),
                                                 ("frame base", self.frame_base != 1),
                                                 ("seqmap", self.seqmap is not None)) if is_set]
        if fmt != "ytvis" and (self.results or self.gt):
            unused.append("results" if self.results else "ground truth")
        if self.polygon_fallback != "rle" and not (fmt == "coco" and self.polygons):
            unused.append("polygon fallback (COCO --polygons only)")
        if unused:
            raise ValueError(f"{', '.join(unused)}: not an option of the {fmt} format")
        return self

    def replace(self, **changes: object) -> ExportOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def frame_range(self, frame_count: int) -> range:
        """The frames the range and stride select in a video of ``frame_count`` frames."""
        stop = frame_count if self.frame_stop is None else min(self.frame_stop, frame_count)
        return range(min(self.frame_start, stop), stop, self.stride)

    def wants_frames(self, default: bool) -> bool:
        return default if self.write_frames is None else bool(self.write_frames)


def parse_frame_range(text: str) -> tuple[int, int | None]:
    """'10:50' -> (10, 50); '10:' -> (10, None); ':50' -> (0, 50); '7' -> (7, 8). Stop is exclusive."""
    text = text.strip()
    if ":" not in text:
        start = _int(text, "frame")
        return start, start + 1
    left, right = text.split(":", 1)
    start = _int(left, "frame start") if left.strip() else 0
    stop = _int(right, "frame stop") if right.strip() else None
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(f"bad frame range {text!r} (START:STOP, stop exclusive, 0-based)")
    return start, stop


def parse_id_list(text: str) -> tuple[int, ...]:
    """'1,2,5' -> (1, 2, 5)."""
    ids = tuple(_int(part, "object id") for part in text.split(",") if part.strip())
    if not ids or any(i <= 0 for i in ids):
        raise ValueError(f"bad object id list {text!r} (comma-separated positive integers)")
    return ids


def parse_name_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError("give at least one name")
    return names


def parse_split(text: str) -> dict[str, float]:
    """'train=0.8,val=0.2' -> {'train': 0.8, 'val': 0.2}; fractions must sum to 1 (within 1e-6)."""
    split: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"bad split part {part!r} (NAME=FRACTION, e.g. train=0.8,val=0.2)")
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"bad split fraction {value!r} in {part!r}") from None
        if not (0.0 <= fraction <= 1.0) or name in split:
            raise ValueError(f"bad split part {part!r} (fractions in 0..1, names unique)")
        split[name] = fraction
    if not split or abs(sum(split.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {text!r}")
    return split


def check_seqmap_name(name: str) -> str:
    """'MOT17-train' -> itself; TrackEval reads ``<BENCHMARK>-<SPLIT>`` (split: train, test, all ...)."""
    bench, sep, split = name.rpartition("-")
    ok = all(part and part.replace("_", "").isalnum() for part in (bench.replace("-", ""), split))
    if not sep or not ok:
        raise ValueError(f"bad seqmap name {name!r} (BENCHMARK-SPLIT, e.g. MOT17-train or MOTS-train)")
    return name


def parse_frame_base(text: str) -> int:
    base = _int(text, "frame base")
    if base not in (0, 1):
        raise ValueError(f"frame base must be 0 or 1, got {text!r}")
    return base


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"bad {what} {text!r} (an integer)") from None
