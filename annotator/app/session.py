"""The Session: the one application API that the GUI, the CLI and the tests all drive.

It owns the Project store, the VideoSource used for viewing, the engines and the worker
threads. Quick state changes return their result; anything that may take longer than
about 50 ms (a click on CPU, a propagation, an export) returns a Job. No Qt in here:
views subscribe to ``session.events`` (see EVENTS) and re-post to their own thread.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from annotator.app import editing
from annotator.app.describe import runs as describe_runs
from annotator.app.describe.runs import DescribePlan
from annotator.app.describe.steps import DescribeReport
from annotator.app.engines import EngineManager
from annotator.app.prompts import InteractiveSegmentation, PromptState
from annotator.app.propagation import (
    BACKWARD,
    FORWARD,
    PropagationReport,
    Run,
    plan_all,
    plan_run,
    run_propagation,
)
from annotator.app.text_tools import TextTools
from annotator.core import masks as rle_ops
from annotator.core.events import Emitter
from annotator.core.jobs import Job, JobContext, Workers
from annotator.core.project import Change, MaskRecord, ObjectInfo, Project, VideoRef
from annotator.core.video import fingerprint_path, open_video
from annotator.core.video_source import VideoSource
from annotator.errors import AnnotatorError, ProjectError
from annotator.paths import data_dir

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".annot"

EVENTS = (
    "project_opened",  # project: Project
    "project_closed",
    "frame_changed",  # frame: int
    "masks_changed",  # object_id: int | None, frames: list[int] | None (None: many)
    "objects_changed",
    "categories_changed",
    "marks_changed",  # object_id: int | None, frames: list[int] | None
    "prompts_changed",  # object_id: int, frame: int
    "insights_changed",
    "history_changed",
    "job_started",  # job: Job, kind: str
    "job_progress",  # job: Job, progress: Progress
    "job_finished",  # job: Job, kind: str
    "engine_status",  # segmenter: str, tracker: str, device: str, reason: str
    "notice",  # message: str, level: "info" | "warning" | "error"
)


def default_project_path(video_path: str | Path) -> Path:
    """``clip.mp4`` -> ``clip.mp4.annot`` beside it; a read-only folder -> the user data dir."""
    video_path = Path(video_path).resolve()
    beside = video_path.parent / (video_path.name + PROJECT_SUFFIX)
    if beside.exists() or _folder_writable(video_path.parent):
        return beside
    fallback = data_dir() / "projects"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback / f"{video_path.name}-{fingerprint_path(video_path)[:12]}{PROJECT_SUFFIX}"


class Session:
    """Open a video or project, then annotate it. Close it when done (or use ``with``)."""

    def __init__(self, segmenter: str = "auto", tracker: str = "auto", device: str | None = None,
                 workers: Workers | None = None) -> None:
        self.events = Emitter(*EVENTS)
        self.workers = workers or Workers()
        self._owns_workers = workers is None
        self.project: Project | None = None
        self.video: VideoSource | None = None
        self.current_frame = 0
        self.requested_segmenter = segmenter
        self.requested_tracker = tracker
        self.requested_device = device
        self.engines = EngineManager(self.workers, self.events.emit, lambda: (self.video, self.current_frame),
                                     segmenter=segmenter, tracker=tracker, device=device)
        self._interactive: InteractiveSegmentation | None = None
        self._unlisten: Callable[[], None] | None = None
        self.text = TextTools(self)  # find objects by text (SAM 3), search (app/text_tools.py)

    # --- opening and closing --------------------------------------------------------------
    def open(self, path: str | Path, video: str | Path | None = None) -> Project:
        """Open a video, frame folder, image or ``.annot`` project (creating the project if new).

        ``video`` relinks a project whose video moved.
        """
        self.close()
        path = Path(path)
        if path.suffix == PROJECT_SUFFIX and path.is_file():
            project = Project.open(path)
            try:
                if video is not None:
                    project.relink_video(str(Path(video).resolve()), fingerprint_path(video))
                source = open_video(project.locate_video())
            except BaseException:
                project.close()
                raise
        else:
            source = open_video(path)
            project_path = default_project_path(path)
            try:
                project = self._open_or_create(project_path, source)
            except BaseException:
                source.close()
                raise
        self._attach(project, source)
        return project

    def _open_or_create(self, project_path: Path, source: VideoSource) -> Project:
        if project_path.exists():
            project = Project.open(project_path)
            if project.video.fingerprint != source.fingerprint:
                self._notice(f"{source.path} changed since {project_path.name} was made; "
                             "masks may no longer line up", "warning")
            return project
        return Project.create(project_path, video_ref(source))

    def _attach(self, project: Project, source: VideoSource) -> None:
        self.project, self.video = project, source
        self._interactive = InteractiveSegmentation(project)
        self._unlisten = project.listen(self._on_store_changes)
        last = project.get_setting("last_frame", 0)
        self.current_frame = int(min(max(0, last), source.frame_count - 1))
        self.events.emit("project_opened", project=project)
        self.events.emit("frame_changed", frame=self.current_frame)
        self._emit_history()
        self.engines.announce()

    def close(self) -> None:
        """Cancel running jobs (their partial results are already saved) and close the files."""
        if self.project is None:
            return
        for job in self.workers.active_jobs():
            job.cancel()
        for job in self.workers.active_jobs():
            job.wait(10)
        self.engines.release()
        self.text.release()
        if self._unlisten is not None:
            self._unlisten()
        try:
            self.project.set_setting("last_frame", self.current_frame)
        except AnnotatorError:
            log.warning("could not save the last frame position", exc_info=True)
        self.project.close()
        if self.video is not None:
            self.video.close()
        self.project = self.video = None
        self._interactive = None
        self.events.emit("project_closed")

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
            self.events.emit("frame_changed", frame=frame)
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

    # --- objects and categories ------------------------------------------------------------
    def objects(self) -> list[ObjectInfo]:
        return self._project().objects()

    def add_object(self, name: str | None = None, category: str | None = None) -> ObjectInfo:
        project = self._project()
        with project.step("Add object"):
            category_id = project.ensure_category(category).id if category else None
            return project.add_object(name=name, category_id=category_id)

    def rename_object(self, oid: int, name: str) -> ObjectInfo:
        return self._project().update_object(oid, name=name)

    def set_object_category(self, oid: int, category: str | None) -> ObjectInfo:
        project = self._project()
        with project.step("Set class"):
            category_id = project.ensure_category(category).id if category else None
            return project.update_object(oid, category_id=category_id)

    def set_object_color(self, oid: int, color: str) -> ObjectInfo:
        return self._project().update_object(oid, color=color)

    def set_object_hidden(self, oid: int, hidden: bool) -> ObjectInfo:
        return self._project().update_object(oid, hidden=hidden)

    def delete_object(self, oid: int) -> None:
        self._project().delete_object(oid)

    def merge_objects(self, keep: int, absorb: int) -> None:
        editing.merge_objects(self._project(), keep, absorb)

    def split_object(self, oid: int, from_frame: int | None = None) -> ObjectInfo:
        return editing.split_object(self._project(), oid, self._frame_or_current(from_frame))

    def swap_objects(self, a: int, b: int, from_frame: int | None = None) -> int:
        return editing.swap_objects(self._project(), a, b, self._frame_or_current(from_frame))

    def category_names(self) -> list[str]:
        return [c.name for c in self._project().categories()]

    # --- masks: read ------------------------------------------------------------------------
    def mask(self, oid: int, frame: int | None = None) -> MaskRecord | None:
        return self._project().mask(oid, self._frame_or_current(frame))

    def mask_array(self, oid: int, frame: int | None = None) -> np.ndarray | None:
        record = self.mask(oid, frame)
        return None if record is None else rle_ops.decode(record.rle)

    def masks_on_frame(self, frame: int | None = None) -> list[MaskRecord]:
        return self._project().masks_on_frame(self._frame_or_current(frame))

    # --- masks: interactive segmentation -----------------------------------------------------
    def click(self, oid: int, x: float, y: float, positive: bool = True,
              frame: int | None = None) -> Job[Any]:
        """Add a point for the object on the frame and segment; the mask is saved when done."""
        frame = self._frame_or_current(frame)
        self._check_point(x, y)
        snapshot = self._interactive_state().add_point(oid, frame, x, y, positive)
        return self._segment(snapshot)

    def set_box(self, oid: int, box: tuple[float, float, float, float], frame: int | None = None) -> Job[Any]:
        frame = self._frame_or_current(frame)
        snapshot = self._interactive_state().set_box(oid, frame, box)
        return self._segment(snapshot)

    def prompt_state(self, oid: int, frame: int | None = None) -> PromptState | None:
        return self._interactive_state().state(oid, self._frame_or_current(frame))

    def clear_prompts(self, oid: int, frame: int | None = None) -> None:
        frame = self._frame_or_current(frame)
        self._interactive_state().clear(oid, frame)
        self.events.emit("prompts_changed", object_id=oid, frame=frame)

    def forget_all_prompts(self) -> None:
        """Drop every click session (after undo/redo: the masks they would refine changed).

        The saved masks stay; the next click on a frame starts a new session that refines them.
        """
        self._interactive_state().clear_all()
        self.events.emit("prompts_changed", object_id=0, frame=self.current_frame)

    def commit_prompts(self, oid: int, frame: int | None = None) -> None:
        """End the click session; the mask is already saved, the next click refines it."""
        self.clear_prompts(oid, frame)

    def rough_preview(self, oid: int, x: float, y: float, positive: bool, image: np.ndarray,
                      base: np.ndarray | None = None, frame: int | None = None) -> np.ndarray:
        """An instant guess for a click, shown until the engine's mask arrives (a few ms, no model).

        The colour region around the point (a flood fill at about 192 px) is added to, or for a
        negative click cut from, ``base`` (default: the object's mask on the frame). Nothing is
        saved: the engine's answer replaces it. ``image`` is the frame the view already holds.
        """
        if base is None:
            base = self.mask_array(oid, frame)
        if base is None:
            base = np.zeros(image.shape[:2], bool)
        region = _colour_region(image, x, y)
        return base | region if positive else base & ~region

    def warm_up_preview(self) -> Job[None]:
        """Run the preview code once, in the background, on a small image: OpenCV builds its
        colour tables on first use (~100 ms), which would otherwise land on the first click."""
        def work(ctx: JobContext) -> None:
            _colour_region(np.zeros((48, 64, 3), np.uint8), 32, 24)

        return self.workers.submit(Workers.IO_LANE, "warm up the click preview", work)

    def _segment(self, snapshot: PromptState) -> Job[Any]:
        self.events.emit("prompts_changed", object_id=snapshot.object_id, frame=snapshot.frame)
        interactive = self._interactive_state()
        source = self._source()
        key = (source.fingerprint, snapshot.frame)

        def work(ctx: JobContext) -> Any:
            segmenter = self.engines.segmenter()
            image = source.frame(snapshot.frame)
            ctx.check_cancelled()
            result = self.engines.run_segmenter(lambda seg: interactive.run(seg, image, key, snapshot),
                                                segmenter)
            ctx.check_cancelled()
            interactive.apply(snapshot, result)
            return result

        job = self.workers.submit_latest(f"segment-{snapshot.object_id}", self.engines.lane,
                                         "segment", work)
        self._track_job(job, "segment")
        return job

    # --- masks: direct edits ------------------------------------------------------------------
    def paint(self, oid: int, stroke: np.ndarray, erase: bool = False, frame: int | None = None) -> dict:
        """Apply a brush (or eraser) stroke given as a full-resolution bool mask; locks the frame."""
        return editing.apply_brush(self._project(), oid, self._frame_or_current(frame), stroke, erase)

    def set_mask(self, oid: int, mask: np.ndarray, frame: int | None = None) -> dict:
        return editing.set_user_mask(self._project(), oid, self._frame_or_current(frame), mask)

    def clear_mask(self, oid: int, frame: int | None = None) -> None:
        """Delete key: remove the object's mask on this frame."""
        self._project().delete_mask(oid, self._frame_or_current(frame))

    def toggle_lock(self, oid: int, frame: int | None = None) -> bool:
        frame = self._frame_or_current(frame)
        project = self._project()
        locked = not project.is_locked(oid, frame)
        project.set_locked(oid, frame, locked)
        return locked

    def mark_absent(self, oid: int, start: int, stop: int) -> int:
        return editing.mark_absent(self._project(), oid, start, stop)

    def clear_from(self, oid: int, frame: int | None = None) -> None:
        editing.clear_from(self._project(), oid, self._frame_or_current(frame))

    def copy_forward(self, oid: int, count: int, frame: int | None = None) -> int:
        return editing.copy_forward(self._project(), oid, self._frame_or_current(frame), count)

    def set_reviewed(self, oid: int, reviewed: bool = True, frame: int | None = None) -> None:
        self._project().set_reviewed(oid, self._frame_or_current(frame), reviewed)

    def set_frame_attributes(self, oid: int, attributes: dict, frame: int | None = None) -> None:
        self._project().set_frame_attributes(oid, self._frame_or_current(frame), attributes)

    def next_unreviewed(self, oid: int, after: int | None = None) -> int | None:
        """The next frame after ``after`` where the object has a mask that is not reviewed."""
        after = self._frame_or_current(after)
        project = self._project()
        reviewed = set(project.reviewed_frames(oid))
        return next((f for f in project.object_frames(oid) if f > after and f not in reviewed), None)

    def next_weak_frame(self, oid: int, threshold: float = 0.5, after: int | None = None) -> int | None:
        """The next frame whose tracked confidence is below ``threshold`` (for review)."""
        after = self._frame_or_current(after)
        for frame, score, locked, _source, _area in self._project().track_summary(oid):
            if frame > after and not locked and score is not None and score < threshold:
                return frame
        return None

    # --- propagation --------------------------------------------------------------------------
    def propagate(self, direction: str = "forward", object_ids: list[int] | None = None,
                  start: int | None = None) -> Job[PropagationReport]:
        """Carry masks from ``start`` (default: the current frame) forward, backward or both ways."""
        project = self._project()
        start = self._frame_or_current(start)
        ids = object_ids if object_ids is not None else [o.id for o in project.objects()]
        directions = {"forward": [FORWARD], "backward": [BACKWARD], "both": [FORWARD, BACKWARD]}[direction]
        runs = [plan_run(project, start, d, ids) for d in directions]
        return self._start_propagation(runs, f"Propagate {direction} from frame {start}")

    def propagate_all(self, object_ids: list[int] | None = None) -> Job[PropagationReport]:
        """Both directions from every locked frame, each object up to its neighbouring locks."""
        project = self._project()
        ids = object_ids if object_ids is not None else [o.id for o in project.objects()]
        return self._start_propagation(plan_all(project, ids), "Propagate all")

    def _start_propagation(self, runs: list[Run], label: str) -> Job[PropagationReport]:
        project = self._project()
        runs = [r for r in runs if r.stops]
        if not runs:
            raise ProjectError("nothing to propagate: the selected objects have no mask on this frame, "
                               "or they are locked right next to it")
        source = self._source().clone()

        def work(ctx: JobContext) -> PropagationReport:
            try:
                return run_propagation(ctx, project, runs, lambda: self.engines.make_tracker(source), label)
            finally:
                source.close()

        job = self.workers.submit(self.engines.lane, label, work)
        self._track_job(job, "propagate")
        return job

    # --- classification and captioning (app/describe/ does the work) ---------------------------
    def describe(self, plan: DescribePlan, label: str = "Describe",
                 kind: str = "describe") -> Job[DescribeReport]:
        """Run a describe plan on the project as a Job (one undo step); the models load on first use."""
        job = describe_runs.start_describe(self.workers, self.engines.describers(), self._project(),
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
        return describe_runs.accept_label(self._project(), oid, label, insight_id)

    def edit_caption(self, insight_id: int, text: str) -> None:
        describe_runs.edit_caption(self._project(), insight_id, text)

    def describer_status(self, task: str) -> Any:
        """What would classify/caption, or which model is missing and how to get it."""
        return self.engines.describers().status(task)

    def save_copy(self, target: str | Path) -> Job[Path]:
        """Copy the whole project to ``target`` in the background (there is no Save: every edit
        is already in the file; this is "Save a copy as")."""
        project = self._project()
        job = self.workers.submit(Workers.IO_LANE, f"save a copy as {Path(target).name}",
                                  lambda ctx: project.save_copy(target))
        self._track_job(job, "save_copy")
        return job

    # --- history -----------------------------------------------------------------------------
    def undo(self) -> str | None:
        return self._project().undo()

    def redo(self) -> str | None:
        return self._project().redo()

    def can_undo(self) -> bool:
        return self.project is not None and self.project.can_undo()

    def can_redo(self) -> bool:
        return self.project is not None and self.project.can_redo()

    # --- internals ----------------------------------------------------------------------------
    def _track_job(self, job: Job[Any], kind: str) -> None:
        self.events.emit("job_started", job=job, kind=kind)
        job.on_progress(lambda j, p: self.events.emit("job_progress", job=j, progress=p))
        job.on_done(lambda j: self._job_done(j, kind))

    def _job_done(self, job: Job[Any], kind: str) -> None:
        if job.error is not None:
            level = "error"
            self._notice(f"{job.name} failed: {job.error}", level)
        self.events.emit("job_finished", job=job, kind=kind)

    def _notice(self, message: str, level: str = "info") -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, message)
        self.events.emit("notice", message=message, level=level)

    def _on_store_changes(self, changes: list[Change]) -> None:
        masks: dict[int | None, set[int]] = {}
        marks: dict[int | None, set[int]] = {}
        kinds = set()
        for change in changes:
            kinds.add(change.kind)
            if change.kind == "mask" and change.frame is not None:
                masks.setdefault(change.object_id, set()).add(change.frame)
            elif change.kind == "mark" and change.frame is not None:
                marks.setdefault(change.object_id, set()).add(change.frame)
        for oid, frames in masks.items():
            self.events.emit("masks_changed", object_id=oid, frames=sorted(frames))
        for oid, frames in marks.items():
            self.events.emit("marks_changed", object_id=oid, frames=sorted(frames))
        if "object" in kinds:
            self.events.emit("objects_changed")
        if "category" in kinds:
            self.events.emit("categories_changed")
        if "insight" in kinds:
            self.events.emit("insights_changed")
        self._emit_history()

    def _emit_history(self) -> None:
        self.events.emit("history_changed")

    def _project(self) -> Project:
        if self.project is None:
            raise ProjectError("no project is open")
        return self.project

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


def video_ref(source: VideoSource) -> VideoRef:
    return VideoRef(path=str(Path(source.path).resolve()), fingerprint=source.fingerprint,
                    frame_count=source.frame_count, width=source.width, height=source.height,
                    fps=float(source.fps), codec=source.codec, rotation=source.rotation)


def _colour_region(image: np.ndarray, x: float, y: float, long_side: int = 192) -> np.ndarray:
    """The connected region of similar colour around (x, y), as a full-resolution bool mask.

    Flood fill in Lab on a small, median-filtered copy (texture flattened), with the colour
    tolerance raised step by step until the region would leak: past 12 % of the frame, or
    across from the top edge to the bottom one. Rough on purpose: it is a preview.
    """
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(np.ascontiguousarray(image), (sw, sh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(cv2.medianBlur(small, 5), cv2.COLOR_RGB2LAB)
    seed = (min(sw - 1, max(0, int(x * scale))), min(sh - 1, max(0, int(y * scale))))
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    best: np.ndarray | None = None
    for tolerance in (8, 12, 16, 20, 24, 28, 34, 40):
        filled = np.zeros((sh + 2, sw + 2), np.uint8)
        cv2.floodFill(lab, filled, seed, 0, (tolerance,) * 3, (tolerance,) * 3, flags)
        region = filled[1:-1, 1:-1]
        if region.mean() > 0.12 or (region[0].any() and region[-1].any()):
            break
        best = region
    if best is None:  # even the tightest fill leaks: show a small disc, honestly rough
        best = np.zeros((sh, sw), np.uint8)
        cv2.circle(best, seed, max(2, sw // 40), 1, -1)
    best = cv2.morphologyEx(best, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return cv2.resize(best, (w, h), interpolation=cv2.INTER_LINEAR) > 0


def _folder_writable(folder: Path) -> bool:
    """Try to create a file: os.access says yes to root even on read-only mounts."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".annotator-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True
