"""YouTube-VIS (2019 / 2021) and OVIS JSON: export (ground truth or results) and import.

Ground truth (one file):
- ``videos``: ``id``, ``width``, ``height``, ``length`` and ``file_names`` (``<video-stem>/<frame
  file name>`` per exported frame, in order), plus ``name``, ``frame_count``, ``fps`` and, when
  there are video-level insights (clip labels, the timed description), ``attributes``;
- ``annotations``: one per object *track* per video: ``segmentations`` (compressed RLE, or null
  where the object is absent), ``areas`` and ``bboxes`` (null there too), ``category_id``,
  ``iscrowd`` 0, ``height``/``width``, and ``object_id``/``name`` (ignored by other tools) so an
  import gives objects back their ids and names, plus ``attributes`` (the object's attributes
  and its insights: class scores, captions) when there are any. Position i of every per-frame list belongs to
  ``file_names[i]``. Tracks with no mask in the exported frames are left out;
- ``categories``.

The 2019 and 2021 layouts have the same JSON structure; they differ in the category list. With
``layout="2019"`` or ``"2021"`` the file carries the official 40 categories with their official
ids (selection.YTVIS_2019 / YTVIS_2021; 2021 merged eagle and owl into bird and ape into monkey,
renamed sedan to car, dropped hand, and added flying_disc, squirrel and whale), and every exported
object's category must be one of them (matched by name, case and spaces ignored). The default
``layout="project"`` writes the project's own categories (ids 1..K). OVIS uses the same format.

Results (``options.results``): a JSON list of ``{video_id, category_id, score, segmentations}``,
what the official evaluator's ``loadRes`` reads; ``score`` is the track's confidence: the mean
mask score over its exported frames (user-drawn masks without a score count as 1.0). Segmentations
are always compressed RLE (the official loader supports only that in results). Without a ground
truth, ids follow the export (video 1 = the first project); ``options.gt`` (``--gt GT.json``)
takes the video ids (by full file_names), category ids (by name) and frame order from that
file instead (ytvis_results.py), which is what scoring against it needs.

Import reads ground truth (``--video`` picks one video of a multi-video file) and results files;
a results list has no file names, so position i is frame i of the source.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.core.atomic import atomic_write
from annotator.errors import FormatError
from annotator.formats.common import (
    ExportSummary,
    FrameMatcher,
    ImportSummary,
    JsonOut,
    ProgressFn,
    ProjectBuilder,
    Reporter,
    check_output_file,
    dumps,
    frame_image_folders,
    info_block,
    load_json,
    open_source,
    protected_paths,
    rle_json,
    write_item,
)
from annotator.formats.importing import (
    ObjectGroup,
    PendingMask,
    checked_rles,
    choose_video,
    clean_score,
    fill_project,
    is_int,
    parse_categories,
    require_dict,
    require_list,
    str_or_none,
)
from annotator.formats.options import ExportOptions
from annotator.formats.selection import (
    CategoryTable,
    VideoEntry,
    insights_by_object,
    opened_projects,
    prepare_videos,
    track_score,
)
from annotator.formats.ytvis_results import matched_results, result_chunks


def export_ytvis(project: Any, out: str | Path, options: ExportOptions | None = None,
                 progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    """Export one project (a ``Project`` or a path, opened read-only) to a YouTube-VIS JSON file."""
    options = (options or ExportOptions()).validate()
    with opened_projects([project]) as projects:
        categories = CategoryTable.build(projects, options)
        videos = prepare_videos(projects, options, categories)
        return write_ytvis(videos, categories, out, options, Reporter(progress, cancel))


def write_ytvis(videos: list[VideoEntry], categories: CategoryTable, out: str | Path, options: ExportOptions,
                reporter: Reporter, description: str = "Annotator export") -> ExportSummary:
    started = time.perf_counter()
    protected = protected_paths(v.project for v in videos)
    out = check_output_file(out, protected)
    summary = ExportSummary("ytvis-results" if options.results else "ytvis", str(out), videos=len(videos),
                            categories=len(categories.entries))
    total_tracks = sum(len(v.plan.objects_with_content()) for v in videos)
    counter = [0]
    matched = matched_results(videos, options.gt) if options.results and options.gt else None
    with frame_image_folders(videos, out.parent / "JPEGImages", options, reporter, protected) as targets, \
            atomic_write(out, "w", encoding="utf-8") as f:
        if matched is not None:
            tracks = _matched_tracks(matched, reporter, total_tracks, counter)
        else:
            tracks = _tracks(videos, options, reporter, total_tracks, counter)
        if options.results:
            f.write("[")
            for k, item in enumerate(tracks):
                if k:
                    f.write(",")
                write_item(f.write, item)
            f.write("]\n")
        else:
            doc = JsonOut(f)
            doc.field("info", info_block(description))
            doc.field("licenses", [])
            doc.field("categories", categories.entries)
            doc.array("videos", (_video_json(v) for v in videos))
            doc.array("annotations", tracks)
            doc.close()
    summary.frames = sum(len(v.plan.frames) for v in videos)
    summary.annotations = counter[0]
    summary.objects = total_tracks
    summary.files = [str(out)] + [str(t) for t in targets]
    summary.seconds = time.perf_counter() - started
    return summary


def _video_json(video: VideoEntry) -> str:
    ref = video.project.video
    entry: dict[str, Any] = {
        "id": video.video_id, "name": video.name, "width": ref.width, "height": ref.height,
        "length": len(video.plan.frames), "frame_count": ref.frame_count, "fps": round(float(ref.fps), 6),
        "file_names": [video.file_name(f) for f in video.plan.frames]}
    insights = insights_by_object(video.project).get(None)
    if insights:  # clip labels and the timed description; the official loaders ignore the key
        entry["attributes"] = {"insights": insights}
    return dumps(entry)


def _tracks(videos: list[VideoEntry], options: ExportOptions, reporter: Reporter, total: int,
            counter: list[int]) -> Iterator[Iterator[str]]:
    """One item per (video, object) track, as a stream of JSON text chunks."""
    done = 0
    for video in videos:
        insights = {} if options.results else insights_by_object(video.project)
        for obj in video.plan.objects_with_content():
            done += 1
            counter[0] = done
            yield _track_chunks(video, obj, done, options, insights.get(obj.id))
            reporter(done, total, "tracks")


def _matched_tracks(matched: list, reporter: Reporter, total: int,
                    counter: list[int]) -> Iterator[Iterator[str]]:
    """Results with the ground truth's video and category ids (ytvis_results.py)."""
    done = 0
    for video, gt_video, categories in matched:
        for obj in video.plan.objects_with_content():
            done += 1
            counter[0] = done
            yield result_chunks(video, gt_video, categories[obj.id], obj)
            reporter(done, total, "tracks")


