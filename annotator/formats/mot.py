"""MOTChallenge ground truth (boxes) and MOTS (masks): export and import.

One project is one sequence folder ``OUT/<video-stem>/``; several projects give one folder each.
With ``options.seqmap`` ("MOT17-train", "MOTS-train") the export is TrackEval's ground-truth
layout: ``OUT/<NAME-SPLIT>/<seq>/...`` and ``OUT/seqmaps/<NAME-SPLIT>.txt`` (a "name" header,
then the sequences), which TrackEval's MOTChallenge and MOTSChallenge datasets read as they are.

A sequence folder holds:
- ``gt/gt.txt``; ``seqinfo.ini`` (name, imDir, frameRate, seqLength, imWidth, imHeight, imExt);
  ``img1/000001.jpg ...`` when frames are written; and ``ids.json`` (our object ids, names and
  category names per track, the frame base, which an import uses; other tools ignore it).
- **MOT** (``gt.txt``): ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility`` per
  box, boxes 1-based (pixel x + 1, as MOTChallenge counts pixels from 1), ``conf`` 1 (= consider),
  ``class`` the MOT17 class id of the category (benchmark.py: by name, ``--class-map``
  overrides), ``visibility`` = the per-frame attribute "visibility" when set, else 1. The box is
  the mask's bounding box. ``id`` = the object id.
- **MOTS** (``gt.txt``, the MOTS-Challenge/KITTI-MOTS text form): ``frame id class_id height width
  rle`` per mask, space-separated, ``rle`` the COCO compressed string, ``class_id`` car = 1,
  pedestrian = 2 (benchmark.py), and ``id = class_id * 1000 + instance`` (instance 1..999 per
  class: the object id when every id is below 1000, else numbered). MOTS masks must not overlap
  (the official tools reject it), so where two exported masks overlap the object with the higher
  id keeps the pixels.
- Frames are numbered from ``options.frame_base``: 1 (MOTChallenge, MOTS-Challenge, the default)
  or 0 (KITTI-MOTS). The summary warns when no object is in a class the benchmark evaluates.

Import reads a sequence folder (``gt/gt.txt``), a folder holding ``<video-stem>/gt/gt.txt`` (also
one level down, as in TrackEval's ``<NAME-SPLIT>/<seq>/``), or the text file itself. MOT boxes
become box-shaped masks (the pixels the box covers, clipped to the frame), so MOT -> project ->
MOT gives the same integer boxes back. Without ``ids.json``, MOT classes are named after the MOT17
classes (1 pedestrian ... 12 reflection) and MOTS classes after KITTI MOTS (1 car, 2 pedestrian);
MOTS id 10000 (an ignore region) is skipped. Frames count from ``ids.json``'s frame base, else
from 1 unless a frame 0 appears (KITTI-MOTS numbers from 0).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.atomic import atomic_write, ensure_dir
from annotator.errors import FormatError, OutputError
from annotator.formats.benchmark import (
    KITTI_MOTS_CLASSES,
    MOT17_CLASSES,
    MOTS_IGNORE_CLASS,
    ClassIds,
    class_warnings,
    resolve_class_ids,
)
from annotator.formats.common import (
    ExportSummary,
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
from annotator.formats.geometry import box_to_rle
from annotator.formats.importing import MAX_ID, clean_score, str_or_none, valid_id
from annotator.formats.options import ExportOptions
from annotator.formats.selection import (
    CategoryTable,
    VideoEntry,
    frame_attribute_map,
    opened_projects,
    prepare_videos,
)

MOTS_IGNORE = MOTS_IGNORE_CLASS * 1000

IDS_FILE = "ids.json"
SEQMAPS = "seqmaps"


def export_mot(project: Any, out: str | Path, options: ExportOptions | None = None,
               progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    return export_sequences([project], out, options, progress, cancel, masks=False)


def export_mots(project: Any, out: str | Path, options: ExportOptions | None = None,
                progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    return export_sequences([project], out, options, progress, cancel, masks=True)


def export_mot_dataset(projects: Sequence[Any], out: str | Path, options: ExportOptions | None = None, *,
                       split: dict[str, float] | None = None, seed: int = 0,
                       progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    """Several projects, one MOT sequence each (see the module doc for the layout)."""
    _no_split(split)
    return export_sequences(projects, out, options, progress, cancel, masks=False)


def export_mots_dataset(projects: Sequence[Any], out: str | Path, options: ExportOptions | None = None, *,
                        split: dict[str, float] | None = None, seed: int = 0,
                        progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    _no_split(split)
    return export_sequences(projects, out, options, progress, cancel, masks=True)


def _no_split(split: dict[str, float] | None) -> None:
    if split:
        raise ValueError("MOT / MOTS sequences are split by the benchmark's seqmap: export each split with "
                         "--seqmap NAME-SPLIT (e.g. MOT17-train) instead of --split")


def export_sequences(projects: Sequence[Any], out: str | Path, options: ExportOptions | None,
                     progress: ProgressFn | None, cancel: Any, masks: bool) -> ExportSummary:
    """Write one sequence folder per project under ``out`` (or ``out/<seqmap>/``, plus the seqmap)."""
    started = time.perf_counter()
    options = (options or ExportOptions()).validate()
    reporter = Reporter(progress, cancel)
    fmt = "mots" if masks else "mot"
    out = Path(out)
    root = out / options.seqmap if options.seqmap else out
    with opened_projects(projects) as opened:
        categories = CategoryTable.build(opened, options)
        class_ids = resolve_class_ids(fmt, categories.names(), options.class_map)
        videos = prepare_videos(opened, options, categories)
        targets = [root / v.name for v in videos]
        single = len(videos) == 1 and not options.seqmap
        summary = ExportSummary(fmt, str(targets[0] if single else root), videos=len(videos),
                                categories=len(categories.entries))
        exported: dict[str, int] = {}
        protected = protected_paths(opened)
        with contextlib.ExitStack() as stack:
            folders = [stack.enter_context(atomic_folder(t, _ours, protected)) for t in targets]
            for video, folder in zip(videos, folders):
                _write_sequence(video, folder, class_ids, options, reporter, summary, masks)
                for obj in video.plan.objects_with_content():
                    name = video.plan.category_name_of[obj.id]
                    exported[name] = exported.get(name, 0) + 1
        summary.files = [str(t) for t in targets]
        if options.seqmap:
            summary.files.append(str(_write_seqmap(out, options.seqmap, [v.name for v in videos])))
        summary.warnings += class_warnings(fmt, class_ids, exported)
        summary.extra["sequences"] = [v.name for v in videos]
        summary.extra["class_ids"] = {name: class_ids.of(name) for name in categories.names()}
        summary.extra["frame_base"] = options.frame_base
        if single:
            ref = videos[0].project.video
            summary.extra["frame_size"] = [ref.width, ref.height]
    summary.seconds = time.perf_counter() - started
    return summary


def _write_sequence(video: VideoEntry, folder: Path, class_ids: ClassIds, options: ExportOptions,
                    reporter: Reporter, summary: ExportSummary, masks: bool) -> None:
    plan = video.plan
    base = options.frame_base
    class_of = {o.id: class_ids.of(plan.category_name_of[o.id]) for o in plan.objects}
    track_id = _mots_ids(video, class_of, folder) if masks else {o.id: o.id for o in plan.objects}
    ensure_dir(folder / "gt")
    _write_seqinfo(folder / "seqinfo.ini", video)
    objects = plan.objects_with_content()
    ids = {"format": f"annotator-{'mots' if masks else 'mot'}-ids", "video": video.name, "frame_base": base,
           "categories": {str(class_of[o.id]): plan.category_name_of[o.id] for o in plan.objects},
           "objects": {str(track_id[o.id]): {"object_id": o.id, "name": o.name,
                                             "category": plan.category_name_of[o.id]}
                       for o in objects}}
    with atomic_write(folder / IDS_FILE, "w", encoding="utf-8") as f:
        json.dump(ids, f, indent=1)
    attrs = {} if masks else frame_attribute_map(video.project, plan.object_ids)
    label = f"frames of {video.name}"
    with atomic_write(folder / "gt" / "gt.txt", "w", encoding="utf-8") as f:
        for done, (frame, recs) in enumerate(plan.iter_frames(), start=1):
            if masks:
                lines = _mots_lines(frame + base, recs, plan, track_id)
            else:
                lines = [_mot_line(frame + base, rec, class_of, attrs) for rec in recs]
            f.writelines(lines)
            summary.annotations += len(lines)
            reporter(done, len(plan.frames), label)
    if options.wants_frames(False):
        ensure_dir(folder / "img1")
        write_frame_images(video.project, plan.frames, folder / "img1", lambda i: f"{i + base:06d}.jpg",
                           options.jpeg_quality, reporter)
    summary.frames += len(plan.frames)
    summary.objects += len(objects)


def _ours(entry: Path) -> bool:
    """What a MOT / MOTS export writes into its sequence folder."""
    return entry.name in ("gt", "img1", "seqinfo.ini", IDS_FILE)


def _write_seqmap(out: Path, name: str, sequences: list[str]) -> Path:
    """TrackEval's ``seqmaps/<NAME-SPLIT>.txt``: a "name" header, then one sequence per line."""
    path = ensure_dir(out / SEQMAPS) / f"{name}.txt"
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write("name\n" + "".join(f"{seq}\n" for seq in sequences))
    return path


