"""Text prompts and search as Session Jobs: find objects by text on a frame, track a phrase
through the video, accept a detection, search the video by a phrase or an object.

``Session.text`` is a ``TextTools``: the GUI, the CLI (``annotator detect`` and ``search``) and
the tests reach these through the Session only. Like ``Models`` it knows no Session: it gets
the Session's workers, its way of announcing a Job (the job events, kinds "find_text",
"track_text", "search"), its engines (the device) and ``target``, which hands it the open
project, its video and a checked frame number. Model work runs on the engine lane; every Job
reports progress and stops at the next frame or batch when cancelled, keeping what it wrote
(one undo step). The models load on first use and are kept (the detector, the search
embedder) until ``release`` or until the device changes.

On a CPU the track Job's progress message carries a time estimate measured on its first frame,
so the user can cancel a run that would take hours; ``track(estimate=...)`` hands the same
figure to a caller as numbers (the CLI prints it). ``track(ask=True)`` makes it a decision
point: on a CPU the Job stops after the first frame (already written) until ``resume(job)``
or ``job.cancel()`` (which keeps that frame), so the GUI can ask without blocking its thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from annotator.app.describe.search import SearchResult, build_index, open_index, search, stride_for
from annotator.app.engines import EngineManager
from annotator.app.finding import FindReport, accept, add_detections, add_tracks
from annotator.core.jobs import Job, JobContext, Workers
from annotator.core.project import Project
from annotator.core.video_source import VideoSource
from annotator.engines.sam3 import parse_phrases

TrackJob = Callable[[Job[Any], str], None]  # announce a Job with its kind (the Session's job events)
# frame (None: the current one) -> (the open project, its video, the frame checked to be in range)
Target = Callable[[int | None], "tuple[Project, VideoSource, int]"]
Estimate = Callable[[float, int], None]  # (seconds a frame, frames in the run), after the first frame


class TextTools:
    """The text-prompt and search side of one Session (see the module docstring)."""

    def __init__(self, workers: Workers, track_job: TrackJob, engines: EngineManager, target: Target) -> None:
        self._workers = workers
        self._track_job = track_job
        self._engines = engines
        self._target = target
        self.weights: str | Path | None = None  # a SAM 3 snapshot folder (None: the installed one)
        self.image_size: int | None = None  # None: 1008; 560 is faster and may cost accuracy
        self.search_model = "auto"
        self.search_weights: str | Path | None = None  # a CLIP / SigLIP snapshot folder
        self._detector: tuple[str, Any] | None = None  # (device, model)
        self._embedder: tuple[str, Any] | None = None
        self._lock = threading.Lock()
        self._gates: dict[Job[Any], threading.Event] = {}  # track Jobs waiting for resume()

    def configure(self, weights: str | Path | None = None, image_size: int | None = None,
                  search_model: str = "auto", search_weights: str | Path | None = None) -> None:
        """Which SAM 3 snapshot and input size, which search model (``annotator detect --weights
        --image-size``, ``annotator search --model --weights``); the next run loads them."""
        self.weights, self.image_size = weights, image_size
        self.search_model, self.search_weights = search_model or "auto", search_weights
        self.release()

    @property
    def device(self) -> str:
        """Where SAM 3 and the search model run: the device the describers use, i.e. the
        Session's device choice even when the click engines are classical."""
        return self._engines.describers().device

    def detector_choice(self, model: str = "auto") -> tuple[str, str]:
        """(model, why) for finding by text: ``auto`` never picks SAM 3 on a CPU (it says so);
        WeightsMissingError when it is not installed."""
        from annotator.engines.weights import choose

        return choose("detect", model, self.device, self.weights)

    def search_choice(self) -> tuple[str, str]:
        """(model, why) of the search embedder that would load; WeightsMissingError when none is."""
        from annotator.engines.embedder import choose_embedder

        return choose_embedder(self.search_model, self.search_weights, self.device)

    # --- find objects by text ------------------------------------------------------------------
    def find(self, text: str, frame: int | None = None, threshold: float = 0.5) -> Job[FindReport]:
        """Every instance of the phrases on ``frame`` (default: the current one) as new objects."""
        phrases = parse_phrases(text)
        project, source, frame = self._target(frame)

        def work(ctx: JobContext) -> FindReport:
            ctx.report(0, 1, "SAM 3: looking for " + ", ".join(phrases), frame)
            detector = self._load_detector()
            detector.threshold = float(threshold)
            ctx.check_cancelled()
            found = detector.detect(source.frame(frame), phrases)
            report = add_detections(project, frame, found.instances, detector.name, ", ".join(phrases))
            ctx.report(1, 1, _found_message(report, found.timings), frame)
            return report

        return self._submit("Find objects by text", "find_text", work)

    def find_like(self, box: tuple[float, float, float, float], frame: int | None = None,
                  category: str = "object", threshold: float = 0.5) -> Job[FindReport]:
        """"More like this": every instance similar to the boxed example on ``frame`` becomes a new
        object of ``category`` (the example itself overlaps what is boxed only if it is an object
        already; then it is reported, not added)."""
        project, source, frame = self._target(frame)

        def work(ctx: JobContext) -> FindReport:
            ctx.report(0, 1, "SAM 3: looking for more like the box", frame)
            detector = self._load_detector()
            detector.threshold = float(threshold)
            found = detector.detect_like(source.frame(frame), [box], phrase=category)
            report = add_detections(project, frame, found.instances, detector.name, f"like {category}")
            ctx.report(1, 1, _found_message(report, found.timings), frame)
            return report

        return self._submit("Find more like this", "find_text", work)

    def track(self, text: str, start: int | None = None, stop: int | None = None,
              threshold: float = 0.5, estimate: Estimate | None = None, ask: bool = False) -> Job[FindReport]:
        """Track the phrases from ``start`` (default: the current frame) to ``stop`` (the end).
        ``estimate`` is called once, on the worker, after the first frame. ``ask``: on a CPU,
        with frames left, the Job then waits (its first frame written) for ``resume(job)`` or
        a cancel."""
        phrases = parse_phrases(text)
        project, video, first = self._target(start)
        last = video.frame_count - 1 if stop is None else min(int(stop), video.frame_count - 1)
        if last < first:
            raise ValueError(f"nothing to track: frame {last} is before frame {first}")
        source = video.clone()
        gate = threading.Event()

        def work(ctx: JobContext) -> FindReport:
            from annotator.engines.sam3_video import load_sam3_text_tracker

            try:
                total = last - first + 1
                ctx.report(0, total, "SAM 3: loading", first)
                tracker = load_sam3_text_tracker(source, self.weights, self.device, self.image_size)
                started = time.perf_counter()

                def frames() -> Iterator[tuple[int, list[Any]]]:
                    for frame, instances in tracker.track(phrases, first, last):
                        yield frame, [i for i in instances if i.score >= threshold]

                waited = 0.0  # seconds spent waiting for the answer: not tracking time

                def progress(done: int, count: int) -> None:
                    nonlocal waited
                    per_frame = (time.perf_counter() - started - waited) / done
                    if done == 1 and estimate is not None:
                        estimate(per_frame, count)
                    if done == 1 and count > 1 and ask and self.device == "cpu":
                        ctx.report(done, count, "waiting: continue or cancel?", first)
                        paused = time.perf_counter()
                        while not gate.wait(0.1) and not ctx.cancelled:
                            pass  # a cancel ends the run at the next frame, keeping this one
                        waited += time.perf_counter() - paused
                    left = per_frame * (count - done)
                    ctx.report(done, count, f"tracking: about {left:.0f} s left ({per_frame:.1f} s a frame)",
                               first + done - 1)

                return add_tracks(project, frames(), tracker.name, ", ".join(phrases), total, progress,
                                  _CancelFlag(ctx))
            finally:
                source.close()

        job = self._submit("Track a phrase", "track_text", work)
        if ask:
            self._gates[job] = gate
            job.on_done(lambda j: self._gates.pop(j, None))
        return job

    def resume(self, job: Job[Any]) -> bool:
        """Go on with a ``track(ask=True)`` Job waiting after its first frame; False when that
        Job is not waiting any more (done, cancelled, or never asked)."""
        gate = self._gates.pop(job, None)
        if gate is None:
            return False
        gate.set()
        return True

    def accept(self, object_id: int, frames: list[int] | None = None) -> int:
        """The object's detected masks become locked user masks (one undo step)."""
        project, _source, _frame = self._target(None)
        return accept(project, object_id, frames)

    # --- search --------------------------------------------------------------------------------
    def search(self, query: str | None = None, like: int | None = None, top: int = 20,
               per_second: float = 2.0) -> Job[SearchResult]:
        """Build what is missing of the index (progress, cancel), then rank frames and crops."""
        project, video, _frame = self._target(None)
        stride = stride_for(video.fps, per_second)  # a bad rate is refused here, not in the Job
        source = video.clone()
        fps, fingerprint = video.fps, video.fingerprint

        def work(ctx: JobContext) -> SearchResult:
            def progress(done: int, total: int) -> None:
                ctx.report(done, total, "indexing the video")

            try:
                embedder = self._load_embedder()
                with open_index(fingerprint, embedder) as index:
                    built = build_index(index, source, project, embedder, stride=stride, progress=progress,
                                        cancel=_CancelFlag(ctx))
                    result = search(index, embedder, fps, query=query, like=like, top=top)
                    result.indexed = built
                    return result
            finally:
                source.close()

        return self._submit("Search", "search", work)

    def release(self) -> None:
        """Drop the loaded models (memory back)."""
        with self._lock:
            self._detector = self._embedder = None

    # --- plumbing ------------------------------------------------------------------------------
    def _submit(self, name: str, kind: str, work: Callable[[JobContext], Any]) -> Job[Any]:
        job = self._workers.submit(self._engines.describers().lane, name, work)
        self._track_job(job, kind)
        return job

    def _load_detector(self) -> Any:
        with self._lock:
            device = self.device
            if self._detector is None or self._detector[0] != device:  # first use, or the device changed
                from annotator.engines.sam3 import load_sam3_detector

                self._detector = (device, load_sam3_detector(self.weights, device, self.image_size))
            return self._detector[1]

    def _load_embedder(self) -> Any:
        with self._lock:
            device = self.device
            if self._embedder is None or self._embedder[0] != device:
                from annotator.engines.embedder import load_embedder

                self._embedder = (device, load_embedder(self.search_model, self.search_weights, device))
            return self._embedder[1]


def _found_message(report: FindReport, timings_ms: dict[str, float]) -> str:
    seconds = sum(timings_ms.values()) / 1000
    return f"found {len(report.objects)} object(s) in {seconds:.1f} s"


class _CancelFlag:
    """A Job's cancel request as the ``threading.Event``-like flag the store writers poll."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def is_set(self) -> bool:
        return self._ctx.cancelled
