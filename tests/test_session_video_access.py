"""The Session's video access for front ends (typed VideoInfo, frame prefetch) and its
video-less read-only open, which `annotator export` uses while the GUI holds the project."""

from __future__ import annotations

import json
import shutil

import pytest
from format_helpers import make_project

from annotator.app.session import Session
from annotator.app.video_info import VideoInfo
from annotator.cli.main import main
from annotator.errors import ProjectError
from tests.session_helpers import copy_sample


def test_video_info_matches_the_decoder_and_prefetch_fills_the_cache(tmp_path):
    with Session(segmenter="classical", tracker="classical") as session:
        assert session.video_info is None
        session.open(copy_sample(tmp_path))
        info = session.video_info
        assert isinstance(info, VideoInfo)
        image = session.frame_image(0)
        assert (info.height, info.width) == image.shape[:2]
        assert info.frame_count == session.frame_count and info.fps > 0
        last = info.last_frame
        assert info.timestamp(last) == pytest.approx(session.timestamp(last))
        assert info.index_at(info.timestamp(5)) == 5
        assert session.frame_cache_capacity() >= 0
        handle = session.prefetch_frames(1, 4)
        assert handle.wait(60)  # a hang guard, far beyond the few ms four small frames take
        assert (handle.start, handle.count) == (1, 4) and handle.error is None


def test_project_opens_read_only_without_its_video_while_another_session_writes(tmp_path):
    built = make_project(tmp_path, frames=6)
    with Session(segmenter="classical", tracker="classical") as writer:
        writer.open(built.path)  # holds the writer lock, as the GUI would
        shutil.rmtree(built.source)  # and the frames are gone
        with Session(segmenter="classical", tracker="classical") as reader:
            reader.open(built.path, readonly=True, need_video=False)
            assert reader.video_info is None and reader.objects()
            with pytest.raises(ProjectError, match="no video is open"):
                reader.frame_image(0)
            summary = reader.export("coco", tmp_path / "c.json").result(60)  # hang guard
        assert summary.annotations > 0
        assert json.loads((tmp_path / "c.json").read_text())["annotations"]


def test_cli_export_works_with_the_video_missing_and_the_project_open(tmp_path, capsys):
    built = make_project(tmp_path, frames=6)
    with Session(segmenter="classical", tracker="classical") as writer:
        writer.open(built.path)
        shutil.rmtree(built.source)
        code = main(["export", str(built.path), "--format", "mots", "--out", str(tmp_path / "mots"),
                     "--json"])
    out, _err = capsys.readouterr()
    assert code == 0 and json.loads(out)["format"] == "mots"
    assert (tmp_path / "mots").is_dir()
