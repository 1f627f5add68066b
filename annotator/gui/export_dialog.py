"""Ctrl+E: export the project as a dataset, in the background, with progress and cancel.

The export is ``Session.export``: a Job on the session's I/O lane over the project *path*,
which the formats open read-only: the app keeps writing meanwhile, and what gets exported is
what was committed when the export read it. Its progress and end arrive as the Session's job
events through the bridge, so no worker thread touches the dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from annotator.app.events import JobFinished, JobProgress
from annotator.app.values import FORMATS, ExportOptions, FormatSpec, Job, JobState
from annotator.gui.jobs import SessionBridge


class ExportDialog(QDialog):
    def __init__(self, bridge: SessionBridge, parent: QWidget | None = None,
                 selected_object: int | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)
        self.session = bridge.session
        self._selected_object = selected_object
        self.job: Job[Any] | None = None
        self.summary: Any = None
        self._specs = [spec for spec in FORMATS.values() if spec.exporter is not None]

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.format = QComboBox()
        for spec in self._specs:
            self.format.addItem(spec.title, spec.name)
        form.addRow("Format", self.format)
        row = QHBoxLayout()
        self.out = QLineEdit()
        row.addWidget(self.out, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        form.addRow("Save to", row)

        self.skip_empty = QCheckBox("Only frames where an object has a mask")
        self.locked_only = QCheckBox("Only masks you locked (your own edits and checked frames)")
        self.reviewed_only = QCheckBox("Only frames marked reviewed")
        self.only_selected = QCheckBox("Only the selected object")
        self.only_selected.setEnabled(selected_object is not None)
        self.polygons = QCheckBox("Polygons instead of RLE masks")
        self.write_frames = QCheckBox("Write the frame images too")
        self.stride = QSpinBox()
        self.stride.setRange(1, 1000)
        self.stride.setPrefix("every ")
        self.stride.setSuffix(" frame(s)")
        for box in (self.skip_empty, self.locked_only, self.reviewed_only, self.only_selected, self.polygons,
                    self.write_frames):
            form.addRow("", box)
        form.addRow("Frames", self.stride)
        layout.addLayout(form)

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status = QLabel(objectName="hint")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        self.show_button = QPushButton("Show in folder")
        self.show_button.hide()
        self.show_button.clicked.connect(self._show_output)
        buttons.addWidget(self.show_button)
        buttons.addStretch(1)
        self.export_button = QPushButton("Export", objectName="primary")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        buttons.addWidget(self.export_button)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)

        bridge.event.connect(self._on_event)  # the export job's progress and end
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    # --- choices ---------------------------------------------------------------------------------
    @property
    def spec(self) -> FormatSpec:
        return self._specs[self.format.currentIndex()]

    def options(self) -> ExportOptions:
        spec = self.spec
        return ExportOptions(
            objects=((self._selected_object,) if self.only_selected.isChecked() and self._selected_object
                     else None),
            skip_empty=self.skip_empty.isChecked(), locked_only=self.locked_only.isChecked(),
            reviewed_only=self.reviewed_only.isChecked(), stride=self.stride.value(),
            polygons=self.polygons.isChecked() and spec.name == "coco",
            write_frames=self.write_frames.isChecked() if self.write_frames.isEnabled() else None,
        ).validate()

    def _format_changed(self) -> None:
        spec = self.spec
        self.polygons.setEnabled(spec.name == "coco")
        # YOLO always writes its frames (each label sits beside its image), so the box is fixed there.
        self.write_frames.setEnabled(spec.output == "folder" and spec.name not in ("overlay", "yolo"))
        self.write_frames.setChecked(spec.name == "yolo")
        self.out.setText(str(self._default_output(spec)))

    def _default_output(self, spec: FormatSpec) -> Path:
        project = self.session.view if self.session.is_open else None
        base = Path(project.path) if project is not None else Path.cwd() / "annotations"
        stem = base.name.removesuffix(".annot")
        stem = Path(stem).stem if Path(stem).suffix else stem
        folder = base.parent / "exports"
        if spec.output == "file":
            return folder / f"{stem}-{spec.name}{spec.extension or '.json'}"
        return folder / f"{stem}-{spec.name}"

    def _browse(self) -> None:
        spec = self.spec
        if spec.output == "file":
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.out.text(),
                                                  f"{spec.title} (*{spec.extension or '.json'})")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.out.text())
        if path:
            self.out.setText(path)

    # --- running ---------------------------------------------------------------------------------
    def start(self) -> Job[Any] | None:
        project = self.session.view if self.session.is_open else None
        if project is None or (self.job is not None and not self.job.done()):
            return None
        out = Path(self.out.text().strip()).expanduser()
        if not self.out.text().strip():
            self.status.setText("Choose where to save it.")
            return None
        try:
            options = self.options()
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        spec = self.spec
        self.summary = None
        self.job = self.session.export(spec.name, out, options)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.show_button.hide()
        self.status.setText(f"Exporting {spec.title}…")
        self.export_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        return self.job

    def _on_event(self, event: object) -> None:
        match event:
            case JobProgress(job=job, done=done, total=total, message=message) if job is self.job:
                if total:
                    self.progress.setRange(0, total)
                    self.progress.setValue(done)
                if message:
                    self.status.setText(message)
            case JobFinished(job=job) if job is self.job:
                self._finished(job)

    def _finished(self, job: Job[Any]) -> None:
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")
        self.progress.hide()
        if job.state is JobState.DONE:
            summary = self.summary = job.result()
            text = (f"Saved {summary.annotations} annotations of {summary.objects} objects on "
                    f"{summary.frames} frames to {summary.path}")
            if summary.warnings:
                text += "\n" + "\n".join(f"⚠ {w}" for w in summary.warnings[:5])
            self.status.setText(text)
            self.show_button.show()
        elif job.state is JobState.CANCELLED:
            self.status.setText("Export cancelled.")
        else:
            self.status.setText(f"Export failed: {job.error}")

    def _cancel_or_close(self) -> None:
        if self.job is not None and not self.job.done():
            self.job.cancel()
            self.status.setText("Cancelling…")
        else:
            self.close()

    def _show_output(self) -> None:
        if self.summary is not None:
            path = Path(self.summary.path)
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path if path.is_dir() else path.parent)))

    def done(self, result: int) -> None:
        if self.job is not None and not self.job.done():
            self.job.cancel()  # closing the dialog stops the export
        super().done(result)
