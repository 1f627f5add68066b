"""YOLO segmentation (Ultralytics layout): export and import.

Export writes one folder ``OUT/`` for one or many projects (one video each):
- ``data.yaml``: ``train`` and ``val`` (the ``images/<video-stem>`` folders; without ``split``
  both list every video), ``nc`` and ``names`` (class index -> category name, shared by name
  over the projects). ``split={"train": 0.8, "val": 0.2}`` divides the *videos* as COCO and
  YouTube-VIS do (dataset.split_videos, same seed rule), one key per split. No ``path`` key, so
  Ultralytics resolves the folders relative to the yaml file itself;
- ``images/<video-stem>/<frame>.jpg`` and ``labels/<video-stem>/<frame stem>.txt``: one line per object,
  ``class x1 y1 x2 y2 ...`` with coordinates normalised by the frame width and height (6
  decimals). Class = category id - 1 (0-based). A frame with no object gets an empty label file
  (a negative example) unless ``skip_empty``;
- ``tracks.json``: per video, the object id of every label line and each object's name and
  category, so an import restores ids (YOLO itself has no track ids; other tools ignore the file).

The frames are always written: Ultralytics finds a label by swapping ``images`` for ``labels``
in the image's path, so labels without images beside them are no dataset (``write_frames=False``
is refused, saying so). The summary counts the polygons and the worst IoU of a polygon's fill
with its mask (polygon_stats.py).

A YOLO instance is one polygon. Objects in several parts, or with holes, are joined into one
ring through zero-width bridges between nearest vertices (as Ultralytics' own converter joins
parts); the even-odd fill of that ring gives the holes back. Polygons are simplified with
``options.tolerance`` px (Douglas-Peucker); specks that leave fewer than 3 vertices are dropped.

Import reads ``OUT`` (with ``data.yaml`` for the names), or a labels folder. Without
``tracks.json`` each label line becomes its own object (YOLO cannot say which lines are the same
object over time).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.atomic import atomic_write, ensure_dir
from annotator.errors import FormatError, OutputError
from annotator.formats.common import (
    ExportSummary,
    FrameMatcher,
    ImportSummary,
    ProgressFn,
    ProjectBuilder,
    Reporter,
    atomic_folder,
    load_json,
    open_source,
    protected_paths,
    read_text_lines,
    video_stem,
    write_frame_images,
)
from annotator.formats.dataset import split_videos
from annotator.formats.geometry import mask_to_rings, merge_rings, polygon_mask
from annotator.formats.importing import str_or_none, valid_id
from annotator.formats.options import ExportOptions
from annotator.formats.polygon_stats import PolygonStats
from annotator.formats.selection import CategoryTable, VideoEntry, opened_projects, prepare_videos

TRACKS_FILE = "tracks.json"


def export_yolo(project: Any, out: str | Path, options: ExportOptions | None = None,
                progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    return export_yolo_dataset([project], out, options, progress=progress, cancel=cancel)


def export_yolo_dataset(projects: Sequence[Any], out: str | Path, options: ExportOptions | None = None, *,
                        split: dict[str, float] | None = None, seed: int = 0,
                        progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    """One YOLO dataset of every project's video; ``split`` divides the *videos* (dataset.py)."""
    started = time.perf_counter()
    options = (options or ExportOptions()).validate()
    reporter = Reporter(progress, cancel)
    target = Path(out)
    if not options.wants_frames(True):
        raise OutputError("YOLO finds each label beside its image (images/<video>/x.jpg -> labels/<video>/"
                          "x.txt), so a dataset without the frames would point data.yaml at images that do "
                          "not exist; leave out --no-frames", target)
    with opened_projects(projects) as opened:
        categories = CategoryTable.build(opened, options)
        videos = prepare_videos(opened, options, categories)
        summary = ExportSummary("yolo", str(target), videos=len(videos), categories=len(categories.entries))
        stats = PolygonStats()
        tracks: dict[str, Any] = {}
        with atomic_folder(target, _ours, protected_paths(opened)) as tmp:
            for video in videos:
                tracks[video.name] = _write_labels(video, tmp, options, reporter, summary, stats)
                images = ensure_dir(tmp / "images" / video.name)
                write_frame_images(video.project, video.plan.frames, images, _jpg_name(video),
                                   options.jpeg_quality, reporter, f"frames of {video.name}")
            sets = _sets([v.name for v in videos], split, seed)
            _write_yaml(tmp / "data.yaml", sets, {c["id"] - 1: c["name"] for c in categories.entries})
            with atomic_write(tmp / TRACKS_FILE, "w", encoding="utf-8") as f:
                json.dump({"format": "annotator-yolo-tracks", "videos": tracks}, f, separators=(",", ":"))
        summary.files = [str(target)]
        stats.report(summary, "YOLO")
        if split:
            summary.extra["split"] = {name: {"videos": names} for name, names in sets.items()}
            summary.warnings += [f"split {name!r} got no video (there are {len(videos)})"
                                 for name, names in sets.items() if not names]
    summary.seconds = time.perf_counter() - started
    return summary