def _write_seqinfo(path: Path, video: VideoEntry) -> None:
    ref = video.project.video
    text = ("[Sequence]\n"
            f"name={video.name}\nimDir=img1\nframeRate={round(float(ref.fps), 3):g}\n"
            f"seqLength={ref.frame_count}\nimWidth={ref.width}\nimHeight={ref.height}\nimExt=.jpg\n")
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def _mot_line(number: int, rec: Any, class_of: dict[int, int], attrs: dict) -> str:
    x, y, w, h = rec.bbox
    visibility = attrs.get((rec.object_id, rec.frame), {}).get("visibility", 1)
    if not isinstance(visibility, (int, float)) or isinstance(visibility, bool):
        visibility = 1
    return (f"{number},{rec.object_id},{x + 1:g},{y + 1:g},{w:g},{h:g},1,"
            f"{class_of[rec.object_id]},{float(visibility):g}\n")


def _mots_ids(video: VideoEntry, class_of: dict[int, int], out: Any) -> dict[int, int]:
    """MOTS id per object: class * 1000 + instance (1..999 per class)."""
    plan = video.plan
    ids: dict[int, int] = {}
    next_instance: dict[int, int] = {}
    small = all(o.id < 1000 for o in plan.objects)
    for obj in plan.objects:
        cls = class_of[obj.id]
        if small:
            instance = obj.id
        else:
            instance = next_instance.get(cls, 0) + 1
            next_instance[cls] = instance
            if instance > 999:
                raise OutputError(f"more than 999 objects of category {plan.category_name_of[obj.id]!r} do "
                                  "not fit MOTS ids", out)
        ids[obj.id] = cls * 1000 + instance
    return ids


