"""Bad input: each case raises its own exception, names the file and the problem, and never hangs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from annotator.core.video import open_video
from annotator.errors import AnnotatorError, FrameIndexError, VideoDecodeError, VideoOpenError
from tests.video_helpers import index_image, read_index, write_image_folder, write_video


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("src")
    # Default MP4 muxing puts the index (moov) at the end; faststart moves it to the front.
    plain = write_video(d / "plain.mp4", 120, bframes=2, gop=12)
    front = write_video(d / "front.mp4", 120, bframes=2, gop=12, container_options={"movflags": "faststart"})
    return {"plain": plain.read_bytes(), "front": front.read_bytes()}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _assert_names(exc: AnnotatorError, path: Path, *words: str) -> None:
    text = str(exc)
    assert str(path) in text and "\n" not in text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.mp4"
    with pytest.raises(VideoOpenError) as err:
        open_video(path)
    _assert_names(err.value, path, "not found")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are meeting notes, not a video\n" * 50)
    with pytest.raises(VideoOpenError) as err:
        open_video(path)
    _assert_names(err.value, path, "not a readable video")


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.mov", b"")
    with pytest.raises(VideoOpenError) as err:
        open_video(path)
    _assert_names(err.value, path, "empty")


def test_truncated_mp4_without_its_index(tmp_path: Path, mp4: dict[str, bytes]) -> None:
    data = mp4["plain"]
    path = _write(tmp_path / "cut.mp4", data[: len(data) // 2])  # the moov at the end is gone
    with pytest.raises(VideoOpenError) as err:
        open_video(path)
    _assert_names(err.value, path, "moov", "truncated")


def test_truncated_mp4_with_its_index_in_front(tmp_path: Path, mp4: dict[str, bytes]) -> None:
    data = mp4["front"]
    path = _write(tmp_path / "cut_front.mp4", data[: len(data) // 2])
    with open_video(path, cache_bytes=0) as video:
        # The index stops at the last complete packet: frames past the cut are not listed.
        assert 10 < video.frame_count < 120
        assert video._index.truncated
        shown: list[int] = []
        for i in range(video.frame_count):
            try:
                original = read_index(video.frame(i))
            except VideoDecodeError as exc:
                _assert_names(exc, path, "frame")
                continue
            assert original >= 0, f"frame {i} is garbage"
            shown.append(original)
        assert shown == sorted(set(shown)) and shown[:10] == list(range(10))
        with pytest.raises(FrameIndexError):
            video.frame(video.frame_count)


def test_corrupted_moov(tmp_path: Path, mp4: dict[str, bytes]) -> None:
    data = bytearray(mp4["front"])
    start, mdat = data.find(b"moov"), data.find(b"mdat")
    for k in range(start + 8, mdat - 8):
        data[k] = (data[k] * 7 + 13) & 0xFF
    path = _write(tmp_path / "bad_moov.mp4", bytes(data))
    with pytest.raises(VideoOpenError) as err:
        open_video(path)
    assert str(path) in str(err.value)


def test_damaged_frames_raise_instead_of_returning_garbage(tmp_path: Path, mp4: dict[str, bytes]) -> None:
    data = bytearray(mp4["front"])
    mdat = data.find(b"mdat")
    rng = random.Random(0)
    hit = mdat + 8 + (len(data) - mdat) // 3
    for k in range(hit, hit + 300):
        data[k] = rng.randrange(256)
    path = _write(tmp_path / "damaged.mp4", bytes(data))
    failed = 0
    with open_video(path, cache_bytes=0) as video:
        for i in random.Random(1).sample(range(video.frame_count), video.frame_count):
            try:
                frame = video.frame(i)
            except VideoDecodeError as exc:
                _assert_names(exc, path, f"frame {i}")
                failed += 1
                continue
            assert read_index(frame) == i
    assert 0 < failed < 120


def test_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    with pytest.raises(VideoOpenError) as err:
        open_video(folder)
    _assert_names(err.value, folder, "no images")


def test_folder_of_mixed_sizes(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "frames", 4)
    odd = folder / "frame3.png"
    Image.fromarray(index_image(2, 200, 96)).save(odd)
    with pytest.raises(VideoOpenError) as err:
        open_video(folder)
    _assert_names(err.value, odd, "200x96", "160x96", "same size")


def test_folder_with_an_unreadable_image(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "frames", 3)
    broken = folder / "frame4.png"
    broken.write_text("not a png")
    with pytest.raises(VideoOpenError) as err:
        open_video(folder)
    _assert_names(err.value, broken, "not a readable image")


@pytest.mark.parametrize("index", [-1, 48, 10**9])
def test_index_out_of_range(tmp_path: Path, index: int) -> None:
    path = write_video(tmp_path / "v.mp4", 48)
    with open_video(path) as video:
        with pytest.raises(FrameIndexError) as err:
            video.frame(index)
        _assert_names(err.value, path, str(index), "0..47")
        assert isinstance(err.value, IndexError)
        if index < 0:
            with pytest.raises(FrameIndexError):
                list(video.frames(start=index))
        else:  # like range(): starting at or past the end walks nothing
            assert list(video.frames(start=index)) == []


def test_closed_video(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", 24)
    video = open_video(path, cache_bytes=0)
    video.close()
    with pytest.raises(VideoOpenError) as err:
        video.frame(5)
    _assert_names(err.value, path, "closed")
