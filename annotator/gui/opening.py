"""Opening videos and projects off the UI thread, with the dialogs for what can go wrong.

``Session.open`` builds the frame index of a video (seconds for a long one), so it runs as a
job on the session's I/O lane; the previous project is closed first, on the UI thread (that
cancels its jobs, which stop within a frame). The result comes back through a JobRelay. Errors become
dialogs: a moved video asks where it is now (relink), a project open elsewhere says so,
anything else shows the message; the window keeps running either way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QWidget

from annotator.app.session import Session
from annotator.app.values import Job, JobState
from annotator.errors import ProjectLockedError, VideoMissingError
from annotator.gui.dialogs import VIDEO_FILTER, RecentFiles, RelinkDialog, error_dialog
from annotator.gui.focus import open_dialog, return_focus
from annotator.gui.relay import JobRelay

log = logging.getLogger(__name__)


class Opener(QObject):
    started = Signal(str)  # path
    opened = Signal(str)  # path
    failed = Signal(str, object)  # path, error

    def __init__(self, session: Session, recent: RecentFiles, window: QWidget) -> None:
        super().__init__(window)
        self.session = session
        self.recent = recent
        self.window = window
        self.job: Job[Any] | None = None
        self._relay = JobRelay(self)
        self._relay.finished.connect(self._on_done)
        self._paths: dict[Job[Any], tuple[str, str | None]] = {}
        self.last_dialog: QWidget | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.done()

    def ask(self) -> None:
        """File > Open: pick a video, an image folder is opened by dropping it or from the CLI."""
        start = str(Path(self.recent.paths()[0]).parent) if self.recent.paths() else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a video or project", start, VIDEO_FILTER)
        return_focus(self.window)
        if path:
            self.open(path)

    def open(self, path: str, video: str | None = None) -> Job[Any] | None:
        """Start opening; ``opened`` or ``failed`` follows on the UI thread."""
        if self.busy:
            return None
        path = str(path)
        # Close here (it cancels the old project's jobs and waits for them to stop, a frame at
        # most), then open on the I/O lane: a job there must not wait for itself to finish.
        job = self.session.open_in_background(path, video=video)
        self.job = job
        self._paths[job] = (path, video)
        self._relay.watch(job)
        self.started.emit(path)
        return job

    def _on_done(self, job: Job[Any]) -> None:
        path, _video = self._paths.pop(job, ("", None))
        if job is self.job:
            self.job = None
        if job.state is JobState.DONE:
            project = self.session.view if self.session.is_open else None
            self.recent.add(project.path if project is not None else path)
            self.opened.emit(path)
            return
        error = job.error or RuntimeError("opening was cancelled")
        log.info("open %s failed: %s", path, error)
        self.failed.emit(path, error)
        if isinstance(error, VideoMissingError):
            self._ask_relink(path, error)
        elif isinstance(error, ProjectLockedError):
            self.last_dialog = error_dialog(
                self.window, "This project is open elsewhere", error,
                "Another Annotator window or process is writing to it. Close that one first; "
                "tools that only read (annotator export, info) can run at the same time.")
        else:
            details = None if _is_expected(error) else job.error_traceback
            self.last_dialog = error_dialog(self.window, f"Could not open {Path(path).name}", error,
                                            details=details)

    def _ask_relink(self, project_path: str, error: VideoMissingError) -> None:
        dialog = RelinkDialog(project_path, error, self.window)
        self.last_dialog = dialog

        def finished(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                self.open(project_path, video=dialog.video_path())
            dialog.deleteLater()

        dialog.finished.connect(finished)
        open_dialog(dialog)


def _is_expected(error: BaseException) -> bool:
    from annotator.errors import AnnotatorError

    return isinstance(error, AnnotatorError)
