"""COCO instances JSON: export (streamed) and import (ours and other tools').

Export layout (one file; pycocotools ``COCO()`` loads it, ``COCOeval`` scores it):
- ``images``: one per exported frame: ``id``, ``file_name`` = ``<video-stem>/<frame file name>``
  (``00042.jpg`` for a video file, the folder's own names for a frame folder), ``width``,
  ``height``, ``video_id`` and ``frame_id`` (the 0-based frame index in the source video);
- ``annotations``: one per (object, frame) with a non-empty mask: ``track_id``, ``category_id``,
  ``segmentation`` (compressed RLE by default), ``area`` and ``bbox`` (pycocotools' values),
  ``iscrowd`` 0, and ``attributes`` (the object's per-frame attributes, e.g. occluded) when set;
- ``categories``: ids 1..K (see selection.py; objects without a category go to "object");
- extra keys other tools ignore: ``videos`` (name, size, fps, length; video-level insights under
  ``attributes``) and ``tracks`` (per object: name, color, ``object_id``, its attributes and
  insights under ``attributes``), which an import uses to give objects back their names and ids.

Polygons (``options.polygons``): parts simplified with ``options.tolerance`` px; multi-part
objects give several parts. COCO polygons cannot express holes (every part is filled), so with
``polygon_fallback="rle"`` (the default) a mask with holes stays compressed RLE (``iscrowd``
stays 0; pycocotools, detectron2 and mmdetection read RLE with iscrowd 0); with ``"approx"`` it
becomes the outer contour of every part, so the file holds polygons only. The summary reports
the polygons written and the worst IoU of a polygon with its mask (polygon_stats.py). ``area``
and ``bbox`` are those of the rasterized polygon, so they match what an evaluator decodes.

Import: ``segmentation`` may be polygons, uncompressed RLE or compressed RLE. Objects come from
``track_id`` (also ``attributes.track_id`` as CVAT writes it, or ``instance_id``); with
``group_by=KEY`` from that annotation key (or attributes key); without any of these, each
annotation becomes its own object. Files with several videos need ``video`` (its name or id).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.core import masks as rle_ops
from annotator.core.atomic import atomic_write
from annotator.formats.common import (
    ExportSummary,
    ImportSummary,
    JsonOut,
    ProgressFn,
    Reporter,
    check_output_file,
    dumps,
    frame_image_folders,
    info_block,
    protected_paths,
    rle_json,
)
from annotator.formats.geometry import mask_to_polygons
from annotator.formats.options import ExportOptions
from annotator.formats.polygon_stats import PolygonStats
from annotator.formats.selection import (
    CategoryTable,
    VideoEntry,
    frame_attribute_map,
    insights_by_object,
    opened_projects,
    prepare_videos,
)


def export_coco(project: Any, out: str | Path, options: ExportOptions | None = None,
                progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    """Export one project (a ``Project`` or a path, opened read-only) to a COCO JSON file."""
    options = (options or ExportOptions()).validate()
    with opened_projects([project]) as projects:
        categories = CategoryTable.build(projects, options)
        videos = prepare_videos(projects, options, categories)
        return write_coco(videos, categories, out, options, Reporter(progress, cancel))


def write_coco(videos: list[VideoEntry], categories: CategoryTable, out: str | Path, options: ExportOptions,
               reporter: Reporter, description: str = "Annotator export") -> ExportSummary:
    """Write the COCO file for prepared videos (one project, or a dataset's share of them)."""
    started = time.perf_counter()
    protected = protected_paths(v.project for v in videos)
    out = check_output_file(out, protected)
    summary = ExportSummary("coco", str(out), videos=len(videos), categories=len(categories.entries))
    image_id = 0
    for video in videos:
        for frame in video.plan.frames:
            image_id += 1
            video.image_ids[frame] = image_id
    total_frames = image_id
    with frame_image_folders(videos, out.parent / "images", options, reporter, protected) as targets, \
            atomic_write(out, "w", encoding="utf-8") as f:
        doc = JsonOut(f)
        doc.field("info", info_block(description))
        doc.field("licenses", [])
        doc.field("categories", categories.entries)
        doc.field("videos", [_video_entry(v) for v in videos])
        doc.field("tracks", [t for v in videos for t in _track_entries(v)])
        doc.array("images", (_image_json(v, frame) for v in videos for frame in v.plan.frames))
        counter = _Counter()
        doc.array("annotations", _annotations(videos, options, reporter, total_frames, counter, summary))
        doc.close()
    summary.frames = total_frames
    summary.annotations = counter.annotations
    summary.objects = sum(len(v.plan.object_ids) for v in videos)
    summary.files = [str(out)] + [str(t) for t in targets]
    summary.seconds = time.perf_counter() - started
    return summary


class _Counter:
    annotations = 0


def _video_entry(video: VideoEntry) -> dict[str, Any]:
    ref = video.project.video
    entry: dict[str, Any] = {
        "id": video.video_id, "name": video.name, "width": ref.width, "height": ref.height,
        "length": len(video.plan.frames), "frame_count": ref.frame_count, "fps": round(float(ref.fps), 6)}
    insights = insights_by_object(video.project).get(None)
    if insights:
        entry["attributes"] = {"insights": insights}
    return entry


def _track_entries(video: VideoEntry) -> Iterator[dict[str, Any]]:
    insights = insights_by_object(video.project)
    for obj in video.plan.objects:
        attributes = dict(obj.attributes)
        if insights.get(obj.id):
            attributes["insights"] = insights[obj.id]
        yield {"id": video.track_ids[obj.id], "video_id": video.video_id,
               "category_id": video.plan.category_of[obj.id], "object_id": obj.id, "name": obj.name,
               "color": obj.color, "attributes": attributes}


def _image_json(video: VideoEntry, frame: int) -> str:
    ref = video.project.video
    return dumps({"id": video.image_ids[frame], "width": ref.width, "height": ref.height,
                  "file_name": video.file_name(frame), "video_id": video.video_id, "frame_id": frame})


def _annotations(videos: list[VideoEntry], options: ExportOptions, reporter: Reporter, total_frames: int,
                 counter: _Counter, summary: ExportSummary) -> Iterator[str]:
    ann_id = 0
    frames_done = 0
    stats = PolygonStats()
    for video in videos:
        attrs = frame_attribute_map(video.project, video.plan.object_ids)
        last_frame = None
        for rec in video.plan.iter_masks():
            if rec.frame != last_frame:
                frames_done += 1
                last_frame = rec.frame
                reporter(frames_done, total_frames, "annotations")
            seg, area, bbox = rle_json(rec.rle), rec.area, rec.bbox
            if options.polygons:
                polygon = _as_polygon(rec.rle, options, stats)
                if polygon is not None:
                    parts, poly_rle = polygon
                    seg, area, bbox = dumps(parts), rle_ops.area(poly_rle), rle_ops.bbox(poly_rle)
            ann_id += 1
            extra = attrs.get((rec.object_id, rec.frame))
            yield (f'{{"id":{ann_id},"image_id":{video.image_ids[rec.frame]},"video_id":{video.video_id},'
                   f'"category_id":{video.plan.category_of[rec.object_id]},'
                   f'"track_id":{video.track_ids[rec.object_id]},"segmentation":{seg},"area":{int(area)},'
                   f'"bbox":[{float(bbox[0])!r},{float(bbox[1])!r},{float(bbox[2])!r},{float(bbox[3])!r}],'
                   f'"iscrowd":0' + (f',"attributes":{dumps(extra)}' if extra else "") + "}")
    counter.annotations = ann_id
    reporter(total_frames, total_frames, "annotations", force=True)
    if options.polygons:
        stats.report(summary, "COCO")


def _as_polygon(rle: dict, options: ExportOptions, stats: PolygonStats) -> tuple[list, dict] | None:
    """The mask's polygon parts and their rasterized RLE, or None to keep the mask as RLE.

    COCO parts are filled, so a mask with holes (or one too small for 3 vertices) has no exact
    polygon: with fallback "rle" it stays RLE; with "approx" it becomes the outer contour of every
    part (holes filled), or its bounding box when no part has 3 vertices.
    """
    parts, holes = mask_to_polygons(rle_ops.decode(rle), options.tolerance)
    exact = bool(parts) and not holes
    if not exact and options.polygon_fallback == "rle":
        stats.kept_rle += 1
        return None
    if not parts:
        x, y, w, h = rle_ops.bbox(rle)
        parts = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    poly_rle = _polygon_rle(parts, rle)
    stats.add_iou(rle_ops.iou(poly_rle, rle))
    if not exact:
        stats.approximated += 1
    return parts, poly_rle


def _polygon_rle(parts: list[list[float]], like: dict) -> dict:
    from pycocotools import mask as coco_mask

    h, w = rle_ops.size(like)
    merged = coco_mask.merge(coco_mask.frPyObjects(parts, h, w))
    counts = merged["counts"]
    return {"size": [h, w], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


# --- import ---------------------------------------------------------------------------------------

def import_coco(path: str | Path, source: str | Path, project_path: str | Path, *, video: str | None = None,
                group_by: str | None = None, progress: ProgressFn | None = None,
                cancel: Any = None) -> ImportSummary:
    """Import a COCO instances file into a new project over ``source`` (video or frame folder)."""
    from annotator.formats.coco_import import import_coco_file

    return import_coco_file(path, source, project_path, video=video, group_by=group_by,
                            reporter=Reporter(progress, cancel))
