"""Text prompts and search as Session Jobs: find objects by text on a frame, track a phrase
through the video, accept a detection, search the video by a phrase or an object.

``Session.text`` is a ``TextTools``: the GUI (and tests) reach these through the Session only.
Model work runs on the Session's engine lane; every Job reports progress and stops at the next
frame or batch when cancelled, keeping what it wrote (one undo step). The models load on first
use and are kept (the detector, the search embedder) until ``release``.

On a CPU the track Job's progress message carries a time estimate measured on its first frame,
so the user can cancel a run that would take hours.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from annotator.app.describe.search import SearchResult, build_index, open_index, search, stride_for
from annotator.app.finding import FindReport, accept, add_detections, add_tracks
from annotator.core.jobs import Job, JobContext
from annotator.engines.sam3 import parse_phrases


class TextTools:
    """The text-prompt and search side of one Session (see the module docstring)."""

    # ``session`` is the owning Session (typed Any: app/ keeps its modules free of import cycles).
    def __init__(self, session: Any, weights: str | Path | None = None, image_size: int | None = None,
                 search_model: str = "auto") -> None:
        self.session = session
        self.weights = weights  # a SAM 3 snapshot folder (None: the installed one)
        self.image_size = image_size  # None: 1008; 560 is faster and may cost accuracy
        self.search_model = search_model
        self._detector: Any = None
        self._embedder: Any = None
        self._lock = threading.Lock()

    # --- find objects by text ------------------------------------------------------------------
    def find(self, text: str, frame: int | None = None, threshold: float = 0.5) -> Job[FindReport]:
        """Every instance of the phrases on ``frame`` (default: the current one) as new objects."""
        phrases = parse_phrases(text)
        s = self.session
        project, frame = s._project(), s._frame_or_current(frame)
        image = s.frame_image(frame)

        def work(ctx: JobContext) -> FindReport:
            ctx.report(0, 1, "SAM 3: looking for " + ", ".join(phrases))
            detector = self._load_detector()
            detector.threshold = float(threshold)
            ctx.check_cancelled()
            found = detector.detect(image, phrases)
            report = add_detections(project, frame, found.instances, detector.name, ", ".join(phrases))
            ctx.report(1, 1, f"found {len(report.objects)} object(s)")
            return report

        return self._submit("Find objects by text", "find_text", work)

    def find_like(self, box: tuple[float, float, float, float], frame: int | None = None,
                  category: str = "object", threshold: float = 0.5) -> Job[FindReport]:
        """"More like this": every instance similar to the boxed example on ``frame`` becomes a new
        object of ``category`` (the example itself overlaps what is boxed only if it is an object
        already; then it is reported, not added)."""
        s = self.session
        project, frame = s._project(), s._frame_or_current(frame)
        image = s.frame_image(frame)

        def work(ctx: JobContext) -> FindReport:
            ctx.report(0, 1, "SAM 3: looking for more like the box")
            detector = self._load_detector()
            detector.threshold = float(threshold)
            found = detector.detect_like(image, [box], phrase=category)
            report = add_detections(project, frame, found.instances, detector.name, f"like {category}")
            ctx.report(1, 1, f"found {len(report.objects)} object(s)")
            return report

        return self._submit("Find more like this", "find_text", work)

    def track(self, text: str, start: int | None = None, stop: int | None = None,
              threshold: float = 0.5) -> Job[FindReport]:
        """Track the phrases from ``start`` (default: the current frame) to ``stop`` (the end)."""
        phrases = parse_phrases(text)
        s = self.session
        project = s._project()
        first = s._frame_or_current(start)
        last = s.frame_count - 1 if stop is None else min(int(stop), s.frame_count - 1)
        source = s._source().clone()

        def work(ctx: JobContext) -> FindReport:
            from annotator.engines.sam3_video import load_sam3_text_tracker

            try:
                total = last - first + 1
                ctx.report(0, total, "SAM 3: loading")
                tracker = load_sam3_text_tracker(source, self.weights, s.engines.device, self.image_size)
                started = time.perf_counter()

                def frames() -> Any:
                    for frame, instances in tracker.track(phrases, first, last):
                        yield frame, [i for i in instances if i.score >= threshold]

                def progress(done: int, count: int) -> None:
                    per_frame = (time.perf_counter() - started) / done
                    left = per_frame * (count - done)
                    ctx.report(done, count, f"tracking: about {left:.0f} s left ({per_frame:.1f} s a frame)")

                report = add_tracks(project, frames(), tracker.name, ", ".join(phrases), total, progress,
                                    _CancelFlag(ctx))
                return report
            finally:
                source.close()

        return self._submit("Track a phrase", "track_text", work)

    def accept(self, object_id: int, frames: list[int] | None = None) -> int:
        """The object's detected masks become locked user masks (one undo step)."""
        return accept(self.session._project(), object_id, frames)

    # --- search --------------------------------------------------------------------------------
    def search(self, query: str | None = None, like: int | None = None, top: int = 20,
               per_second: float = 2.0) -> Job[SearchResult]:
        """Build what is missing of the index (progress, cancel), then rank frames and crops."""
        s = self.session
        project, video = s._project(), s._source()
        source = video.clone()
        fps = video.fps

        def work(ctx: JobContext) -> SearchResult:
            try:
                embedder = self._load_embedder()
                with open_index(video.fingerprint, embedder) as index:
                    build_index(index, source, project, embedder, stride=stride_for(fps, per_second),
                                progress=lambda done, total: ctx.report(done, total, "indexing the video"),
                                cancel=_CancelFlag(ctx))
                    return search(index, embedder, fps, query=query, like=like, top=top)
            finally:
                source.close()

        return self._submit("Search", "search", work)

    def release(self) -> None:
        """Drop the loaded models (memory back)."""
        with self._lock:
            self._detector = self._embedder = None

    # --- plumbing ------------------------------------------------------------------------------
    def _submit(self, name: str, kind: str, work: Any) -> Job[Any]:
        job = self.session.workers.submit(self.session.engines.lane, name, work)
        self.session._track_job(job, kind)
        return job

    def _load_detector(self) -> Any:
        with self._lock:
            if self._detector is None:
                from annotator.engines.sam3 import load_sam3_detector

                device = self.session.engines.device
                self._detector = load_sam3_detector(self.weights, device, self.image_size)
            return self._detector

    def _load_embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from annotator.engines.embedder import load_embedder

                self._embedder = load_embedder(self.search_model, None, self.session.engines.device)
            return self._embedder


class _CancelFlag:
    """A Job's cancel request as the ``threading.Event``-like flag the store writers poll."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def is_set(self) -> bool:
        return self._ctx.cancelled
