"""The insights panel: zero-shot labels and captions of the selected object and of the clip.

Top: which describer models are missing, with the command that installs them (the run
buttons stay off until they are there; ``refresh_models`` looks again after a download).
Object: the selected object's top labels with their scores; one click on "Use" makes a label
the object's class. Its caption sits below and is edited in place. Clip: the clip's top
labels and the timed description (the segments between shot changes, plus captioned
keyframes); a click on a row seeks to it, a double click (or F2) edits its caption.
Bottom: the extra labels typed by the user (kept in the project), Classify / Caption /
Caption frame, a progress bar and Cancel.

Runs are Jobs on the engine lane (annotator/app/describe/runs.py); their progress arrives through the
SessionBridge, so no worker touches a widget. Every change the panel makes is one undoable
step in the store (accepting a label, editing a caption); a run is one step too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.app.events import (
    CategoriesChanged,
    InsightsChanged,
    JobFinished,
    JobProgress,
    ObjectsChanged,
    ProjectClosed,
    ProjectOpened,
)
from annotator.app.values import Job, JobState, ModelStatus, parse_labels
from annotator.errors import AnnotatorError
from annotator.gui import style
from annotator.gui.jobs import SessionBridge
from annotator.gui.widgets_common import SectionHeader, format_time

ID_ROLE = Qt.ItemDataRole.UserRole
FRAME_ROLE = Qt.ItemDataRole.UserRole + 1
LABEL_COLUMNS = ("Label", "Score", "")
SEGMENT_COLUMNS = ("Time", "Caption")
_FAILED = object()


class InsightsPanel(QWidget):
    message = Signal(str, str)  # text, level ("info" | "warning" | "error"), for the status bar

    def __init__(self, bridge: SessionBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("insightsPanel")
        self.bridge = bridge
        self.session = bridge.session
        self._object_id: int | None = None
        self._job: Job[Any] | None = None
        self._building = False
        self._status: dict[str, ModelStatus] = {}
        self._build()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)  # coalesce the many store events of one run
        self._refresh_timer.timeout.connect(self.refresh)
        bridge.event.connect(self._on_event)
        self.refresh_models()
        self._on_project_opened(None)

    # --- building ---------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        self.banner = QLabel()
        self.banner.setObjectName("insightsBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(f"color: {style.WARNING};")
        layout.addWidget(self.banner)

        self.object_header = SectionHeader("Object")
        layout.addWidget(self.object_header)
        self.object_hint = QLabel()
        self.object_hint.setObjectName("hint")
        self.object_hint.setWordWrap(True)
        layout.addWidget(self.object_hint)
        self.labels_tree = _tree(LABEL_COLUMNS)
        self.labels_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.labels_tree, 2)
        self.object_caption = QLineEdit()
        self.object_caption.setObjectName("objectCaption")
        self.object_caption.setPlaceholderText("No caption yet")
        self.object_caption.setToolTip("The object's caption (from its best view); edit it and press Enter")
        self.object_caption.editingFinished.connect(self._object_caption_edited)
        layout.addWidget(self.object_caption)

        layout.addWidget(SectionHeader("Clip"))
        self.clip_labels = QLabel()
        self.clip_labels.setObjectName("hint")
        self.clip_labels.setWordWrap(True)
        layout.addWidget(self.clip_labels)
        self.segments_tree = _tree(SEGMENT_COLUMNS)
        self.segments_tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.segments_tree.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                           | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.segments_tree.setWordWrap(True)
        self.segments_tree.itemClicked.connect(self._on_segment_clicked)
        self.segments_tree.itemChanged.connect(self._on_segment_changed)
        layout.addWidget(self.segments_tree, 3)

        layout.addWidget(SectionHeader("Run"))
        self.labels_edit = QLineEdit()
        self.labels_edit.setObjectName("extraLabels")
        self.labels_edit.setPlaceholderText("More labels, comma separated: dog, red car, person")
        self.labels_edit.setToolTip("Scored with the project's classes; kept in the project")
        self.labels_edit.editingFinished.connect(self._save_labels)
        layout.addWidget(self.labels_edit)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.classify_button = QPushButton("Classify")
        self.classify_button.setToolTip("Zero-shot labels for every object (crops over its track) and "
                                        "for the clip")
        self.classify_button.clicked.connect(self.classify)
        self.caption_button = QPushButton("Caption")
        self.caption_button.setToolTip("A caption per object (its best view) and a timed description of the "
                                       "clip, split at shot changes")
        self.caption_button.clicked.connect(self.caption)
        self.frame_button = QPushButton("Caption frame")
        self.frame_button.setToolTip("Caption the frame on screen (a keyframe)")
        self.frame_button.clicked.connect(lambda: self.caption_frame())  # not clicked(checked) as frame
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; what it finished is kept")
        self.cancel_button.clicked.connect(self.cancel)
        for button in (self.classify_button, self.caption_button, self.frame_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        layout.addWidget(self.progress)
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self._show_running(False)

    # --- public -----------------------------------------------------------------------------------
    def set_object(self, object_id: int | None) -> None:
        """Show the labels and caption of this object (None: no object selected)."""
        self._object_id = object_id if object_id else None
        self._fill_object()

    def object_id(self) -> int | None:
        return self._object_id

    def refresh_models(self) -> None:
        """Look again at which describer models are installed (e.g. after a download)."""
        self._status = {task: self.session.describer_status(task) for task in ("classify", "caption")}
        missing = [s.message for s in self._status.values() if not s.ready]
        if missing:
            self.banner.setText("\n".join(missing) + "\n(Or use Models… in the app to download them.)")
        self.banner.setVisible(bool(missing))
        self._update_buttons()

    def refresh(self) -> None:
        """Re-read the insights from the store (after a run, an edit, an undo)."""
        self._fill_object()
        self._fill_clip()

    def classify(self) -> Job[Any] | None:
        labels = parse_labels(self.labels_edit.text())
        self._save_labels()
        return self._start("Classifying", lambda: self.session.classify(labels))

    def caption(self) -> Job[Any] | None:
        return self._start("Captioning", lambda: self.session.caption())

    def caption_frame(self, frame: int | None = None) -> Job[Any] | None:
        frame = self.session.current_frame if frame is None else int(frame)
        return self._start(f"Captioning frame {frame}", lambda: self.session.caption(
            objects=False, clip=False, keyframes=[frame]))

    def cancel(self) -> None:
        if self._job is not None and not self._job.done():
            self._job.cancel()
            self.status.setText("Cancelling…")

    def accept(self, label: str, insight_id: int | None = None) -> None:
        """Make ``label`` the selected object's class (one undoable step)."""
        project = self.session.view if self.session.is_open else None
        if project is None or self._object_id is None:
            return
        if self._call(self.session.accept_label, self._object_id, label, insight_id) is not _FAILED:
            self._say(f"Class set to '{label}'.")

    def seek(self, frame: int) -> None:
        if self.session.is_open:
            self.session.set_frame(frame)

    def shutdown(self) -> None:
        self._refresh_timer.stop()
        self.cancel()

    # --- filling ------------------------------------------------------------------------------------
    def _on_event(self, event: object) -> None:
        match event:
            case ProjectOpened():
                self._on_project_opened(event)
            case ProjectClosed():
                self._on_project_closed()
            case InsightsChanged() | ObjectsChanged() | CategoriesChanged():
                self._refresh_timer.start()
            case JobProgress():
                self._on_job_progress(event)
            case JobFinished(job=job, kind=kind):
                self._on_job_finished(job, kind)

    def _on_project_opened(self, _event: ProjectOpened | None) -> None:
        self._object_id = None
        saved = self.session.view.saved_labels() if self.session.is_open else []
        self.labels_edit.setText(", ".join(saved))
        self.refresh()
        self._update_buttons()

    def _on_project_closed(self) -> None:
        self._object_id = None
        self.labels_edit.clear()
        self.refresh()
        self._update_buttons()

    def _fill_object(self) -> None:
        self._building = True
        try:
            self.labels_tree.clear()
            self.object_caption.clear()
            project = self.session.view if self.session.is_open else None
            oid = self._object_id
            info = None
            if project is not None and oid is not None:
                info = next((o for o in project.objects() if o.id == oid), None)
                if info is None:  # deleted (or undone): nothing selected any more
                    self._object_id = oid = None
            enabled = info is not None
            self.labels_tree.setEnabled(enabled)
            self.object_caption.setEnabled(enabled)
            if info is None:
                self.object_header.set_title("Object")
                self.object_hint.setText("Select an object to see its labels and caption.")
                return
            assert project is not None and oid is not None
            category = project.category_name(info.category_id)
            self.object_header.set_title(f"Object {oid} · {info.name}")
            found = project.object_labels(oid)
            if found is None:
                self.object_hint.setText(f"Class: {category or 'none'}. No labels yet: press Classify.")
            else:
                frames = found.payload.get("frames") or []
                self.object_hint.setText(f"Class: {category or 'none'}. Labels by {found.model} from "
                                         f"{len(frames)} view(s) of the track.")
                for entry in found.payload.get("labels") or []:
                    self._add_label_row(found, str(entry.get("label", "")), float(entry.get("score", 0.0)),
                                        category)
            caption = project.object_caption(oid)
            if caption is not None:
                self.object_caption.setText(str(caption.payload.get("text", "")))
                self.object_caption.setCursorPosition(0)  # show the start of a long caption
                self.object_caption.setToolTip(f"{caption.payload.get('text', '')}\n\nFrom frame "
                                               f"{caption.payload.get('frame')} by {caption.model}; edit it "
                                               "and press Enter")
                self.object_caption.setProperty("insight_id", caption.id)
            else:
                self.object_caption.setProperty("insight_id", None)
        finally:
            self._building = False

    def _add_label_row(self, found: Any, label: str, score: float, category: str | None) -> None:
        item = QTreeWidgetItem([label, f"{100 * score:.1f} %", ""])
        item.setData(0, ID_ROLE, found.id)
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        current = label == category
        if current:
            font = QFont(item.font(0))
            font.setBold(True)
            item.setFont(0, font)
            item.setToolTip(0, "This is the object's class")
        self.labels_tree.addTopLevelItem(item)
        button = QPushButton("✓ Class" if current else "Use")
        button.setObjectName("acceptLabel")
        button.setEnabled(not current)
        button.setToolTip(f"Make '{label}' this object's class (Ctrl+Z undoes it)")
        button.clicked.connect(lambda _=False, label=label, iid=found.id: self.accept(label, iid))
        self.labels_tree.setItemWidget(item, 2, button)

    def _fill_clip(self) -> None:
        self._building = True
        try:
            self.segments_tree.clear()
            project = self.session.view if self.session.is_open else None
            if project is None:
                self.clip_labels.setText("")
                return
            found = project.clip_labels()
            if found is None:
                self.clip_labels.setText("No clip labels yet.")
            else:
                parts = [f"{e.get('label')} {100 * float(e.get('score', 0)):.0f} %"
                         for e in (found.payload.get("labels") or [])[:5]]
                self.clip_labels.setText("Clip: " + " · ".join(parts))
            rows = [(ins.frame_start or 0, 0, ins) for ins in project.segments()]
            rows += [(ins.frame_start or 0, 1, ins) for ins in project.frame_captions()]
            for _frame, kind, ins in sorted(rows, key=lambda r: (r[0], r[1], r[2].id)):
                self.segments_tree.addTopLevelItem(self._segment_item(ins, kind == 1))
        finally:
            self._building = False

    def _segment_item(self, ins: Any, keyframe: bool) -> QTreeWidgetItem:
        payload = ins.payload
        if keyframe:
            when = f"@ {format_time(float(payload.get('time_s', 0.0)))}"
        else:
            start, end = float(payload.get("start_s", 0.0)), float(payload.get("end_s", 0.0))
            when = f"{format_time(start)} – {format_time(end)}"
        item = QTreeWidgetItem([when, str(payload.get("text", ""))])
        item.setData(0, ID_ROLE, ins.id)
        item.setData(0, FRAME_ROLE, int(ins.frame_start or 0))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        tip = f"frames {ins.frame_start}–{(ins.frame_end or 1) - 1}, {ins.model}"
        if payload.get("edited"):
            tip += f"; edited (the model said: {payload.get('original', '')})"
        item.setToolTip(0, tip)
        item.setToolTip(1, f"{payload.get('text', '')}\n\n{tip}; double click to edit")
        return item

    # --- user actions -------------------------------------------------------------------------------
    def _on_segment_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.seek(int(item.data(0, FRAME_ROLE)))

    def _on_segment_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._building or column != 1 or not self.session.is_open:
            return
        insight_id = int(item.data(0, ID_ROLE))
        text = item.text(1).strip()
        if not text:  # an empty caption is no caption: put the old one back
            self._refresh_timer.start()
            return
        if self._call(self.session.edit_caption, insight_id, text) is not _FAILED:
            self._say("Caption edited.")

    def _object_caption_edited(self) -> None:
        project = self.session.view if self.session.is_open else None
        insight_id = self.object_caption.property("insight_id")
        if self._building or project is None or insight_id is None:
            return
        text = self.object_caption.text().strip()
        if text:
            self._call(self.session.edit_caption, int(insight_id), text)
        else:
            self._refresh_timer.start()

    def _save_labels(self) -> None:
        project = self.session.view if self.session.is_open else None
        if project is None or project.readonly:
            return
        labels = parse_labels(self.labels_edit.text())
        if labels != project.saved_labels():
            self._call(self.session.save_labels, labels)

    # --- runs ---------------------------------------------------------------------------------------
    def _start(self, what: str, start: Callable[[], Job[Any]]) -> Job[Any] | None:
        if self._job is not None and not self._job.done():
            self._say("A run is already going; cancel it first.", "warning")
            return None
        job = self._call(start)
        if job is _FAILED:
            self.refresh_models()  # a model may have gone missing since the last look
            return None
        self._job = job
        self._show_running(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"{what}…")
        return job

    def _on_job_progress(self, progress: JobProgress) -> None:
        if progress.job is not self._job:
            return
        if progress.total:
            self.progress.setRange(0, int(progress.total))
            self.progress.setValue(int(progress.done))
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(f"{progress.message} %v/%m" if progress.total else progress.message)

    def _on_job_finished(self, job: Job[Any], _kind: str) -> None:
        if job is not self._job:
            return
        self._job = None
        self._show_running(False)
        if job.state is JobState.CANCELLED:
            self._say("Cancelled; what was finished is kept.")
        elif job.error is not None:
            self._say(f"{job.name} failed: {job.error}", "error")
            self.refresh_models()
        else:
            report = job.result()
            self._say(_summary(report))
        self.refresh()

    def _show_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self._update_buttons(running)

    def _update_buttons(self, running: bool | None = None) -> None:
        if running is None:
            running = self._job is not None and not self._job.done()
        has_project = self.session.is_open
        classify_ok = self._status.get("classify") is not None and self._status["classify"].ready
        caption_ok = self._status.get("caption") is not None and self._status["caption"].ready
        self.classify_button.setEnabled(has_project and classify_ok and not running)
        self.caption_button.setEnabled(has_project and caption_ok and not running)
        self.frame_button.setEnabled(has_project and caption_ok and not running)
        for task, button in (("classify", self.classify_button), ("caption", self.caption_button)):
            status = self._status.get(task)
            if status is not None and not status.ready:
                button.setToolTip(status.message)
        self.labels_edit.setEnabled(has_project)

    # --- helpers ------------------------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store or start call; a refusal becomes a message, never an exception in Qt."""
        try:
            return fn(*args)
        except (AnnotatorError, ValueError, KeyError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            self._say(str(text), "warning")
            return _FAILED

    def _say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        self.message.emit(text, level)


def _tree(columns: tuple[str, ...]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setColumnCount(len(columns))
    tree.setHeaderLabels(list(columns))
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(False)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    tree.header().setStretchLastSection(False)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return tree


def _summary(report: Any) -> str:
    parts = []
    if report.object_labels:
        parts.append(f"labelled {len(report.object_labels)} object(s)")
    if report.clip_labels:
        parts.append("labelled the clip")
    if report.object_captions:
        parts.append(f"captioned {len(report.object_captions)} object(s)")
    if report.segments:
        parts.append(f"described the clip in {len(report.segments)} segment(s)")
    if report.frame_captions:
        parts.append(f"captioned {len(report.frame_captions)} frame(s)")
    if report.skipped_objects:
        parts.append(f"skipped {len(report.skipped_objects)} object(s) with no mask")
    text = ", ".join(parts) or "nothing to do"
    return f"{text[0].upper()}{text[1:]} in {report.seconds:.1f} s on {report.device}."
