"""Describing a project as one run: zero-shot labels and captions of object tracks and the
clip. The steps and the insights they write are in steps.py; this module combines them into one
run (``run_describe``: one undo step, a cancelled run keeps what it finished), handles the user's
edits (``accept_label`` sets the object's category and marks the insight in one undo step;
``edit_caption`` is one step), and starts a run as a Job (``start_describe``) on the engine lane
of the describers' device. The Session announces the Job through its events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from annotator.app.describe.kinds import CAPTION_KINDS, OBJECT_LABELS, SCENE_LABELS, SEGMENT_CAPTION
from annotator.app.describe.steps import (
    DescribeReport,
    caption_frames,
    caption_tracks,
    checked_labels,
    classify_scenes,
    classify_tracks,
    describe_segments,
    find_shots,
)
from annotator.core.jobs import Job, JobContext, Workers
from annotator.core.project import ObjectInfo, Project
from annotator.core.shots import Shot
from annotator.errors import CancelledError

if TYPE_CHECKING:
    from annotator.app.engines import Describers
    from annotator.core.video_source import VideoSource
    from annotator.engines.describe import BlipCaptioner, ClipClassifier

log = logging.getLogger(__name__)

LABELS_SETTING = "describe_labels"  # the user's extra labels, kept per project


@dataclass
class DescribePlan:
    """What one describe run does. ``object_ids`` None: every object."""

    classify: bool = True
    caption: bool = True
    labels: Sequence[str] = ()  # added to the project's categories
    object_ids: Sequence[int] | None = None
    objects: bool = True  # per-object labels / captions
    clip: bool = True  # scene labels of the whole clip / the timed clip description
    per_shot: bool = False  # scene labels of every shot too
    keyframes: Sequence[int] = ()  # frames to caption on their own
    frames_per_track: int = 8
    frames_per_clip: int = 8
    frames_per_shot: int = 3
    top_k: int = 5
    max_segment_s: float = 10.0
    crop_pad: float = 0.15
    crop_dim: float = 0.6


# --- vocabulary ----------------------------------------------------------------------------------
def vocabulary(project: Project, extra: Iterable[str] = ()) -> list[str]:
    """The labels to score against: the project's categories, then the extra labels (no repeats)."""
    names = [c.name for c in project.categories()]
    names += [s.strip() for s in extra if s and s.strip()]
    seen: set[str] = set()
    out = []
    for name in names:
        key = name.lower()
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def parse_labels(text: str) -> list[str]:
    """"dog, cat ,, red car" -> ["dog", "cat", "red car"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def saved_labels(project: Project) -> list[str]:
    value = project.get_setting(LABELS_SETTING, [])
    return [str(v) for v in value] if isinstance(value, list) else []


def save_labels(project: Project, labels: Sequence[str]) -> None:
    project.set_setting(LABELS_SETTING, list(dict.fromkeys(s.strip() for s in labels if s.strip())))


# --- the user's edits --------------------------------------------------------------------------------
def accept_label(project: Project, object_id: int, label: str, insight_id: int | None = None) -> ObjectInfo:
    """Make ``label`` the object's category (created if new) and mark it accepted on its labels
    insight: one undo step."""
    label = label.strip()
    if not label:
        raise ValueError("an empty label cannot be a category")
    with project.step(f"Set class to '{label}'"):
        category = project.ensure_category(label)
        info = project.update_object(object_id, category_id=category.id)
        targets = [i for i in project.insights(kind=OBJECT_LABELS, object_id=object_id)
                   if insight_id is None or i.id == insight_id]
        for ins in targets:
            project.update_insight(ins.id, {**ins.payload, "accepted": label})
    return info


def edit_caption(project: Project, insight_id: int, text: str) -> None:
    """Replace a caption's text (one undo step); the model's text is kept as ``original``."""
    found = [i for i in project.insights() if i.id == insight_id]
    if not found or found[0].kind not in CAPTION_KINDS:
        raise KeyError(f"no caption insight {insight_id}")
    payload = dict(found[0].payload)
    text = " ".join(text.split())
    if payload.get("text") == text:
        return
    payload.setdefault("original", payload.get("text", ""))
    payload.update({"text": text, "edited": True})
    project.update_insight(insight_id, payload)


def latest(project: Project, kind: str, object_id: int | None = None) -> Any:
    """The newest insight of ``kind`` for the object (None: about the video), or None."""
    found = [i for i in project.insights(kind=kind, object_id=object_id)
             if object_id is not None or i.object_id is None]
    return found[-1] if found else None


def clip_labels(project: Project) -> Any:
    found = [i for i in project.insights(kind=SCENE_LABELS) if i.payload.get("scope") == "clip"]
    return found[-1] if found else None


def segments(project: Project) -> list[Any]:
    """The clip description's segments, in time order."""
    return sorted((i for i in project.insights(kind=SEGMENT_CAPTION) if i.object_id is None),
                  key=lambda i: (i.frame_start or 0, i.id))


