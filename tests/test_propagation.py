"""Propagation over the store: per-object stops at locks, corrections, cancel, undo.

These run the real classical tracker on the sample video through the Session, the way
the GUI's F/B keys and `propagate all` do.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from annotator.app.events import MasksChanged
from annotator.app.propagation import BACKWARD, FORWARD, Run, plan_all, plan_run, run_propagation
from annotator.app.session import Session
from annotator.core import masks as rle_ops
from annotator.core.jobs import Job, JobState
from annotator.engines.classical_track import ClassicalTracker
from tests.session_helpers import copy_sample, iou, sample_gt

FRAMES = 100


@pytest.fixture
def session(tmp_path):
    s = Session(segmenter="classical", tracker="classical")
    s.open(copy_sample(tmp_path))
    yield s
    s.shutdown()


def _seed(session: Session, object_id: int, frame: int, mask: np.ndarray | None = None) -> int:
    """An object with the ground-truth mask of sample object ``object_id`` locked on ``frame``."""
    obj = session.add_object(f"gt-{object_id}")
    session.set_mask(obj.id, sample_gt(object_id, frame) if mask is None else mask, frame=frame)
    return obj.id


def test_forward_fills_every_later_frame_where_the_object_is(session):
    oid = _seed(session, 2, 0)
    report = session.propagate("forward", start=0).result(timeout=600)
    assert report.frames_written == FRAMES - 1 and not report.cancelled
    ious = []
    for frame in range(1, FRAMES):
        record = session.mask(oid, frame)
        assert record is not None and record.source == "tracked" and not record.locked
        assert 0.0 <= record.score <= 1.0
        ious.append(iou(rle_ops.decode(record.rle), sample_gt(2, frame)))
    assert np.mean(ious) > 0.7, f"mean IoU {np.mean(ious):.3f}"


def test_backward_from_the_last_frame(session):
    oid = _seed(session, 2, FRAMES - 1)
    session.propagate("backward", start=FRAMES - 1).result(timeout=600)
    assert session._project.object_frames(oid) == list(range(FRAMES))


def test_each_object_stops_at_its_own_next_lock(session):
    a = _seed(session, 1, 10)
    b = _seed(session, 2, 10)
    session.set_mask(a, sample_gt(1, 20), frame=20)
    session.set_mask(b, sample_gt(2, 40), frame=40)
    before_a20 = session.mask(a, 20)
    run = plan_run(session._project, 10, FORWARD, [a, b])
    assert run.stops == {a: 19, b: 39}
    session.propagate("forward", start=10).result(timeout=600)
    assert session._project.object_frames(a) == list(range(10, 21))
    assert session._project.object_frames(b) == list(range(10, 41))
    assert session.mask(a, 20) == before_a20  # the lock is untouched


def test_a_correction_fixes_later_frames_and_leaves_locks_alone(session):
    # A wrong start (the mask shifted off the object) makes the track drift.
    start_mask = np.roll(sample_gt(2, 0), (0, 60), axis=(0, 1))
    oid = _seed(session, 2, 0, mask=start_mask)
    session.set_mask(oid, sample_gt(2, 80), frame=80)
    session.propagate("forward", start=0).result(timeout=600)
    drifted = [iou(session.mask_array(oid, f), sample_gt(2, f)) for f in range(41, 80)]
    locked_before = {f: session.mask(oid, f) for f in (0, 80)}

    session.set_mask(oid, sample_gt(2, 40), frame=40)  # the correction
    session.propagate("forward", start=40).result(timeout=600)
    fixed = [iou(session.mask_array(oid, f), sample_gt(2, f)) for f in range(41, 80)]
    assert np.mean(fixed) > np.mean(drifted) + 0.3, (np.mean(drifted), np.mean(fixed))
    assert {f: session.mask(oid, f) for f in (0, 80)} == locked_before
    assert session.mask(oid, 81) is None  # nothing past the next lock


def test_cancel_keeps_partial_results_as_one_undo_step(session):
    oid = _seed(session, 2, 0)
    seen = threading.Event()
    session.events.connect(MasksChanged, lambda e: seen.set() if e.frames and max(e.frames) >= 3 else None)
    job: Job = session.propagate("forward", start=0)
    assert seen.wait(120)
    job.cancel()
    assert job.wait(60)
    assert job.state is JobState.CANCELLED
    kept = session._project.object_frames(oid)
    assert 4 <= len(kept) < FRAMES and kept == list(range(len(kept)))
    assert job.partial == kept[1:]
    assert session.undo().startswith("Propagate")
    assert session._project.object_frames(oid) == [0]
    session.redo()
    assert session._project.object_frames(oid) == kept


def test_a_lock_made_while_the_job_runs_stops_that_object(session):
    oid = _seed(session, 2, 0)
    project = session._project

    class LockingTracker(ClassicalTracker):
        """The real tracker; after frame 5 'the user' locks frame 8 (deterministic timing)."""

        def propagate(self, start, direction, stops):
            for update in super().propagate(start, direction, stops):
                yield update
                if update.frame == 5:
                    project.set_locked(oid, 8, True)

    class Ctx:
        def check_cancelled(self): ...
        def report(self, *a, **kw): ...
        def add_partial(self, item): ...

    run = Run(0, FORWARD, {oid: 20})
    tracker = LockingTracker(session.video.clone(), mode="fast")
    report = run_propagation(Ctx(), project, [run], lambda: tracker, "Propagate")
    assert report.stopped_at_lock == {oid: 8}
    assert project.object_frames(oid) == list(range(0, 9))
    assert rle_ops.is_empty(project.mask(oid, 8).rle)  # the user's "absent" lock stands


def test_propagate_all_fills_gaps_from_both_sides(session):
    oid = _seed(session, 2, 10)
    session.set_mask(oid, sample_gt(2, 30), frame=30)
    runs = plan_all(session._project, [oid])
    assert {(r.start, r.direction): r.stops[oid] for r in runs} == {
        (10, FORWARD): 20, (10, BACKWARD): 0, (30, FORWARD): FRAMES - 1, (30, BACKWARD): 21}
    session.propagate_all().result(timeout=600)
    assert session._project.object_frames(oid) == list(range(FRAMES))
    assert session._project.locked_frames(oid) == [10, 30]
    session.undo()  # one step for the whole thing
    assert session._project.object_frames(oid) == [10, 30]


def test_nothing_to_propagate_is_a_clear_error(session):
    session.add_object()
    with pytest.raises(Exception, match="nothing to propagate"):
        session.propagate("forward")
