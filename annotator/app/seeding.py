"""Seeding a project with its starting annotation in one go (the batch's initial masks).

The GUI builds a project click by click; a batch entry arrives with everything at once:
objects with the ids its label images use, locked masks on several frames, or imported masks
to lock. Each call here is one undo step, so the history reads as the batch's steps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from annotator.app.propagation import plan_all
from annotator.core import masks as rle_ops
from annotator.core.project import Project


def add_objects(project: Project, ids: Iterable[int], names: dict[int, dict[str, str]]) -> None:
    """Objects with these ids (``names``: id -> optional "name" and "category")."""
    with project.step("Add objects"):
        for oid in ids:
            info = names.get(oid, {})
            category = project.ensure_category(info["category"]).id if info.get("category") else None
            project.add_object(name=info.get("name"), category_id=category, object_id=oid)


def set_locked_masks(project: Project, masks: Iterable[tuple[int, int, np.ndarray]],
                     label: str = "Initial masks") -> None:
    """(object id, frame, bool mask) as locked user masks, one undo step."""
    rows = [(oid, frame, rle_ops.encode(mask), "user", 1.0, True) for oid, frame, mask in masks]
    with project.step(label):
        project.set_masks(rows)


def lock_masks(project: Project, frames: Iterable[int] | None = None) -> int:
    """Lock every mask (or those on ``frames``) as a tracker anchor; returns how many."""
    wanted = None if frames is None else set(frames)
    pairs = [(rec.object_id, rec.frame) for rec in project.iter_masks()
             if wanted is None or rec.frame in wanted]
    if pairs:
        with project.step("Lock imported masks"):
            for oid, frame in pairs:
                project.set_locked(oid, frame, True)
    return len(pairs)


def has_anchors(project: Project) -> bool:
    """Whether "Propagate all" has anything to do (a non-empty locked mask with a gap to fill)."""
    return any(run.stops for run in plan_all(project, [o.id for o in project.objects()]))
