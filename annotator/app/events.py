"""The Session's events: one frozen dataclass per event, emitted on ``session.events``.

Events fire on the thread that caused them (a propagation writes from the engine worker).
Tests and the CLI subscribe with ``session.events.connect(MasksChanged, callback)``; the GUI's
bridge (gui/jobs.py) forwards every event to the UI thread through one Qt signal and each
view matches on the type. Payloads are plain values: a view asks the Session for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotator.core.jobs import Job
from annotator.core.project import Change


@dataclass(frozen=True)
class ProjectOpened:
    path: str  # the .annot file
    video_path: str  # the video, frame folder or image it annotates
    frame_count: int


@dataclass(frozen=True)
class ProjectClosed:
    pass


@dataclass(frozen=True)
class FrameChanged:
    frame: int


@dataclass(frozen=True)
class MasksChanged:
    object_id: int | None  # None: several objects
    frames: tuple[int, ...] | None  # None: many frames


@dataclass(frozen=True)
class MarksChanged:
    """Locks or review marks changed."""

    object_id: int | None
    frames: tuple[int, ...] | None


@dataclass(frozen=True)
class ObjectsChanged:
    pass


@dataclass(frozen=True)
class CategoriesChanged:
    pass


@dataclass(frozen=True)
class PromptsChanged:
    object_id: int  # 0: every object (all click sessions were dropped)
    frame: int


@dataclass(frozen=True)
class InsightsChanged:
    pass


@dataclass(frozen=True)
class HistoryChanged:
    pass


@dataclass(frozen=True)
class JobStarted:
    job: Job[Any]
    kind: str  # "segment", "propagate", "export", "download", "describe", ...


@dataclass(frozen=True)
class JobProgress:
    job: Job[Any]
    done: int
    total: int | None  # None: unknown length
    frame: int | None  # the video frame the job is on, when it works through frames
    message: str
    rate: float | None = None  # items per second since the job started


@dataclass(frozen=True)
class JobFinished:
    job: Job[Any]
    kind: str


@dataclass(frozen=True)
class EngineStatus:
    segmenter: str
    tracker: str
    device: str
    reason: str


@dataclass(frozen=True)
class Notice:
    message: str
    level: str = "info"  # "info" | "warning" | "error"


EVENTS: tuple[type, ...] = (
    ProjectOpened, ProjectClosed, FrameChanged, MasksChanged, MarksChanged, ObjectsChanged,
    CategoriesChanged, PromptsChanged, InsightsChanged, HistoryChanged, JobStarted, JobProgress,
    JobFinished, EngineStatus, Notice,
)


def store_events(changes: list[Change]) -> list[object]:
    """The events one commit of the store makes: masks and marks per object, then the rest."""
    masks: dict[int | None, set[int]] = {}
    marks: dict[int | None, set[int]] = {}
    kinds = set()
    for change in changes:
        kinds.add(change.kind)
        if change.kind == "mask" and change.frame is not None:
            masks.setdefault(change.object_id, set()).add(change.frame)
        elif change.kind == "mark" and change.frame is not None:
            marks.setdefault(change.object_id, set()).add(change.frame)
    events: list[object] = [MasksChanged(oid, tuple(sorted(frames))) for oid, frames in masks.items()]
    events += [MarksChanged(oid, tuple(sorted(frames))) for oid, frames in marks.items()]
    if "object" in kinds:
        events.append(ObjectsChanged())
    if "category" in kinds:
        events.append(CategoriesChanged())
    if "insight" in kinds:
        events.append(InsightsChanged())
    events.append(HistoryChanged())
    return events