def _write_labels(video: VideoEntry, tmp: Path, options: ExportOptions, reporter: Reporter,
                  summary: ExportSummary, stats: PolygonStats) -> dict[str, Any]:
    """``labels/<video>/<frame>.txt`` for every planned frame; returns the video's tracks.json entry."""
    plan = video.plan
    labels = ensure_dir(tmp / "labels" / video.name)
    lines_of: dict[str, list[int]] = {}
    for done, (frame, recs) in enumerate(plan.iter_frames(), start=1):
        lines, ids = [], []
        for rec in recs:
            mask = rle_ops.decode(rec.rle)
            outers, holes = mask_to_rings(mask, options.tolerance)
            ring = merge_rings(outers, holes)
            if ring is None:
                stats.dropped += 1
                continue
            stats.add(mask, polygon_mask([ring], plan.height, plan.width))
            xy = ring / np.array([plan.width, plan.height], dtype=np.float64)
            coords = " ".join(f"{v:.6f}" for v in np.clip(xy, 0.0, 1.0).ravel())
            lines.append(f"{plan.category_of[rec.object_id] - 1} {coords}\n")
            ids.append(rec.object_id)
        stem = video.names.stem(frame)
        with atomic_write(labels / f"{stem}.txt", "w", encoding="utf-8") as f:
            f.writelines(lines)
        lines_of[stem] = ids
        summary.annotations += len(lines)
        reporter(done, len(plan.frames), f"labels of {video.name}")
    summary.frames += len(plan.frames)
    summary.objects += len(plan.objects_with_content())
    return {"objects": {str(o.id): {"name": o.name, "category": plan.category_name_of[o.id]}
                        for o in plan.objects},
            "lines": lines_of}


def _jpg_name(video: VideoEntry) -> Any:
    return lambda index: video.names.stem(index) + ".jpg"


def _sets(names: list[str], split: dict[str, float] | None, seed: int) -> dict[str, list[str]]:
    """Video names per data.yaml set: the split by video, or all videos as both train and val."""
    if not split:
        return {"train": names, "val": names}
    return {name: [names[i] for i in indices] for name, indices in split_videos(names, split, seed).items()}


def _ours(entry: Path) -> bool:
    """What a YOLO export writes into its folder."""
    return entry.name in ("data.yaml", TRACKS_FILE, "images", "labels")