def _track_chunks(video: VideoEntry, obj: Any, track_id: int, options: ExportOptions,
                  insights: list[dict] | None = None) -> Iterator[str]:
    """The object's masks are read in frame order and merged with the frame list (null where it has
    none); segmentations are written as they come, so memory stays flat however long the video."""
    plan = video.plan
    cid = plan.category_of[obj.id]
    ref = video.project.video
    if options.results:
        score = track_score(video.project, obj.id, plan)
        yield f'{{"video_id":{video.video_id},"category_id":{cid},"score":{score!r},"segmentations":['
    else:
        # Extra per-track fields (ignored by the official loaders): the object's attributes and its
        # insights (class scores, captions), as in the COCO export's tracks.
        attributes = dict(obj.attributes)
        if insights:
            attributes["insights"] = insights
        extra = f'"attributes":{dumps(attributes)},' if attributes else ""
        yield (f'{{"id":{track_id},"video_id":{video.video_id},"category_id":{cid},"iscrowd":0,'
               f'"height":{ref.height},"width":{ref.width},"object_id":{obj.id},"name":{dumps(obj.name)},'
               f'{extra}"segmentations":[')
    areas: list[str] = []
    boxes: list[str] = []
    masks = plan.iter_masks([obj.id])
    pending = next(masks, None)
    for k, frame in enumerate(plan.frames):
        comma = "," if k else ""
        if pending is not None and pending.frame == frame:
            yield comma + rle_json(pending.rle)
            areas.append(f"{float(pending.area)!r}")
            boxes.append("[" + ",".join(f"{float(v)!r}" for v in pending.bbox) + "]")
            pending = next(masks, None)
        else:
            yield comma + "null"
            areas.append("null")
            boxes.append("null")
    if options.results:
        yield "]}"
    else:
        yield f'],"areas":[{",".join(areas)}],"bboxes":[{",".join(boxes)}]}}'


# --- import ---------------------------------------------------------------------------------------

def import_ytvis(path: str | Path, source: str | Path, project_path: str | Path, *, video: str | None = None,
                 progress: ProgressFn | None = None, cancel: Any = None) -> ImportSummary:
    """Import YouTube-VIS ground truth (or a results list) into a new project over ``source``."""
    started = time.perf_counter()
    reporter = Reporter(progress, cancel)
    path = Path(path)
    doc = load_json(path)
    with open_source(source) as src:
        if isinstance(doc, list):
            categories, groups, pending = _read_results(doc, src, path)
        elif isinstance(doc, dict):
            categories, groups, pending = _read_ground_truth(doc, video, src, path)
        else:
            raise FormatError("expected a YouTube-VIS JSON object (or a results list)", path)
        rles = checked_rles(pending, src.height, src.width, path, reporter)
        summary = ImportSummary("ytvis", str(path), str(project_path))
        with ProjectBuilder(project_path, src) as builder:
            fill_project(builder, categories, list(groups.values()), pending, rles, reporter)
            summary.frames, summary.masks = len(builder.frames), builder.masks
            summary.objects, summary.categories = len(groups), len(categories)
    summary.seconds = time.perf_counter() - started
    return summary


