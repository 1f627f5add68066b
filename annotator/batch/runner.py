"""Batch runs: every video of a manifest through the same pipeline, locally or on a Ray cluster.

    manifest = load_manifest("clips.json")
    report = run_batch(manifest, "clips-out", LocalBackend(workers=2), retries=1)
    report.ok, report.failed, report.skipped

The driver here is the same for both backends: it skips videos already done (resume),
hands the rest to the backend, retries the failures that may pass on another try (a worker
that died, out of memory; not bad input), and reports each video as it ends. The work of
one video is annotator.batch.video.process_video; the Ray backend is annotator.batch.ray_runner.

Locally each video runs in a process of its own (spawned, at most ``workers`` at a time):
a crash or a leak in one video (a segfault in a codec, CUDA memory a model never gives
back) cannot take the others down, and all its memory is returned when it ends. This
module imports no numpy or torch: the child process sets its thread limits first.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any, Protocol

from annotator.batch.manifest import Manifest, VideoJob

SUMMARY_FILE = "_summary.json"  # manifest names start with a letter or digit: no clash with a video
EventFn = Callable[[str, VideoJob, dict[str, Any] | None], None]  # (kind, job, result)


class Backend(Protocol):
    """Where videos run. ``submit`` returns a handle; ``result`` raises when the task itself died."""

    name: str

    def has_room(self, running: int) -> bool: ...
    def submit(self, job: VideoJob, out_root: str, attempt: int) -> Any: ...
    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...
    def result(self, handle: Any, job: VideoJob, out_root: str, attempt: int) -> dict[str, Any]: ...
    def cancel(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


@dataclass
class VideoOutcome:
    name: str
    status: str  # "ok" | "failed" | "skipped"
    attempts: int = 0
    seconds: float | None = None
    error: str | None = None
    result: str | None = None  # path of result.json

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class BatchReport:
    manifest: str
    out: str
    backend: str
    videos: list[VideoOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return sum(v.status == "ok" for v in self.videos)

    @property
    def failed(self) -> int:
        return sum(v.status == "failed" for v in self.videos)

    @property
    def skipped(self) -> int:
        return sum(v.status == "skipped" for v in self.videos)

    @property
    def succeeded(self) -> bool:
        return self.failed == 0

    def to_json(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "out": self.out, "backend": self.backend, "ok": self.ok,
                "failed": self.failed, "skipped": self.skipped, "seconds": round(self.seconds, 3),
                "videos": [v.to_json() for v in self.videos]}


def default_out(manifest: Manifest) -> Path:
    """The manifest's "out", else ``<manifest stem>-out`` beside it."""
    if manifest.out:
        return Path(manifest.out)
    path = Path(manifest.path).resolve()
    return path.with_name(f"{path.stem}-out")


