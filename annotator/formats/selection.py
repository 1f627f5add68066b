"""Which objects, categories, frames and masks an export writes (see options.py for the rules).

``ExportPlan`` resolves ``ExportOptions`` against one project *without reading any mask*: it
uses ``track_summary`` (frame, score, locked, source, area per row) to find the frames, so an
export knows its image list before it streams the masks. Masks are then streamed in frame
order through ``Project.iter_masks`` (paged; never all in memory).

``CategoryTable`` gives the exported category ids: 1..K in the order of first appearance over
the projects (project order, then the project's category ids), shared by name across projects.
Objects with no category go to ``options.default_category`` ("object").
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.formats.common import FrameNames
from annotator.formats.options import ExportOptions

# Official YouTube-VIS category lists (ids as in the released JSON files). 2021 merged eagle and
# owl into bird, ape into monkey, renamed sedan to car, dropped hand, added flying_disc,
# squirrel and whale.
YTVIS_2019 = (
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape", "dog", "snake", "monkey",
    "hand", "rabbit", "duck", "cat", "cow", "fish", "train", "horse", "turtle", "bear", "motorbike",
    "giraffe", "leopard", "fox", "deer", "owl", "surfboard", "airplane", "truck", "zebra", "tiger",
    "elephant", "snowboard", "boat", "shark", "mouse", "frog", "eagle", "earless_seal", "tennis_racket",
)
YTVIS_2021 = (
    "airplane", "bear", "bird", "boat", "car", "cat", "cow", "deer", "dog", "duck", "earless_seal",
    "elephant", "fish", "flying_disc", "fox", "frog", "giant_panda", "giraffe", "horse", "leopard",
    "lizard", "monkey", "motorbike", "mouse", "parrot", "person", "rabbit", "shark", "skateboard",
    "snake", "snowboard", "squirrel", "surfboard", "tennis_racket", "tiger", "train", "truck", "turtle",
    "whale", "zebra",
)


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass
class CategoryTable:
    """Exported categories: ``entries`` [{id, name, supercategory}] and a lookup by name."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    _by_name: dict[str, int] = field(default_factory=dict)
    official: bool = False

    @classmethod
    def build(cls, projects: Sequence[Any], options: ExportOptions) -> CategoryTable:
        table = cls()
        if options.layout in ("2019", "2021"):
            names = YTVIS_2019 if options.layout == "2019" else YTVIS_2021
            table.official = True
            for i, name in enumerate(names, start=1):
                table.entries.append({"id": i, "name": name, "supercategory": name})
                table._by_name[_norm(name)] = i
            return table
        wanted = set(options.categories) if options.categories else None
        if wanted is not None:
            known = {c.name for p in projects for c in p.categories()} | {options.default_category}
            missing = sorted(wanted - known)
            if missing:
                raise ValueError(f"no categor{'ies' if len(missing) > 1 else 'y'} named {', '.join(missing)}")
        for project in projects:
            objects = project.objects()
            uncategorized = any(o.category_id is None for o in objects)
            for cat in project.categories():
                if wanted is None or cat.name in wanted:
                    table._add(cat.name, cat.supercategory)
            if uncategorized and (wanted is None or options.default_category in wanted):
                table._add(options.default_category, "")
        return table

    def _add(self, name: str, supercategory: str) -> None:
        if name in self._by_name:
            return
        cid = len(self.entries) + 1
        self.entries.append({"id": cid, "name": name, "supercategory": supercategory or name})
        self._by_name[name] = cid

    def id_of(self, name: str) -> int | None:
        return self._by_name.get(_norm(name) if self.official else name)

    def names(self) -> list[str]:
        return [e["name"] for e in self.entries]


