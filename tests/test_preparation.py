"""A model's one-off preparation (its ONNX export on a CPU) is a visible Job of kind "prepare"
on the engine lane (engines/preparation.py, app/engines.py), and the export announces itself
only when it really exports."""

from __future__ import annotations

import threading

import pytest

from annotator.app.engines import EngineManager
from annotator.app.events import JobFinished, JobProgress, JobStarted
from annotator.core.jobs import JobState, Workers
from annotator.engines import preparation


@pytest.fixture
def manager():
    workers = Workers()
    events: list[object] = []
    engines = EngineManager(workers, events.append, lambda: (None, 0))
    engines._show_preparation()  # what loading a segmenter or tracker does first
    yield engines, workers, events
    engines.release()
    workers.shutdown()


def test_without_a_runner_the_step_just_runs() -> None:
    assert preparation.run("EdgeTAM", "image encoder", lambda: 7) == 7


def test_a_preparation_step_is_a_job_on_the_engine_lane(manager) -> None:
    engines, workers, events = manager
    threads: list[threading.Thread] = []

    def export() -> str:
        threads.append(threading.current_thread())
        return "exported"

    job = workers.submit(engines.lane, "click",
                         lambda ctx: preparation.run("EdgeTAM", "image encoder", export))
    assert job.result(timeout=60) == "exported"  # hang guard only
    assert threads[0] is not threading.main_thread()
    started = [e for e in events if isinstance(e, JobStarted)]
    assert [e.kind for e in started] == ["prepare"]
    prepare = started[0].job
    assert prepare.name == "Preparing the fast CPU path for EdgeTAM (once): image encoder"
    messages = [e.message for e in events if isinstance(e, JobProgress) and e.job is prepare]
    assert messages[0].startswith(prepare.name) and "done in" in messages[-1]
    assert [e.kind for e in events if isinstance(e, JobFinished)] == ["prepare"]
    assert prepare.state is JobState.DONE


def test_a_failed_export_ends_the_job_quietly_and_reaches_the_engine(manager) -> None:
    """The engine catches the error and falls back to PyTorch; the job must not fail (the
    Session shows failed jobs as errors)."""
    engines, workers, events = manager

    def export() -> None:
        raise RuntimeError("the exporter broke")

    def click(ctx) -> str:
        try:
            preparation.run("SAM 2.1", "memory attention", export)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert workers.submit(engines.lane, "click", click).result(timeout=60) == "the exporter broke"
    prepare = next(e.job for e in events if isinstance(e, JobStarted))
    assert prepare.state is JobState.DONE and "failed" in prepare.progress.message


def test_release_removes_the_runner(manager) -> None:
    engines, _workers, events = manager
    engines.release()
    assert preparation.run("EdgeTAM", "image encoder", lambda: 1) == 1
    assert not events


def test_the_export_announces_itself_once(tmp_path, monkeypatch) -> None:
    from annotator.engines.image_encoder import ImageEncoder, runtime_versions
    from tests.tiny_sam2_video import IMAGE_SIZE, tiny_sam2_video

    if runtime_versions() is None:
        pytest.skip("onnxruntime, onnx or onnxscript missing")
    messages: list[str] = []
    remove = preparation.install(lambda message, work: (messages.append(message), work())[1])
    try:
        model = tiny_sam2_video()
        first = ImageEncoder(model, IMAGE_SIZE, weights_dir=tmp_path, prefer="onnx")
        again = ImageEncoder(model, IMAGE_SIZE, weights_dir=tmp_path, prefer="onnx")
    finally:
        remove()
    assert first.runtime == again.runtime == "onnxruntime"
    assert messages == ["Preparing the fast CPU path for SAM 2.1 (once): image encoder"]  # the cache: no step
