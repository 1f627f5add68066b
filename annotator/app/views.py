"""Read-only views of the open project, for the GUI and other readers of a Session.

``session.view`` is a ProjectView: every read a view needs (objects, masks on a frame, track
summaries, review marks, insights, undo labels) and nothing that writes, so the writes stay
in the Session, where its rules (undo steps, locks, stale prompts) live. The values it returns
are frozen records (core/records.py) or plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from annotator.app.describe import kinds
from annotator.app.describe import runs as describe_runs
from annotator.core.project import Project
from annotator.core.records import Category, Insight, MaskRecord, ObjectInfo


class TrackPoint(NamedTuple):
    """One frame of an object's track, as the timeline draws it."""

    frame: int
    score: float | None  # the tracker's confidence (None: a user or imported mask)
    locked: bool
    source: str  # "user" | "tracked" | "imported"
    area: int


class ProjectView:
    """Reads of one open project. Cheap to make; do not keep it past ``ProjectClosed``."""

    def __init__(self, project: Project) -> None:
        self._project = project

    # --- the project ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self._project.path)

    @property
    def video_path(self) -> str:
        return self._project.video.path

    @property
    def frame_count(self) -> int:
        return self._project.video.frame_count

    @property
    def readonly(self) -> bool:
        return bool(self._project.readonly)

    @property
    def closed(self) -> bool:
        return self._project.closed

    def undo_label(self) -> str | None:
        return self._project.undo_label()

    def redo_label(self) -> str | None:
        return self._project.redo_label()

    # --- objects and categories --------------------------------------------------------------
    def objects(self) -> list[ObjectInfo]:
        return self._project.objects()

    def object(self, oid: int) -> ObjectInfo:
        return self._project.object(oid)

    def categories(self) -> list[Category]:
        return self._project.categories()

    def category_name(self, category_id: int | None) -> str | None:
        if category_id is None:
            return None
        return next((c.name for c in self._project.categories() if c.id == category_id), None)

    # --- masks and marks ---------------------------------------------------------------------------
    def mask(self, oid: int, frame: int) -> MaskRecord | None:
        return self._project.mask(oid, frame)

    def masks_on_frame(self, frame: int) -> list[MaskRecord]:
        return self._project.masks_on_frame(frame)

    def mask_count(self, oid: int) -> int:
        """How many frames hold a mask of the object."""
        return self._project.mask_count([oid])

    def mask_counts(self, object_ids: list[int]) -> dict[int, int]:
        return {oid: self._project.mask_count([oid]) for oid in object_ids}

    def track_summary(self, oid: int) -> list[TrackPoint]:
        return [TrackPoint(*row) for row in self._project.track_summary(oid)]

    def reviewed_frames(self, oid: int) -> list[int]:
        return self._project.reviewed_frames(oid)

    def frame_attributes(self, oid: int, frame: int) -> dict[str, Any]:
        return dict(self._project.frame_attributes(oid, frame))

    # --- insights (classification and captions) -----------------------------------------------------
    def object_labels(self, oid: int) -> Insight | None:
        """The newest zero-shot labels of the object's track."""
        return describe_runs.latest(self._project, kinds.OBJECT_LABELS, oid)

    def object_caption(self, oid: int) -> Insight | None:
        return describe_runs.latest(self._project, kinds.OBJECT_CAPTION, oid)

    def clip_labels(self) -> Insight | None:
        return describe_runs.clip_labels(self._project)

    def segments(self) -> list[Insight]:
        """The clip description's timed segments, in time order."""
        return describe_runs.segments(self._project)

    def frame_captions(self) -> list[Insight]:
        return [i for i in self._project.insights(kind=kinds.FRAME_CAPTION) if i.object_id is None]

    def vocabulary(self, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
        """The labels a classification scores: the project's categories, then ``extra``."""
        return describe_runs.vocabulary(self._project, extra)

    def saved_labels(self) -> list[str]:
        """The user's extra labels for classification, kept with the project."""
        return describe_runs.saved_labels(self._project)