def _mots_lines(number: int, recs: list, plan: Any, track_id: dict[int, int]) -> list[str]:
    h, w = plan.height, plan.width
    rles = [r.rle for r in recs]
    if _any_overlap(recs):
        # A later (higher id) object keeps shared pixels: subtract the union of the later masks.
        decoded = [rle_ops.decode(r) for r in rles]
        taken = np.zeros((h, w), bool)
        for k in range(len(decoded) - 1, -1, -1):
            mine = decoded[k] & ~taken
            taken |= decoded[k]
            rles[k] = rle_ops.encode(mine)
    lines = []
    for rec, rle in zip(recs, rles):
        if rle_ops.area(rle) > 0:
            tid = track_id[rec.object_id]
            lines.append(f"{number} {tid} {tid // 1000} {h} {w} {rle['counts']}\n")
    return lines


def _any_overlap(recs: list) -> bool:
    boxes = [r.bbox for r in recs]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]:
                return True
    return False


# --- import ---------------------------------------------------------------------------------------

def import_mot(path: str | Path, source: str | Path, project_path: str | Path, *, video: str | None = None,
               progress: ProgressFn | None = None, cancel: Any = None) -> ImportSummary:
    return _import(path, source, project_path, video, Reporter(progress, cancel), masks=False)


def import_mots(path: str | Path, source: str | Path, project_path: str | Path, *, video: str | None = None,
                progress: ProgressFn | None = None, cancel: Any = None) -> ImportSummary:
    return _import(path, source, project_path, video, Reporter(progress, cancel), masks=True)


