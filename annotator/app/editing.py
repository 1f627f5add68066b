"""Object and range edits over the Project store, each one a single undo step.

These are the operations of the objects panel (merge, split, swap ids, clear from a
frame on, mark absent, copy forward) and the brush. They are plain functions over a
Project so the Session, the CLI and the tests share one implementation.

A user edit always locks the (object, frame) it touches: the tracker must not overwrite
what the user decided.
"""

from __future__ import annotations

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.project import ObjectInfo, Project


def apply_brush(project: Project, oid: int, frame: int, stroke: np.ndarray, erase: bool = False) -> dict:
    """Add (or, with ``erase``, remove) the painted pixels to the object's mask; returns the RLE."""
    current = project.mask(oid, frame)
    h, w = project.video.height, project.video.width
    base = rle_ops.decode(current.rle) if current is not None else np.zeros((h, w), bool)
    if stroke.shape != base.shape:
        raise ValueError(f"brush stroke is {stroke.shape}, frame is {base.shape}")
    result = base & ~stroke if erase else base | stroke
    rle = rle_ops.encode(result)
    with project.step("Erase" if erase else "Brush"):
        project.set_mask(oid, frame, rle, "user", score=1.0, locked=True)
    return rle


def set_user_mask(project: Project, oid: int, frame: int, mask: np.ndarray, label: str = "Edit mask") -> dict:
    rle = rle_ops.encode(mask)
    with project.step(label):
        project.set_mask(oid, frame, rle, "user", score=1.0, locked=True)
    return rle


def mark_absent(project: Project, oid: int, start: int, stop: int) -> int:
    """Lock an empty mask on frames start..stop (inclusive): 'the object is not here'."""
    start, stop = sorted((start, stop))
    empty = rle_ops.empty(project.video.height, project.video.width)
    rows = [(oid, f, empty, "user", 1.0, True) for f in range(start, stop + 1)]
    with project.step(f"Mark absent {start}–{stop}"):
        project.set_masks(rows)
    return len(rows)


def clear_from(project: Project, oid: int, frame: int) -> None:
    """Remove every mask of the object from ``frame`` to the end, locked ones included."""
    with project.step(f"Clear from frame {frame}"):
        project.delete_masks(oid, frame, None)


def copy_forward(project: Project, oid: int, frame: int, count: int) -> int:
    """Copy the mask on ``frame`` to the next ``count`` frames (as user masks, locked)."""
    record = project.mask(oid, frame)
    if record is None:
        raise ValueError(f"object {oid} has no mask on frame {frame} to copy")
    last = min(project.video.frame_count - 1, frame + count)
    rows = [(oid, f, record.rle, "user", 1.0, True) for f in range(frame + 1, last + 1)]
    with project.step(f"Copy mask forward {len(rows)} frames"):
        project.set_masks(rows)
    return len(rows)


def merge_objects(project: Project, keep: int, absorb: int) -> None:
    """Fold ``absorb`` into ``keep``: masks are united per frame; then ``absorb`` is deleted."""
    if keep == absorb:
        raise ValueError("cannot merge an object with itself")
    with project.step(f"Merge object {absorb} into {keep}"):
        for record in list(project.iter_masks(object_ids=[absorb])):
            mine = project.mask(keep, record.frame)
            if mine is None:
                merged, locked = record.rle, record.locked
            else:
                merged, locked = rle_ops.union([mine.rle, record.rle]), mine.locked or record.locked
            source = "user" if locked else (mine.source if mine is not None else record.source)
            score = _min_score(mine, record)
            project.set_mask(keep, record.frame, merged, source, score=score, locked=locked)
        project.delete_object(absorb)


def split_object(project: Project, oid: int, from_frame: int) -> ObjectInfo:
    """Move the object's masks from ``from_frame`` on to a new object (same class); returns it."""
    original = project.object(oid)
    with project.step(f"Split object {oid} at frame {from_frame}"):
        new = project.add_object(name=f"{original.name} (split)", category_id=original.category_id,
                                 attributes=dict(original.attributes))
        moved = list(project.iter_masks(object_ids=[oid], frame_start=from_frame))
        project.set_masks([(new.id, r.frame, r.rle, r.source, r.score, r.locked) for r in moved])
        for frame in project.reviewed_frames(oid):
            if frame >= from_frame:
                project.set_reviewed(new.id, frame, True)
                project.set_reviewed(oid, frame, False)
        project.delete_masks(oid, from_frame, None)
    return new


def swap_objects(project: Project, a: int, b: int, from_frame: int) -> int:
    """Exchange the masks of two objects from ``from_frame`` on (an id switch fix); returns frames touched."""
    if a == b:
        raise ValueError("cannot swap an object with itself")
    rows_a = {r.frame: r for r in project.iter_masks(object_ids=[a], frame_start=from_frame)}
    rows_b = {r.frame: r for r in project.iter_masks(object_ids=[b], frame_start=from_frame)}
    with project.step(f"Swap objects {a} and {b} from frame {from_frame}"):
        project.delete_masks(a, from_frame, None)
        project.delete_masks(b, from_frame, None)
        project.set_masks(
            [(b, r.frame, r.rle, r.source, r.score, r.locked) for r in rows_a.values()]
            + [(a, r.frame, r.rle, r.source, r.score, r.locked) for r in rows_b.values()]
        )
    return len(set(rows_a) | set(rows_b))


def _min_score(*records: object) -> float | None:
    scores = [r.score for r in records if r is not None and r.score is not None]  # type: ignore[attr-defined]
    return min(scores) if scores else None


def next_after(frames: list[int], after: int, wrap: bool) -> int | None:
    """The first of the sorted ``frames`` after ``after``; with ``wrap``, else the first from the
    start (unless the search already started at frame 0: nothing is left to search again)."""
    later = next((f for f in frames if f > after), None)
    if later is None and wrap and after > 0 and frames:
        return frames[0]
    return later
