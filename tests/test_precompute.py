"""Background precompute: neighbours in order, latest request wins, a seek cancels."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from annotator.core.jobs import JobState, Workers
from annotator.engines.embedding_cache import frame_key
from annotator.engines.precompute import Precomputer, neighbour_order
from annotator.engines.sam import SamSegmenter
from annotator.errors import CancelledError, VideoDecodeError
from tests.tiny_models import textured_image, tiny_sam

FRAME = textured_image(90, 160, seed=0)


def key_of(frame: int) -> tuple[str, int]:
    return frame_key("video", frame)


@pytest.fixture
def workers():
    w = Workers()
    yield w
    w.shutdown(timeout=10)


@pytest.fixture
def engine() -> SamSegmenter:
    return SamSegmenter(tiny_sam(seed=0), "sam-tiny", "cpu")


def test_neighbour_order() -> None:
    assert neighbour_order(10, 2) == [10, 11, 9, 12, 8]
    assert neighbour_order(0, 2) == [0, 1, 2]
    assert neighbour_order(4, 2, frame_count=6) == [4, 5, 3, 2]
    assert neighbour_order(7, 0) == [7]


def test_request_prepares_the_frame_then_its_neighbours(engine, workers) -> None:
    seen: list[int] = []

    def get_frame(i: int) -> np.ndarray:
        seen.append(i)
        return FRAME

    pre = Precomputer(engine, workers, get_frame, key_of)
    assert pre.lane == "engine:cpu"
    job = pre.request(10, neighbours=2)
    done = job.result(timeout=30)
    assert seen == [10, 11, 9, 12, 8]
    assert [frame for frame, _ in done] == seen and all(ms > 0 for _, ms in done)
    assert all(engine.is_prepared(key_of(f)) for f in seen)
    # Asking again costs nothing: every frame is prepared already.
    assert pre.request(11, neighbours=1).result(timeout=30) == []
    assert seen == [10, 11, 9, 12, 8]


def test_a_seek_cancels_the_old_neighbours_and_prepares_the_new_frame_first(engine, workers) -> None:
    seen: list[int] = []
    in_frame_11 = threading.Event()
    release = threading.Event()

    def get_frame(i: int) -> np.ndarray:
        seen.append(i)
        if i == 11:  # the user seeks while the first neighbour is being encoded
            in_frame_11.set()
            assert release.wait(10)
        return FRAME

    pre = Precomputer(engine, workers, get_frame, key_of)
    first = pre.request(10, neighbours=2)
    assert in_frame_11.wait(10)
    second = pre.request(50, neighbours=1)  # the seek
    assert first.cancel_requested
    release.set()
    assert [f for f, _ in second.result(timeout=30)] == [50, 51, 49]  # the new frame first
    assert first.state is JobState.CANCELLED
    with pytest.raises(CancelledError):
        first.result(timeout=1)
    # Frame 11 was already being encoded and finishes; 9, 12 and 8 never start.
    assert seen == [10, 11, 50, 51, 49]
    assert [f for f, _ in first.partial] == [10, 11]
    assert not any(engine.is_prepared(key_of(f)) for f in (9, 12, 8))


def test_cancel_stops_at_the_next_frame(engine, workers) -> None:
    gate = threading.Event()
    seen: list[int] = []

    def get_frame(i: int) -> np.ndarray:
        seen.append(i)
        gate.wait(10)
        return FRAME

    pre = Precomputer(engine, workers, get_frame, key_of)
    job = pre.request(3, neighbours=3)
    pre.cancel()
    gate.set()
    assert job.wait(10) and job.state is JobState.CANCELLED
    assert len(seen) <= 1


def test_frames_past_the_end_and_damaged_frames_are_skipped(engine, workers) -> None:
    def get_frame(i: int) -> np.ndarray:
        if i >= 3:
            raise IndexError(i)
        if i == 1:
            raise VideoDecodeError("frame 1 could not be decoded", "video.mp4")
        return FRAME

    pre = Precomputer(engine, workers, get_frame, key_of)
    done = pre.request(2, neighbours=2).result(timeout=30)
    assert [f for f, _ in done] == [2, 0]
    bounded = Precomputer(engine, workers, get_frame, key_of, frame_count=3)
    assert bounded.request(2, neighbours=5).result(timeout=30) == []  # 2 and 0 done, 1 damaged


def test_two_precomputers_do_not_cancel_each_other(engine, workers) -> None:
    a = Precomputer(engine, workers, lambda i: FRAME, key_of)
    b = Precomputer(engine, workers, lambda i: FRAME, lambda i: frame_key("other video", i))
    job_a = a.request(0, neighbours=1)
    job_b = b.request(0, neighbours=1)
    assert [f for f, _ in job_a.result(timeout=30)] == [0, 1]
    assert [f for f, _ in job_b.result(timeout=30)] == [0, 1]


def test_neighbours_stay_within_the_ram_budget(workers) -> None:
    """Encoding ahead never holds more frames than the engine's LRU can keep beside the current
    one: the frame the user is on is never evicted by its neighbours."""
    engine = SamSegmenter(tiny_sam(seed=0), "sam-tiny", "cpu", cache_mb=1)
    pre = Precomputer(engine, workers, lambda i: FRAME, key_of)
    assert pre.within_budget(3) == 3  # nothing encoded yet: the size of a frame is unknown
    pre.request(20, neighbours=0).result(timeout=30)
    per_frame = engine.store.memory.nbytes
    engine.store.memory.max_bytes = int(per_frame * 5.5)  # room for 5 frames of this tiny model
    fit = 5 - 1
    assert pre.within_budget(50) == fit // 2 == 2
    done = pre.request(40, neighbours=50).result(timeout=30)
    assert len(done) == 1 + 2 * (fit // 2)
    assert engine.store.memory.nbytes <= engine.store.memory.max_bytes
    assert engine.is_prepared(key_of(40))


def test_pauses_last_while_any_reason_does() -> None:
    """Playback and a propagation each pause encoding ahead; it resumes only when both ended."""
    from annotator.app.session import Session

    requests: list[int] = []

    class Recorder:  # stands in for the Precomputer: what the engine manager asks of it
        def request(self, frame: int, neighbours: int = 0) -> None:
            requests.append(frame)

        def cancel(self) -> None:
            pass

    with Session(segmenter="classical", tracker="classical") as session:
        engines = session.engines
        engines._precompute = Recorder()
        engines.pause_precompute(True)  # playback
        engines.pause_precompute(True, "propagation")
        engines.frame_changed(5)
        engines.pause_precompute(False, "propagation")
        engines.frame_changed(6)
        assert requests == []  # still playing
        engines.pause_precompute(False)
        assert requests == [session.current_frame]
        engines._precompute = None


def test_encoding_ahead_runs_as_background_work(engine, workers) -> None:
    """The encoder is asked for one thread (engines/run_control.background) while it encodes
    ahead, and only then: a click's own encoding keeps every core."""
    from annotator.engines import run_control

    flags: list[bool] = []
    prepare = engine.prepare

    def recording_prepare(image: np.ndarray, key: object) -> float:
        flags.append(run_control.in_background())
        return prepare(image, key)

    engine.prepare = recording_prepare  # type: ignore[method-assign]
    Precomputer(engine, workers, lambda i: FRAME, key_of).request(3, neighbours=1).result(timeout=30)
    assert flags == [True, True, True]
    engine.prepare(FRAME, key_of(50))
    assert flags[-1] is False


