"""Where a video's project lives, opening it (or a throw-away one) with its video, and the
video reference a new project records."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from annotator.core.project import Project, VideoRef
from annotator.core.video import fingerprint_path, open_video
from annotator.core.video_source import VideoSource
from annotator.errors import ProjectError
from annotator.paths import data_dir

PROJECT_SUFFIX = ".annot"


def default_project_path(video_path: str | Path) -> Path:
    """``clip.mp4`` -> ``clip.mp4.annot`` beside it; a read-only folder -> the user data dir."""
    video_path = Path(video_path).resolve()
    beside = video_path.parent / (video_path.name + PROJECT_SUFFIX)
    if beside.exists() or _folder_writable(video_path.parent):
        return beside
    fallback = data_dir() / "projects"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback / f"{video_path.name}-{fingerprint_path(video_path)[:12]}{PROJECT_SUFFIX}"


def open_store(path: str | Path, video: str | Path | None = None, *, readonly: bool = False,
               need_video: bool = True, project_path: str | Path | None = None,
               warn: Callable[[str], None] = lambda message: None,
               ) -> tuple[Project, VideoSource | None]:
    """The project and its video for a ``.annot`` file (``video`` relinks a moved video), or for a
    video, frame folder or image (its project beside it, or at ``project_path``, created if new).
    A ``project_path`` that holds another video's project is refused, not warned about. Without
    ``need_video``, a project's video is not opened (None)."""
    path = Path(path)
    if not need_video:  # the store alone (export): whatever the path is, it must be a project
        return Project.open(path, readonly=readonly), None
    if path.suffix == PROJECT_SUFFIX and path.is_file():
        if project_path is not None and Path(project_path).resolve() != path.resolve():
            raise ProjectError("this is a project already: give no other project path", path)
        project = Project.open(path, readonly=readonly)
        try:
            if video is not None:
                project.relink_video(str(Path(video).resolve()), fingerprint_path(video))
            return project, open_video(project.locate_video()) if need_video else None
        except BaseException:
            project.close()
            raise
    if readonly:
        raise ProjectError("only a project (.annot) opens read-only", path)
    source = open_video(path)
    try:
        chosen = project_path is not None
        project_path = Path(project_path) if chosen else default_project_path(path)
        if not project_path.exists():
            return Project.create(project_path, video_ref(source)), source
        project = Project.open(project_path)
        if project.video.fingerprint != source.fingerprint:
            if chosen:
                project.close()
                raise ProjectError(f"it belongs to another video ({project.video.path})", project_path)
            warn(f"{source.path} changed since {project_path.name} was made; masks may no longer line up")
        return project, source
    except BaseException:
        source.close()
        raise


def open_temporary_store(path: str | Path, *, fps: float | None = None,
                         ) -> tuple[Project, VideoSource, tempfile.TemporaryDirectory[str]]:
    """A new project in a temporary folder over the video at ``path`` (delete the folder after)."""
    source = open_video(path, fps=fps)
    folder = tempfile.TemporaryDirectory(prefix="annotator-")
    try:
        project = Project.create(Path(folder.name) / ("work" + PROJECT_SUFFIX), video_ref(source))
        return project, source, folder
    except BaseException:
        source.close()
        folder.cleanup()
        raise


def video_ref(source: VideoSource) -> VideoRef:
    return VideoRef(path=str(Path(source.path).resolve()), fingerprint=source.fingerprint,
                    frame_count=source.frame_count, width=source.width, height=source.height,
                    fps=float(source.fps), codec=source.codec, rotation=source.rotation)


def _folder_writable(folder: Path) -> bool:
    """Try to create a file: os.access says yes to root even on read-only mounts."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".annotator-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True
