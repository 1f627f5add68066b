"""The Models dialog: which engines run (and why), and the model files on this machine.

Top: the segmenter, tracker and device in use. "Automatic" shows what it picks right now and
the reason (``EngineManager.status()``: "classical: no SAM weights installed ..."); a change
applies at once (``engines.set_models``; the next click or propagation loads it) and is
remembered in QSettings under ``models/segmenter``, ``models/tracker`` and ``models/device``.

Below: every model of the registry with what it is for, its size, licence and whether it is
installed. Download runs as a Job on the session's I/O lane with a progress bar and Cancel
(a cancelled download keeps its partial file and resumes next time); Verify hashes the files
against the registry or the download manifest, off the UI thread too; Delete removes them.
Without a network, a download fails within seconds and the dialog shows the message, which
says where to put the files by hand.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.app.events import EngineStatus, JobFinished, JobProgress
from annotator.app.session import Session
from annotator.app.values import Job, JobState
from annotator.gui import style
from annotator.gui.focus import open_dialog
from annotator.gui.icons import icon
from annotator.gui.jobs import SessionBridge
from annotator.gui.widgets_common import SectionHeader, app_settings, format_bytes

AUTO = "auto"
CLASSICAL = "classical"
COLUMNS = ("Model", "For", "Size", "Licence", "Status")
TASK_WORDS = {"segment": "clicks", "track": "tracking", "classify": "labels", "caption": "captions"}
DEVICES = (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "CUDA GPU"), ("mps", "Apple GPU (MPS)"))


class ModelsDialog(QDialog):
    def __init__(self, bridge: SessionBridge, parent: QWidget | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.resize(860, 620)
        self.bridge = bridge
        self.session = bridge.session
        self._settings = settings or app_settings()
        self.download_job: Job[Any] | None = None
        self.verify_job: Job[Any] | None = None
        self._downloading: str | None = None
        self._rows: list[dict[str, Any]] = []
        self.confirm: QMessageBox | None = None
        self._build()
        self.refresh()
        bridge.event.connect(self._on_event)  # a method: disconnected when deleted

    # --- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(8)

        layout.addWidget(SectionHeader("Engines in use"))
        engines = QHBoxLayout()
        engines.setSpacing(18)
        self.segmenter = QComboBox()
        self.tracker = QComboBox()
        self.device = QComboBox()
        for label, combo, tip in (
                ("Clicks", self.segmenter, "The model that turns your clicks and boxes into a mask"),
                ("Tracking", self.tracker, "The model that carries masks to the other frames"),
                ("Device", self.device, "Where the models run")):
            form = QFormLayout()
            form.setContentsMargins(0, 0, 0, 0)
            combo.setToolTip(tip)
            combo.setMinimumWidth(170)
            combo.currentIndexChanged.connect(self._apply_choice)  # refills block the signals
            form.addRow(label, combo)
            engines.addLayout(form)
        engines.addStretch(1)
        layout.addLayout(engines)
        self.status = QLabel()
        self.status.setObjectName("engineStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.status)

        layout.addWidget(SectionHeader("Models on this machine"))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.itemSelectionChanged.connect(self._update_details)
        layout.addWidget(self.table, 1)

        self.details = QLabel()
        self.details.setObjectName("hint")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(48)
        layout.addWidget(self.details)

        actions = QHBoxLayout()
        actions.setSpacing(6)
        self.download_button = QPushButton(icon("download"), " Download")
        self.download_button.setObjectName("primary")
        self.verify_button = QPushButton(icon("review"), " Verify")
        self.verify_button.setToolTip("Hash the installed files and compare them with the known checksums")
        self.delete_button = QPushButton(icon("trash"), " Delete")
        self.download_button.clicked.connect(self.download_selected)
        self.verify_button.clicked.connect(self.verify_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        for button in (self.download_button, self.verify_button, self.delete_button):
            actions.addWidget(button)
        actions.addSpacing(12)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.hide()
        actions.addWidget(self.progress, 1)
        self.progress_text = QLabel()
        self.progress_text.setObjectName("hint")
        actions.addWidget(self.progress_text)
        self.cancel_button = QPushButton(icon("stop"), " Cancel")
        self.cancel_button.setToolTip("Stop the download; the part already fetched is kept for next time")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.hide()
        actions.addWidget(self.cancel_button)
        actions.addStretch(0)
        layout.addLayout(actions)

        self.message = QFrame()
        self.message.setObjectName("noticeBar")
        message_layout = QHBoxLayout(self.message)
        message_layout.setContentsMargins(10, 6, 10, 6)
        self.message_text = QLabel()
        self.message_text.setWordWrap(True)
        self.message_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        message_layout.addWidget(self.message_text, 1)
        self.message.hide()
        layout.addWidget(self.message)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    # --- filling -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the registry and what is installed; refill the table and the choices."""
        selected = self.selected_model()
        self._rows = self.session.models.list()
        self.table.setRowCount(len(self._rows))
        for row, info in enumerate(self._rows):
            cells = (info["name"], ", ".join(TASK_WORDS.get(t, t) for t in info["tasks"]),
                     ("~" if not info["sha256"] else "") + format_bytes(info["size"]), info["license"],
                     self._status_text(info))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(info["description"])
                if col == 4:
                    item.setForeground(QColor(style.POSITIVE if info["installed"] else style.TEXT_DIM))
                if col == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.select_model(selected or (self._rows[0]["name"] if self._rows else None))
        self._fill_choices()
        self._show_status()
        self._update_details()

    def _status_text(self, info: dict[str, Any]) -> str:
        if info["name"] == self._downloading:
            return "Downloading…"
        return "Installed" if info["installed"] else "Not installed"

    def _fill_choices(self) -> None:
        requested = self.session.requested_models()
        for combo, task, current in ((self.segmenter, "segment", requested["segmenter"]),
                                     (self.tracker, "track", requested["tracker"])):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("Automatic", AUTO)
            combo.addItem("Classical (no model)", CLASSICAL)
            for info in self._rows:
                if task in info["tasks"]:
                    suffix = "" if info["installed"] else "  (not installed)"
                    combo.addItem(info["name"] + suffix, info["name"])
                    if not info["installed"]:  # choosable only once it is here
                        item = combo.model().item(combo.count() - 1)
                        item.setEnabled(False)
                        item.setToolTip("Download it below first")
            index = combo.findData(current or AUTO)
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(False)
        self.device.blockSignals(True)
        self.device.clear()
        for value, label in DEVICES:
            self.device.addItem(label, value)
            reason = self.session.models.device_problem(value)
            if reason:
                item = self.device.model().item(self.device.count() - 1)
                item.setEnabled(False)
                item.setToolTip(reason)
        self.device.setCurrentIndex(max(0, self.device.findData(requested["device"])))
        self.device.blockSignals(False)

    def _apply_choice(self, *_: Any) -> None:
        segmenter, tracker = self.segmenter.currentData(), self.tracker.currentData()
        device = self.device.currentData()
        self.session.set_models(segmenter=segmenter, tracker=tracker, device=device)
        for key, value in (("segmenter", segmenter), ("tracker", tracker), ("device", device)):
            self._settings.setValue(f"models/{key}", value)
        self._show_status()

    def _on_event(self, event: object) -> None:
        match event:
            case EngineStatus():
                self._on_engine_status()
            case JobProgress(job=job) if job is self.download_job:
                self._on_progress(event)
            case JobFinished(job=job) if job in (self.download_job, self.verify_job):
                self._on_finished(job)

    def _on_engine_status(self, *_: object) -> None:
        self._show_status()

    def _show_status(self) -> None:
        status = self.session.engine_status()
        requested = self.session.requested_models()
        parts = []
        for key, word in (("segmenter", "Clicks"), ("tracker", "Tracking")):
            name = status[key]
            automatic = (requested[key] or AUTO) == AUTO
            auto = f" <span style='color:{style.TEXT_DIM}'>(automatic)</span>" if automatic else ""
            parts.append(f"{word}: <b>{name}</b>{auto}")
        parts.append(f"on <b>{self.session.models.device_label(status['device'])}</b>")
        line = " · ".join(parts)
        reasons = list(dict.fromkeys(r.strip() for r in status["reason"].split(";") if r.strip()))
        if reasons:  # the two engines often give the same reason: say it once
            line += f"<br><span style='color:{style.TEXT_DIM}'>{_escape('; '.join(reasons))}</span>"
        self.status.setText(line)
        for combo, task in ((self.segmenter, "segment"), (self.tracker, "track")):
            combo.setItemText(0, f"Automatic: {self.session.models.auto_pick(task, status['device'])}")
        if requested["device"] == AUTO:
            self.device.setItemText(0, f"Automatic: {status['device'].upper()}")

    def _update_details(self) -> None:
        info = self._selected_info()
        busy = self.download_job is not None and not self.download_job.done()
        if info is None:
            self.details.setText("")
            for button in (self.download_button, self.verify_button, self.delete_button):
                button.setEnabled(False)
            return
        spec = self.session.models.spec(info["name"])
        lines = [f"<b>{info['name']}</b>: {_escape(spec.description)}",
                 f"Source: {_escape(info['source'])}"]
        if info["installed"]:
            lines.append(f"Installed at {_escape(info['path'])}"
                         + (f" (commit {info['commit'][:10]})" if info.get("commit") else ""))
        self.details.setText("<br>".join(lines))
        self.download_button.setEnabled(not info["installed"] and not busy)
        self.download_button.setText(" Download" if not info["installed"] else " Installed")
        self.verify_button.setEnabled(info["installed"] and not busy)
        self.delete_button.setEnabled(info["installed"] and self._downloading != info["name"])

    # --- selection ---------------------------------------------------------------------------------
    def selected_model(self) -> str | None:
        info = self._selected_info()
        return info["name"] if info is not None else None

    def select_model(self, name: str | None) -> None:
        for row, info in enumerate(self._rows):
            if info["name"] == name:
                self.table.selectRow(row)
                return

    def _selected_info(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self._rows[rows[0].row()] if rows and rows[0].row() < len(self._rows) else None

    # --- download ------------------------------------------------------------------------------------
    def download_selected(self) -> Job[Any] | None:
        name = self.selected_model()
        if name is None or (self.download_job is not None and not self.download_job.done()):
            return None
        self._hide_message()
        job = self.session.models.download(name)
        self.download_job = job
        self._downloading = name
        self.progress.setRange(0, 0)
        self.progress.show()
        self.progress_text.setText(f"Connecting for {name}…")
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.refresh()
        return job

    def cancel_download(self) -> None:
        if self.download_job is not None and not self.download_job.done():
            self.session.models.cancel(self.download_job)
            self.cancel_button.setEnabled(False)
            self.progress_text.setText("Cancelling…")

    def _on_progress(self, progress: JobProgress) -> None:
        if progress.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * progress.done / progress.total))
        text = format_bytes(progress.done)
        if progress.total:
            text += f" of {format_bytes(progress.total)}"
        if progress.rate:
            text += f" · {format_bytes(progress.rate)}/s"
        self.progress_text.setText(text)

    def _on_finished(self, job: Job[Any]) -> None:
        if job is self.verify_job:
            self._verify_done(job)
            return
        if job is not self.download_job:
            return
        name = self._downloading
        self._downloading = None
        self.progress.hide()
        self.cancel_button.hide()
        self.progress_text.setText("")
        if job.state is JobState.DONE:
            self._show_message(f"{name} is installed at {job.result()}.", "info")
        elif job.state is JobState.CANCELLED:
            self._show_message(f"Download of {name} cancelled. The part already fetched is kept; "
                               "Download again to resume.", "warning")
        else:
            self._show_message(f"Could not download {name}: {job.error}", "error")
        self.refresh()

    # --- verify and delete ----------------------------------------------------------------------------
    def verify_selected(self) -> Job[Any] | None:
        name = self.selected_model()
        if name is None:
            return None
        self._hide_message()
        job = self.verify_job = self.session.models.verify(name)
        self.verify_button.setEnabled(False)
        self.progress_text.setText(f"Checking {name}…")
        return job

    def _verify_done(self, job: Job[Any]) -> None:
        self.progress_text.setText("")
        self._update_details()
        if job.state is not JobState.DONE:
            self._show_message(f"Could not verify: {job.error}", "error")
            return
        ok, message = job.result()
        self._show_message(("Verified: " if ok else "Verification failed: ") + message,
                           "info" if ok else "error")

    def delete_selected(self) -> None:
        name = self.selected_model()
        if name is None:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete model", f"Delete the files of {name}?",
                          QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("You can download it again later. Engines already loaded keep running "
                               "until the model is switched.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        delete.clicked.connect(lambda: self._delete(name))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.confirm = box
        open_dialog(box)

    def _delete(self, name: str) -> None:
        try:
            self.session.models.delete(name)
        except OSError as exc:
            self._show_message(f"Could not delete {name}: {exc}", "error")
            return
        self._show_message(f"Deleted {name}.", "info")
        self.refresh()

    # --- messages and closing --------------------------------------------------------------------------
    def _show_message(self, text: str, level: str) -> None:
        self.message.setProperty("level", level)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message_text.setText(text)
        self.message.show()

    def _hide_message(self) -> None:
        self.message.hide()

    def message_shown(self) -> str:
        return self.message_text.text() if self.message.isVisible() else ""

    def done(self, result: int) -> None:
        """Closing cancels a running download (its partial file stays for next time)."""
        self.cancel_download()
        super().done(result)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def restore_engine_choice(session: Session, settings: QSettings) -> None:
    """Apply the engines chosen in an earlier run; a choice that no longer works (its
    weights were deleted since, say) falls back to automatic."""
    chosen = {key: str(settings.value(f"models/{key}")) for key in ("segmenter", "tracker", "device")
              if settings.value(f"models/{key}")}
    if not chosen:
        return
    session.set_models(**chosen)
    if session.engine_status()["segmenter"] == "?":
        session.set_models(segmenter="auto", tracker="auto", device="auto")
