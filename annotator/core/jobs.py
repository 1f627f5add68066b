"""Background jobs with progress, cancel and partial results: plain threads, no Qt.

A *Job* is a future that the work function feeds through a *JobContext*:

    def work(ctx: JobContext) -> int:
        for i, frame in enumerate(frames):
            ctx.check_cancelled()          # raises CancelledError once cancel() was called
            ctx.add_partial(process(frame))
            ctx.report(i + 1, len(frames), "tracking")
        return len(frames)

    job = workers.submit("engine:cpu", "propagate", work)
    job.cancel(); job.partial   # what was done stays available

*Workers* owns the threads: one single-thread lane per compute device (so GPU work is
serialized, as the design asks) plus an I/O lane with a few threads. Callbacks run on the
worker thread; the GUI re-posts them to the UI thread (gui/jobs.py).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from annotator.errors import CancelledError

T = TypeVar("T")


class JobState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None  # None: unknown length (an indeterminate bar)
    message: str
    rate: float | None  # items per second since the job started
    frame: int | None = None  # the video frame the job is on, when it works through frames

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


class JobContext:
    """What the work function sees: report progress, add partial results, honour cancel."""

    def __init__(self, job: Job[Any]) -> None:
        self._job = job

    @property
    def cancelled(self) -> bool:
        return self._job._cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self._job._cancel_event.is_set():
            raise CancelledError(f"{self._job.name}: cancelled")

    def report(self, done: int, total: int | None = None, message: str = "",
               frame: int | None = None) -> None:
        self._job._set_progress(done, total, message, frame)

    def add_partial(self, item: Any) -> None:
        self._job._add_partial(item)


class Job(Generic[T]):
    """A future with progress, cancel() and partial results."""

    def __init__(self, name: str, fn: Callable[[JobContext], T]) -> None:
        self.name = name
        self._fn = fn
        self._state = JobState.PENDING
        self._result: T | None = None
        self._error: BaseException | None = None
        self._traceback: str | None = None
        self._partial: list[Any] = []
        self._progress = Progress(0, None, "", None)
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._lock = threading.Lock()
        self._cancel_event = threading.Event()
        self._done_event = threading.Event()
        self._done_callbacks: list[Callable[[Job[T]], None]] = []
        self._progress_callbacks: list[Callable[[Job[T], Progress], None]] = []

    # --- observers --------------------------------------------------------------------------
    @property
    def state(self) -> JobState:
        return self._state

    @property
    def progress(self) -> Progress:
        return self._progress

    @property
    def partial(self) -> list[Any]:
        with self._lock:
            return list(self._partial)

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def error_traceback(self) -> str | None:
        return self._traceback

    @property
    def elapsed_s(self) -> float:
        if self._started_at is None:
            return 0.0
        end = self._finished_at if self._finished_at is not None else time.monotonic()
        return end - self._started_at

    def done(self) -> bool:
        return self._done_event.is_set()

    def on_done(self, callback: Callable[[Job[T]], None]) -> None:
        """Call back once the job finishes (at once if it already has)."""
        with self._lock:
            if not self._done_event.is_set():
                self._done_callbacks.append(callback)
                return
        callback(self)

    def on_progress(self, callback: Callable[[Job[T], Progress], None]) -> None:
        with self._lock:
            self._progress_callbacks.append(callback)

    # --- control ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; it keeps what it did. A pending job never starts."""
        self._cancel_event.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done_event.wait(timeout)

    @property
    def returned(self) -> T | None:
        """What the work function returned, also when it noticed a cancel and stopped early with
        a partial report (``result()`` raises CancelledError then); None if it raised."""
        return self._result

    def result(self, timeout: float | None = None) -> T:
        """The return value; re-raises the job's error, or CancelledError if it was cancelled."""
        if not self._done_event.wait(timeout):
            raise TimeoutError(f"job {self.name!r} still running after {timeout} s")
        if self._state is JobState.CANCELLED:
            raise CancelledError(f"{self.name}: cancelled")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    # --- runner side ---------------------------------------------------------------------------
    def run(self) -> None:
        """Run the work function in the calling thread (workers call this)."""
        if self._cancel_event.is_set():
            self._finish(JobState.CANCELLED)
            return
        self._started_at = time.monotonic()
        self._state = JobState.RUNNING
        try:
            value = self._fn(JobContext(self))
        except CancelledError:
            self._finish(JobState.CANCELLED)
        except BaseException as exc:
            self._error = exc
            self._traceback = traceback.format_exc()
            self._finish(JobState.FAILED)
        else:
            self._result = value
            # A job that noticed cancel and returned normally still counts as cancelled.
            self._finish(JobState.CANCELLED if self._cancel_event.is_set() else JobState.DONE)

    def _set_progress(self, done: int, total: int | None, message: str, frame: int | None = None) -> None:
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        rate = done / elapsed if elapsed > 0 and done else None
        self._progress = Progress(done, total, message, rate, frame)
        with self._lock:
            callbacks = list(self._progress_callbacks)
        for cb in callbacks:
            cb(self, self._progress)

    def _add_partial(self, item: Any) -> None:
        with self._lock:
            self._partial.append(item)

    def _finish(self, state: JobState) -> None:
        self._finished_at = time.monotonic()
        with self._lock:
            self._state = state
            callbacks = list(self._done_callbacks)
            self._done_callbacks.clear()
            self._done_event.set()
        for cb in callbacks:
            cb(self)

    def __repr__(self) -> str:
        return f"Job({self.name!r}, {self._state.value})"