def test_the_session_encodes_ahead_with_its_own_decoder(tmp_path) -> None:
    """Encode-ahead reads frames through a clone of the video (its own decoder, the same frame
    cache), so a neighbour's decode never holds the lock the viewer's next frame waits on;
    closing the project closes that clone."""
    from annotator.app.session import Session
    from tests.session_helpers import copy_sample

    with Session(segmenter="classical", tracker="classical", device="cpu") as session:
        session.open(copy_sample(tmp_path))
        session.engines.enable_precompute()
        reader = session.engines._precompute_reader
        assert reader is not None and reader is not session._source()
        session.set_frame(5)
        job = session.engines._precompute.job
        assert [frame for frame, _ in job.result(timeout=60)][:1] == [5]
        session.close()
        assert session.engines._precompute_reader is None
        assert reader._closed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is a Linux feature")
def test_background_work_yields_the_core_to_the_ui_thread() -> None:
    """Inside ``background()`` the thread is niced (the UI thread wins a contended core); other
    threads keep their priority."""
    from annotator.engines import run_control

    seen: dict[str, int] = {}

    def work() -> None:
        tid = threading.get_native_id()
        with run_control.background():
            seen["inside"] = os.getpriority(os.PRIO_PROCESS, tid)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    assert seen["inside"] >= run_control.BACKGROUND_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < run_control.BACKGROUND_NICENESS
