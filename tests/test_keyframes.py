"""Fused keyframes and the tracker confidence (issue 13).

- The classical tracker carries the far lock of a span back and fuses the two runs; SAM 2.1
  reads every lock of the object as a conditioning frame (tiny random weights). Either way,
  moving the far lock changes the frames in between.
- A correction only helps: on a synthetic video with known masks, a correction at frame k
  lowers no frame's IoU by more than 0.01 (through the Session, as the app does it).
- The confidence measures error: a realistically broken frame (shifted 15 px, or leaking into
  the neighbouring object) scores lower than the good frame.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.app.propagation import FORWARD, Run, run_propagation
from annotator.engines import appearance as app
from annotator.engines import track_confidence as conf
from annotator.engines.classical_track import ClassicalTracker
from annotator.engines.tracker import ListFrames
from annotator.sim.synthetic import ShapeSpec, render_scene

W, H = 320, 180


def _shapes() -> list[ShapeSpec]:
    s = min(W, H)
    return [
        ShapeSpec(1, "ellipse", (int(0.16 * s), int(0.11 * s)), (250, 90, 70),
                  (0.30, 0.55, 0.10, 0.06, 1.0, 0.0), depth=1),
        ShapeSpec(2, "rectangle", (int(0.12 * s), int(0.12 * s)), (60, 140, 255),
                  (0.62, 0.45, 0.12, 0.05, 1.0, math.pi), depth=2),
    ]


@pytest.fixture(scope="module")
def scene() -> tuple[list[np.ndarray], list[dict[int, np.ndarray]]]:
    data = list(render_scene(30, W, H, seed=5, shapes=_shapes()))
    return [f for f, _ in data], [g for _, g in data]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


class _Ctx:
    def check_cancelled(self) -> None: ...
    def report(self, *args: object, **kwargs: object) -> None: ...
    def add_partial(self, item: object) -> None: ...


# --- the far lock steers the span ----------------------------------------------------------------
def test_classical_far_lock_changes_the_frames_in_between(scene) -> None:
    frames, truth = scene
    far = 12

    def run(far_mask: np.ndarray) -> dict[int, np.ndarray]:
        tracker = ClassicalTracker(ListFrames(frames), mode="fast")
        tracker.add_conditioning(0, {1: truth[0][1]})
        tracker.add_conditioning(far, {1: far_mask})
        return {u.frame: u.mask for u in tracker.propagate(0, 1, {1: far - 1})}

    good = run(truth[far][1])
    moved = run(np.roll(truth[far][1], 40, axis=1))
    assert sorted(good) == list(range(1, far))
    # Near the far lock its own run wins: a lock moved 40 px moves the frames before it.
    assert _iou(good[far - 1], moved[far - 1]) < 0.8
    assert _iou(good[far - 1], truth[far - 1][1]) > 0.8
    # Near the start the start's run wins either way.
    assert _iou(good[1], moved[1]) > 0.95


def test_fused_frames_report_agreement_and_beat_one_run(scene) -> None:
    """In this scene the run from frame 0 loses the ellipse after two frames (fast motion); the
    run back from the lock at 10 holds it. The fused span keeps the better run's frames."""
    frames, truth = scene
    alone = ClassicalTracker(ListFrames(frames), mode="fast")
    alone.add_conditioning(0, {1: truth[0][1]})
    single = {u.frame: u.mask for u in alone.propagate(0, 1, {1: 9})}
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(0, {1: truth[0][1]})
    tracker.add_conditioning(10, {1: truth[10][1]})
    updates = list(tracker.propagate(0, 1, {1: 9}))
    assert all(u.features is not None and 0.0 <= u.features["agreement"] <= 1.0 for u in updates)
    assert all(0.0 <= u.confidence <= 1.0 for u in updates)
    fused_iou = np.mean([_iou(u.mask, truth[u.frame][1]) for u in updates])
    single_iou = np.mean([_iou(m, truth[f][1]) for f, m in single.items()])
    assert fused_iou > single_iou + 0.2, (fused_iou, single_iou)


