"""COCO instances import (see coco.py for what is accepted and how objects are formed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from annotator.errors import FormatError
from annotator.formats.common import (
    FrameMatcher,
    ImportSummary,
    ProjectBuilder,
    Reporter,
    load_json,
    open_source,
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
)

_TRACK_KEYS = ("track_id", "instance_id")


def import_coco_file(path: str | Path, source_path: str | Path, project_path: str | Path, *,
                     video: str | None, group_by: str | None, reporter: Reporter) -> ImportSummary:
    started = time.perf_counter()
    path = Path(path)
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise FormatError("expected a COCO JSON object with images, annotations and categories", path)
    images = require_list(doc, "images", path)
    annotations = require_list(doc, "annotations", path)
    categories = parse_categories(doc, path)
    video_id = choose_video(require_list(doc, "videos", path, required=False), video, path)
    with open_source(source_path) as source:
        frame_of = _map_images(images, video_id, video, source, path)
        groups, pending = _read_annotations(annotations, frame_of, categories, group_by, path)
        _apply_tracks(doc, video_id, groups, path)
        rles = checked_rles(pending, source.height, source.width, path, reporter)
        reporter.check()
        summary = ImportSummary("coco", str(path), str(project_path))
        with ProjectBuilder(project_path, source) as builder:
            ordered = list(groups.values())
            ids = fill_project(builder, categories, ordered, pending, rles, reporter)
            summary.warnings += [f"object {ids[group.key]} ({group.first_where}) has annotations of "
                                 f"{len(group.categories_seen)} categories; it keeps the first"
                                 for group in ordered if len(group.categories_seen) > 1]
            builder.project.set_frame_attributes_many(
                (ids[item.key], item.frame, item.attributes) for item in pending if item.attributes)
            summary.frames = len(builder.frames)
            summary.masks = builder.masks
            summary.objects = len(ordered)
            summary.categories = len(categories)
    summary.seconds = time.perf_counter() - started
    return summary


def _map_images(images: list, video_id: int | None, video_name: str | None, source: Any,
                path: Path) -> dict[int, int | None]:
    """image id -> frame index (None: the image belongs to another video of the file)."""
    matcher = FrameMatcher(source)
    frame_of: dict[int, int | None] = {}
    image_at: dict[int, int] = {}
    for i, img in enumerate(images):
        img = require_dict(img, f"images[{i}]", path)
        iid, name = img.get("id"), img.get("file_name")
        if not is_int(iid):
            raise FormatError(f"images[{i}]: 'id' must be an integer, got {iid!r}", path)
        if iid in frame_of:
            raise FormatError(f"images[{i}]: duplicate image id {iid}", path)
        if not isinstance(name, str):
            raise FormatError(f"images[{i}]: 'file_name' must be a string", path)
        if not _in_video(img, name, video_id, video_name):
            frame_of[iid] = None
            continue
        width, height = img.get("width"), img.get("height")
        if (width is not None or height is not None) and (width, height) != (source.width, source.height):
            raise FormatError(f"images[{i}]: size {width}x{height} does not match the source video "
                              f"{Path(source.path).name} ({source.width}x{source.height})", path)
        frame = img.get("frame_id") if video_id is not None else None
        if not (is_int(frame) and 0 <= frame < source.frame_count):
            frame = matcher.index(name)
        if frame is None:
            raise FormatError(f"images[{i}]: file_name {name!r} matches no frame of {Path(source.path).name} "
                              f"({source.frame_count} frames)", path)
        if frame in image_at:
            raise FormatError(f"images[{i}]: frame {frame} ({name!r}) is also image {image_at[frame]}", path)
        image_at[frame] = iid
        frame_of[iid] = frame
    return frame_of


def _in_video(img: dict, name: str, video_id: int | None, video_name: str | None) -> bool:
    if video_id is None:
        if video_name is None:
            return True
        return name.replace("\\", "/").rsplit("/", 1)[0] == video_name
    return img.get("video_id", video_id) == video_id


def _read_annotations(annotations: list, frame_of: dict[int, int | None], categories: dict,
                      group_by: str | None, path: Path) -> tuple[dict[Any, ObjectGroup], list[PendingMask]]:
    groups: dict[Any, ObjectGroup] = {}
    pending: list[PendingMask] = []
    seen_ids: set[int] = set()
    seen: dict[tuple[Any, int], str] = {}
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        ann = require_dict(ann, where, path)
        aid = ann.get("id")
        if aid is not None:
            if not is_int(aid):
                raise FormatError(f"{where}: 'id' must be an integer, got {aid!r}", path)
            if aid in seen_ids:
                raise FormatError(f"{where}: duplicate annotation id {aid}", path)
            seen_ids.add(aid)
        image_id = ann.get("image_id")
        if not is_int(image_id) or image_id not in frame_of:
            raise FormatError(f"{where}: image_id {image_id!r} is not in 'images'", path)
        cid = ann.get("category_id")
        if not is_int(cid) or cid not in categories:
            raise FormatError(f"{where}: unknown category_id {cid!r} (not in 'categories')", path)
        frame = frame_of[image_id]
        if frame is None:
            continue  # another video of a multi-video file
        if "segmentation" not in ann:
            raise FormatError(f"{where}: no 'segmentation'", path)
        key = _group_key(ann, group_by, i, where, path)
        if (key, frame) in seen:
            raise FormatError(f"{where}: object {key[1]!r} already has a mask on image {image_id} "
                              f"({seen[(key, frame)]}); duplicate track id", path)
        seen[(key, frame)] = where
        group = groups.get(key)
        if group is None:
            group = groups[key] = ObjectGroup(key, cid, where)
            if key[0] == "track" and is_int(key[1]):
                group.object_id = key[1]
        group.categories_seen.add(cid)
        pending.append(PendingMask(where, key, frame, ann["segmentation"], clean_score(ann.get("score")),
                                   _frame_attributes(ann, group_by)))
    return groups, pending


def _frame_attributes(ann: dict, group_by: str | None) -> dict | None:
    """The annotation's attributes worth keeping per frame: not the ids that formed the object, and
    not false / empty values (CVAT writes {"occluded": false, "keyframe": ...} on every box)."""
    attributes = ann.get("attributes")
    if not isinstance(attributes, dict):
        return None
    skip = {*_TRACK_KEYS, "keyframe", group_by}
    kept = {k: v for k, v in attributes.items() if k not in skip and v not in (False, None, "", [], {})}
    return kept or None


def _group_key(ann: dict, group_by: str | None, index: int, where: str, path: Path) -> tuple:
    attributes = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
    keys = (group_by,) if group_by else _TRACK_KEYS
    for name in keys:
        value = ann.get(name, attributes.get(name))
        if value is None:
            continue
        if isinstance(value, (dict, list, float, bool)):
            raise FormatError(f"{where}: '{name}' must be an integer or a string, got {value!r}", path)
        return ("track", value)
    return ("annotation", index)  # no track id: the annotation is its own object


def _apply_tracks(doc: dict, video_id: int | None, groups: dict[Any, ObjectGroup], path: Path) -> None:
    """Names, colours, attributes and original object ids from our own ``tracks`` list."""
    tracks = doc.get("tracks")
    if not isinstance(tracks, list):
        return
    for i, track in enumerate(tracks):
        if not isinstance(track, dict) or not is_int(track.get("id")):
            raise FormatError(f"tracks[{i}]: expected an object with an integer 'id'", path)
        if video_id is not None and track.get("video_id", video_id) != video_id:
            continue
        group = groups.get(("track", track["id"]))
        if group is None:
            continue
        if isinstance(track.get("name"), str):
            group.name = track["name"]
        if isinstance(track.get("color"), str):
            group.color = track["color"]
        attributes = track.get("attributes")
        if isinstance(attributes, dict):
            group.attributes = {k: v for k, v in attributes.items() if k != "insights"}
        if is_int(track.get("object_id")):
            group.object_id = track["object_id"]
