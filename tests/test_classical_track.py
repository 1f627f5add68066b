"""The classical optical-flow tracker: the Tracker protocol on synthetic scenes with known masks,
and its quality on real DAVIS sequences against plain flow warping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from annotator.core.imageio import read_image
from annotator.core.metrics import jaccard, read_davis_mask, score_sequence
from annotator.engines.classical_track import ClassicalTracker
from annotator.engines.flow import plain_warp
from annotator.engines.tracker import ListFrames, Tracker, TrackUpdate
from annotator.sim.synthetic import ShapeSpec, render_scene

W, H, N = 320, 180, 48


def _shapes(width: int = W, height: int = H) -> list[ShapeSpec]:
    """Three objects with clear colours and moderate motion; the rectangle crosses the ellipse."""
    s = min(width, height)
    return [
        ShapeSpec(1, "ellipse", (int(0.16 * s), int(0.11 * s)), (250, 90, 70),
                  (0.30, 0.55, 0.10, 0.06, 1.0, 0.0), depth=1),
        ShapeSpec(2, "rectangle", (int(0.12 * s), int(0.12 * s)), (60, 140, 255),
                  (0.62, 0.45, 0.12, 0.05, 1.0, math.pi), depth=2),
        ShapeSpec(3, "star", (int(0.10 * s), int(0.10 * s)), (255, 230, 60),
                  (0.50, 0.25, 0.05, 0.05, 1.0, 0.5), depth=0),
    ]


@pytest.fixture(scope="module")
def scene() -> tuple[list[np.ndarray], list[dict[int, np.ndarray]]]:
    data = list(render_scene(N, W, H, seed=3, shapes=_shapes()))
    return [f for f, _ in data], [g for _, g in data]


def _run(tracker: ClassicalTracker, start: int, direction: int, stops: dict[int, int]) -> list[TrackUpdate]:
    return list(tracker.propagate(start, direction, stops))


def test_protocol_and_names(scene: tuple) -> None:
    frames, _ = scene
    quality = ClassicalTracker(ListFrames(frames))
    fast = ClassicalTracker(ListFrames(frames), mode="fast")
    assert isinstance(quality, Tracker) and isinstance(fast, Tracker)
    assert (quality.name, fast.name) == ("classical", "classical-fast")
    with pytest.raises(ValueError, match="mode"):
        ClassicalTracker(ListFrames(frames), mode="best")


@pytest.mark.parametrize("start,direction", [(0, 1), (N - 1, -1), (N // 2, 1), (N // 2, -1)])
def test_propagates_forward_and_backward_from_any_frame(scene: tuple, start: int, direction: int) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames))
    tracker.add_conditioning(start, gts[start])
    end = N - 1 if direction == 1 else 0
    updates = _run(tracker, start, direction, dict.fromkeys(gts[start], end))
    expected = list(range(start + direction, end + direction, direction))
    for oid in gts[start]:
        mine = [u for u in updates if u.object_id == oid]
        assert [u.frame for u in mine] == expected  # every frame after start, in order, start excluded
        for u in mine:
            assert u.mask.shape == (H, W) and u.mask.dtype == bool
            assert 0.0 <= u.confidence <= 1.0
        ious = [jaccard(gts[u.frame][oid], u.mask) for u in mine]
        assert np.mean(ious) > 0.85, (oid, np.round(ious, 2))
    by_frame: dict[int, list[np.ndarray]] = {}
    for u in updates:
        by_frame.setdefault(u.frame, []).append(u.mask)
    for masks in by_frame.values():  # masks of different objects never overlap
        assert np.sum(masks, axis=0).max() <= 1


def test_fast_mode_follows_moderate_motion(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(0, gts[0])
    updates = _run(tracker, 0, 1, dict.fromkeys(gts[0], 15))
    ious = [jaccard(gts[u.frame][u.object_id], u.mask) for u in updates]
    assert len(updates) == 45 and np.mean(ious) > 0.7


def test_each_object_stops_at_its_own_stop(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(10, gts[10])
    updates = _run(tracker, 10, 1, {1: 14, 2: 20, 3: 10})  # object 3: stop == start, nothing to do
    frames_of = {oid: [u.frame for u in updates if u.object_id == oid] for oid in (1, 2, 3)}
    assert frames_of == {1: [11, 12, 13, 14], 2: list(range(11, 21)), 3: []}
    back = _run(tracker, 10, -1, {1: 7, 2: 9})
    assert [(u.frame, u.object_id) for u in back] == [(9, 1), (9, 2), (8, 1), (7, 1)]


def test_a_conditioning_frame_reanchors_the_object(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames))
    tracker.add_conditioning(0, {1: gts[0][1]})
    # A "correction" on frame 12 says object 1 is the star there: from then on it must follow the star.
    tracker.add_conditioning(12, {1: gts[12][3]})
    updates = {u.frame: u for u in _run(tracker, 0, 1, {1: 24})}
    assert jaccard(gts[8][1], updates[8].mask) > 0.85  # before: the ellipse
    assert np.array_equal(updates[12].mask, gts[12][3]) and updates[12].confidence == 1.0
    after = [jaccard(gts[t][3], updates[t].mask) for t in range(13, 25)]
    assert min(after) > 0.8, np.round(after, 2)


def test_conditioning_added_while_running_is_used(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(0, {2: gts[0][2]})
    run = tracker.propagate(0, 1, {2: 20})
    seen = [next(run) for _ in range(3)]  # frames 1..3
    empty = np.zeros((H, W), bool)
    tracker.add_conditioning(6, {2: empty})  # "absent from frame 6 on"
    rest = list(run)
    assert [u.frame for u in seen + rest] == list(range(1, 21))
    assert all(not u.mask.any() for u in rest if u.frame >= 6)
    assert all(u.mask.any() for u in seen)


def test_closing_the_generator_midway_is_clean(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames))
    tracker.add_conditioning(0, gts[0])
    run = tracker.propagate(0, 1, dict.fromkeys(gts[0], N - 1))
    first = [next(run) for _ in range(4)]
    assert tracker.retained_frames == 1  # only the previous frame is held while running
    run.close()
    assert tracker.retained_frames == 0
    assert {u.frame for u in first} <= {1, 2}
    # The tracker is still usable: a new run (from the last output) carries on.
    again = _run(tracker, 2, 1, {1: 5})
    assert [u.frame for u in again] == [3, 4, 5]
    assert jaccard(gts[5][1], again[-1].mask) > 0.8
    tracker.reset()
    assert tracker.conditioning_frames() == []
    assert _run(tracker, 0, 1, {1: 5}) == []  # nothing to start from after reset


def test_objects_without_a_start_mask_are_skipped(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    tracker.add_conditioning(0, {1: gts[0][1]})
    updates = _run(tracker, 0, 1, {1: 3, 7: 3})
    assert {u.object_id for u in updates} == {1}


def test_bad_arguments(scene: tuple) -> None:
    frames, gts = scene
    tracker = ClassicalTracker(ListFrames(frames), mode="fast")
    with pytest.raises(ValueError, match="direction"):
        tracker.propagate(0, 0, {1: 3})
    with pytest.raises(ValueError, match="start frame"):
        tracker.propagate(N, 1, {1: 3})
    tracker.add_conditioning(0, {1: np.ones((10, 10), bool)})
    with pytest.raises(ValueError, match="10x10"):
        _run(tracker, 0, 1, {1: 3})


def test_large_frames_are_tracked_downscaled_and_returned_full_size() -> None:
    width, height = 1280, 720
    data = list(render_scene(80, width, height, seed=5, shapes=_shapes(width, height)[:1]))[:8]
    frames, gts = [f for f, _ in data], [g for _, g in data]
    tracker = ClassicalTracker(ListFrames(frames))
    tracker.add_conditioning(0, {1: gts[0][1]})
    updates = _run(tracker, 0, 1, {1: 7})
    assert tracker._geometry == (720, 1280, 540, 960)  # worked at 960x540
    assert all(u.mask.shape == (720, 1280) for u in updates)
    assert min(jaccard(gts[u.frame][1], u.mask) for u in updates) > 0.85


@pytest.mark.slow
def test_an_object_that_leaves_the_frame_is_found_again() -> None:
    """The ellipse sweeps out of the right edge and comes back: flow loses it, the colour search
    (re-detection) takes it up again once it is back in view."""
    s = min(W, H)
    # cx = 0.6 + 0.6·sin(π·u): out past the right edge for the middle ~40% of the clip, then back.
    leaver = ShapeSpec(1, "ellipse", (int(0.14 * s), int(0.10 * s)), (250, 90, 70),
                       (0.6, 0.5, 0.6, 0.0, 0.5, 0.0), depth=1)
    n = 80
    data = list(render_scene(n, W, H, seed=4, shapes=[leaver]))
    frames, gts = [f for f, _ in data], [g[1] for _, g in data]
    tracker = ClassicalTracker(ListFrames(frames))
    tracker.add_conditioning(0, {1: gts[0]})
    updates = _run(tracker, 0, 1, {1: n - 1})
    gone = [u for u in updates if not gts[u.frame].any()]
    assert gone, "the scene must take the object out of view"
    assert all(not u.mask.any() and u.confidence == 0.0 for u in gone)
    back = [u for u in updates if u.frame > gone[-1].frame and gts[u.frame].sum() > 0.8 * gts[0].sum()]
    ious = [jaccard(gts[u.frame], u.mask) for u in back]
    assert len(ious) > 5 and np.median(ious) > 0.7, np.round(ious, 2)


def test_memory_does_not_grow_with_the_video() -> None:
    """Frames are rendered on demand; the tracker holds one previous frame and RLE user masks."""

    class Rendered:
        def __init__(self, n: int) -> None:
            self.frame_count = n
            self.reads = 0

        def frame(self, index: int) -> np.ndarray:
            self.reads += 1
            rng = np.random.default_rng(index)
            img = np.full((72, 128, 3), 90, np.uint8)
            img[20:50, 10 + index % 60:40 + index % 60] = 200 + rng.integers(0, 40, (30, 30, 3))
            return img

    source = Rendered(400)
    tracker = ClassicalTracker(source, mode="fast")
    start = np.zeros((72, 128), bool)
    start[20:50, 10:40] = True
    tracker.add_conditioning(0, {1: start})
    held = set()
    for _update in tracker.propagate(0, 1, {1: 399}):
        held.add(tracker.retained_frames)
    assert held == {1} and tracker.retained_frames == 0
    assert source.reads == 400  # each frame pulled once, in order
    assert isinstance(tracker._conditioning[0][1]["counts"], str)  # user masks kept as RLE


# --- real video ----------------------------------------------------------------------------------------
def _davis(davis_dir: Path, seq: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    frames = [read_image(p) for p in sorted((davis_dir / "JPEGImages" / "480p" / seq).glob("*.jpg"))]
    gts = [read_davis_mask(p) > 0 for p in sorted((davis_dir / "Annotations" / "480p" / seq).glob("*.png"))]
    return frames, gts


@pytest.mark.davis
@pytest.mark.slow
@pytest.mark.parametrize("seq", ["car-shadow", "blackswan"])
def test_quality_mode_beats_plain_flow_warping_on_davis(davis_dir: Path, seq: str) -> None:
    frames, gts = _davis(davis_dir, seq)
    warped = [gts[0], *plain_warp(frames, gts[0])]
    tracker = ClassicalTracker(ListFrames(frames))
    tracker.add_conditioning(0, {1: gts[0]})
    tracked = [gts[0]] + [u.mask for u in tracker.propagate(0, 1, {1: len(frames) - 1})]
    baseline = score_sequence(gts, warped, name=seq).jf
    quality = score_sequence(gts, tracked, name=seq).jf
    assert quality >= baseline + 0.10, (seq, round(baseline, 3), round(quality, 3))
