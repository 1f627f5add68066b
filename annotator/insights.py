"""Describing a project as Jobs: zero-shot labels and captions of object tracks and the clip
(beside session.py, like propagation.py). The steps and the insights they write are in
annotator/describing.py; this module combines them into one run (``run_describe``: one undo
step, a cancelled run keeps what it finished), handles the user's edits (``accept_label`` sets
the object's category and marks the insight in one undo step; ``edit_caption`` is one step),
and starts runs on a Session.

The ``start_*`` functions run on the Session's workers, on the engine lane of the describers'
device (one lane per device: GPU work stays serialized), and announce their Jobs through
``session.events`` like the Session's own jobs. Loaded models are kept per Session
(``describers(session)``), so a second run does not load them again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator.core.jobs import Job, JobContext
from annotator.core.project import ObjectInfo, Project
from annotator.core.shots import Shot
from annotator.describing import (
    CAPTION_KINDS,
    FRAME_CAPTION,
    OBJECT_CAPTION,
    OBJECT_LABELS,
    SCENE_LABELS,
    SEGMENT_CAPTION,
    SHOTS,
    DescribeReport,
    best_frame,
    caption_frames,
    caption_tracks,
    checked_labels,
    classify_scenes,
    classify_tracks,
    describe_segments,
    find_shots,
    track_frames,
)
from annotator.errors import AnnotatorError, CancelledError, WeightsMissingError

if TYPE_CHECKING:
    from annotator.core.video import VideoSource
    from annotator.engines.describe import BlipCaptioner, ClipClassifier
    from annotator.session import Session

__all__ = [
    "CAPTION_KINDS", "FRAME_CAPTION", "OBJECT_CAPTION", "OBJECT_LABELS", "SCENE_LABELS", "SEGMENT_CAPTION",
    "SHOTS", "DescribePlan", "DescribeReport", "Describers", "ModelStatus", "accept_label", "best_frame",
    "caption_frames", "caption_tracks", "classify_scenes", "classify_tracks", "describe_segments",
    "describers", "edit_caption", "find_shots", "release_describers", "run_describe", "start_caption",
    "start_classify", "start_describe", "track_frames", "vocabulary",
]

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


# --- on a Session ---------------------------------------------------------------------------------------
TASK_WORDS = {"classify": "Classification", "caption": "Captioning"}


@dataclass(frozen=True)
class ModelStatus:
    """Whether a describer can run: ``model`` is the one that would (None: none installed)."""

    task: str
    model: str | None
    message: str  # what runs and why, or which model is missing and how to get it
    missing: str | None = None  # the model to download when none is installed

    @property
    def ready(self) -> bool:
        return self.model is not None

    @property
    def command(self) -> str | None:
        return f"annotator models download {self.missing}" if self.missing else None


class Describers:
    """The describers of one Session: the model per task (``auto``: the best installed for the
    device), loaded on first use on the engine lane and kept until ``release``."""

    def __init__(self, device: str | None = None) -> None:
        self.requested_device = device
        self.models: dict[str, str] = {"classify": "auto", "caption": "auto"}
        self.weights: dict[str, str | Path | None] = {"classify": None, "caption": None}
        self.options: dict[str, dict[str, Any]] = {"classify": {}, "caption": {}}
        self._device: str | None = None
        self._engines: dict[str, tuple[tuple, Any]] = {}
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        if self._device is None:
            from annotator.engines.device import pick_device

            self._device = pick_device(self.requested_device)
        return self._device

    @property
    def lane(self) -> str:
        return f"engine:{self.device}"

    def set_model(self, task: str, name: str = "auto", weights: str | Path | None = None,
                  **options: Any) -> None:
        """Pick the model for a task; the next run loads it."""
        self._check_task(task)
        with self._lock:
            self.models[task], self.weights[task], self.options[task] = name or "auto", weights, options
            self._engines.pop(task, None)

    def resolve(self, task: str) -> tuple[str, str]:
        """(model name, why); WeightsMissingError when it is not installed."""
        from annotator.engines.describe import resolve_model

        self._check_task(task)
        return resolve_model(task, self.models[task], self._device_for_choice(), self.weights[task])

    def status(self, task: str) -> ModelStatus:
        """What would run for ``task``, or which model is missing and how to get it. Cheap: never
        loads a model, and never imports torch when nothing imported it yet."""
        try:
            name, why = self.resolve(task)
        except WeightsMissingError as exc:
            what = TASK_WORDS[task]
            return ModelStatus(task, None, f"{what} needs the model '{exc.model}', which is not installed. "
                               f"Get it with: annotator models download {exc.model}", exc.model)
        except (ValueError, AnnotatorError) as exc:
            return ModelStatus(task, None, f"{TASK_WORDS[task]}: {exc}")
        return ModelStatus(task, name, f"{name}: {why}")

    def get(self, task: str) -> Any:
        """The loaded engine (ClipClassifier / BlipCaptioner); loads it on first use. Call it on the lane."""
        from annotator.engines.describe import load_captioner, load_classifier

        name, _why = self.resolve(task)
        key = (name, str(self.weights[task]), self.device, tuple(sorted(self.options[task].items())))
        with self._lock:
            cached = self._engines.get(task)
            if cached is not None and cached[0] == key:
                return cached[1]
        loader = load_classifier if task == "classify" else load_captioner
        engine = loader(name, self.weights[task], self.device, **self.options[task])
        with self._lock:
            self._engines[task] = (key, engine)
        return engine

    def release(self) -> None:
        with self._lock:
            engines = [engine for _key, engine in self._engines.values()]
            self._engines.clear()
        if engines:
            from annotator.engines.device import free_memory

            del engines
            free_memory(self.device)

    def _device_for_choice(self) -> str:
        import sys

        if self._device is not None or "torch" in sys.modules:
            return self.device
        # Without torch loaded, choose by the requested device (the preference order only) rather
        # than spend seconds importing torch to show a status line.
        return (self.requested_device or "cpu").split(":")[0]

    @staticmethod
    def _check_task(task: str) -> None:
        if task not in TASK_WORDS:
            raise ValueError(f"unknown describer task {task!r}; expected classify or caption")


def describers(session: Session) -> Describers:
    """The Session's describers (its engine manager owns them; made on first use)."""
    return session.engines.describers()


