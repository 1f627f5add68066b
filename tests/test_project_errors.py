"""Bad inputs for the project store: each gets its specific error naming the file and the problem."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annotator.core import masks as rle_ops
from annotator.core.project import Project, VideoRef
from annotator.errors import (
    ProjectCorruptError,
    ProjectError,
    ProjectLockedError,
    ProjectVersionError,
    VideoMissingError,
)

REPO = Path(__file__).resolve().parents[1]
W, H = 32, 24


def make_project(path: Path, video_path: str = "clip.mp4", fingerprint: str = "fp-a", masks: int = 0) -> Path:
    with Project.create(path, VideoRef(video_path, fingerprint, 500, W, H, 25.0)) as p:
        if masks:
            o = p.add_object()
            rng = np.random.default_rng(0)
            p.set_masks([(o.id, f, rle_ops.encode(rng.random((H, W)) > 0.5), "imported", None, None)
                         for f in range(masks)], record_history=False)
    return path


def test_newer_schema_is_refused_with_both_versions(tmp_path):
    path = make_project(tmp_path / "new.annot")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {Project.SCHEMA_VERSION + 3}")
    conn.commit()
    conn.close()
    for readonly in (False, True):
        with pytest.raises(ProjectVersionError) as info:
            Project.open(path, readonly=readonly)
        message = str(info.value)
        assert str(path) in message and "newer Annotator" in message
        assert f"schema {Project.SCHEMA_VERSION + 3}" in message
        assert f"up to {Project.SCHEMA_VERSION}" in message
    conn = sqlite3.connect(path)  # refusing did not touch the file
    assert conn.execute("PRAGMA user_version").fetchone()[0] == Project.SCHEMA_VERSION + 3
    conn.close()


@pytest.mark.parametrize("kind", ["random", "text", "empty", "truncated", "other_sqlite", "zeroed_pages"])
def test_corrupt_files_are_named_and_release_the_lock(tmp_path, kind):
    path = tmp_path / f"{kind}.annot"
    rng = np.random.default_rng(1)
    if kind == "random":
        path.write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("this is a shopping list, not a project\n" * 50)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        good = make_project(tmp_path / "good.annot", masks=300)
        data = good.read_bytes()
        assert len(data) > 40000
        path.write_bytes(data[: len(data) // 2])
    elif kind == "other_sqlite":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
        conn.close()
    elif kind == "zeroed_pages":
        good = make_project(tmp_path / "good.annot", masks=300)
        data = bytearray(good.read_bytes())
        data[8192:16384] = bytes(8192)  # two pages in the middle wiped
        path.write_bytes(bytes(data))
    for readonly in (False, True):
        with pytest.raises(ProjectCorruptError) as info:
            Project.open(path, readonly=readonly)
        assert str(path) in str(info.value)
    # A failed writable open must not keep the writer lock: a second try meets the same error.
    with pytest.raises(ProjectCorruptError):
        Project.open(path)


def test_missing_file_folder_and_path_under_a_regular_file(tmp_path):
    with pytest.raises(ProjectError, match="no such project file"):
        Project.open(tmp_path / "nope.annot")
    with pytest.raises(ProjectError, match="folder"):
        Project.open(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / "clip.annot"  # unwritable even for root: its parent is not a folder
    with pytest.raises(ProjectError) as info:
        Project.create(target, VideoRef("v.mp4", "fp", 10, W, H, 25.0))
    assert str(target) in str(info.value) and "cannot" in str(info.value)
    with pytest.raises(ProjectError):
        Project.open(target)
    assert blocker.read_text() == "x"


def test_moved_video_is_found_beside_the_project_or_named_in_the_error(tmp_path):
    videos, projects = tmp_path / "videos", tmp_path / "projects"
    videos.mkdir()
    projects.mkdir()
    video = videos / "clip.mp4"
    video.write_bytes(b"fake video bytes")
    path = make_project(projects / "clip.annot", str(video))
    with Project.open(path) as p:
        assert p.locate_video() == video
    moved_away = tmp_path / "elsewhere"
    moved_away.mkdir()
    shutil.move(video, moved_away / "renamed.mp4")
    with Project.open(path) as p:
        with pytest.raises(VideoMissingError) as info:
            p.locate_video()
        assert str(video) in str(info.value) and "relink" in str(info.value) and str(path) in str(info.value)
        with pytest.raises(ProjectError) as info:
            p.relink_video(str(moved_away / "renamed.mp4"), "fp-other")
        assert "renamed.mp4" in str(info.value) and str(video) in str(info.value)
        assert p.video.path == str(video)
        seen = []
        p.listen(seen.append)
        p.relink_video(str(moved_away / "renamed.mp4"), "fp-a")
        assert p.locate_video() == moved_away / "renamed.mp4" and seen and seen[0][0].kind == "video"
        assert not p.can_undo()  # relinking is not an edit
    with Project.open(path, readonly=True) as p:
        assert p.video.path == str(moved_away / "renamed.mp4")
    # the project and its video moved together: found beside the project
    shutil.move(moved_away / "renamed.mp4", projects / "renamed.mp4")
    with Project.open(path, readonly=True) as p:
        assert p.locate_video() == projects / "renamed.mp4"


def test_second_writer_process_gets_a_clear_error(tmp_path):
    path = make_project(tmp_path / "busy.annot")
    code = ("import sys\n"
            "from annotator.core.project import Project\n"
            "from annotator.errors import ProjectLockedError\n"
            "try:\n"
            "    Project.open(sys.argv[1])\n"
            "except ProjectLockedError as e:\n"
            "    print(e); sys.exit(3)\n"
            "r = Project.open(sys.argv[1], readonly=True)\n"
            "print(len(r.objects()))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with Project.open(path) as writer:
        writer.add_object()
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              env=env, timeout=60)
        assert done.returncode == 3, done.stderr
        assert "project is open elsewhere" in done.stdout and f"pid {os.getpid()}" in done.stdout
        assert str(path) in done.stdout
    # once the writer closed, the other process may write; readers were fine all along
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


def test_in_process_second_writer_and_lock_released_on_close(tmp_path):
    path = make_project(tmp_path / "p.annot")
    first = Project.open(path)
    with pytest.raises(ProjectLockedError):
        Project.open(path)
    first.close()
    Project.open(path).close()