def _find_gt(path: Path, name: str) -> Path:
    if path.is_file():
        return path
    if not path.exists():
        raise FormatError("not found", path)
    for candidate in (path / "gt" / "gt.txt", path / name / "gt" / "gt.txt", path / f"{name}.txt"):
        if candidate.is_file():
            return candidate
    for pattern in ("*/gt/gt.txt", f"*/{name}/gt/gt.txt", "*/*/gt/gt.txt"):
        found = sorted(path.glob(pattern))
        if len(found) == 1:
            return found[0]
    raise FormatError(f"no gt/gt.txt here (nor in {name}/gt/gt.txt)", path)


def _import(path: str | Path, source: str | Path, project_path: str | Path, video: str | None,
            reporter: Reporter, masks: bool) -> ImportSummary:
    started = time.perf_counter()
    fmt = "mots" if masks else "mot"
    with open_source(source) as src:
        gt = _find_gt(Path(path), video or video_stem(src.path))
        lines = read_text_lines(gt)
        mapping = _read_ids(gt.parent.parent / IDS_FILE if gt.parent.name == "gt" else gt.with_name(IDS_FILE))
        base = mapping.get("frame_base")
        rows = _parse_mots(lines, gt, src, base) if masks else _parse_mot(lines, gt, src, base)
        summary = ImportSummary(fmt, str(gt), str(project_path))
        class_names = mapping.get("categories", {})
        default_names = KITTI_MOTS_CLASSES if masks else MOT17_CLASSES
        with ProjectBuilder(project_path, src) as builder:
            for cls in sorted(class_names):  # the exported category order, so ids come back the same
                builder.category(class_names[cls])
            created: dict[int, int] = {}
            for k, (frame, tid, cls, rle, score) in enumerate(rows):
                if tid not in created:
                    info = mapping.get("objects", {}).get(tid, {})
                    category = info.get("category") or class_names.get(cls) or default_names.get(cls) \
                        or f"class {cls}"
                    created[tid] = builder.add_object(info.get("object_id", tid), info.get("name"), category)
                builder.add_mask(created[tid], frame, rle, score)
                if k % 512 == 0:
                    reporter(k, len(rows), "masks")
            builder.flush()
            summary.frames, summary.masks, summary.objects = len(builder.frames), builder.masks, len(created)
            summary.categories = builder.category_count
    summary.seconds = time.perf_counter() - started
    return summary