def release_describers(session: Session) -> None:
    """Drop the Session's loaded describers (they hold hundreds of MB)."""
    session.engines.release_describers()


def start_describe(session: Session, plan: DescribePlan, label: str = "Describe",
                   kind: str = "describe") -> Job[DescribeReport]:
    """Run ``plan`` on the Session's project as a Job (one undo step). A missing model or an
    empty vocabulary raises here, before any Job starts."""
    from annotator.errors import ProjectError

    project, video = session.project, session.video
    if project is None or video is None:
        raise ProjectError("no project is open")
    cache = describers(session)
    if plan.classify:
        cache.resolve("classify")
        checked_labels(vocabulary(project, plan.labels))
    if plan.caption:
        cache.resolve("caption")
    source = video.clone()

    def work(ctx: JobContext) -> DescribeReport:
        classifier = cache.get("classify") if plan.classify else None
        ctx.check_cancelled()
        captioner = cache.get("caption") if plan.caption else None
        ctx.check_cancelled()
        return run_describe(ctx, project, source, plan, classifier, captioner, label)

    job = session.workers.submit(cache.lane, label, work)
    job.on_done(lambda _job: source.close())  # also when cancelled before it started
    _announce(session, job, kind)
    return job


def start_classify(session: Session, labels: Sequence[str] = (), object_ids: Sequence[int] | None = None, *,
                   objects: bool = True, clip: bool = True, per_shot: bool = False,
                   **plan_options: Any) -> Job[DescribeReport]:
    """Zero-shot labels for the objects (all, or ``object_ids``) and the clip, as a Job."""
    plan = DescribePlan(classify=True, caption=False, labels=list(labels), object_ids=object_ids,
                        objects=objects, clip=clip, per_shot=per_shot, **plan_options)
    return start_describe(session, plan, "Classify", "classify")


def start_caption(session: Session, object_ids: Sequence[int] | None = None, *, objects: bool = True,
                  clip: bool = True, keyframes: Sequence[int] = (),
                  **plan_options: Any) -> Job[DescribeReport]:
    """Captions for the objects, the keyframes and the clip (timed segments), as a Job."""
    plan = DescribePlan(classify=False, caption=True, object_ids=object_ids, objects=objects, clip=clip,
                        keyframes=list(keyframes), **plan_options)
    return start_describe(session, plan, "Caption", "caption")


def _announce(session: Session, job: Job[Any], kind: str) -> None:
    """The Session's job events (job_started / job_progress / job_finished, a notice on failure)."""
    events = session.events
    events.emit("job_started", job=job, kind=kind)
    job.on_progress(lambda j, p: events.emit("job_progress", job=j, progress=p))

    def done(j: Job[Any]) -> None:
        if j.error is not None:
            log.warning("%s failed: %s", j.name, j.error)
            events.emit("notice", message=f"{j.name} failed: {j.error}", level="error")
        events.emit("job_finished", job=j, kind=kind)

    job.on_done(done)
