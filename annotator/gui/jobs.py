"""The bridge from the Qt-free Session to Qt: every Session event reaches the UI thread as the
one signal ``event(object)``.

Session events fire on whatever thread caused them (a propagation job writes from the
engine worker). A signal emitted from a worker thread reaches slots of objects living in
the UI thread through a queued connection, so no worker ever touches a widget. A view
connects one method (``bridge.event.connect(self._on_event)``: Qt disconnects it when the
view is deleted) and matches on the event's type (annotator/app/events.py).
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from annotator.app.events import JobFinished
from annotator.app.session import Session


class SessionBridge(QObject):
    """Forwards each Session event, a frozen dataclass, through ``event``."""

    event = Signal(object)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._disconnects = [session.events.connect_all(self._forward)]

    def _forward(self, event: object) -> None:
        if isinstance(event, JobFinished) and QThread.currentThread() is self.thread():
            # A job that ended before the view that started it stored it (it finished between
            # submit and the Session's on_done, which then calls back at once, on this thread):
            # deliver on the next turn of the event loop, as from a worker, so the view knows it.
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
