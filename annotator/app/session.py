"""The Session: the one application API that the GUI, the CLI and the tests all drive.

It owns the Project store, the VideoSource used for viewing, the engines and the worker
threads. Quick state changes return their result; anything that may take longer than
about 50 ms (a click on CPU, a propagation, an export) returns a Job. No Qt in here:
views subscribe to ``session.events`` (typed events, app/events.py) and re-post to their own
thread, and read through ``session.view`` (app/views.py). The store itself stays private.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.app import datasets, editing, review, seeding
from annotator.app.describe import runs as describe_runs
from annotator.app.describe.runs import DescribePlan
from annotator.app.describe.steps import DescribeReport
from annotator.app.engines import EngineManager, ModelStatus
from annotator.app.events import (
    EVENTS,
    FrameChanged,
    HistoryChanged,
    JobFinished,
    JobProgress,
    JobStarted,
    Notice,
    ProjectClosed,
    ProjectOpened,
    PromptsChanged,
    store_events,
)
from annotator.app.models import Models
from annotator.app.preview import rough_preview, warm_up
from annotator.app.project_files import open_store, open_temporary_store
from annotator.app.prompts import InteractiveSegmentation, PromptState, segment_work
from annotator.app.propagation import (
    BACKWARD,
    FORWARD,
    PropagationReport,
    Run,
    one_tracker,
    plan_all,
    plan_run,
    run_propagation,
)
from annotator.app.text_tools import TextTools
from annotator.app.video_info import VideoInfo
from annotator.app.views import ProjectView
from annotator.core import masks as rle_ops
from annotator.core.events import Emitter
from annotator.core.frame_cache import Prefetch
from annotator.core.jobs import Job, JobContext, Workers
from annotator.core.project import Change, MaskRecord, ObjectInfo, Project
from annotator.core.video_source import VideoSource
from annotator.errors import AnnotatorError, ProjectError
from annotator.formats.options import ExportOptions

log = logging.getLogger(__name__)


class Session:
    """Open a video or project, then annotate it. Close it when done (or use ``with``)."""

    def __init__(self, segmenter: str = "auto", tracker: str = "auto", device: str | None = None,
                 workers: Workers | None = None, weights: dict[str, str | Path] | None = None) -> None:
        """``weights``: local weights per task ("segment", "track") instead of the installed ones."""
        self.events = Emitter(*EVENTS)  # typed events (app/events.py)
        self.workers = workers or Workers()
        self._owns_workers = workers is None
        self._project: Project | None = None  # private: readers use ``view``, writers the methods
        self.video: VideoSource | None = None
        self.current_frame = 0
        self.requested_segmenter = segmenter
        self.requested_tracker = tracker
        self.requested_device = device
        self.engines = EngineManager(self.workers, self.events.emit, self._on_screen,
                                     segmenter=segmenter, tracker=tracker, device=device, weights=weights)
        self.models = Models(self.workers, self._track_job, self.engines)  # weights as Jobs
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self._interactive: InteractiveSegmentation | None = None
        self._unlisten: Callable[[], None] | None = None
        # Find objects by text (SAM 3) and search as Jobs; it reaches the project through the lambda.
        self.text = TextTools(self.workers, self._track_job, self.engines, lambda frame: (
            self._require_project(), self._source(), self._frame_or_current(frame)))

    # --- opening and closing --------------------------------------------------------------
    def open(self, path: str | Path, video: str | Path | None = None, *,
             readonly: bool = False, need_video: bool = True,
             project: str | Path | None = None) -> ProjectView:
        """Open a video, frame folder, image or ``.annot`` project (creating the project if new).

        ``video`` relinks a project whose video moved. ``readonly`` opens an existing project
        without the writer lock (``annotator export`` while the GUI has it open). Without
        ``need_video`` a project opens even when its video is missing: the view and the
        export work, frame calls raise ProjectError. ``project``: the video's project at that
        path instead of beside it (``annotator detect --project``).
        """
        self.close()
        self._attach(*open_store(path, video, readonly=readonly, need_video=need_video,
                                 project_path=project, warn=lambda m: self._notice(m, "warning")))
        return self.view

    def open_in_background(self, path: str | Path, video: str | Path | None = None) -> Job[ProjectView]:
        """Close, then ``open`` on the I/O lane (scanning a long video takes a while). Closing
        happens here: it waits for the old project's jobs, and a job must not wait for itself."""
        self.close()
        return self.workers.submit(Workers.IO_LANE, f"open {Path(path).name}",
                                   lambda ctx: self.open(path, video=video))

    def open_temporary(self, path: str | Path, *, fps: float | None = None) -> ProjectView:
        """Open a video, frame folder or image over a throw-away store in a temporary folder:
        nothing is written beside the video and no project lock is taken (``annotator track``
        and ``segment``). ``close`` deletes the store."""
        self.close()
        project, source, self._temporary = open_temporary_store(path, fps=fps)
        self._attach(project, source)
        return self.view

    def _attach(self, project: Project, source: VideoSource | None) -> None:
        self._project, self.video = project, source
        frames, video_path = (source.frame_count, str(source.path)) if source else (
            project.video.frame_count, project.video.path)
        self._interactive = InteractiveSegmentation(project)
        self._unlisten = project.listen(self._on_store_changes)
        last = project.get_setting("last_frame", 0)
        self.current_frame = int(max(0, min(last, frames - 1)))
        self.events.emit(ProjectOpened(str(project.path), video_path, frames))
        self.events.emit(FrameChanged(self.current_frame))
        self._emit_history()
        self.engines.announce()

    @property
    def is_open(self) -> bool:
        return self._project is not None and not self._project.closed

    @property
    def view(self) -> ProjectView:
        """Read-only access to the open project (ProjectError when none is open)."""
        return ProjectView(self._require_project())

    def close(self) -> None:
        """Cancel running jobs (their partial results are already saved) and close the files."""
        if self._project is None:
            return
        for job in self.workers.active_jobs():
            job.cancel()
        for job in self.workers.active_jobs():
            job.wait(10)
        self.engines.release()
        self.text.release()
        if self._unlisten is not None:
            self._unlisten()
        if not self._project.readonly and self._temporary is None:
            try:
                self._project.set_setting("last_frame", self.current_frame)
            except AnnotatorError:
                log.warning("could not save the last frame position", exc_info=True)
        self._project.close()
        if self.video is not None:
            self.video.close()
        self._project = self.video = None
        self._interactive = None
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
        self.events.emit(ProjectClosed())

    def shutdown(self) -> None:
        self.close()
        if self._owns_workers:
            self.workers.shutdown()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- navigation -----------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return self._source().frame_count

    def set_frame(self, frame: int) -> int:
        frame = int(np.clip(frame, 0, self.frame_count - 1))
        if frame != self.current_frame:
            self.current_frame = frame
            self.events.emit(FrameChanged(frame))
            self.engines.frame_changed(frame)
        return frame

    def step_frames(self, delta: int) -> int:
        return self.set_frame(self.current_frame + delta)

    def frame_image(self, frame: int | None = None) -> np.ndarray:
        """The decoded frame (blocking; the GUI uses load_frame)."""
        return self._source().frame(self.current_frame if frame is None else frame)

    def load_frame(self, frame: int) -> Job[tuple[int, np.ndarray]]:
        """Decode a frame on the I/O lane; a newer request cancels an older one still waiting."""
        source = self._source()
        return self.workers.submit_latest("view-frame", Workers.IO_LANE, f"decode frame {frame}",
                                          lambda ctx: (frame, source.frame(frame)))

    def timestamp(self, frame: int | None = None) -> float:
        return self._source().timestamp(self.current_frame if frame is None else frame)

    @property
    def video_info(self) -> VideoInfo | None:
        """The open video's size, frame rate, frame count and clock; None when none is open."""
        return None if self.video is None else VideoInfo.of(self.video)

    def prefetch_frames(self, start: int, count: int, step: int = 1) -> Prefetch:
        """Decode frames ahead into the view's cache (playback); a newer call cancels the last."""
        return self._source().prefetch(start, count, step)

    def frame_cache_capacity(self) -> int:
        """Bytes the view's frame cache may hold (0: unbounded)."""
        return self._source().cache_stats().get("capacity", 0)

    # --- objects and categories ------------------------------------------------------------
    def objects(self) -> list[ObjectInfo]:
        return self._require_project().objects()

    def add_object(self, name: str | None = None, category: str | None = None) -> ObjectInfo:
        project = self._require_project()
        with project.step("Add object"):
            category_id = project.ensure_category(category).id if category else None
            return project.add_object(name=name, category_id=category_id)

    def rename_object(self, oid: int, name: str) -> ObjectInfo:
        return self._require_project().update_object(oid, name=name)

    def set_object_category(self, oid: int, category: str | None) -> ObjectInfo:
        project = self._require_project()
        with project.step("Set class"):
            category_id = project.ensure_category(category).id if category else None
            return project.update_object(oid, category_id=category_id)

    def set_object_color(self, oid: int, color: str) -> ObjectInfo:
        return self._require_project().update_object(oid, color=color)

    def set_object_hidden(self, oid: int, hidden: bool) -> ObjectInfo:
        return self._require_project().update_object(oid, hidden=hidden)

    def delete_object(self, oid: int) -> None:
        self._require_project().delete_object(oid)

    def merge_objects(self, keep: int, absorb: int) -> None:
        editing.merge_objects(self._require_project(), keep, absorb)

    def split_object(self, oid: int, from_frame: int | None = None) -> ObjectInfo:
        return editing.split_object(self._require_project(), oid, self._frame_or_current(from_frame))

    def swap_objects(self, a: int, b: int, from_frame: int | None = None) -> int:
        return editing.swap_objects(self._require_project(), a, b, self._frame_or_current(from_frame))

    def category_names(self) -> list[str]:
        return [c.name for c in self._require_project().categories()]

    # --- seeding a project in one go (app/seeding.py: the batch's initial masks) -------------
    def add_objects(self, ids: list[int], names: dict[int, dict[str, str]]) -> None:
        seeding.add_objects(self._require_project(), ids, names)

    def set_locked_masks(self, masks: list[tuple[int, int, np.ndarray]]) -> None:
        seeding.set_locked_masks(self._require_project(), masks)

    def lock_masks(self, frames: list[int] | None = None) -> int:
        return seeding.lock_masks(self._require_project(), frames)

    def has_anchors(self) -> bool:
        return seeding.has_anchors(self._require_project())

    # --- masks: read ------------------------------------------------------------------------
    def mask(self, oid: int, frame: int | None = None) -> MaskRecord | None:
        return self._require_project().mask(oid, self._frame_or_current(frame))

    def mask_array(self, oid: int, frame: int | None = None) -> np.ndarray | None:
        record = self.mask(oid, frame)
        return None if record is None else rle_ops.decode(record.rle)

    def masks_on_frame(self, frame: int | None = None) -> list[MaskRecord]:
        return self._require_project().masks_on_frame(self._frame_or_current(frame))

    # --- masks: interactive segmentation -----------------------------------------------------
    def click(self, oid: int, x: float, y: float, positive: bool = True,
              frame: int | None = None) -> Job[Any]:
        """Add a point for the object on the frame and segment; the mask is saved when done."""
        frame = self._frame_or_current(frame)
        self._check_point(x, y)
        snapshot = self._interactive_state().add_point(oid, frame, x, y, positive)
        return self._segment(snapshot)

    def segment(self, oid: int, points: list[tuple[float, float, bool]],
                box: tuple[float, float, float, float] | None = None, frame: int | None = None) -> Job[Any]:
        """A new click session with every point (x, y, positive) and the box at once: one
        prediction, saved like a click (``annotator segment``)."""
        frame = self._frame_or_current(frame)
        for x, y, _ in points:
            self._check_point(x, y)
        return self._segment(self._interactive_state().set_prompt(oid, frame, points, box))

    def segmenter_choice(self) -> tuple[str, str]:
        """(name, why) of the loaded segmenter, or of the one that would load."""
        reason = self.engines.segmenter_reason()
        return (self.engines.segmenter().name, reason) if reason else self.engines.choose_segmenter()

    def set_box(self, oid: int, box: tuple[float, float, float, float], frame: int | None = None) -> Job[Any]:
        frame = self._frame_or_current(frame)
        snapshot = self._interactive_state().set_box(oid, frame, box)
        return self._segment(snapshot)

    def prompt_state(self, oid: int, frame: int | None = None) -> PromptState | None:
        return self._interactive_state().state(oid, self._frame_or_current(frame))

    def clear_prompts(self, oid: int, frame: int | None = None) -> None:
        frame = self._frame_or_current(frame)
        self._interactive_state().clear(oid, frame)
        self.events.emit(PromptsChanged(oid, frame))

    def forget_all_prompts(self) -> None:
        """Drop every click session (after undo/redo: the masks they would refine changed).

        The saved masks stay; the next click on a frame starts a new session that refines them.
        """
        self._interactive_state().clear_all()
        self.events.emit(PromptsChanged(0, self.current_frame))

    def commit_prompts(self, oid: int, frame: int | None = None) -> None:
        """End the click session; the mask is already saved, the next click refines it."""
        self.clear_prompts(oid, frame)

    def rough_preview(self, oid: int, x: float, y: float, positive: bool, image: np.ndarray,
                      base: np.ndarray | None = None, frame: int | None = None) -> np.ndarray:
        """An instant guess for a click, shown until the engine's mask arrives (preview.py).
        ``base`` defaults to the object's mask on the frame; nothing is saved."""
        return rough_preview(self.mask_array(oid, frame) if base is None else base, image, x, y, positive)

    def warm_up_preview(self) -> Job[None]:
        """Build OpenCV's colour tables in the background, not on the first click (~100 ms)."""
        return self.workers.submit(Workers.IO_LANE, "warm up the click preview", lambda ctx: warm_up())

    def _segment(self, snapshot: PromptState) -> Job[Any]:
        self.events.emit(PromptsChanged(snapshot.object_id, snapshot.frame))
        interactive = self._interactive_state()
        source = self._source()
        job = self.workers.submit_latest(f"segment-{snapshot.object_id}", self.engines.lane, "segment",
                                         segment_work(self.engines, interactive, source, snapshot))
        self._track_job(job, "segment")
        return job

    # --- masks: direct edits ------------------------------------------------------------------
    def paint(self, oid: int, stroke: np.ndarray, erase: bool = False, frame: int | None = None) -> dict:
        """Apply a brush (or eraser) stroke given as a full-resolution bool mask; locks the frame."""
        return editing.apply_brush(self._require_project(), oid, self._frame_or_current(frame), stroke, erase)

    def set_mask(self, oid: int, mask: np.ndarray, frame: int | None = None) -> dict:
        return editing.set_user_mask(self._require_project(), oid, self._frame_or_current(frame), mask)

    def clear_mask(self, oid: int, frame: int | None = None) -> None:
        """Delete key: remove the object's mask on this frame."""
        self._require_project().delete_mask(oid, self._frame_or_current(frame))

    def toggle_lock(self, oid: int, frame: int | None = None) -> bool:
        return editing.toggle_lock(self._require_project(), oid, self._frame_or_current(frame))

    def mark_absent(self, oid: int, start: int, stop: int) -> int:
        return editing.mark_absent(self._require_project(), oid, start, stop)

    def clear_from(self, oid: int, frame: int | None = None) -> None:
        editing.clear_from(self._require_project(), oid, self._frame_or_current(frame))

    def copy_forward(self, oid: int, count: int, frame: int | None = None) -> int:
        return editing.copy_forward(self._require_project(), oid, self._frame_or_current(frame), count)

    def set_reviewed(self, oid: int, reviewed: bool = True, frame: int | None = None) -> None:
        self._require_project().set_reviewed(oid, self._frame_or_current(frame), reviewed)

    def set_frame_attributes(self, oid: int, attributes: dict, frame: int | None = None) -> None:
        self._require_project().set_frame_attributes(oid, self._frame_or_current(frame), attributes)

    def set_frame_attribute(self, oid: int, key: str, on: bool, frame: int | None = None) -> None:
        """Set or clear one per-frame attribute (occluded, truncated), keeping the others."""
        review.set_frame_attribute(self._require_project(), oid, self._frame_or_current(frame), key, on)

    def next_unreviewed(self, oid: int, after: int | None = None, wrap: bool = False) -> int | None:
        """The next frame after ``after`` where the object has a mask that is not reviewed.
        ``wrap``: when none is after it, the first such frame from the start (a search's wrap)."""
        return review.next_unreviewed(self._require_project(), oid, self._frame_or_current(after), wrap)

    def next_weak_frame(self, oid: int, threshold: float = review.WEAK_THRESHOLD, after: int | None = None,
                        wrap: bool = False) -> int | None:
        """The next frame whose tracked confidence is below ``threshold`` (for review)."""
        return review.next_weak_frame(self._require_project(), oid, threshold,
                                      self._frame_or_current(after), wrap)

    # --- propagation --------------------------------------------------------------------------
    def propagate(self, direction: str = "forward", object_ids: list[int] | None = None,
                  start: int | None = None,
                  frame_range: tuple[int, int | None] | None = None) -> Job[PropagationReport]:
        """Carry masks from ``start`` (default: the current frame) forward, backward or both ways,
        each object up to its next lock and, with ``frame_range`` (start, stop: half-open), never
        outside that range."""
        project = self._require_project()
        start = self._frame_or_current(start)
        ids = object_ids if object_ids is not None else [o.id for o in project.objects()]
        directions = {"forward": [FORWARD], "backward": [BACKWARD], "both": [FORWARD, BACKWARD]}[direction]
        runs = [plan_run(project, start, d, ids, frame_range) for d in directions]
        return self._start_propagation(runs, f"Propagate {direction} from frame {start}")

    def propagate_all(self, object_ids: list[int] | None = None) -> Job[PropagationReport]:
        """Both directions from every locked frame, each object up to its neighbouring locks."""
        project = self._require_project()
        ids = object_ids if object_ids is not None else [o.id for o in project.objects()]
        return self._start_propagation(plan_all(project, ids), "Propagate all")

    def _start_propagation(self, runs: list[Run], label: str) -> Job[PropagationReport]:
        project = self._require_project()
        runs = [r for r in runs if r.stops]
        if not runs:
            raise ProjectError("nothing to propagate: the selected objects have no mask on this frame, "
                               "or they are locked right next to it")
        source = self._source().clone()

        def work(ctx: JobContext) -> PropagationReport:
            try:
                tracker = one_tracker(lambda: self.engines.make_tracker(source))
                return run_propagation(ctx, project, runs, tracker, label)
            finally:
                source.close()

        # Encoding frames ahead for clicks would take cores from the propagation (and queue
        # behind it on the engine lane): paused until it ends.
        self.engines.pause_precompute(True, "propagation")
        job = self.workers.submit(self.engines.lane, label, work)
        job.on_done(lambda _job: self.engines.pause_precompute(False, "propagation"))
        self._track_job(job, "propagate")
        return job

    # --- classification and captioning (app/describe/ does the work) ---------------------------
    def describe(self, plan: DescribePlan, label: str = "Describe",
                 kind: str = "describe") -> Job[DescribeReport]:
        """Run a describe plan on the project as a Job (one undo step); the models load on first use."""
        job = describe_runs.start_describe(self.workers, self.engines.describers(), self._require_project(),
                                           self._source(), plan, label)
        self._track_job(job, kind)
        return job

    def classify(self, labels: list[str] | tuple[str, ...] = (), object_ids: list[int] | None = None,
                 **options: Any) -> Job[DescribeReport]:
        """Zero-shot labels for the objects' tracks and the clip, stored as insights (a Job)."""
        plan = describe_runs.classify_plan(labels, object_ids, **options)
        return self.describe(plan, "Classify", "classify")

    def caption(self, object_ids: list[int] | None = None, **options: Any) -> Job[DescribeReport]:
        """Captions for the objects, keyframes and the clip's timed segments (a Job)."""
        return self.describe(describe_runs.caption_plan(object_ids, **options), "Caption", "caption")

    def accept_label(self, oid: int, label: str, insight_id: int | None = None) -> ObjectInfo:
        """Make a suggested label the object's class (one undo step)."""
        return describe_runs.accept_label(self._require_project(), oid, label, insight_id)

    def edit_caption(self, insight_id: int, text: str) -> None:
        describe_runs.edit_caption(self._require_project(), insight_id, text)

    def describer_status(self, task: str) -> ModelStatus:
        """What would classify/caption, or which model is missing and how to get it."""
        return self.engines.describers().status(task)

    def set_describer(self, task: str, name: str = "auto", weights: str | Path | None = None) -> str:
        """Pick the classify/caption model (``weights``: a local snapshot); the next run loads it.
        Returns the model that will run; WeightsMissingError when it is not installed."""
        describers = self.engines.describers()
        describers.set_model(task, name, weights)
        return describers.resolve(task)[0]

    def resolve_describer(self, task: str) -> tuple[str, str]:
        """(model, why) for classify/caption; WeightsMissingError when none is installed."""
        return self.engines.describers().resolve(task)

    def describer_device(self) -> str:  # where classify/caption run
        return self.engines.describers().device

    def save_labels(self, labels: list[str]) -> None:
        """Keep the user's extra classification labels with the project."""
        describe_runs.save_labels(self._require_project(), labels)

    # --- engines ------------------------------------------------------------------------------
    def engine_status(self) -> dict[str, str]:
        """What runs now and why (segmenter, tracker, device, reason), without loading anything."""
        return self.engines.status()

    def requested_models(self) -> dict[str, str]:
        """The user's choice: segmenter, tracker and device ("auto" where the engines choose)."""
        e = self.engines
        return {"segmenter": e.requested_segmenter, "tracker": e.requested_tracker,
                "device": e.requested_device or "auto"}

    def set_models(self, segmenter: str | None = None, tracker: str | None = None,
                   device: str | None = None) -> None:
        """Switch engines (the describers follow the device); the next use loads the new choice."""
        self.engines.set_models(segmenter=segmenter, tracker=tracker, device=device)

    def enable_precompute(self) -> None:
        """Encode the frame on screen and its neighbours in the background (the GUI turns it on)."""
        self.engines.enable_precompute()

    def pause_precompute(self, paused: bool) -> None:
        self.engines.pause_precompute(paused)

    # --- export -------------------------------------------------------------------------------
    def export(self, format_name: str, out: str | Path, options: ExportOptions | None = None, *,
               with_projects: Sequence[str | Path] = (), split: dict[str, float] | None = None,
               seed: int = 0, make_folder: bool = True) -> Job[Any]:
        """Export the project (and ``with_projects``, as one dataset; ``split`` divides the videos)
        to ``out`` as a Job on the I/O lane: the same export as the CLI's."""
        projects = [Path(self._require_project().path), *map(Path, with_projects)]
        job = datasets.export_job(self.workers, projects, format_name, Path(out), options, split, seed,
                                  make_folder)
        self._track_job(job, "export")
        return job

    def import_annotations(self, path: str | Path, format_name: str, source: str | Path,
                           project: str | Path, **format_options: Any) -> Job[Any]:
        """Make the new project ``project`` over ``source`` from ``path`` in ``format_name`` (a Job;
        ``format_options``: video, group_by). Open it afterwards to work on it."""
        options = {k: v for k, v in format_options.items() if v is not None}
        job = datasets.import_job(self.workers, Path(path), format_name, Path(source), Path(project),
                                  **options)
        self._track_job(job, "import")
        return job

    def save_copy(self, target: str | Path) -> Job[Path]:
        """Copy the whole project to ``target`` in the background (there is no Save: every edit
        is already in the file; this is "Save a copy as")."""
        project = self._require_project()
        job = self.workers.submit(Workers.IO_LANE, f"save a copy as {Path(target).name}",
                                  lambda ctx: project.save_copy(target))
        self._track_job(job, "save_copy")
        return job

    # --- history -----------------------------------------------------------------------------
    def undo(self) -> str | None:
        """Undo the newest step; its label, or None when there is nothing to undo."""
        label = self._require_project().undo()
        self.forget_all_prompts()  # a click session must not refine a mask that changed
        return label

    def redo(self) -> str | None:
        label = self._require_project().redo()
        self.forget_all_prompts()
        return label

    def can_undo(self) -> bool:
        return self._project is not None and self._project.can_undo()

    def can_redo(self) -> bool:
        return self._project is not None and self._project.can_redo()

    # --- internals ----------------------------------------------------------------------------
    def _track_job(self, job: Job[Any], kind: str) -> None:
        self.events.emit(JobStarted(job, kind))
        job.on_progress(lambda j, p: self.events.emit(
            JobProgress(j, p.done, p.total, p.frame, p.message, p.rate)))
        job.on_done(lambda j: self._job_done(j, kind))

    def _job_done(self, job: Job[Any], kind: str) -> None:
        if job.error is not None:
            self._notice(f"{job.name} failed: {job.error}", "error")
        self.events.emit(JobFinished(job, kind))

    def _notice(self, message: str, level: str = "info") -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, message)
        self.events.emit(Notice(message, level))

    def _on_store_changes(self, changes: list[Change]) -> None:
        for event in store_events(changes):
            self.events.emit(event)

    def _emit_history(self) -> None:
        self.events.emit(HistoryChanged())

    def _on_screen(self) -> tuple[VideoSource | None, int]:
        return self.video, self.current_frame

    def _require_project(self) -> Project:
        if self._project is None:
            raise ProjectError("no project is open")
        return self._project

    def _source(self) -> VideoSource:
        if self.video is None:
            raise ProjectError("no video is open")
        return self.video

    def _interactive_state(self) -> InteractiveSegmentation:
        if self._interactive is None:
            raise ProjectError("no project is open")
        return self._interactive

    def _frame_or_current(self, frame: int | None) -> int:
        frame = self.current_frame if frame is None else int(frame)
        if not 0 <= frame < self.frame_count:
            raise ProjectError(f"frame {frame} is outside 0..{self.frame_count - 1}")
        return frame

    def _check_point(self, x: float, y: float) -> None:
        source = self._source()
        if not (0 <= x < source.width and 0 <= y < source.height):
            raise ProjectError(
                f"point ({x:.0f}, {y:.0f}) is outside the {source.width}x{source.height} frame")

