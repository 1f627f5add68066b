"""Find objects by text (SAM 3): detections on one frame or tracks through the video, written into
the store as new objects with ``detected`` masks.

Rules (issue 16):

- every instance above the detector's threshold becomes a new object whose category is its
  phrase; its masks have the provenance ``detected``: not locked, shown as such, and left out
  of exports unless asked for (``--include-detected``);
- an instance whose mask overlaps an existing object's mask on that frame at IoU >= 0.5 is
  reported and not added (when tracking: the track is judged on its first frame);
- existing objects, their masks and their locks are never written to: every object made here is
  new;
- the whole find is one undo step; a cancelled track keeps what it wrote, in that one step;
- ``accept`` turns an object's detected masks into user masks and locks them.

The Session runs them as Jobs on the engine lane (``session.text``, app/text_tools.py), for the
GUI's Find tab and ``annotator detect``; the store is handed in by the Session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.core import masks as rle_masks
from annotator.core.project import Project
from annotator.engines.sam3 import Instance, mask_iou

OVERLAP_IOU = 0.5
DETECTED = "detected"

Progress = Callable[[int, int], None]


@dataclass
class FoundObject:
    id: int
    category: str
    score: float
    frames: list[int] = field(default_factory=list)


@dataclass
class Overlap:
    """An instance not added: it overlaps ``object_id``'s mask on ``frame``."""

    phrase: str
    score: float
    frame: int
    object_id: int
    iou: float


@dataclass
class FindReport:
    model: str
    text: str
    objects: list[FoundObject] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    frames_done: int = 0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``detect --json`` document (DESIGN.md: model, text, objects [{id, category, score,
        frames}]), plus the instances not added and whether the run was cancelled."""
        return {
            "model": self.model,
            "text": self.text,
            "objects": [{"id": o.id, "category": o.category, "score": round(o.score, 4), "frames": o.frames}
                        for o in self.objects],
            "not_added": [{"category": s.phrase, "score": round(s.score, 4), "frame": s.frame,
                           "overlaps_object": s.object_id, "iou": round(s.iou, 3)} for s in self.overlaps],
            "frames_done": self.frames_done,
            "cancelled": self.cancelled,
        }


def _existing_masks(project: Project, frame: int,
                    exclude: Iterable[int] = ()) -> list[tuple[int, np.ndarray]]:
    skip = set(exclude)
    return [(rec.object_id, rle_masks.decode(rec.rle)) for rec in project.masks_on_frame(frame)
            if rec.area > 0 and rec.object_id not in skip]


def _best_overlap(mask: np.ndarray, existing: list[tuple[int, np.ndarray]]) -> tuple[int, float] | None:
    best = max(((oid, mask_iou(mask, other)) for oid, other in existing), key=lambda t: t[1], default=None)
    return best if best is not None and best[1] >= OVERLAP_IOU else None


def _new_object(project: Project, phrase: str, step: Any) -> Any:
    category = project.ensure_category(phrase, step=step)
    return project.add_object(name=phrase, category_id=category.id, step=step)


def add_detections(project: Project, frame: int, instances: Sequence[Instance], model: str,
                   text: str) -> FindReport:
    """The instances found on ``frame`` as new objects (one undo step); overlaps reported."""
    report = FindReport(model, text, frames_done=1)
    existing = _existing_masks(project, frame)
    with project.step(f"Find objects: {text}") as step:
        for inst in sorted(instances, key=lambda i: -i.score):
            overlap = _best_overlap(inst.mask, existing)
            if overlap is not None:
                report.overlaps.append(Overlap(inst.phrase, inst.score, frame, *overlap))
                continue
            obj = _new_object(project, inst.phrase, step)
            project.set_mask(obj.id, frame, rle_masks.encode(inst.mask), DETECTED, inst.score, locked=False,
                             step=step)
            report.objects.append(FoundObject(obj.id, inst.phrase, inst.score, [frame]))
            existing.append((obj.id, inst.mask))  # two instances of one find do not overlap either
    return report


def add_tracks(project: Project, tracks: Iterable[tuple[int, list[Any]]], model: str, text: str, total: int,
               progress: Progress | None = None, cancel: threading.Event | None = None) -> FindReport:
    """Tracks from ``Sam3TextTracker.track`` as new objects, frame by frame, in one undo step.

    A track is judged on its first frame: overlapping an existing object there at IoU >= 0.5,
    it is reported and ignored from then on. Cancelling keeps what was written.
    """
    report = FindReport(model, text)
    objects: dict[int, FoundObject] = {}  # track id -> the object made for it
    ignored: set[int] = set()
    with project.step(f"Track phrase: {text}") as step:
        for frame, instances in tracks:
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            mine = [o.id for o in objects.values()]
            existing = None
            rows = []
            for inst in instances:
                if inst.track_id in ignored:
                    continue
                found = objects.get(inst.track_id)
                if found is None:
                    if existing is None:
                        existing = _existing_masks(project, frame, exclude=mine)
                    overlap = _best_overlap(inst.mask, existing)
                    if overlap is not None:
                        ignored.add(inst.track_id)
                        report.overlaps.append(Overlap(inst.phrase, inst.score, frame, *overlap))
                        continue
                    obj = _new_object(project, inst.phrase, step)
                    found = objects[inst.track_id] = FoundObject(obj.id, inst.phrase, inst.score)
                    report.objects.append(found)
                found.score = max(found.score, inst.score)
                found.frames.append(frame)
                rows.append((found.id, frame, rle_masks.encode(inst.mask), DETECTED, inst.score, False))
            if rows:
                project.set_masks(rows, step=step)
            report.frames_done += 1
            if progress is not None:
                progress(report.frames_done, total)
    return report


def accept(project: Project, object_id: int, frames: Iterable[int] | None = None) -> int:
    """Turn the object's detected masks (on ``frames``, default all) into locked user masks, one
    undo step. Returns how many masks changed."""
    wanted = None if frames is None else set(frames)
    rows = [(object_id, rec.frame, rec.rle, "user", rec.score, True)
            for rec in project.iter_masks(object_ids=[object_id])
            if rec.source == DETECTED and (wanted is None or rec.frame in wanted)]
    if rows:
        with project.step(f"Accept detection {object_id}") as step:
            project.set_masks(rows, step=step)
    return len(rows)
