"""Datasets of many videos: several projects merged into one COCO or YouTube-VIS file.

- Category ids are shared by name: 1..K in the order names first appear (projects in the order
  given, each project's categories by id; "object" for objects without a category).
- Videos get ids 1..P in the order given; a video whose name repeats gets "-2", "-3" ...
- Track ids are unique over the dataset (1..N), since training code keys tracks by id alone;
  each ``tracks`` entry (COCO) and annotation (YouTube-VIS) keeps the project's ``object_id``.
- ``split={"train": 0.8, "val": 0.2}`` divides the *videos* (never frames of one video, which
  would leak near-duplicate frames between train and val) with a fixed seed: the video list is
  shuffled with ``random.Random(seed)`` and cut by cumulative fractions (rounded, every video
  lands in exactly one split). One file per split: ``OUT`` ending in ``.json`` gives
  ``<stem>_<split>.json`` beside it, otherwise ``OUT`` is a folder receiving ``<split>.json``.
  Category ids are the same in every split file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotator.core.atomic import ensure_dir
from annotator.formats.common import ExportSummary, ProgressFn, Reporter
from annotator.formats.options import ExportOptions
from annotator.formats.selection import CategoryTable, VideoEntry, opened_projects, prepare_videos

DATASET_FORMATS = ("coco", "ytvis")


def split_videos(names: Sequence[str], split: dict[str, float], seed: int = 0) -> dict[str, list[int]]:
    """Indices of ``names`` per split: shuffled with ``seed``, cut by cumulative fractions."""
    order = list(range(len(names)))
    random.Random(seed).shuffle(order)
    out: dict[str, list[int]] = {}
    cumulative = 0.0
    start = 0
    items = list(split.items())
    for k, (name, fraction) in enumerate(items):
        cumulative += fraction
        stop = len(order) if k == len(items) - 1 else int(round(cumulative * len(order)))
        out[name] = sorted(order[start:stop])
        start = stop
    return out


def split_paths(out: str | Path, splits: Sequence[str]) -> dict[str, Path]:
    out = Path(out)
    if out.suffix.lower() == ".json":
        return {name: out.with_name(f"{out.stem}_{name}{out.suffix}") for name in splits}
    ensure_dir(out)
    return {name: out / f"{name}.json" for name in splits}


def export_dataset(projects: Sequence[Any], fmt: str, out: str | Path, options: ExportOptions | None = None,
                   split: dict[str, float] | None = None, seed: int = 0, progress: ProgressFn | None = None,
                   cancel: Any = None) -> ExportSummary:
    """Merge ``projects`` (paths or open Projects) into one COCO / YouTube-VIS file (or one per split)."""
    if fmt not in DATASET_FORMATS:
        raise ValueError(f"datasets of several videos are written as {' or '.join(DATASET_FORMATS)}, "
                         f"not {fmt}")
    started = time.perf_counter()
    options = (options or ExportOptions()).validate()
    reporter = Reporter(progress, cancel)
    writer = _writer(fmt)
    with opened_projects(projects) as opened:
        categories = CategoryTable.build(opened, options)
        videos = prepare_videos(opened, options, categories, global_track_ids=len(opened) > 1)
        if not split:
            summary = writer(videos, categories, out, options, reporter, "Annotator dataset")
            summary.extra["videos"] = [v.name for v in videos]
            return summary
        parts = split_videos([v.name for v in videos], split, seed)
        paths = split_paths(out, list(parts))
        summary = ExportSummary(fmt, str(out), videos=len(videos), categories=len(categories.entries))
        summary.extra["split"] = {}
        for name, indices in parts.items():
            chosen = [_renumbered(videos[i], k) for k, i in enumerate(indices, start=1)]
            part = writer(chosen, categories, paths[name], options, reporter, f"Annotator dataset ({name})")
            summary.frames += part.frames
            summary.annotations += part.annotations
            summary.objects += part.objects
            summary.files += part.files
            summary.warnings += part.warnings
            summary.extra["split"][name] = {"path": str(paths[name]), "videos": [v.name for v in chosen],
                                            "frames": part.frames, "annotations": part.annotations}
    summary.seconds = time.perf_counter() - started
    return summary


def _renumbered(video: VideoEntry, video_id: int) -> VideoEntry:
    """The same video with ids 1..n inside its split file (image ids are set by the writer)."""
    return VideoEntry(video.project, video.plan, video_id, video.name, video.names, video.track_ids)


def _writer(fmt: str) -> Any:
    if fmt == "coco":
        from annotator.formats.coco import write_coco

        return write_coco
    from annotator.formats.ytvis import write_ytvis

    return write_ytvis
