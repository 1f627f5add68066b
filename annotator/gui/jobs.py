"""The bridge from the Qt-free Session to Qt: every Session event reaches the UI thread as the
one signal ``event(object)``.

Session events fire on whatever thread caused them (a propagation job writes from the
engine worker). A signal emitted from a worker thread reaches slots of objects living in
the UI thread through a queued connection, so no worker ever touches a widget. A view
connects one method (``bridge.event.connect(self._on_event)``: Qt disconnects it when the
view is deleted) and matches on the event's type (annotator/app/events.py).

Job events raised on the UI thread itself (a job that finished before the call that started it
returned, such as a download failing at once offline) are posted, not delivered inline: the view
that started the job must first learn which job is its own, as it would for a worker's event.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from annotator.app.events import JobFinished, JobProgress, JobStarted
from annotator.app.session import Session

_JOB_EVENTS = (JobStarted, JobProgress, JobFinished)


class SessionBridge(QObject):
    """Forwards each Session event, a frozen dataclass, through ``event``."""

    event = Signal(object)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._disconnects = [session.events.connect_all(self._forward)]

    def _forward(self, event: object) -> None:
        if isinstance(event, _JOB_EVENTS) and QThread.currentThread() is self.thread():
            QTimer.singleShot(0, self, lambda: self._emit(event))
            return
        self._emit(event)

    def _emit(self, event: object) -> None:
        with contextlib.suppress(RuntimeError):  # the window closed while a worker still reported
            self.event.emit(event)

    def detach(self) -> None:
        for disconnect in self._disconnects:
            disconnect()
        self._disconnects = []
