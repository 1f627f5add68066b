"""Jobs finish on worker threads; these objects hand their results to the UI thread.

A signal emitted on a worker thread reaches a slot of an object living on the UI thread
through a queued connection, so the worker never touches a widget (the ISAT mistake).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.app.session import Session
from annotator.app.values import Job, JobState

log = logging.getLogger(__name__)


class JobRelay(QObject):
    """``watch(job)``: ``finished(job)`` is emitted on this object's thread when the job ends."""

    finished = Signal(object)

    def watch(self, job: Job[Any]) -> Job[Any]:
        job.on_done(self._emit)
        return job

    def _emit(self, job: Job[Any]) -> None:
        try:
            self.finished.emit(job)
        except RuntimeError:  # the window closed while the job ran: nobody left to tell
            log.debug("relay gone before %r finished", job)


class FrameLoader(QObject):
    """Decodes frames on the session's I/O lane, newest request first, never out of order.

    ``frame_ready(index, rgb)`` fires on the UI thread. A result older than one already shown
    is dropped (two I/O threads can finish out of order), and a newer request cancels an
    older one that has not started (``Session.load_frame`` is latest-wins).
    """

    frame_ready = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._sequence = itertools.count(1)
        self._shown_sequence = 0
        self._pending: dict[Job[Any], tuple[int, int]] = {}
        self._relay = JobRelay(self)
        self._relay.finished.connect(self._on_finished)

    def request(self, frame: int) -> None:
        if self._session.video is None:
            return
        job = self._session.load_frame(frame)
        self._pending[job] = (next(self._sequence), frame)
        self._relay.watch(job)

    def busy(self) -> bool:
        return any(not job.done() for job in self._pending)

    def _on_finished(self, job: Job[Any]) -> None:
        sequence, frame = self._pending.pop(job, (0, -1))
        if job.state is JobState.DONE and sequence > self._shown_sequence:
            index, rgb = job.result()
            self._shown_sequence = sequence
            self.frame_ready.emit(int(index), np.asarray(rgb))
        elif job.state is JobState.FAILED and job.error is not None:
            self.failed.emit(frame, str(job.error))
