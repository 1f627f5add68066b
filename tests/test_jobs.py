import threading
import time

import pytest

from annotator.app.events import FrameChanged, MasksChanged, ObjectsChanged
from annotator.core.events import Emitter
from annotator.core.jobs import Job, JobState, Workers, finished_job
from annotator.errors import CancelledError


@pytest.fixture
def workers():
    w = Workers()
    yield w
    w.shutdown()


def test_job_reports_progress_and_result(workers):
    seen = []

    def work(ctx):
        for i in range(5):
            ctx.add_partial(i)
            ctx.report(i + 1, 5, "counting")
        return "ok"

    job = workers.submit("io", "count", work)
    job.on_progress(lambda j, p: seen.append(p.done))
    assert job.result(timeout=5) == "ok"
    assert job.state is JobState.DONE
    assert job.partial == [0, 1, 2, 3, 4]
    assert job.progress.fraction == 1.0


def test_cancel_keeps_partial_results(workers):
    started = threading.Event()

    def work(ctx):
        for i in range(1000):
            ctx.check_cancelled()
            ctx.add_partial(i)
            started.set()
            time.sleep(0.005)
        return "finished"

    job = workers.submit("engine:cpu", "slow", work)
    assert started.wait(5)
    job.cancel()
    assert job.wait(5)
    assert job.state is JobState.CANCELLED
    assert 0 < len(job.partial) < 1000
    with pytest.raises(CancelledError):
        job.result()


def test_a_job_that_stops_early_on_cancel_keeps_its_returned_report(workers):
    started = threading.Event()

    def work(ctx):
        done = 0
        while not ctx.cancelled:
            done += 1
            started.set()
            time.sleep(0.005)
        return {"done": done, "cancelled": True}

    job = workers.submit("engine:cpu", "stops early", work)
    assert started.wait(5)
    job.cancel()
    assert job.wait(5)
    assert job.state is JobState.CANCELLED
    assert job.returned["cancelled"] and job.returned["done"] >= 1
    with pytest.raises(CancelledError):
        job.result()


def test_engine_lane_serializes_jobs(workers):
    running = []
    overlap = []

    def work(ctx):
        running.append(1)
        if len(running) > 1:
            overlap.append(True)
        time.sleep(0.02)
        running.pop()

    jobs = [workers.submit("engine:cpu", f"j{i}", work) for i in range(4)]
    for j in jobs:
        j.result(timeout=5)
    assert not overlap


def test_failure_is_reraised_with_traceback(workers):
    def work(ctx):
        raise ValueError("bad frame")

    job = workers.submit("io", "fail", work)
    job.wait(5)
    assert job.state is JobState.FAILED
    assert "bad frame" in job.error_traceback
    with pytest.raises(ValueError, match="bad frame"):
        job.result()


def test_latest_request_wins(workers):
    gate = threading.Event()

    def blocker(ctx):
        gate.wait(5)

    workers.submit("engine:cpu", "blocker", blocker)
    first = workers.submit_latest("decode", "engine:cpu", "first", lambda ctx: 1)
    second = workers.submit_latest("decode", "engine:cpu", "second", lambda ctx: 2)
    gate.set()
    assert second.result(timeout=5) == 2
    first.wait(5)
    assert first.state is JobState.CANCELLED


def test_finished_job_and_done_callback_after_finish():
    job = finished_job("quick", 42)
    got = []
    job.on_done(lambda j: got.append(j.result()))
    assert got == [42]
    assert isinstance(job, Job)


def test_emitter_delivers_typed_events_and_disconnects():
    em = Emitter(MasksChanged, FrameChanged)
    got, every = [], []
    off = em.connect(MasksChanged, got.append)
    em.connect_all(every.append)
    em.emit(MasksChanged(1, (3,)))
    em.emit(FrameChanged(5))
    off()
    em.emit(MasksChanged(2, (4,)))
    assert got == [MasksChanged(1, (3,))]
    assert every == [MasksChanged(1, (3,)), FrameChanged(5), MasksChanged(2, (4,))]
    with pytest.raises(KeyError):
        em.emit(ObjectsChanged())  # not one of this emitter's events