class ExportPlan:
    """The resolved selection for one project."""

    def __init__(self, project: Any, options: ExportOptions, categories: CategoryTable) -> None:
        self.project = project
        self.options = options
        video = project.video
        self.frame_count = int(video.frame_count)
        self.height, self.width = int(video.height), int(video.width)
        cat_names = {c.id: c.name for c in project.categories()}
        wanted_ids = set(options.objects) if options.objects is not None else None
        if wanted_ids is not None:
            known = {o.id for o in project.objects()}
            missing = sorted(wanted_ids - known)
            if missing:
                raise ValueError(f"{project.path}: no object(s) {', '.join(map(str, missing))}")
        self.objects = []
        self.category_of: dict[int, int] = {}
        self.category_name_of: dict[int, str] = {}
        unknown: set[str] = set()
        for obj in project.objects():
            if wanted_ids is not None and obj.id not in wanted_ids:
                continue
            name = cat_names.get(obj.category_id, options.default_category) if obj.category_id is not None \
                else options.default_category
            if options.categories and name not in options.categories:
                continue
            cid = categories.id_of(name)
            if cid is None:
                unknown.add(name)
                continue
            self.objects.append(obj)
            self.category_of[obj.id] = cid
            self.category_name_of[obj.id] = name
        if unknown:
            raise ValueError(f"{project.path}: categor{'ies' if len(unknown) > 1 else 'y'} "
                             f"{', '.join(sorted(unknown))} not in the {options.layout} YouTube-VIS list; "
                             "rename them or leave those objects out (--categories)")
        self.object_ids = [o.id for o in self.objects]
        self._range = options.frame_range(self.frame_count)
        self.content: dict[int, set[int]] = {}  # object id -> frames with a non-empty selected mask
        verified: set[int] = set()
        reviewed: dict[int, set[int]] = {}
        for oid in self.object_ids:
            if options.reviewed_only:
                reviewed[oid] = set(project.reviewed_frames(oid))
            frames: set[int] = set()
            for frame, _score, locked, source, area in project.track_summary(oid):
                if not self.in_range(frame):
                    continue
                if source == "detected" and not options.include_detected:
                    continue
                if options.locked_only and not locked:
                    continue
                if options.reviewed_only and frame not in reviewed[oid]:
                    continue
                verified.add(frame)
                if area > 0:
                    frames.add(frame)
            self.content[oid] = frames
        with_content = set().union(*self.content.values()) if self.content else set()
        if options.skip_empty:
            chosen = with_content
        elif options.locked_only or options.reviewed_only:
            chosen = verified
        else:
            chosen = set(self._range)
        self.frames: list[int] = sorted(chosen)
        self._frame_set = set(self.frames)
        self.frames_with_content = len(with_content & self._frame_set)

    def in_range(self, frame: int) -> bool:
        r = self._range
        return r.start <= frame < r.stop and (frame - r.start) % r.step == 0

    def has_frame(self, frame: int) -> bool:
        return frame in self._frame_set

    def objects_with_content(self) -> list[Any]:
        return [o for o in self.objects if self.content.get(o.id)]

    def iter_masks(self, object_ids: Sequence[int] | None = None) -> Iterator[Any]:
        """Selected non-empty masks on planned frames, in (frame, object) order, streamed."""
        ids = self.object_ids if object_ids is None else list(object_ids)
        if not ids or not self.frames:
            return
        o = self.options
        # Read in windows of frames: ``iter_masks`` pages through its range, and each page seeks from
        # ``frame_start`` again, so one query over 10,000 frames costs time quadratic in its length.
        # A window holds about 2,000 rows; windows with no planned frame are skipped.
        window = max(1, 2048 // len(ids))
        frames, k = self.frames, 0
        while k < len(frames):
            start = frames[k]
            stop = start + window
            for rec in self.project.iter_masks(object_ids=ids, frame_start=start, frame_stop=stop,
                                               locked_only=o.locked_only, reviewed_only=o.reviewed_only):
                if rec.area > 0 and rec.frame in self._frame_set and (
                        o.include_detected or rec.source != "detected"):
                    yield rec
            k = bisect.bisect_left(frames, stop, k)

    def iter_frames(self) -> Iterator[tuple[int, list[Any]]]:
        """(frame, [masks on it]) for every planned frame, including frames with no mask."""
        masks = self.iter_masks()
        pending = next(masks, None)
        for frame in self.frames:
            on_frame = []
            while pending is not None and pending.frame == frame:
                on_frame.append(pending)
                pending = next(masks, None)
            yield frame, on_frame


def frame_attribute_map(project: Any, object_ids: Sequence[int]) -> dict[tuple[int, int], dict]:
    """Non-empty per-(object, frame) attributes of the objects, in one query."""
    if not object_ids:
        return {}
    return project.frame_attribute_map(object_ids)


def insights_by_object(project: Any) -> dict[int | None, list[dict]]:
    """Insights grouped by object id (None: about the whole video), as plain JSON dicts."""
    grouped: dict[int | None, list[dict]] = {}
    for ins in project.insights():
        grouped.setdefault(ins.object_id, []).append({
            "kind": ins.kind, "frame_start": ins.frame_start, "frame_end": ins.frame_end,
            "model": ins.model, "payload": ins.payload,
        })
    return grouped


def track_score(project: Any, object_id: int, plan: ExportPlan) -> float:
    """A track's confidence for results files: the mean mask score over its exported frames
    (masks without a score, e.g. drawn by the user, count as 1.0)."""
    scores = [1.0 if score is None else float(score)
              for frame, score, _locked, _source, area in project.track_summary(object_id)
              if area > 0 and plan.has_frame(frame)]
    return round(sum(scores) / len(scores), 6) if scores else 0.0


@dataclass
class VideoEntry:
    """One project in an export: its plan, ids in the output, and frame names."""

    project: Any
    plan: ExportPlan
    video_id: int
    name: str  # unique folder / prefix name (the video's stem)
    names: FrameNames
    track_ids: dict[int, int]  # object id -> track id in the output
    image_ids: dict[int, int] = field(default_factory=dict)  # frame -> image id (COCO)

    def file_name(self, frame: int, ext: str = ".jpg") -> str:
        return f"{self.name}/{self.names.image_name(frame, ext)}"


def prepare_videos(projects: Sequence[Any], options: ExportOptions, categories: CategoryTable,
                   *, global_track_ids: bool = False) -> list[VideoEntry]:
    """Plans for each project, with unique video names and (for datasets) unique track ids.

    One project keeps its object ids as track ids (an import gives them back). Several projects
    get track ids 1..N over the dataset, since consumers key tracks by id alone.
    """
    entries: list[VideoEntry] = []
    used: set[str] = set()
    next_track = 1
    for video_id, project in enumerate(projects, start=1):
        plan = ExportPlan(project, options, categories)
        names = FrameNames(project.video.path, project.video.frame_count)
        name = names.video_stem or f"video{video_id}"
        base, k = name, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        if global_track_ids:
            track_ids = {}
            for oid in plan.object_ids:
                track_ids[oid] = next_track
                next_track += 1
        else:
            track_ids = {oid: oid for oid in plan.object_ids}
        entries.append(VideoEntry(project, plan, video_id, name, names, track_ids))
    return entries


@contextlib.contextmanager
def opened_projects(items: Sequence[Any]) -> Iterator[list[Any]]:
    """Projects given as paths are opened read-only (the GUI may keep writing) and closed after;
    open ``Project`` objects are used as they are."""
    from annotator.core.project import Project

    opened: list[Any] = []
    result: list[Any] = []
    try:
        for item in items:
            if isinstance(item, (str, Path)):
                project = Project.open(item, readonly=True)
                opened.append(project)
                result.append(project)
            else:
                result.append(item)
        yield result
    finally:
        for project in opened:
            project.close()
