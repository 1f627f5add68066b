"""Review helpers over the Project store: where the next frame to look at is (not yet
reviewed, weakly tracked), and per-frame attributes (occluded, truncated) set one at a time."""

from __future__ import annotations

from annotator.core.project import Project
from annotator.engines.track_confidence import WEAK_THRESHOLD as WEAK_THRESHOLD  # the GUI's default


def next_after(frames: list[int], after: int, wrap: bool) -> int | None:
    """The first of the sorted ``frames`` after ``after``; with ``wrap``, else the first from the
    start (unless the search already started at frame 0: nothing is left to search again)."""
    later = next((f for f in frames if f > after), None)
    if later is None and wrap and after > 0 and frames:
        return frames[0]
    return later


def next_unreviewed(project: Project, oid: int, after: int, wrap: bool) -> int | None:
    """The next frame after ``after`` where the object has a mask that is not reviewed."""
    reviewed = set(project.reviewed_frames(oid))
    return next_after([f for f in project.object_frames(oid) if f not in reviewed], after, wrap)


def next_weak_frame(project: Project, oid: int, threshold: float, after: int, wrap: bool) -> int | None:
    """The next frame whose tracked (not locked) confidence is below ``threshold``."""
    weak = [frame for frame, score, locked, _source, _area in project.track_summary(oid)
            if not locked and score is not None and score < threshold]
    return next_after(weak, after, wrap)


def set_frame_attribute(project: Project, oid: int, frame: int, key: str, on: bool) -> None:
    """Set or clear one per-frame attribute, keeping the others."""
    attributes = dict(project.frame_attributes(oid, frame))
    if on:
        attributes[key] = True
    else:
        attributes.pop(key, None)
    project.set_frame_attributes(oid, frame, attributes)