def _write_yaml(path: Path, sets: dict[str, list[str]], names: dict[int, str]) -> None:
    lines = ["# Ultralytics YOLO segmentation dataset written by Annotator.",
             "# Paths are relative to this file. Without a split, train and val name the same frames."]
    for name, videos in sets.items():
        folders = [f"images/{v}" for v in videos]
        lines.append(f"{name}: {folders[0]}" if len(folders) == 1 else f"{name}: {json.dumps(folders)}")
    lines += [f"nc: {len(names)}", "names:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in sorted(names.items())]
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# --- import ---------------------------------------------------------------------------------------

def import_yolo(path: str | Path, source: str | Path, project_path: str | Path, *, video: str | None = None,
                progress: ProgressFn | None = None, cancel: Any = None) -> ImportSummary:
    started = time.perf_counter()
    reporter = Reporter(progress, cancel)
    root = Path(path)
    if not root.is_dir():
        raise FormatError("expected a YOLO dataset folder (data.yaml, labels/)", root)
    with open_source(source) as src:
        label_dir = _label_folder(root, video or video_stem(src.path))
        names = _read_names(root / "data.yaml") if (root / "data.yaml").is_file() else {}
        tracks = _read_tracks(root / TRACKS_FILE, label_dir.name)
        matcher = FrameMatcher(src)
        files = sorted(label_dir.glob("*.txt"))
        if not files:
            raise FormatError("no label files (*.txt)", label_dir)
        summary = ImportSummary("yolo", str(label_dir), str(project_path))
        h, w = src.height, src.width
        with ProjectBuilder(project_path, src) as builder:
            created: dict[Any, int] = {}
            next_id = max((int(k) for k in tracks.get("objects", {})), default=0) + 1
            for done, file in enumerate(files, start=1):
                frame = matcher.file_frame(file)
                line_ids = tracks.get("lines", {}).get(file.stem)
                entries = [ln for ln in read_text_lines(file) if ln.strip()]
                if line_ids is not None and len(line_ids) != len(entries):
                    line_ids = None  # the labels were edited since: fall back to one object per line
                for n, line in enumerate(entries):
                    cls, ring = _parse_line(line, file, n + 1)
                    if line_ids is not None:
                        key: Any = line_ids[n]
                    else:
                        key, next_id = next_id, next_id + 1
                    if key not in created:
                        info = tracks.get("objects", {}).get(str(key), {})
                        category = info.get("category") or names.get(cls) or f"class {cls}"
                        created[key] = builder.add_object(key, info.get("name"), category)
                    mask = polygon_mask([ring * np.array([w, h])], h, w)
                    if mask.any():
                        builder.add_mask(created[key], frame, rle_ops.encode(mask))
                reporter(done, len(files), "labels")
            builder.flush()
            summary.frames, summary.masks, summary.objects = len(files), builder.masks, len(created)
            summary.categories = builder.category_count
    summary.seconds = time.perf_counter() - started
    return summary


def _label_folder(root: Path, name: str) -> Path:
    for candidate in (root / "labels" / name, root / name, root):
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    labels = root / "labels"
    found = [p for p in labels.iterdir() if p.is_dir() and any(p.glob("*.txt"))] if labels.is_dir() else []
    if len(found) == 1:
        return found[0]
    raise FormatError(f"no label files in labels/{name}/ (nor a single labels subfolder)", root)


def _parse_line(line: str, file: Path, n: int) -> tuple[int, np.ndarray]:
    parts = line.split()
    try:
        cls = int(parts[0])
        values = np.array([float(v) for v in parts[1:]], dtype=np.float64)
    except (ValueError, IndexError):
        raise FormatError(f"line {n}: expected 'class x1 y1 x2 y2 ...', got {line[:80]!r}", file) from None
    if cls < 0:
        raise FormatError(f"line {n}: class {cls} is negative", file)
    if len(values) == 4:
        raise FormatError(f"line {n}: a box ('class cx cy w h') is not a segmentation polygon", file)
    if len(values) < 6 or len(values) % 2:
        raise FormatError(f"line {n}: a polygon needs an even number (>= 6) of coordinates, got "
                          f"{len(values)}", file)
    if not np.all(np.isfinite(values)) or values.min() < -0.01 or values.max() > 1.01:
        raise FormatError(f"line {n}: coordinates must be normalised to 0..1", file)
    return cls, values.reshape(-1, 2)


def _read_names(path: Path) -> dict[int, str]:
    """Class names from data.yaml (``names`` as a list or an index map)."""
    import yaml  # PyYAML comes with huggingface_hub / transformers

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FormatError(f"not a readable data.yaml ({exc})", path) from exc
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items()
                if (isinstance(k, int) and not isinstance(k, bool) and k >= 0)
                or (str(k).isascii() and str(k).isdigit())}
    return {}


def _read_tracks(path: Path, video: str) -> dict[str, Any]:
    """The tracks of ``video``: ``{"videos": {name: {objects, lines}}}`` (or one video's, older files)."""
    if not path.is_file():
        return {}
    doc = load_json(path)
    if isinstance(doc, dict) and isinstance(doc.get("videos"), dict):
        doc = doc["videos"].get(video, {})
    if not isinstance(doc, dict) or not isinstance(doc.get("objects", {}), dict) \
            or not isinstance(doc.get("lines", {}), dict):
        raise FormatError("expected {\"objects\": {...}, \"lines\": {...}}", path)
    objects = {}
    for key, info in doc.get("objects", {}).items():
        if not (key.isascii() and key.isdigit()) or not valid_id(int(key)) or not isinstance(info, dict):
            raise FormatError(f"objects[{key!r}]: expected a positive object id", path)
        objects[key] = {"name": str_or_none(info.get("name")), "category": str_or_none(info.get("category"))}
    lines = {}
    for stem, ids in doc.get("lines", {}).items():
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0
                                                and str(i) in objects for i in ids) \
                or len(set(ids)) != len(ids):
            raise FormatError(f"lines[{stem!r}]: expected a list of known object ids", path)
        lines[stem] = ids
    return {"objects": objects, "lines": lines}