def test_fusion_weighs_runs_by_their_estimate_on_the_frame_itself() -> None:
    """A run whose colour trend still looks fine but whose frame evidence says it went wrong
    loses the frame to the other run; without that evidence the confidence decides."""
    from annotator.engines.keyframes import fuse
    from annotator.engines.tracker import TrackUpdate

    a, b = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    a[:4], b[4:] = True, True
    near = TrackUpdate(5, 1, a, 0.8, {"frame_estimate": 0.2})
    far = TrackUpdate(5, 1, b, 0.5, {"frame_estimate": 0.5})
    assert np.array_equal(fuse(near, far, 5, 5).mask, b)
    plain_near, plain_far = TrackUpdate(5, 1, a, 0.8, {}), TrackUpdate(5, 1, b, 0.5, {})
    assert np.array_equal(fuse(plain_near, plain_far, 5, 5).mask, a)


def test_the_tracker_gives_each_frame_its_fusion_estimate(scene) -> None:
    frames, truth = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="quality")
    tracker.add_conditioning(0, {1: truth[0][1]})
    for u in tracker.propagate(0, 1, {1: 9}):
        features = u.features or {}
        expected = conf.estimate_iou(features, "quality", trend=False)
        if u.confidence in (0.0, 0.3):  # set outside the model (lost, re-detected): kept as is
            expected = u.confidence
        assert features["frame_estimate"] == pytest.approx(expected)


def test_an_empty_far_lock_is_not_fused(scene) -> None:
    frames, truth = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(0, {1: truth[0][1]})
    tracker.add_conditioning(10, {1: np.zeros((H, W), bool)})  # "absent here"
    updates = list(tracker.propagate(0, 1, {1: 9}))
    assert len(updates) == 9 and all("agreement" not in (u.features or {}) for u in updates)


def test_sam2_far_lock_is_a_conditioning_frame_through_propagation(tmp_path) -> None:
    """Propagation conditions SAM 2.1 on every lock of the object: moving the far lock changes
    the logits of every frame between the start and it (tiny random weights, CPU)."""
    torch = pytest.importorskip("torch")
    from tiny_sam2_video import tiny_sam2_video, tiny_video_processor

    from annotator.app.session import Session
    from annotator.engines.sam2_video import Sam2VideoTracker
    from tests.session_helpers import copy_sample, sample_gt

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    session = Session(segmenter="classical", tracker="classical")
    try:
        session.open(copy_sample(tmp_path))
        model, processor = tiny_sam2_video(seed=2), tiny_video_processor()
        oid = session.add_object("a").id
        far = 8
        session.set_mask(oid, sample_gt(2, 0), frame=0)

        def logits_with_far_lock(mask: np.ndarray) -> dict[int, object]:
            session.set_mask(oid, mask, frame=far)  # a locked user mask
            seen: dict[int, object] = {}

            class Recording(Sam2VideoTracker):
                def propagate(self, start, direction, stops):
                    from annotator.engines.tracker import TrackUpdate

                    seen["conditioning"] = self.conditioning_frames(oid)
                    for r in self.propagate_logits(start, direction, stops):
                        seen[r.frame] = r.logits
                        yield TrackUpdate(r.frame, r.object_id, np.zeros((360, 640), bool), 0.5)

            tracker = Recording(session.video.clone(), model, processor, "tiny", "cpu")
            run_propagation(_Ctx(), session._project, [Run(0, FORWARD, {oid: far - 1})], lambda: tracker, "p")
            assert seen.pop("conditioning") == [0, far]  # the far lock too, not only the start
            return seen

        shape = sample_gt(2, 0).shape
        first = np.zeros(shape, bool)
        first[40:120, 60:200] = True
        second = np.zeros(shape, bool)
        second[200:340, 380:620] = True
        a, b = logits_with_far_lock(first), logits_with_far_lock(second)
        assert sorted(a) == list(range(1, far))
        assert all(not torch.equal(a[f], b[f]) for f in range(1, far))
    finally:
        session.shutdown()
        torch.set_num_threads(threads)


