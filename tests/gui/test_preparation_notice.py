"""A model's one-off preparation (its ONNX export on a CPU, a minute or so) is shown in the
notice bar while it runs and its outcome in the status bar (gui/main_window.py)."""

from __future__ import annotations

import threading

import pytest

from annotator.app.events import JobFinished, JobProgress, JobStarted
from annotator.core.jobs import Job
from tests.gui.helpers import TIMEOUT_MS

pytestmark = [pytest.mark.gui]


def test_model_preparation_shows_while_it_runs(make_window, qtbot) -> None:
    window = make_window()
    emit = window.session.events.emit
    job = Job("Preparing the fast CPU path for EdgeTAM (once): image encoder",
              lambda ctx: ctx.report(1, 1, "Preparing the fast CPU path for EdgeTAM (once): image encoder: "
                                           "done in 52 s"))

    def engine_lane() -> None:  # the events come from a worker, as in the app
        emit(JobStarted(job, "prepare"))
        emit(JobProgress(job, 0, None, None, f"{job.name}…"))

    worker = threading.Thread(target=engine_lane)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: window.notices.isVisible() and "EdgeTAM (once)" in window.notices.label.text(),
                    timeout=TIMEOUT_MS)
    job.run()
    emit(JobFinished(job, "prepare"))
    qtbot.waitUntil(lambda: not window.notices.isVisible(), timeout=TIMEOUT_MS)
    assert "done in 52 s" in window.status.currentMessage()
