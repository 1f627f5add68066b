"""Propagation in the background: starting it, the progress bar with fps and cancel, and "follow".

The run is a Session Job on the engine lane; this module only starts it and watches the
bridge's job signals. Every finished frame is already in the project (the timeline and the
canvas redraw from ``masks_changed``), so cancelling keeps what was done.

"Follow" moves the playhead along with the run (throttled to a few updates a second) so the
user sees masks appear; it switches itself off the moment the user navigates elsewhere, so
scrubbing during a run is never fought over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from annotator.app.events import FrameChanged, JobFinished, JobProgress, JobStarted
from annotator.app.values import Job, JobState
from annotator.errors import AnnotatorError
from annotator.gui.icons import icon
from annotator.gui.jobs import SessionBridge

FOLLOW_INTERVAL_MS = 120
SUMMARY_MS = 5000


class PropagationBar(QFrame):
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("propagationBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 10, 6)
        layout.setSpacing(10)
        self.icon = QLabel()
        layout.addWidget(self.icon)
        self.title = QLabel()
        self.title.setMinimumWidth(230)
        layout.addWidget(self.title)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        layout.addWidget(self.progress, 1)
        self.stats = QLabel()
        self.stats.setMinimumWidth(230)
        self.stats.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.stats)
        self.follow = QCheckBox("Follow")
        self.follow.setToolTip("Move the playhead along with the propagation (off as soon as you navigate)")
        self.follow.setChecked(True)
        layout.addWidget(self.follow)
        self.cancel_button = QPushButton(icon("stop"), " Cancel")
        self.cancel_button.setToolTip("Stop; the frames done so far are kept (Esc)")
        self.cancel_button.clicked.connect(self.cancel_clicked)
        layout.addWidget(self.cancel_button)
        self.hide()

    def begin(self, title: str, icon_name: str) -> None:
        self.icon.setPixmap(icon(icon_name).pixmap(18, 18))
        self.title.setText(title)
        self.progress.setRange(0, 0)  # busy until the first report gives a total
        self.stats.setText("starting…")
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.follow.show()
        self.show()

    def report(self, progress: JobProgress) -> None:
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        parts = [f"{progress.done} / {progress.total or '?'} frames"]
        if progress.rate:
            parts.append(f"{progress.rate:.1f} fps")
            if progress.total:
                left = max(0.0, (progress.total - progress.done) / progress.rate)
                parts.append(f"{int(left // 60)}:{int(left % 60):02d} left")
        self.stats.setText("  ·  ".join(parts))

    def end(self, summary: str) -> None:
        self.title.setText(summary)
        self.stats.setText("")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.cancel_button.hide()
        self.follow.hide()


class PropagationController(QObject):
    """F / B / propagate all, cancel, the bar and follow mode."""

    finished = Signal(object)  # the Job

    def __init__(self, bridge: SessionBridge, bar: PropagationBar, say: Callable[[str, str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.session = bridge.session
        self.bar = bar
        self._say = say  # (message, level): the window's notices
        self.job: Job[Any] | None = None
        self.last_job: Job[Any] | None = None
        self._follow_target: int | None = None
        self._follow_sent: int | None = None
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(FOLLOW_INTERVAL_MS)
        self._follow_timer.timeout.connect(self._apply_follow)
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.setInterval(SUMMARY_MS)
        self._hide_timer.timeout.connect(self._hide_if_idle)
        bar.cancel_clicked.connect(self.cancel)
        bridge.event.connect(self._on_event)

    def _on_event(self, event: object) -> None:
        match event:
            case JobStarted(job=job, kind=kind):
                self._on_started(job, kind)
            case JobProgress():
                self._on_progress(event)
            case JobFinished(job=job, kind=kind):
                self._on_finished(job, kind)
            case FrameChanged(frame=frame):
                self._on_frame_changed(frame)

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done()

    def propagate(self, direction: str) -> Job[Any] | None:
        """``direction``: "forward", "backward" or "all"."""
        if not self.session.is_open:
            return None
        if self.running:
            self._say("A propagation is already running (Esc cancels it).", "info")
            return None
        try:
            if direction == "all":
                job = self.session.propagate_all()
            else:
                job = self.session.propagate(direction)
        except AnnotatorError as exc:
            self._say(exc.reason[:1].upper() + exc.reason[1:], "warning")
            return None
        return job

    def cancel(self) -> bool:
        if not self.running:
            return False
        assert self.job is not None
        self.job.cancel()
        self.bar.cancel_button.setEnabled(False)
        self.bar.stats.setText("cancelling… (frames done are kept)")
        return True

    def stop_timers(self) -> None:
        self._follow_timer.stop()
        self._hide_timer.stop()

    # --- bridge signals -------------------------------------------------------------------------
    def _on_started(self, job: Job[Any], kind: str) -> None:
        if kind != "propagate":
            return
        self.job = job
        self._hide_timer.stop()
        self._follow_target = self._follow_sent = None
        self.bar.follow.setChecked(True)
        name = job.name
        icon_name = "forward" if "forward" in name else "backward" if "backward" in name else "both"
        self.bar.begin(name, icon_name)
        self._follow_timer.start()

    def _on_progress(self, progress: JobProgress) -> None:
        if progress.job is not self.job:
            return
        self.bar.report(progress)
        if progress.frame is not None:
            self._follow_target = progress.frame

    def _on_finished(self, job: Job[Any], kind: str) -> None:
        if kind != "propagate" or job is not self.job:
            return
        self._follow_timer.stop()
        self._apply_follow()
        self.last_job, self.job = job, None
        done = job.progress.done
        if job.state is JobState.DONE:
            report = job.result()
            summary = f"Done: {report.masks_written} masks on {report.frames_written} frames"
            if report.stopped_at_lock:
                summary += f" (stopped at your locks for {len(report.stopped_at_lock)} object(s))"
        elif job.state is JobState.CANCELLED:
            summary = f"Cancelled: the {done} frames done are kept"
        else:
            summary = "Propagation failed (nothing done so far is lost)"
        self.bar.end(summary + "   ·   Ctrl+Z undoes the whole run")
        self._hide_timer.start()
        self.finished.emit(job)

    def _on_frame_changed(self, frame: int) -> None:
        # A frame change we did not ask for is the user navigating: stop following.
        if self.running and self.bar.follow.isChecked() and frame != self._follow_sent:
            self.bar.follow.setChecked(False)

    def _apply_follow(self) -> None:
        target = self._follow_target
        if (target is None or not self.bar.follow.isChecked() or not self.session.is_open
                or target == self._follow_sent):
            return
        self._follow_sent = target
        self.session.set_frame(target)

    def _hide_if_idle(self) -> None:
        if not self.running:
            self.bar.hide()