def finished_job(name: str, value: T) -> Job[T]:
    """A job that is already done: quick operations keep the same interface."""
    job: Job[T] = Job(name, lambda ctx: value)
    job.run()
    return job


class Workers:
    """Named lanes of worker threads. 'engine:<device>' lanes have one thread each."""

    IO_LANE = "io"

    def __init__(self, io_threads: int = 2) -> None:
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._io_threads = io_threads
        self._lock = threading.Lock()
        self._active: set[Job[Any]] = set()
        self._latest: dict[str, Job[Any]] = {}
        self._closed = False

    def submit(self, lane: str, name: str, fn: Callable[[JobContext], T]) -> Job[T]:
        job: Job[T] = Job(name, fn)
        with self._lock:
            if self._closed:
                raise RuntimeError("workers are shut down")
            executor = self._lanes.get(lane)
            if executor is None:
                threads = self._io_threads if lane == self.IO_LANE else 1
                executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"annotator-{lane}")
                self._lanes[lane] = executor
            self._active.add(job)
        job.on_done(self._forget)
        executor.submit(job.run)
        return job

    def submit_latest(self, key: str, lane: str, name: str, fn: Callable[[JobContext], T]) -> Job[T]:
        """Submit and cancel the previous job with the same key: the latest request wins."""
        with self._lock:
            previous = self._latest.get(key)
        if previous is not None:
            previous.cancel()
        job = self.submit(lane, name, fn)
        with self._lock:
            self._latest[key] = job
        return job

    def active_jobs(self) -> list[Job[Any]]:
        with self._lock:
            return [j for j in self._active if not j.done()]

    def shutdown(self, cancel: bool = True, timeout: float = 10.0) -> None:
        """Cancel running jobs (they keep partial results) and join the threads."""
        with self._lock:
            self._closed = True
            jobs = list(self._active)
            lanes = list(self._lanes.values())
        if cancel:
            for job in jobs:
                job.cancel()
        deadline = time.monotonic() + timeout
        for job in jobs:
            job.wait(max(0.0, deadline - time.monotonic()))
        for executor in lanes:
            executor.shutdown(wait=False, cancel_futures=True)

    def _forget(self, job: Job[Any]) -> None:
        with self._lock:
            self._active.discard(job)
