"""VideoSource: frame accuracy (B-frames, VFR, rotation, codecs), iteration, cache, prefetch, clones."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from annotator.core import masks
from annotator.core.video import fingerprint_path, open_video
from annotator.core.video_index import load_cached
from annotator.core.video_source import VideoSource
from tests.video_helpers import (
    index_image,
    read_index,
    write_image_folder,
    write_vfr_video,
    write_video,
)

FRAMES = 48


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    vfr_mp4, _ = write_vfr_video(d / "vfr_bframes.mp4", FRAMES, bframes=2)
    vfr_mkv, _ = write_vfr_video(d / "vfr.mkv", FRAMES, bframes=2)
    return {
        "bframes": write_video(d / "bframes.mp4", FRAMES, bframes=3, gop=12),
        "vfr_mp4": vfr_mp4,
        "vfr_mkv": vfr_mkv,
        "rotated": write_video(d / "rotated.mp4", 24, rotation=90, width=160, height=96),
        "long_gop": write_video(d / "long_gop.mp4", 120, width=320, height=192, bframes=3, gop=60),
    }


def _shuffled(n: int, seed: int = 0) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


@pytest.mark.parametrize("name", ["bframes", "vfr_mp4", "vfr_mkv", "long_gop"])
@pytest.mark.parametrize("cache_bytes", [0, 64 * 2**20])
def test_random_access_is_frame_accurate(videos: dict[str, Path], name: str, cache_bytes: int) -> None:
    with open_video(videos[name], cache_bytes=cache_bytes) as video:
        order = _shuffled(video.frame_count, seed=len(name))
        got = {i: read_index(video.frame(i)) for i in order}
        assert got == {i: i for i in order}


def test_frame_count_matches_a_plain_decode(videos: dict[str, Path]) -> None:
    for path in videos.values():
        with av.open(str(path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        with open_video(path) as video:
            assert video.frame_count == decoded, path.name


def test_frames_are_contiguous_readonly_rgb(videos: dict[str, Path]) -> None:
    with open_video(videos["bframes"]) as video:
        frame = video.frame(5)
        assert frame.shape == (video.height, video.width, 3)
        assert frame.dtype == np.uint8 and frame.flags.c_contiguous
        assert not frame.flags.writeable  # shared with the cache: copy() before drawing
        np.testing.assert_allclose(frame.astype(float).mean(), index_image(5, 160, 96).astype(float).mean(),
                                   atol=3)


def test_sequential_iteration_streams_without_seeking(videos: dict[str, Path]) -> None:
    with open_video(videos["bframes"], cache_bytes=0) as video:
        decoder = video._decoder
        seeks_before = decoder.seeks
        seen = [(i, read_index(f)) for i, f in video.frames()]
        assert seen == [(i, i) for i in range(FRAMES)]
        assert decoder.seeks - seeks_before <= 1  # at most the initial positioning


def test_step_and_range(videos: dict[str, Path]) -> None:
    with open_video(videos["long_gop"], cache_bytes=0) as video:
        assert [(i, read_index(f)) for i, f in video.frames(10, 50, 7)] == [(i, i) for i in range(10, 50, 7)]
        assert [i for i, _ in video.frames(110)] == list(range(110, 120))
        assert list(video.frames(5, 5)) == []


@pytest.mark.parametrize("name", ["bframes", "vfr_mkv", "long_gop"])
def test_backward_iteration_is_exact_and_decodes_each_interval_once(videos: dict[str, Path],
                                                                     name: str) -> None:
    with open_video(videos[name], cache_bytes=0) as video:
        n = video.frame_count
        seeks_before = video._decoder.seeks
        seen = [(i, read_index(f)) for i, f in video.frames(step=-1)]
        assert seen == [(i, i) for i in range(n - 1, -1, -1)]
        keyframes = len(video._index.key_pts)
        assert video._decoder.seeks - seeks_before <= keyframes + 1
        walked = [(i, read_index(f)) for i, f in video.frames(n - 2, 3, -5)]
        assert walked == [(i, i) for i in range(n - 2, 3, -5)]


def test_edit_list_that_trims_the_start_mid_gop(tmp_path: Path) -> None:
    """A trimmed phone video: the MP4 edit list starts 3 frames after a keyframe. Those frames
    are decoded (the rest need them) but never shown; the first shown frame is frame 0."""
    path = write_video(tmp_path / "trimmed.mp4", 40, bframes=2, gop=12, pts=[i - 3 for i in range(40)])
    with av.open(str(path)) as container:
        shown = [read_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert shown[:2] == [3, 4]  # FFmpeg applies the edit list: the reference for what is shown
    with open_video(path, cache_bytes=0) as video:
        assert video.frame_count == len(shown) == 37
        assert video.timestamp(0) == 0.0
        for i in _shuffled(37, seed=11):
            assert read_index(video.frame(i)) == i + 3


def test_timestamps_follow_pts_for_variable_frame_rate(tmp_path: Path) -> None:
    path, pts_ms = write_vfr_video(tmp_path / "vfr.mp4", 30, bframes=2)
    with open_video(path) as video:
        assert [round(video.timestamp(i) * 1000) for i in range(30)] == pts_ms
        for i in (0, 7, 29):
            assert video.index_at(pts_ms[i] / 1000) == i
            if i:
                assert video.index_at(pts_ms[i] / 1000 - 0.001) == i - 1  # the frame still on screen
        assert video.index_at(-5) == 0 and video.index_at(1e6) == 29
        last_gap = (pts_ms[-1] - pts_ms[-2]) / 1000
        assert video.duration_s == pytest.approx(pts_ms[-1] / 1000 + last_gap, abs=0.13)
        assert video.fps == pytest.approx(30 / video.duration_s, rel=0.02)


def test_constant_rate_metadata(videos: dict[str, Path]) -> None:
    with open_video(videos["bframes"]) as video:
        info = video.info()
    assert info == {"path": str(videos["bframes"]), "frames": FRAMES, "fps": 25.0, "width": 160, "height": 96,
                    "duration_s": pytest.approx(FRAMES / 25), "codec": "h264", "rotation": 0}
    assert video.timestamp(25) == pytest.approx(1.0)


def test_rotated_video_comes_out_in_display_orientation(videos: dict[str, Path]) -> None:
    import cv2

    path = videos["rotated"]
    with open_video(path, cache_bytes=0) as video:
        assert video.rotation == 90
        assert (video.width, video.height) == (160, 96)  # stored 96x160, shown turned
        for i in _shuffled(video.frame_count):
            assert read_index(video.frame(i)) == i
        ours = video.frame(3)
    # OpenCV applies the same display matrix on its own: an independent check of the direction.
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 3)
    ok, bgr = capture.read()
    capture.release()
    assert ok and bgr.shape == ours.shape
    assert np.abs(bgr[..., ::-1].astype(int) - ours.astype(int)).mean() < 3


CODEC_MATRIX = [
    ("h265.mp4", "libx265", {"bframes": 3}),
    ("vp9.webm", "libvpx-vp9", {}),
    ("av1.mkv", "libsvtav1", {}),
    ("av1.mp4", "libsvtav1", {}),
    ("h264.mov", "libx264", {"bframes": 2}),
    ("h264.mkv", "libx264", {"bframes": 2}),
    ("mpeg4.avi", "mpeg4", {"bframes": 2}),
    ("mjpeg.avi", "mjpeg", {"pix_fmt": "yuvj420p"}),
    ("h264.ts", "libx264", {"bframes": 2}),  # MPEG-TS seeks land late: retried from earlier keyframes
    ("mpeg2.ts", "mpeg2video", {"bframes": 2}),  # MPEG-2 relabels frames after a seek: warm-up
    ("mpeg2.mpg", "mpeg2video", {"bframes": 2}),  # program stream: sequential (counting) mode
    ("raw.h264", "libx264", {"bframes": 2}),  # no timestamps at all: sequential mode
]


@pytest.mark.parametrize(("name", "codec", "options"), CODEC_MATRIX, ids=[c[0] for c in CODEC_MATRIX])
def test_codec_and_container_matrix(tmp_path: Path, name: str, codec: str, options: dict) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"encoder {codec} not in this FFmpeg build")
    path = write_video(tmp_path / name, 30, codec=codec, gop=10, **options)
    with open_video(path, cache_bytes=0) as video:
        assert video._index.sequential == name.endswith((".mpg", ".h264"))
        assert video.frame_count == 30 and (video.width, video.height) == (160, 96)
        assert video.fps == pytest.approx(25.0)
        for i in _shuffled(30, seed=3):
            assert read_index(video.frame(i)) == i, f"{name} frame {i}"
        assert [read_index(f) for _, f in video.frames()] == list(range(30))
        assert [read_index(f) for _, f in video.frames(step=-1)] == list(range(29, -1, -1))


def test_cache_is_bounded_in_bytes(videos: dict[str, Path]) -> None:
    frame_bytes = 320 * 192 * 3
    capacity = 5 * frame_bytes + 100
    with open_video(videos["long_gop"], cache_bytes=capacity) as video:
        rng = random.Random(7)
        for _ in range(60):
            i = rng.randrange(video.frame_count)
            assert read_index(video.frame(i)) == i
            stats = video.cache_stats()
            assert stats["bytes"] <= stats["capacity"] == capacity
        assert stats["frames"] > 0
        video.frame(i)
        assert video.cache_stats()["hits"] >= 1


def test_repeated_and_neighbouring_frames_are_cache_hits(videos: dict[str, Path]) -> None:
    with open_video(videos["long_gop"]) as video:
        video.frame(40)
        before = video.cache_stats()
        video.frame(40)
        video.frame(39)  # passed over on the way to 40: kept (as YUV) and converted now
        after = video.cache_stats()
        assert after["hits"] - before["hits"] == 2
        assert read_index(video.frame(39)) == 39


def test_prefetch_fills_the_cache(videos: dict[str, Path]) -> None:
    with open_video(videos["long_gop"]) as video:
        handle = video.prefetch(70, 20)
        assert handle.wait(30) and handle.error is None
        assert handle.decoded == 20
        hits = video.cache_stats()["hits"]
        assert [read_index(video.frame(i)) for i in range(70, 90)] == list(range(70, 90))
        assert video.cache_stats()["hits"] - hits == 20


def test_prefetch_backward_fills_the_cache(videos: dict[str, Path]) -> None:
    with open_video(videos["long_gop"]) as video:
        handle = video.prefetch(100, 30, step=-1)
        assert handle.wait(30) and handle.error is None
        assert all(video._cache.contains(i) for i in range(71, 101))


def test_prefetch_can_be_cancelled_and_its_thread_ends(tmp_path: Path) -> None:
    path = write_video(tmp_path / "big.mp4", 400, width=320, height=192, gop=50)
    with open_video(path) as video:
        handle = video.prefetch(0, 400)
        handle.cancel()
        assert handle.wait(5), "a cancelled prefetch must stop promptly"
        assert handle.done() and handle._thread is not None and not handle._thread.is_alive()
        assert handle.decoded < 400
        # The latest request wins: a new prefetch cancels the running one.
        first = video.prefetch(0, 400)
        second = video.prefetch(200, 10)
        assert first.cancelled()
        assert second.wait(30) and first.wait(5)
        assert second.decoded == 10 and first.decoded < 400
        # Closing the source stops a running prefetch too.
        running = video.prefetch(0, 400)
    assert running.wait(5) and running.cancelled()


def test_clone_decodes_on_its_own_in_another_thread(videos: dict[str, Path]) -> None:
    with open_video(videos["long_gop"], cache_bytes=0) as video:
        clone = video.clone()
        assert clone.info() == video.info() and clone.fingerprint == video.fingerprint
        errors: list[str] = []

        def walk(source: VideoSource, order: list[int]) -> None:
            for i in order:
                got = read_index(source.frame(i))
                if got != i:
                    errors.append(f"frame {i} read as {got}")

        threads = [threading.Thread(target=walk, args=(clone, list(range(120)))),
                   threading.Thread(target=walk, args=(video, _shuffled(120, 5)[:40]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        clone.close()
        assert errors == []
        assert read_index(video.frame(3)) == 3  # closing the clone leaves the original open


def test_one_source_is_safe_to_share_between_threads(videos: dict[str, Path]) -> None:
    with open_video(videos["bframes"], cache_bytes=2 * 160 * 96 * 3) as video:
        errors: list[str] = []

        def hammer(seed: int) -> None:
            for i in _shuffled(FRAMES, seed)[:30]:
                if read_index(video.frame(i)) != i:
                    errors.append(f"frame {i}")

        threads = [threading.Thread(target=hammer, args=(s,)) for s in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []


def test_frame_index_is_cached_on_disk_and_reused(videos: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = videos["bframes"]
    with open_video(path) as video:
        fingerprint = video.fingerprint
    cached = load_cached(fingerprint, 0)
    assert cached is not None and cached.frame_count == FRAMES

    def no_scan(*args: object) -> None:
        raise AssertionError("the index should come from the cache")

    monkeypatch.setattr("annotator.core.video.scan", no_scan)
    with open_video(path) as video:
        assert read_index(video.frame(30)) == 30


def test_fingerprint_follows_content_not_name(videos: dict[str, Path], tmp_path: Path) -> None:
    original = videos["bframes"]
    moved = tmp_path / "renamed.mp4"
    moved.write_bytes(original.read_bytes())
    assert fingerprint_path(moved) == fingerprint_path(original)
    assert len(fingerprint_path(moved)) == 64
    assert fingerprint_path(videos["vfr_mp4"]) != fingerprint_path(original)
    folder = write_image_folder(tmp_path / "frames", 3)
    same = write_image_folder(tmp_path / "frames_copy", 3)
    assert fingerprint_path(folder) == fingerprint_path(same)


def test_frame_stem_width() -> None:
    source = VideoSource.__new__(VideoSource)
    source.path = Path("x.mp4")
    source.frame_count = 99_999
    assert source.frame_stem(42) == "00042"
    source.frame_count = 100_000
    assert source.frame_stem(42) == "000042"
    source.frame_count = 1_234_567
    assert source.frame_stem(7) == "0000007"


def test_image_folder_in_natural_order(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "seq", 12)  # frame1.png .. frame12.png
    (folder / "notes.txt").write_text("not an image")
    with open_video(folder, fps=24) as video:
        assert video.frame_count == 12 and video.fps == 24 and (video.width, video.height) == (160, 96)
        assert [video.source_name(i) for i in (0, 1, 9, 11)] == ["frame1.png", "frame2.png",
                                                                   "frame10.png", "frame12.png"]
        assert video.frame_stem(9) == "frame10"
        assert [read_index(f) for _, f in video.frames()] == list(range(12))
        assert [i for i, _ in video.frames(step=-1)] == list(range(11, -1, -1))
        assert video.timestamp(11) == pytest.approx(11 / 24) and video.index_at(0.25) == 6
        assert video.index_at(0.5) == 11  # past the end: the last frame
        assert video.codec == "png" and video.rotation == 0
        clone = video.clone()
        assert read_index(clone.frame(4)) == 4
        handle = video.prefetch(0, 12)
        assert handle.wait(10) and handle.error is None


def test_single_image(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "still.jpg"
    Image.fromarray(index_image(9, 160, 96)).save(path, quality=95)
    with open_video(path) as video:
        assert video.frame_count == 1 and video.frame_stem(0) == "still"
        assert video.source_name(0) == "still.jpg"
        assert read_index(video.frame(0)) == 9
        assert video.info()["codec"] == "jpeg"


def test_sample_video_matches_its_ground_truth(sample_video: Path) -> None:
    from annotator.sim.synthetic import render_scene

    gt = json.loads(sample_video.with_name("sample_gt.json").read_text())
    with open_video(sample_video) as video:
        info = video.info()
        assert (info["width"], info["height"], info["frames"], info["fps"], info["codec"]) == (
            640, 360, 100, 25.0, "h264")
        assert (gt["width"], gt["height"], gt["frame_count"], gt["fps"]) == (640, 360, 100, 25)
        assert sorted(gt["objects"]) == ["1", "2", "3"]
        assert sample_video.stat().st_size < 2_000_000
        rendered = list(render_scene(100, 640, 360, seed=gt["seed"]))
        for i in _shuffled(100)[:12]:
            decoded = video.frame(i).astype(np.float64)
            mse = np.mean((decoded - rendered[i][0].astype(np.float64)) ** 2)
            assert 10 * np.log10(255**2 / mse) > 28, f"frame {i} does not match the rendered scene"
            for oid, obj in gt["objects"].items():
                mask = masks.decode(obj["masks"][i])
                assert mask.shape == (360, 640)
                assert not (mask & ~rendered[i][1][int(oid)]).any()  # never more than the shape
    # The occlusion: object 1 loses much of its area while object 2 passes in front.
    areas = [masks.area(m) for m in gt["objects"]["1"]["masks"]]
    assert min(areas) < 0.6 * max(areas)