def _read_ids(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise FormatError("expected an object with 'objects' and 'categories'", path)
    for key in ("objects", "categories"):
        if not isinstance(doc.get(key, {}), dict):
            raise FormatError(f"'{key}' must be an object", path)
    objects: dict[int, dict] = {}
    used: set[int] = set()
    for key, info in (doc.get("objects") or {}).items():
        oid = info.get("object_id") if isinstance(info, dict) else None
        if not (key.isascii() and key.isdigit() and valid_id(oid)) or oid in used:
            raise FormatError(f"objects[{key!r}]: expected a track id with a unique positive object_id", path)
        used.add(oid)
        objects[int(key)] = {"object_id": oid, "name": str_or_none(info.get("name")),
                             "category": str_or_none(info.get("category"))}
    categories = {int(k): v for k, v in (doc.get("categories") or {}).items()
                  if isinstance(k, str) and k.isascii() and k.isdigit() and isinstance(v, str) and v.strip()}
    base = doc.get("frame_base", 1)
    if base not in (0, 1) or isinstance(base, bool):
        raise FormatError(f"'frame_base' must be 0 or 1, got {base!r}", path)
    return {"objects": objects, "categories": categories, "frame_base": base}


def _frame_base(frames: list[int], base: int | None) -> int:
    """The given base, else 0 when a frame 0 appears (KITTI-MOTS), else 1."""
    if base is not None:
        return base
    return 0 if any(f == 0 for f in frames) else 1


def _parse_mot(lines: list[str], gt: Path, src: Any, base: int | None = None) -> list[tuple]:
    parsed = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            frame, tid = int(float(parts[0])), int(float(parts[1]))
            x, y, w, h = (float(v) for v in parts[2:6])
            conf = float(parts[6]) if len(parts) > 6 else 1.0
            cls = int(float(parts[7])) if len(parts) > 7 else 1
        except (ValueError, IndexError, OverflowError):
            raise FormatError(f"line {n}: expected frame,id,x,y,w,h[,conf,class,visibility], got "
                              f"{line[:80]!r}", gt) from None
        if not all(np.isfinite(v) for v in (x, y, w, h, conf)) or w < 0 or h < 0:
            raise FormatError(f"line {n}: the box is not a finite box with w, h >= 0", gt)
        parsed.append((n, frame, tid, x, y, w, h, conf, cls))
    base = _frame_base([p[1] for p in parsed], base)
    rows = []
    seen: dict[tuple[int, int], int] = {}
    for n, frame, tid, x, y, w, h, conf, cls in parsed:
        if not base <= frame < src.frame_count + base:
            raise FormatError(f"line {n}: frame {frame} is outside {base}..{src.frame_count + base - 1} (the "
                              f"source has {src.frame_count} frames)", gt)
        if not 0 < tid < MAX_ID:
            raise FormatError(f"line {n}: id {tid} is not a positive track id (detections without ids "
                              "are not ground truth)", gt)
        if (frame, tid) in seen:
            raise FormatError(f"line {n}: track {tid} already has a box on frame {frame} (line "
                              f"{seen[(frame, tid)]}); duplicate id", gt)
        seen[(frame, tid)] = n
        # MOTChallenge pixels count from 1: box (1, 1) starts at our pixel (0, 0).
        rle = box_to_rle(x - 1, y - 1, w, h, src.height, src.width)
        if rle_ops.area(rle) == 0:
            continue  # entirely outside the frame
        rows.append((frame - base, tid, cls, rle, clean_score(conf) if conf not in (0.0, 1.0) else None))
    return rows


def _parse_mots(lines: list[str], gt: Path, src: Any, base: int | None = None) -> list[tuple]:
    from annotator.formats.rle_check import check_compressed_many

    parsed = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 6:
            raise FormatError(f"line {n}: expected 'frame id class_id height width rle', got {line[:80]!r}",
                              gt)
        try:
            frame, tid, cls, h, w = (int(v) for v in parts[:5])
        except ValueError:
            raise FormatError(f"line {n}: frame, id, class, height and width must be integers", gt) from None
        if tid == MOTS_IGNORE:
            continue
        if (h, w) != (src.height, src.width):
            raise FormatError(f"line {n}: mask size {h}x{w} does not match the source "
                              f"({src.height}x{src.width})", gt)
        if not 0 < tid < MAX_ID or cls != tid // 1000:
            raise FormatError(f"line {n}: id {tid} does not carry class {cls} (id = class * 1000 + "
                              "instance)", gt)
        parsed.append((n, frame, tid, cls, parts[5]))
    base = _frame_base([p[1] for p in parsed], base)
    problems = check_compressed_many([p[4] for p in parsed], [(src.height, src.width)] * len(parsed))
    rows = []
    seen: dict[tuple[int, int], int] = {}
    for (n, frame, tid, cls, counts), problem in zip(parsed, problems):
        if problem:
            raise FormatError(f"line {n}: {problem}", gt)
        index = frame - base
        if not 0 <= index < src.frame_count:
            raise FormatError(f"line {n}: frame {frame} is outside the source's {src.frame_count} frames", gt)
        if (index, tid) in seen:
            raise FormatError(f"line {n}: id {tid} already has a mask on frame {frame} (line "
                              f"{seen[(index, tid)]}); duplicate id", gt)
        seen[(index, tid)] = n
        rows.append((index, tid, cls, {"size": [src.height, src.width], "counts": counts}, None))
    return rows