def _read_ground_truth(doc: dict, video: str | None, src: Any,
                       path: Path) -> tuple[dict, dict[Any, ObjectGroup], list[PendingMask]]:
    categories = parse_categories(doc, path)
    videos = require_list(doc, "videos", path)
    annotations = require_list(doc, "annotations", path)
    video_id = choose_video(videos, video, path)
    if video_id is None:
        raise FormatError("'videos' is empty", path)
    index = next(i for i, v in enumerate(videos) if v["id"] == video_id)
    vid = videos[index]
    where_v = f"videos[{index}]"
    if (vid.get("width"), vid.get("height")) != (src.width, src.height):
        raise FormatError(f"{where_v}: size {vid.get('width')}x{vid.get('height')} does not match the source "
                          f"video {Path(src.path).name} ({src.width}x{src.height})", path)
    names = vid.get("file_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise FormatError(f"{where_v}: 'file_names' must be a list of strings", path)
    if "length" in vid and vid["length"] != len(names):
        raise FormatError(f"{where_v}: length {vid['length']!r} but {len(names)} file_names", path)
    matcher = FrameMatcher(src)
    frames: list[int] = []
    for k, name in enumerate(names):
        frame = matcher.index(name)
        if frame is None:
            raise FormatError(f"{where_v}.file_names[{k}]: {name!r} matches no frame of "
                              f"{Path(src.path).name} ({src.frame_count} frames)", path)
        frames.append(frame)
    if len(set(frames)) != len(frames):
        raise FormatError(f"{where_v}: two file_names name the same frame", path)
    groups: dict[Any, ObjectGroup] = {}
    pending: list[PendingMask] = []
    seen_ids: set[int] = set()
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        ann = require_dict(ann, where, path)
        if not is_int(ann.get("video_id")) or ann["video_id"] not in {v["id"] for v in videos}:
            raise FormatError(f"{where}: video_id {ann.get('video_id')!r} is not in 'videos'", path)
        if ann["video_id"] != video_id:
            continue
        aid = ann.get("id", i + 1)
        if not is_int(aid) or aid in seen_ids:
            raise FormatError(f"{where}: 'id' {aid!r} is not a unique integer", path)
        seen_ids.add(aid)
        cid = ann.get("category_id")
        if not is_int(cid) or cid not in categories:
            raise FormatError(f"{where}: unknown category_id {cid!r} (not in 'categories')", path)
        segs = ann.get("segmentations")
        if not isinstance(segs, list) or len(segs) != len(frames):
            got = len(segs) if isinstance(segs, list) else type(segs).__name__
            raise FormatError(f"{where}: 'segmentations' must be a list of {len(frames)} entries (one per "
                              f"file name), got {got}", path)
        group = ObjectGroup(("track", aid), cid, where)
        group.object_id = ann.get("object_id", aid)
        group.name = str_or_none(ann.get("name"))
        groups[group.key] = group
        for k, seg in enumerate(segs):
            if seg is not None:
                pending.append(PendingMask(f"{where}.segmentations[{k}]", group.key, frames[k], seg))
    return categories, groups, pending


def _read_results(doc: list, src: Any, path: Path) -> tuple[dict, dict[Any, ObjectGroup], list[PendingMask]]:
    categories: dict[int, dict[str, str]] = {}
    groups: dict[Any, ObjectGroup] = {}
    pending: list[PendingMask] = []
    for i, item in enumerate(doc):
        where = f"[{i}]"
        item = require_dict(item, where, path)
        cid = item.get("category_id")
        if not is_int(cid):
            raise FormatError(f"{where}: 'category_id' must be an integer", path)
        categories.setdefault(cid, {"name": f"category {cid}", "supercategory": ""})
        segs = item.get("segmentations")
        if not isinstance(segs, list) or len(segs) > src.frame_count:
            raise FormatError(f"{where}: 'segmentations' must be a list of at most {src.frame_count} entries "
                              "(one per frame of the source)", path)
        score = clean_score(item.get("score"))
        group = groups[("result", i)] = ObjectGroup(("result", i), cid, where)
        group.object_id = i + 1
        for k, seg in enumerate(segs):
            if seg is not None:
                pending.append(PendingMask(f"{where}.segmentations[{k}]", group.key, k, seg, score))
    return categories, groups, pending
