"""Shot-change detection (core/shots.py) on generated videos with known cuts.

The cut video joins synthetic scenes (annotator.sim.synthetic.render_scene, different seeds:
the same colours and shapes, so colour histograms alone barely move at the cuts) and a clip
that pans smoothly over a textured picture. Every cut must be found within one frame, and
nothing may be cut inside the pan or inside a scene.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotator.core.shots import (
    CutParams,
    Shot,
    ShotDetector,
    detect_shots,
    distance,
    find_cuts,
    shots_from_cuts,
    signature,
    split_long,
)
from annotator.sim.synthetic import render_scene

W, H = 320, 180


def pan(count: int, seed: int, speed: float) -> list[np.ndarray]:
    """A camera panning ``speed`` px per frame over a smooth random picture."""
    rng = np.random.default_rng(seed)
    width = W + int(speed * count) + 8
    noise = rng.normal(0, 1, ((H + 20) // 6, width // 6, 3)).astype(np.float32)  # 6-px texture cells
    picture = cv2.resize(noise, (width, H + 20), interpolation=cv2.INTER_CUBIC)
    picture = np.clip(128 + 40 * picture, 0, 255).astype(np.uint8)
    return [picture[10:10 + H, int(t * speed):int(t * speed) + W].copy() for t in range(count)]


def cut_video(pan_speed: float = 4.0) -> tuple[list[np.ndarray], list[int], range]:
    """Frames, the true cuts (first frames of shots 2..n) and the frames of the pan."""
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    for count, seed in ((24, 1), (30, 2), (17, 3), (26, 4)):
        if frames:
            cuts.append(len(frames))
        frames += [f for f, _ in render_scene(count, W, H, seed=seed)]
    cuts.append(len(frames))
    pan_frames = range(len(frames), len(frames) + 60)
    frames += pan(60, 9, pan_speed)
    cuts.append(len(frames))
    frames += [f for f, _ in render_scene(20, W, H, seed=7)]
    return frames, cuts, pan_frames


def assert_cuts_match(found: list[int], truth: list[int]) -> None:
    assert len(found) == len(truth), (found, truth)
    for got, want in zip(found, truth):
        assert abs(got - want) <= 1, (found, truth)


@pytest.mark.parametrize("speed", [2.0, 4.0, 12.0])
def test_every_cut_found_and_no_false_cut_in_the_pan(speed: float) -> None:
    frames, truth, pan_frames = cut_video(speed)
    detector = ShotDetector()
    for image in frames:
        detector.add(image)
    found = detector.cuts()
    assert_cuts_match(found, truth)
    assert not [c for c in found if pan_frames.start < c < pan_frames.stop]
    # The pan scores far below the threshold; the cuts far above it.
    d = np.asarray(detector.distances)
    assert d[pan_frames.start + 1:pan_frames.stop].max() < CutParams().min_score / 1.5
    assert min(d[c] for c in truth) > 1.5 * CutParams().min_score
    shots = detector.shots()
    assert shots[0].start == 0 and shots[-1].stop == len(frames)
    assert all(a.stop == b.start for a, b in zip(shots, shots[1:]))


def write_mp4(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_cuts_in_an_encoded_video_through_the_real_decoder(tmp_path: Path) -> None:
    from annotator.core.video import open_video

    frames, truth, _ = cut_video()
    path = write_mp4(tmp_path / "cuts.mp4", frames)
    seen = []
    with open_video(path) as source:
        shots = detect_shots((image for _, image in source.frames()), on_frame=seen.append)
    assert seen == list(range(len(frames)))
    assert_cuts_match([s.start for s in shots[1:]], truth)


def test_still_and_flat_videos_have_one_shot() -> None:
    still = [f for f, _ in render_scene(1, W, H, seed=3)] * 30
    assert detect_shots(still) == [Shot(0, 30)]
    black = [np.zeros((H, W, 3), np.uint8)] * 12
    assert detect_shots(black) == [Shot(0, 12)]
    assert detect_shots([]) == []
    assert detect_shots(still[:1]) == [Shot(0, 1)]


def test_black_to_picture_is_a_cut() -> None:
    frames = [np.zeros((H, W, 3), np.uint8)] * 15 + [f for f, _ in render_scene(15, W, H, seed=5)]
    assert [s.start for s in detect_shots(frames)] == [0, 15]


def test_two_cuts_closer_than_min_shot_keep_the_stronger() -> None:
    d = [0.0] + [0.05] * 20 + [0.6] + [0.05] * 2 + [0.4] + [0.05] * 20
    assert find_cuts(d, CutParams(min_shot=8)) == [21]
    assert find_cuts(d, CutParams(min_shot=2)) == [21, 24]


def test_busy_shot_needs_a_bigger_jump() -> None:
    busy = [0.0] + [0.2] * 30
    busy[15] = 0.45  # over the floor, but not 3x the local median
    assert find_cuts(busy) == []
    busy[15] = 0.7
    assert find_cuts(busy) == [15]


def test_signature_checks_its_input() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        signature(np.zeros((10, 10), np.uint8))
    a = signature(np.zeros((90, 160, 3), np.uint8))
    b = signature(np.zeros((60, 160, 3), np.uint8))
    with pytest.raises(ValueError, match="different sizes"):
        distance(a, b)


@given(st.lists(st.integers(0, 60), max_size=8), st.integers(1, 60), st.integers(0, 20))
def test_shots_cover_the_video_exactly(cuts: list[int], count: int, max_length: int) -> None:
    shots = shots_from_cuts(cuts, count)
    parts = split_long(shots, max_length)
    for seq in (shots, parts):
        assert seq[0].start == 0 and seq[-1].stop == count
        assert all(a.stop == b.start and a.length > 0 for a, b in zip(seq, seq[1:]))
    if max_length > 0:
        assert all(p.length <= max_length for p in parts)
    assert all(s.start <= s.middle < s.stop for s in parts)
