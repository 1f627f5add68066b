"""Pieces the importers share: checked access to parsed JSON, category lists, choosing one video
of a multi-video file, turning segmentations into proven-safe RLEs in batches, assigning
object ids and filling the new project with them.

Every problem is a FormatError whose message names the file and the entry
("annotations.json: annotations[17]: segmentation size [480, 640] does not match the image
(480x854)"), raised before the new project appears (see common.ProjectBuilder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.errors import FormatError
from annotator.formats.rle_check import (
    SegmentationError,
    check_compressed_many,
    check_size,
    rle_from_segmentation,
)

_BATCH = 4096
MAX_ID = 2**62  # object ids must fit SQLite's signed 64-bit integers


def valid_id(value: Any) -> bool:
    """A usable object / track id from a file: a positive integer below ``MAX_ID``."""
    return is_int(value) and 0 < value < MAX_ID


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require_list(doc: dict, key: str, path: Path, required: bool = True) -> list:
    value = doc.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        what = "missing" if value is None else f"a {type(value).__name__}, not a list"
        raise FormatError(f"'{key}' is {what}", path)
    return value


def require_dict(item: Any, where: str, path: Path) -> dict:
    if not isinstance(item, dict):
        raise FormatError(f"{where}: expected an object, got {type(item).__name__}", path)
    return item


def parse_categories(doc: dict, path: Path) -> dict[int, dict[str, str]]:
    """{category id: {"name", "supercategory"}}; ids unique, names non-empty."""
    out: dict[int, dict[str, str]] = {}
    for i, cat in enumerate(require_list(doc, "categories", path)):
        cat = require_dict(cat, f"categories[{i}]", path)
        cid, name = cat.get("id"), cat.get("name")
        if not is_int(cid):
            raise FormatError(f"categories[{i}]: 'id' must be an integer, got {cid!r}", path)
        if not isinstance(name, str) or not name.strip():
            raise FormatError(f"categories[{i}]: 'name' must be a non-empty string", path)
        if cid in out:
            raise FormatError(f"categories[{i}]: duplicate category id {cid}", path)
        sup = cat.get("supercategory")
        out[cid] = {"name": name.strip(), "supercategory": sup if isinstance(sup, str) else ""}
    return out


def choose_video(videos: list, wanted: str | None, path: Path, kind: str = "videos") -> int | None:
    """The id of the video to import from a ``videos`` list: ``wanted`` by name or id, or the only one.

    None when the file has no videos list (a plain COCO file is one video).
    """
    if not videos:
        if wanted is not None:
            raise FormatError(f"the file has no '{kind}' list, so --video {wanted!r} cannot be chosen", path)
        return None
    ids: list[int] = []
    names: dict[str, int] = {}
    for i, vid in enumerate(videos):
        vid = require_dict(vid, f"{kind}[{i}]", path)
        if not is_int(vid.get("id")):
            raise FormatError(f"{kind}[{i}]: 'id' must be an integer", path)
        if vid["id"] in ids:
            raise FormatError(f"{kind}[{i}]: duplicate video id {vid['id']}", path)
        ids.append(vid["id"])
        for name in _video_names(vid):
            names.setdefault(name, vid["id"])
    if wanted is not None:
        if wanted in names:
            return names[wanted]
        if wanted.isascii() and wanted.isdigit() and int(wanted) in ids:
            return int(wanted)
        raise FormatError(f"no video {wanted!r} in the file (it has {', '.join(sorted(names)) or ids})", path)
    if len(ids) > 1:
        listing = ", ".join(sorted(names)) if names else ", ".join(map(str, ids))
        raise FormatError(f"the file holds {len(ids)} videos ({listing}); choose one with --video", path)
    return ids[0]


def _video_names(vid: dict) -> list[str]:
    names = [vid["name"]] if isinstance(vid.get("name"), str) else []
    files = vid.get("file_names")
    if isinstance(files, list) and files and isinstance(files[0], str) and "/" in files[0]:
        names.append(files[0].rsplit("/", 1)[0])
    return names


@dataclass
class PendingMask:
    where: str  # "annotations[17]" or "annotations[3].segmentations[5]"
    key: Any  # the object (group) key
    frame: int
    segmentation: Any
    score: float | None = None
    attributes: dict | None = None  # per-frame attributes to restore (e.g. {"occluded": True})


@dataclass
class ObjectGroup:
    key: Any
    category_id: int | None
    first_where: str
    name: str | None = None
    color: str | None = None
    attributes: dict = field(default_factory=dict)
    object_id: int | None = None  # wanted id (from our own export); kept when free
    categories_seen: set[int] = field(default_factory=set)


def checked_rles(pending: Sequence[PendingMask], height: int, width: int, path: Path,
                 reporter: Any = None) -> list[dict]:
    """RLE per pending mask, proven well formed; FormatError naming the first bad entry."""
    out: list[dict | None] = [None] * len(pending)
    compressed: list[int] = []
    for i, item in enumerate(pending):
        seg = item.segmentation
        try:
            if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
                check_size(seg.get("size"), height, width)
                compressed.append(i)
            else:
                out[i] = rle_from_segmentation(seg, height, width)
        except SegmentationError as exc:
            raise FormatError(f"{item.where}: {exc}", path) from None
        if reporter is not None and i % 1024 == 0:
            reporter(i, len(pending), "checking masks")
    for start in range(0, len(compressed), _BATCH):
        chunk = compressed[start:start + _BATCH]
        problems = check_compressed_many([pending[i].segmentation["counts"] for i in chunk],
                                         [(height, width)] * len(chunk))
        for i, problem in zip(chunk, problems):
            if problem:
                raise FormatError(f"{pending[i].where}: {problem}", path)
            out[i] = {"size": [height, width], "counts": pending[i].segmentation["counts"]}
        if reporter is not None:
            reporter(start + len(chunk), len(compressed), "checking masks")
    return out  # type: ignore[return-value]


def assign_object_ids(groups: Sequence[ObjectGroup]) -> dict[Any, int]:
    """Object id per group: the wanted id when it is a free positive int, else the next free one."""
    used: set[int] = set()
    ids: dict[Any, int] = {}
    for group in groups:
        wanted = group.object_id
        if valid_id(wanted) and wanted not in used:
            ids[group.key] = wanted
            used.add(wanted)
    next_id = max(used, default=0) + 1
    for group in groups:
        if group.key not in ids:
            while next_id in used:
                next_id += 1
            ids[group.key] = next_id
            used.add(next_id)
    return ids


def fill_project(builder: Any, categories: dict[int, dict[str, str]], groups: Sequence[ObjectGroup],
                 pending: Sequence[PendingMask], rles: Sequence[dict], reporter: Any) -> dict[Any, int]:
    """Fill a ``common.ProjectBuilder`` from parsed COCO-style entries: the categories (by id), one
    object per group (ids from ``assign_object_ids``), then every mask. Returns group key -> object id."""
    for cid in sorted(categories):
        builder.category(categories[cid]["name"])
    ids = assign_object_ids(groups)
    for group in groups:
        category = categories[group.category_id]["name"] if group.category_id in categories else None
        builder.add_object(ids[group.key], group.name, category, group.color, group.attributes)
    for k, (item, rle) in enumerate(zip(pending, rles)):
        builder.add_mask(ids[item.key], item.frame, rle, item.score)
        if k % 512 == 0:
            reporter(k, len(pending), "writing masks")
    builder.flush()
    return ids


def str_or_none(value: Any) -> str | None:
    """A name or category read from a file: kept when it is a string, else None."""
    return value if isinstance(value, str) else None


def clean_score(value: Any) -> float | None:
    if is_number(value) and value == value and abs(value) != float("inf"):
        return float(value)
    return None
