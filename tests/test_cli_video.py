"""`annotator info` and `annotator frame` through the real CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annotator.core.imageio import read_image
from annotator.core.video import open_video
from tests.video_helpers import read_index, write_image_folder, write_video

INFO_KEYS = {"path", "frames", "fps", "width", "height", "duration_s", "codec", "rotation"}


def annotator(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "annotator", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("cli") / "clip.mp4", 60, bframes=3, gop=12, rotation=90)


def _one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("annotator: error: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_info_json(video: Path) -> None:
    result = annotator("info", video, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)  # stdout holds exactly one JSON document
    assert set(info) == INFO_KEYS
    assert info == {"path": str(video), "frames": 60, "fps": 25.0, "width": 160, "height": 96,
                    "duration_s": 2.4, "codec": "h264", "rotation": 90}


def test_info_table_and_folders(video: Path, tmp_path: Path) -> None:
    result = annotator("info", video)
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(None, 1) for line in result.stdout.strip().splitlines())
    assert set(rows) == INFO_KEYS and rows["frames"] == "60" and rows["rotation"] == "90"
    folder = write_image_folder(tmp_path / "frames", 5)
    result = annotator("info", folder, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["frames"] == 5


def test_frame_writes_exactly_that_frame(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.png"
    result = annotator("frame", video, "37", "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # messages go to stderr
    written = read_image(out)
    assert read_index(written) == 37
    with open_video(video) as source:
        np.testing.assert_array_equal(written, source.frame(37))  # PNG: lossless, display orientation


def test_frame_index_out_of_range(video: Path, tmp_path: Path) -> None:
    result = annotator("frame", video, "60", "--out", tmp_path / "f.png")
    _one_error_line(result, str(video), "out of range", "0..59")
    assert not (tmp_path / "f.png").exists()


def test_missing_and_non_video_files(tmp_path: Path) -> None:
    _one_error_line(annotator("info", tmp_path / "gone.mp4"), "gone.mp4", "not found")
    text = tmp_path / "notes.mp4"
    text.write_text("plain text\n" * 100)
    _one_error_line(annotator("info", text, "--json"), "notes.mp4", "not a readable video")


def test_unwritable_output(video: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file, so nothing can be written under it")
    _one_error_line(annotator("frame", video, "3", "--out", blocker / "f.png"), "a_file", "not a folder")
    _one_error_line(annotator("frame", video, "3", "--out", tmp_path / "f.xyz"), "f.xyz", "extension")


def test_debug_shows_the_traceback_and_usage_errors_exit_2(video: Path, tmp_path: Path) -> None:
    result = annotator("--debug", "frame", video, "999", "--out", tmp_path / "f.png")
    assert result.returncode != 0 and "Traceback" in result.stderr and "FrameIndexError" in result.stderr
    result = annotator("frame", video, "3")  # --out is required
    assert result.returncode == 2 and "--out" in result.stderr
