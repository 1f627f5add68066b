"""The Find panel: search the video by a phrase or like the selected object, and find objects by
text (SAM 3) on this frame or through the video.

Search: type a phrase and press Enter; the hits (frames and object crops, best first) fill the
list and the first one is shown. A click on a hit jumps to its frame; Enter again (phrase
unchanged) jumps to the next hit. "Like selected" ranks frames against the selected object.
Find: phrases, comma separated; "On this frame" or "Through the video" adds every instance as a
new object with detected masks (one undo step); "Accept" locks the selected object's detections.
"Draw example box" ("more like this"): the next box dragged on the canvas is a SAM 3 concept
example, and every similar instance on the frame becomes a detected object (the main window
switches the canvas to gui/example_box.py while the button is down; Esc leaves).
On a CPU, "Through the video" asks after the first frame whether to go on, with the time the
whole run would take as measured on that frame; the frame found is kept either way.

Everything runs as Session Jobs (``session.text``, app/text_tools.py) on the engine lane; their
progress and end come as typed events (JobProgress, JobFinished) through the SessionBridge, so
no worker touches a widget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.app.events import JobFinished, JobProgress, ProjectClosed
from annotator.app.values import Job, JobState
from annotator.errors import AnnotatorError
from annotator.gui.jobs import SessionBridge
from annotator.gui.widgets_common import SectionHeader, format_time

FRAME_ROLE = Qt.ItemDataRole.UserRole
HIT_COLUMNS = ("Time", "Score", "Match")


class SearchPanel(QWidget):
    message = Signal(str, str)  # text, level, for the status bar
    scores_ready = Signal(object, object)  # indexed frames, their scores (empty: clear the strip)
    example_mode = Signal(bool)  # "Draw example box" pressed (True) or released
    _estimated = Signal(float, int)  # seconds a frame, frames: emitted on the worker thread

    def __init__(self, bridge: SessionBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchPanel")
        self.bridge = bridge
        self.session = bridge.session
        self._job: Job[Any] | None = None
        self._object_id: int | None = None
        self._searched = ""  # the phrase the hits belong to
        self._hit = -1  # index of the hit shown last
        self.question: QMessageBox | None = None  # "continue tracking on the CPU?" while it is asked
        self._build()
        bridge.event.connect(self._on_event)
        self._estimated.connect(self._ask_to_continue)  # queued: emitted on the worker thread

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(SectionHeader("Search the video"))
        self.query = QLineEdit()
        self.query.setObjectName("searchQuery")
        self.query.setPlaceholderText("A phrase, e.g. a red car (Enter: search, again: next hit)")
        self.query.returnPressed.connect(self._on_enter)
        layout.addWidget(self.query)
        row = QHBoxLayout()
        self.like_button = QPushButton("Like selected object")
        self.like_button.setToolTip("Frames that look like the selected object (its crops)")
        self.like_button.clicked.connect(self.search_like)
        row.addWidget(self.like_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.hits = QTreeWidget()
        self.hits.setObjectName("searchHits")
        self.hits.setColumnCount(len(HIT_COLUMNS))
        self.hits.setHeaderLabels(list(HIT_COLUMNS))
        self.hits.setRootIsDecorated(False)
        self.hits.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.hits.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.hits.itemClicked.connect(lambda item, _col: self._jump(self.hits.indexOfTopLevelItem(item)))
        layout.addWidget(self.hits, 3)

        layout.addWidget(SectionHeader("Find objects by text (SAM 3)"))
        self.phrases = QLineEdit()
        self.phrases.setObjectName("findPhrases")
        self.phrases.setPlaceholderText("Phrases, comma separated: camel, person")
        layout.addWidget(self.phrases)
        row = QHBoxLayout()
        self.frame_button = QPushButton("On this frame")
        self.frame_button.clicked.connect(self.find_on_frame)
        self.track_button = QPushButton("Through the video")
        self.track_button.setToolTip("Track the phrases from this frame to the end; new instances become "
                                     "new objects (on a CPU it asks after the first frame whether to go on)")
        self.track_button.clicked.connect(self.track_phrase)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Make the selected object's detected masks yours, and lock them")
        self.accept_button.clicked.connect(self.accept_selected)
        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName("findThreshold")
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip("Lowest score an instance needs to be added")
        row.addWidget(self.threshold)
        for button in (self.frame_button, self.track_button, self.accept_button):
            row.addWidget(button)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.example_button = QPushButton("Draw example box")
        self.example_button.setObjectName("exampleBox")
        self.example_button.setCheckable(True)
        self.example_button.setToolTip("More like this: drag a box around one example on the frame; every "
                                       "similar instance becomes a new object (Esc cancels)")
        self.example_button.toggled.connect(self.example_mode.emit)
        row.addWidget(self.example_button)
        row.addStretch(1)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(lambda: self._job is not None and self._job.cancel())
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

    # --- commands -------------------------------------------------------------------------------
    def set_object(self, object_id: int | None) -> None:
        self._object_id = object_id

    def search(self) -> Any:
        text = self.query.text().strip()
        if not text:
            return None
        self._searched = text
        return self._start("Searching", lambda: self.session.text.search(text))

    def search_like(self) -> Any:
        if self._object_id is None:
            self._say("Select an object first.", "warning")
            return None
        oid = self._object_id
        self._searched = ""
        return self._start("Searching", lambda: self.session.text.search(like=oid))

    def find_on_frame(self) -> Any:
        text, threshold = self.phrases.text(), self.threshold.value()
        return self._start("Finding", lambda: self.session.text.find(text, threshold=threshold))

    def track_phrase(self) -> Any:
        text, threshold = self.phrases.text(), self.threshold.value()
        # The estimate comes from the worker thread: a queued signal brings it to this thread,
        # where the Job is already self._job (set before the event loop runs again).
        return self._start("Tracking", lambda: self.session.text.track(
            text, threshold=threshold, estimate=self._estimated.emit, ask=True))

    def find_like_box(self, x0: float, y0: float, x1: float, y1: float) -> Any:
        """The box drawn in example mode: every similar instance on this frame becomes an object
        (category: the first phrase typed, else "object"). Ends the mode."""
        self.end_example_mode()
        category = self.phrases.text().split(",")[0].strip() or "object"
        threshold = self.threshold.value()
        box = (x0, y0, x1, y1)
        return self._start("Finding more like the box",
                           lambda: self.session.text.find_like(box, category=category, threshold=threshold))

    def end_example_mode(self) -> None:
        self.example_button.setChecked(False)  # emits example_mode(False) if it was down

    def accept_selected(self) -> None:
        if self._object_id is None:
            self._say("Select an object first.", "warning")
            return
        count = self._call(self.session.text.accept, self._object_id)
        if count is not None:
            self._say(f"Accepted {count} detected mask(s)." if count else "No detected masks to accept.")

    def next_hit(self) -> None:
        if self.hits.topLevelItemCount():
            self._jump((self._hit + 1) % self.hits.topLevelItemCount())

    # --- internals ------------------------------------------------------------------------------
    def _on_enter(self) -> None:
        if self.query.text().strip() == self._searched and self.hits.topLevelItemCount():
            self.next_hit()
        else:
            self.search()

    def _jump(self, index: int) -> None:
        item = self.hits.topLevelItem(index)
        if item is None:
            return
        self._hit = index
        self.hits.setCurrentItem(item)
        self._call(self.session.set_frame, int(item.data(0, FRAME_ROLE)))

    def _start(self, what: str, start: Callable[[], Any]) -> Any:
        if self._job is not None and not self._job.done():
            self._say("A run is already going; cancel it first.", "warning")
            return None
        job = self._call(start)
        if job is None:
            return None
        self._job = job
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.status.setText(f"{what}…")
        return job

    def _on_event(self, event: object) -> None:
        match event:
            case JobProgress(job=job) if job is self._job:
                self._on_job_progress(event)
            case JobFinished(job=job, kind=kind) if job is self._job:
                self._on_job_finished(job, kind)
            case ProjectClosed():
                self._clear()

    def _on_job_progress(self, progress: JobProgress) -> None:
        if progress.total:
            self.progress.setRange(0, int(progress.total))
            self.progress.setValue(int(progress.done))
        self.progress.setFormat(f"{progress.message} %v/%m" if progress.total else progress.message)

    def _ask_to_continue(self, per_frame: float, frames: int) -> None:
        """After the first frame on a CPU: the whole run's time, Continue or Cancel. Non-modal
        (``open``), so the UI keeps running while the Job waits for the answer."""
        job = self._job
        if job is None or job.done() or self.session.text.device != "cpu":  # a GPU run does not wait
            return
        phrases = self.phrases.text().strip()
        box = QMessageBox(QMessageBox.Icon.Question, "Track on the CPU?",
                          f"Tracking '{phrases}' through {frames} frames on the CPU will take "
                          f"{about(per_frame * frames)} ({per_frame:.1f} s a frame, measured on the "
                          "first frame, which is kept either way).", parent=self)
        go = box.addButton("Continue", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(go)
        box.setObjectName("trackQuestion")

        def answered() -> None:
            self.question = None
            if box.clickedButton() is go:
                if self.session.text.resume(job):
                    self.status.setText("Tracking…")
            else:
                job.cancel()

        box.finished.connect(lambda _result: answered())
        self.question = box
        self.status.setText("Waiting for your answer: continue tracking on the CPU?")
        box.open()

    def _on_job_finished(self, job: Job[Any], kind: str) -> None:
        self._job = None
        if self.question is not None:  # the run ended (e.g. Cancel in the panel) before the answer
            question, self.question = self.question, None
            question.reject()
        self.progress.hide()
        self.cancel_button.hide()
        if job.state is JobState.CANCELLED:
            self._say("Cancelled; what was finished is kept.")
        elif job.error is not None:
            self._say(f"{job.name} failed: {job.error}", "warning")
        elif kind == "search":
            result = job.result()
            self._show_hits(result)
            if result.frame_scores is not None:
                self.scores_ready.emit(*result.frame_scores)
        else:
            report = job.result()
            text = f"Added {len(report.objects)} object(s)"
            if report.overlaps:
                text += f"; {len(report.overlaps)} overlapping an existing object were not added"
            self._say(text + ".")

    def _show_hits(self, result: Any) -> None:
        self.hits.clear()
        for hit in result.hits:
            what = "whole frame" if hit.object_id is None else f"object {hit.object_id}"
            cells = [format_time(hit.time_s), f"{hit.score:.3f}", f"frame {hit.frame}, {what}"]
            item = QTreeWidgetItem(cells)
            item.setData(0, FRAME_ROLE, hit.frame)
            self.hits.addTopLevelItem(item)
        spans = ", ".join(f"{format_time(s.start_s)}–{format_time(s.stop_s)}" for s in result.segments[:3])
        best = f"; best stretches {spans}" if spans else ""
        self._say(f"{len(result.hits)} hits for '{result.query}'{best}")
        self._hit = -1
        self.next_hit()

    def _clear(self) -> None:
        self.scores_ready.emit([], [])
        self.hits.clear()
        self._searched = ""
        self._object_id = None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A refusal (no project, a missing model, a bad phrase) becomes a message, not an exception."""
        try:
            return fn(*args)
        except (AnnotatorError, ValueError) as exc:
            self._say(str(exc), "warning")
            return None

    def _say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        self.message.emit(text, level)


def about(seconds: float) -> str:
    """A duration as people say it: "about 40 s", "about 12 min", "about 2 h 10 min"."""
    if seconds < 90:
        return f"about {max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"