# --- one run -----------------------------------------------------------------------------------------
def run_describe(ctx: JobContext, project: Project, source: VideoSource, plan: DescribePlan,
                 classifier: ClipClassifier | None = None, captioner: BlipCaptioner | None = None,
                 label: str = "Describe") -> DescribeReport:
    """Everything ``plan`` asks for, as one undo step; a cancelled run keeps what it finished
    (the report says ``cancelled``) and re-raises CancelledError."""
    started = time.perf_counter()
    report = DescribeReport()
    engine = classifier or captioner
    report.device = engine.device if engine is not None else "cpu"
    if plan.classify and classifier is None:
        raise ValueError("the plan classifies but no classifier was given")
    if plan.caption and captioner is None:
        raise ValueError("the plan captions but no captioner was given")
    labels = checked_labels(vocabulary(project, plan.labels)) if plan.classify else []
    step = project.begin_step(label)
    try:
        shots: list[Shot] | None = None
        if (plan.classify and plan.per_shot) or (plan.caption and plan.clip):
            shots = find_shots(ctx, project, source, step=step)
            report.shots = shots
        if plan.classify:
            assert classifier is not None
            report.classify_model = classifier.name
            if plan.objects:
                classify_tracks(ctx, project, source, classifier, labels, plan.object_ids,
                                frames_per_track=plan.frames_per_track, top_k=plan.top_k, pad=plan.crop_pad,
                                dim=plan.crop_dim, step=step, report=report)
            if plan.clip or plan.per_shot:
                classify_scenes(ctx, project, source, classifier, labels, shots if plan.per_shot else None,
                                frames_per_clip=plan.frames_per_clip, frames_per_shot=plan.frames_per_shot,
                                top_k=plan.top_k, clip=plan.clip, step=step, report=report)
        if plan.caption:
            assert captioner is not None
            report.caption_model = captioner.name
            if plan.objects:
                caption_tracks(ctx, project, source, captioner, plan.object_ids, pad=plan.crop_pad,
                               dim=plan.crop_dim, step=step, report=report)
            if plan.keyframes:
                caption_frames(ctx, project, source, captioner, plan.keyframes, step=step, report=report)
            if plan.clip:
                describe_segments(ctx, project, source, captioner, shots, max_segment_s=plan.max_segment_s,
                                  step=step, report=report)
    except CancelledError:
        report.cancelled = True
        ctx.add_partial(report)
        raise
    finally:
        step.close()
        report.seconds = time.perf_counter() - started
    return report


# --- as a Job ----------------------------------------------------------------------------------------
def start_describe(workers: Workers, describers: Describers, project: Project, video: VideoSource,
                   plan: DescribePlan, label: str = "Describe") -> Job[DescribeReport]:
    """Run ``plan`` on the project as a Job (one undo step). A missing model or an empty
    vocabulary raises here, before any Job starts."""
    if plan.classify:
        describers.resolve("classify")
        checked_labels(vocabulary(project, plan.labels))
    if plan.caption:
        describers.resolve("caption")
    source = video.clone()

    def work(ctx: JobContext) -> DescribeReport:
        classifier = describers.get("classify") if plan.classify else None
        ctx.check_cancelled()
        captioner = describers.get("caption") if plan.caption else None
        ctx.check_cancelled()
        return run_describe(ctx, project, source, plan, classifier, captioner, label)

    job = workers.submit(describers.lane, label, work)
    job.on_done(lambda _job: source.close())  # also when cancelled before it started
    return job


def classify_plan(labels: Sequence[str] = (), object_ids: Sequence[int] | None = None, *,
                  objects: bool = True, clip: bool = True, per_shot: bool = False,
                  **plan_options: Any) -> DescribePlan:
    """Zero-shot labels for the objects (all, or ``object_ids``) and the clip."""
    return DescribePlan(classify=True, caption=False, labels=list(labels), object_ids=object_ids,
                        objects=objects, clip=clip, per_shot=per_shot, **plan_options)


def caption_plan(object_ids: Sequence[int] | None = None, *, objects: bool = True, clip: bool = True,
                 keyframes: Sequence[int] = (), **plan_options: Any) -> DescribePlan:
    """Captions for the objects, the keyframes and the clip (timed segments)."""
    return DescribePlan(classify=False, caption=True, object_ids=object_ids, objects=objects, clip=clip,
                        keyframes=list(keyframes), **plan_options)
