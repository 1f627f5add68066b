"""Propagation runs: a Tracker carried over the Project store as one cancellable Job.

What this module decides (and trackers do not):
- which objects take part, and where each one stops: just before its own next locked
  frame in the direction of travel, so a correction is never overwritten and the other
  objects go on;
- that the run writes only unlocked (object, frame) pairs, checked at write time, because
  the user may lock frames while the job runs (an object that meets a fresh lock stops);
- that a whole run, finished or cancelled, is one undo step;
- "propagate all": both directions from every locked frame, each gap between two locks
  split at its middle so both anchors contribute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.jobs import JobContext
from annotator.core.project import Project
from annotator.engines import run_control
from annotator.engines.tracker import Tracker
from annotator.errors import CancelledError

log = logging.getLogger(__name__)

FORWARD = 1
BACKWARD = -1


@dataclass(frozen=True)
class Run:
    """One tracker pass: from ``start`` in ``direction``, object id -> last frame (inclusive)."""

    start: int
    direction: int
    stops: dict[int, int]

    @property
    def frames(self) -> int:
        """Frames this run may produce (the longest object's span)."""
        return max((abs(stop - self.start) for stop in self.stops.values()), default=0)


@dataclass
class PropagationReport:
    frames_written: int = 0
    masks_written: int = 0
    skipped_locked: int = 0
    stopped_at_lock: dict[int, int] = field(default_factory=dict)  # oid -> the fresh lock it met
    cancelled: bool = False
    tracker: str = ""  # the tracker's name
    runs: int = 0  # runs that tracked (a run with no object to carry is skipped)
    tracking_s: float = 0.0  # seconds in the runs themselves, without making the tracker


def range_end(frame_count: int, direction: int, frame_range: tuple[int, int | None] | None = None) -> int:
    """The last frame (inclusive) a run may reach in ``direction``: the video's end, or the edge of
    the half-open ``frame_range`` (start, stop; stop None = the end)."""
    if frame_range is None:
        return frame_count - 1 if direction == FORWARD else 0
    first, stop = frame_range
    stop = frame_count if stop is None else min(stop, frame_count)
    return stop - 1 if direction == FORWARD else first


def check_range(frame_count: int, start: int, frame_range: tuple[int, int | None] | None) -> None:
    """ValueError unless ``frame_range`` is a non-empty part of the video holding ``start``."""
    if frame_range is None:
        return
    first, stop = frame_range
    stop = frame_count if stop is None else stop
    if not 0 <= first < stop <= frame_count:
        raise ValueError(f"frame range {first}:{stop} is not inside the video's 0:{frame_count}")
    if not first <= start < stop:
        raise ValueError(f"frame {start} (where the masks start) is outside the range {first}:{stop}")


def plan_run(project: Project, start: int, direction: int, object_ids: Iterable[int],
             frame_range: tuple[int, int | None] | None = None) -> Run:
    """Objects with a mask on ``start`` propagate until just before their next lock, and never
    past the half-open ``frame_range``: frames outside it are left as they are."""
    check_range(project.video.frame_count, start, frame_range)
    edge = range_end(project.video.frame_count, direction, frame_range)
    stops: dict[int, int] = {}
    for oid in object_ids:
        record = project.mask(oid, start)
        if record is None or rle_ops.is_empty(record.rle):
            continue  # nothing to carry from here
        locks = project.locked_frames(oid)
        if direction == FORWARD:
            ahead = [f for f in locks if f > start]
            stop = min(min(ahead) - 1, edge) if ahead else edge
        else:
            behind = [f for f in locks if f < start]
            stop = max(max(behind) + 1, edge) if behind else edge
        if stop != start:
            stops[oid] = stop
    return Run(start, direction, stops)


def plan_all(project: Project, object_ids: Iterable[int]) -> list[Run]:
    """Runs that fill every gap from every locked frame, grouped by (start, direction).

    A gap between two locks is split at its middle: the earlier lock carries forward to the
    middle, the later lock carries backward to just after it.
    """
    last = project.video.frame_count - 1
    grouped: dict[tuple[int, int], dict[int, int]] = {}
    for oid in object_ids:
        anchors = [f for f in project.locked_frames(oid) if not _empty_at(project, oid, f)]
        locks = project.locked_frames(oid)
        for anchor in anchors:
            before = [f for f in locks if f < anchor]
            after = [f for f in locks if f > anchor]
            prev_lock = max(before) if before else None
            next_lock = min(after) if after else None
            fwd_stop = last if next_lock is None else _forward_half_stop(anchor, next_lock, project, oid)
            bwd_stop = 0 if prev_lock is None else _backward_half_stop(prev_lock, anchor, project, oid)
            if fwd_stop > anchor:
                grouped.setdefault((anchor, FORWARD), {})[oid] = fwd_stop
            if bwd_stop < anchor:
                grouped.setdefault((anchor, BACKWARD), {})[oid] = bwd_stop
    return [Run(start, direction, stops) for (start, direction), stops in sorted(grouped.items())]


def one_tracker(make: Callable[[], Tracker]) -> Callable[[], Tracker]:
    """``make`` called once for all runs of a job: run_propagation resets the tracker between
    runs, and loading a model per run ("both" has two) costs more than tracking a short clip."""
    made: list[Tracker] = []

    def get() -> Tracker:
        if not made:
            made.append(make())
        return made[0]

    return get


def run_propagation(
    ctx: JobContext,
    project: Project,
    runs: list[Run],
    make_tracker: Callable[[], Tracker],
    label: str,
    on_frame: Callable[[int, list[int]], None] | None = None,
) -> PropagationReport:
    """Execute ``runs`` with fresh trackers, writing results as one undo step.

    ``on_frame(frame, object_ids)`` is called after each frame's masks are committed, so the
    views can show results live. Cancelling keeps every frame already written.
    """
    report = PropagationReport()
    total = sum(run.frames for run in runs)
    done = 0
    step = project.begin_step(label)
    try:
        for run in runs:
            if not run.stops:
                continue
            tracker = make_tracker()
            report.tracker = tracker.name
            report.runs += 1
            started = time.perf_counter()
            try:
                done = _execute(ctx, project, run, tracker, step, report, done, total, on_frame)
            finally:
                tracker.reset()
                report.tracking_s += time.perf_counter() - started
    except CancelledError:
        report.cancelled = True
        raise
    finally:
        step.close()
    return report


def _execute(
    ctx: JobContext,
    project: Project,
    run: Run,
    tracker: Tracker,
    step: object,
    report: PropagationReport,
    done: int,
    total: int,
    on_frame: Callable[[int, list[int]], None] | None,
) -> int:
    for frame, masks in _conditioning(project, run).items():
        tracker.add_conditioning(frame, masks)
    active = set(run.stops)
    batch: list[tuple[int, int, dict, float]] = []

    def flush() -> None:
        nonlocal done
        frame = batch[0][1]
        written = project.write_tracked_many(batch, step=step)
        wrote_ids = []
        for (oid, _frame, _rle, _score), ok in zip(batch, written):
            if ok:
                wrote_ids.append(oid)
                continue
            # The user locked this pair while we ran: their correction wins and this object
            # stops here, so the tracker never carries on past what they said.
            report.skipped_locked += 1
            report.stopped_at_lock[oid] = frame
            active.discard(oid)
        report.masks_written += len(wrote_ids)
        report.frames_written += 1 if wrote_ids else 0
        done += 1
        batch.clear()
        ctx.report(done, total, f"frame {frame}", frame=frame)
        ctx.add_partial(frame)
        if on_frame is not None and wrote_ids:
            on_frame(frame, wrote_ids)

    updates = tracker.propagate(run.start, run.direction, dict(run.stops))
    # A tracker's pass that yields nothing for a while (the classical far-lock run) checks for
    # cancel through run_control.checkpoint(); the generator runs on this thread.
    try:
        with run_control.cancel_check(ctx.check_cancelled):
            for update in updates:
                ctx.check_cancelled()
                if batch and update.frame != batch[0][1]:
                    flush()
                    if not active:
                        break
                if update.object_id in active:
                    confidence = float(np.clip(update.confidence, 0.0, 1.0))
                    batch.append((update.object_id, update.frame, rle_ops.encode(update.mask), confidence))
            if batch:
                flush()
    finally:
        updates.close()  # type: ignore[attr-defined]
    return done


def _conditioning(project: Project, run: Run) -> dict[int, dict[int, np.ndarray]]:
    """frame -> {object: mask}: the run's start mask and every lock of each object in the run.

    Every lock, not only the start: SAM 2.1 / EdgeTAM read all conditioning frames as memory
    (so the lock on the far side of the span steers the frames before it), and the classical
    tracker carries the far lock back toward the start and fuses the two runs.
    """
    out: dict[int, dict[int, np.ndarray]] = {}
    for oid in run.stops:
        frames = set(project.locked_frames(oid)) | {run.start}
        for frame in sorted(frames):
            record = project.mask(oid, frame)
            if record is not None:
                out.setdefault(frame, {})[oid] = rle_ops.decode(record.rle)
    return out


def _empty_at(project: Project, oid: int, frame: int) -> bool:
    record = project.mask(oid, frame)
    return record is None or rle_ops.is_empty(record.rle)


def _forward_half_stop(anchor: int, next_lock: int, project: Project, oid: int) -> int:
    # If the next lock is an empty ("absent") lock it cannot carry backward: fill the whole gap.
    if _empty_at(project, oid, next_lock):
        return next_lock - 1
    return (anchor + next_lock) // 2


def _backward_half_stop(prev_lock: int, anchor: int, project: Project, oid: int) -> int:
    if _empty_at(project, oid, prev_lock):
        return prev_lock + 1
    return (prev_lock + anchor) // 2 + 1
