"""The bridge from the Qt-free Session to Qt: events become signals on the UI thread.

Session events fire on whatever thread caused them (a propagation job writes from the
engine worker). A signal emitted from a worker thread reaches slots of objects living in
the UI thread through a queued connection, so no worker ever touches a widget.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from annotator.app.session import EVENTS, Session


class SessionBridge(QObject):
    """One Qt signal per Session event, with the event's payload as arguments."""

    project_opened = Signal(object)  # Project
    project_closed = Signal()
    frame_changed = Signal(int)
    masks_changed = Signal(object, object)  # object_id | None, frames | None
    objects_changed = Signal()
    categories_changed = Signal()
    marks_changed = Signal(object, object)  # object_id | None, frames | None
    prompts_changed = Signal(int, int)  # object_id, frame
    insights_changed = Signal()
    history_changed = Signal()
    job_started = Signal(object, str)  # Job, kind
    job_progress = Signal(object, object)  # Job, Progress
    job_finished = Signal(object, str)  # Job, kind
    engine_status = Signal(str, str, str, str)  # segmenter, tracker, device, reason
    notice = Signal(str, str)  # message, level

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._disconnects = [session.events.connect(name, self._relay(name)) for name in EVENTS]

    def _relay(self, name: str) -> Any:
        signal = getattr(self, name)
        if name in ("masks_changed", "marks_changed"):
            return lambda object_id=None, frames=None: signal.emit(object_id, frames)
        if name == "prompts_changed":
            return lambda object_id, frame: signal.emit(object_id, frame)
        if name == "project_opened":
            return lambda project: signal.emit(project)
        if name == "frame_changed":
            return lambda frame: signal.emit(frame)
        if name in ("job_started", "job_finished"):
            return lambda job, kind: signal.emit(job, kind)
        if name == "job_progress":
            return lambda job, progress: signal.emit(job, progress)
        if name == "engine_status":
            return lambda segmenter, tracker, device, reason: signal.emit(segmenter, tracker, device, reason)
        if name == "notice":
            return lambda message, level="info": signal.emit(message, level)
        return lambda **_: signal.emit()

    def detach(self) -> None:
        for disconnect in self._disconnects:
            disconnect()
        self._disconnects = []