def default_workers(jobs: list[VideoJob] | tuple[VideoJob, ...]) -> int:
    """One process per GPU video (they would share one device), else half the cores."""
    if any(job.num_gpus > 0 for job in jobs):
        return 1
    return max(1, min(len(jobs), (os.cpu_count() or 2) // 2))


def pending_videos(manifest: Manifest, out: str | Path,
                   force: bool = False) -> tuple[list[VideoJob], list[VideoJob]]:
    """(to run, already done) — done means an "ok" result.json for this very entry, outputs present."""
    from annotator.batch.video import is_done

    todo, done = [], []
    for job in manifest.videos:
        (done if not force and is_done(out, job) else todo).append(job)
    return todo, done


def run_batch(manifest: Manifest, out: str | Path, backend: Backend, retries: int = 1, force: bool = False,
              on_event: EventFn | None = None) -> BatchReport:
    """Run every video not done yet; each failure that may pass is tried up to ``retries`` more times.

    ``on_event(kind, job, result)`` hears "skipped", "started", "retry", "ok" and "failed".
    The backend is closed at the end.
    """
    from annotator.core.atomic import atomic_write, ensure_dir

    started = time.perf_counter()
    out_root = str(ensure_dir(Path(out).resolve()))
    report = BatchReport(manifest.path, out_root, backend.name)
    emit = on_event or (lambda kind, job, result: None)
    todo, done = pending_videos(manifest, out_root, force)
    outcomes: dict[str, VideoOutcome] = {}
    for job in done:
        outcomes[job.name] = VideoOutcome(job.name, "skipped", result=_result_path(out_root, job))
        emit("skipped", job, None)
    queue = deque((job, 1) for job in todo)
    running: dict[Any, tuple[VideoJob, int]] = {}
    try:
        while queue or running:
            while queue and backend.has_room(len(running)):
                job, attempt = queue.popleft()
                running[backend.submit(job, out_root, attempt)] = (job, attempt)
                emit("started", job, None)
            for handle in backend.wait(list(running), timeout=1.0):
                job, attempt = running.pop(handle)
                result = _collect(backend, handle, job, out_root, attempt)
                error = result.get("error") or {}
                if result.get("status") != "ok" and error.get("retryable") and attempt <= retries:
                    queue.append((job, attempt + 1))
                    emit("retry", job, result)
                    continue
                outcomes[job.name] = VideoOutcome(
                    job.name, "ok" if result.get("status") == "ok" else "failed", attempt,
                    (result.get("timings") or {}).get("total_s"),
                    None if not error else f"{error.get('type')}: {error.get('message')}",
                    _result_path(out_root, job))
                emit(outcomes[job.name].status, job, result)
    except BaseException:
        backend.cancel(list(running))
        raise
    finally:
        backend.close()
    report.videos = [outcomes[job.name] for job in manifest.videos if job.name in outcomes]
    report.seconds = time.perf_counter() - started
    with atomic_write(Path(out_root) / SUMMARY_FILE, "w", encoding="utf-8") as f:
        json.dump(report.to_json(), f, indent=2)
        f.write("\n")
    return report


def _collect(backend: Backend, handle: Any, job: VideoJob, out_root: str, attempt: int) -> dict[str, Any]:
    """The task's result, or a failed result (written to result.json) when the task itself died."""
    try:
        return backend.result(handle, job, out_root, attempt)
    except Exception as exc:
        return crashed_result(job, out_root, attempt, f"{type(exc).__name__}: {exc}")


def crashed_result(job: VideoJob, out_root: str, attempt: int, reason: str) -> dict[str, Any]:
    """Record a video whose worker died before it could say why (killed, segfault, node lost)."""
    from annotator.batch.video import RESULT_FILE, RESULT_VERSION, video_folder
    from annotator.core.atomic import atomic_write, ensure_dir
    from annotator.errors import OutputError

    result = {"version": RESULT_VERSION, "name": job.name, "video": job.video, "index": job.index,
              "status": "failed", "attempt": attempt, "fingerprint": job.fingerprint(), "outputs": [],
              "timings": {},
              "error": {"type": "WorkerDied", "message": reason, "retryable": True, "traceback": None}}
    try:
        folder = ensure_dir(video_folder(out_root, job))
        with atomic_write(folder / RESULT_FILE, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    except OutputError as exc:  # the folder itself is the problem: the report still has the reason
        result["error"]["message"] += f"; its result.json could not be written either ({exc})"
    return result


def _result_path(out_root: str, job: VideoJob) -> str:
    return str(Path(out_root) / job.name / "result.json")


# --- local backend ------------------------------------------------------------------------------------
class LocalBackend:
    """Up to ``workers`` videos at once, each in a spawned process of its own.

    ``workers=0`` runs the videos one by one in this process (debugging: tracebacks and
    breakpoints work, but a crash ends the whole run).
    """

    name = "local"

    def __init__(self, workers: int = 1, threads_per_worker: int | None = None) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.workers = workers
        cores = os.cpu_count() or 2
        self.threads = threads_per_worker or max(1, cores // max(1, workers))
        # spawn, not fork: the parent may hold threads (tqdm, torch) that a fork copies mid-lock.
        self._context = multiprocessing.get_context("spawn")
        self._inline: dict[int, dict[str, Any]] = {}
        self._next = 0

    def has_room(self, running: int) -> bool:
        return running < max(1, self.workers)

    def submit(self, job: VideoJob, out_root: str, attempt: int) -> Any:
        if self.workers == 0:
            from annotator.batch.video import process_video

            self._next += 1
            self._inline[self._next] = process_video(job, out_root, attempt)
            return self._next
        process = self._context.Process(target=_child, args=(job, out_root, attempt, self.threads),
                                        name=f"annotator-batch-{job.name}", daemon=False)
        process.start()
        return process

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        if self.workers == 0:
            return list(handles)
        ready = set(wait_for([p.sentinel for p in handles], timeout=timeout))
        return [p for p in handles if p.sentinel in ready]

    def result(self, handle: Any, job: VideoJob, out_root: str, attempt: int) -> dict[str, Any]:
        if self.workers == 0:
            return self._inline.pop(handle)
        from annotator.batch.video import read_result

        handle.join()
        code = handle.exitcode
        handle.close()
        result = read_result(out_root, job)
        finished = result is not None and result.get("status") in ("ok", "failed")
        if finished and result.get("attempt") == attempt:
            return result
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        raise RuntimeError(f"the worker process ended ({how}) before writing its result"
                           + (" (signal 9 is often the out-of-memory killer)" if code == -9 else ""))

    def cancel(self, handles: list[Any]) -> None:
        for process in handles:
            if self.workers and process.is_alive():
                process.terminate()
        for process in handles:
            if self.workers:
                process.join(10)

    def close(self) -> None:
        self._inline.clear()


def _child(job: VideoJob, out_root: str, attempt: int, threads: int) -> None:
    """Entry of a spawned worker: thread limits first (read once at import by the math libraries)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    import logging

    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s [{job.name}] %(name)s: %(message)s")
    import cv2

    cv2.setNumThreads(threads)  # torch reads OMP_NUM_THREADS when an engine first imports it
    from annotator.batch.video import process_video

    process_video(job, out_root, attempt)