# --- a fused span can be cancelled while the far lock is carried back ---------------------------
def test_cancel_reaches_the_far_lock_pass(scene, tmp_path: Path) -> None:
    """The far lock's run yields nothing until it is done; the job's cancel stops it mid-pass."""
    from annotator.app.session import Session
    from annotator.errors import CancelledError

    frames, truth = scene
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    class Counting(ListFrames):
        loads = 0

        def frame(self, index: int) -> np.ndarray:
            Counting.loads += 1
            return super().frame(index)

    class CancelAfterThree(_Ctx):
        def check_cancelled(self) -> None:
            if Counting.loads > 3:
                raise CancelledError("cancelled")

    far = len(frames) - 1
    session = Session(segmenter="classical", tracker="classical-fast")
    try:
        session.open(folder)
        oid = session.add_object("ellipse").id
        session.set_mask(oid, truth[0][1], frame=0)
        session.set_mask(oid, truth[far][1], frame=far)  # a locked far lock: the span is fused
        tracker = ClassicalTracker(Counting(frames), mode="fast")
        with pytest.raises(CancelledError):
            run_propagation(CancelAfterThree(), session._project, [Run(0, FORWARD, {oid: far - 1})],
                            lambda: tracker, "p")
        assert Counting.loads < far // 2  # stopped inside the far lock's pass, not after it
        assert all(session.mask_array(oid, f) is None for f in range(1, far))
    finally:
        session.shutdown()


# --- corrections only help -----------------------------------------------------------------------
# Both modes hold the 0.01. The fast mode loses the ellipse early in this scene, so
# corrections land mid-clip: before fused keyframes the run back from the first correction
# dropped frame 1 from IoU 0.98 to 0.22; issue 13 measured a worst drop of 0.028 with the old
# fast mode (floor 0.05 then); with the pull-warp fast mode the worst change measured is 0.000
# (quality mode: -0.004), so both floors are the 0.01 (issue 13d's report).
@pytest.mark.parametrize(("tracker", "tolerance"), [("classical", 0.01), ("classical-fast", 0.01)])
def test_a_correction_never_lowers_any_frame(scene, tmp_path: Path, tracker: str, tolerance: float) -> None:
    """Two rounds of the loop through the Session: correct the worst frame, propagate both ways."""
    from annotator.app.session import Session

    frames, truth = scene
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    session = Session(segmenter="classical", tracker=tracker)
    try:
        session.open(folder)
        oid = session.add_object("ellipse").id
        session.set_mask(oid, truth[0][1], frame=0)
        session.propagate("forward", start=0).result(timeout=600)

        def ious() -> list[float]:
            return [_iou(session.mask_array(oid, f), truth[f][1]) for f in range(len(frames))]

        for _ in range(2):  # two rounds of the loop: correct the worst frame, propagate both ways
            before = ious()
            k = int(np.argmin(before))
            session.set_mask(oid, truth[k][1], frame=k)
            session.propagate("both", start=k).result(timeout=600)
            after = ious()
            worst = min(range(len(frames)), key=lambda f: after[f] - before[f])
            assert after[worst] >= before[worst] - tolerance, (k, worst, before[worst], after[worst])
    finally:
        session.shutdown()


# --- the confidence finds broken frames --------------------------------------------------------
# Measured with the shipped constants: 0.78 good; 0.12 shifted, 0.51 leaking (both read as the
# mask scoring worse against the lock's colour model than the user's mask did). The floors sit
# well below the gaps.
@pytest.mark.parametrize(("broken", "margin"), [("shifted 15 px", 0.25), ("leaks into the neighbour", 0.08)])
def test_a_broken_frame_scores_lower_than_the_good_one(scene, broken: str, margin: float) -> None:
    frames, truth = scene
    k = 20
    lab0 = cv2.cvtColor(frames[0], cv2.COLOR_RGB2Lab)
    lab = cv2.cvtColor(frames[k], cv2.COLOR_RGB2Lab)
    gray = cv2.cvtColor(frames[k], cv2.COLOR_RGB2GRAY)
    colour = app.ColourModel()
    colour.add(lab0, truth[0][1], 20)  # what the tracker learns from the user's mask
    good = truth[k][1]
    if broken == "shifted 15 px":
        bad = np.roll(good, 15, axis=1)
    else:
        neighbour = truth[k][2]
        bridge = cv2.dilate(good.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
        bad = good | neighbour | (bridge & cv2.dilate(neighbour.astype(np.uint8), np.ones((25, 25))) > 0)
    previous = float(truth[k - 1][1].sum())
    context = {"steps": k, "reliability": 0.9, "reliability_mean": 0.9, "previous_area": previous,
               "reference_area": float(truth[0][1].sum())}
    # The flow carried the error too (carried = the mask itself): only the image can tell.
    scores = {}
    for name, mask in (("good", good), ("bad", bad)):
        evidence = conf.evidence(gray, lab, mask, mask, colour, 8, **context)
        scores[name] = conf.estimate_iou(evidence, "quality")
    assert scores["bad"] < scores["good"] - margin, scores
