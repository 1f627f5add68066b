"""Dialogs and small panels: errors, relinking a moved video, the welcome page, notices, recent files.

Dialogs are opened with ``open()`` (window-modal, non-blocking), never ``exec()`` from a
slot, so a background job that fails while another dialog is up cannot stack event loops,
and tests can drive them.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.errors import AnnotatorError
from annotator.gui.focus import open_dialog
from annotator.gui.icons import icon

VIDEO_FILTER = ("Videos and projects (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.mpg *.mpeg *.wmv *.annot);;"
                "Projects (*.annot);;All files (*)")
MAX_RECENT = 10


# --- errors -------------------------------------------------------------------------------------
def error_dialog(parent: QWidget | None, title: str, error: BaseException | str, hint: str | None = None,
                 details: str | None = None) -> QMessageBox:
    """Show an error without blocking; the message names the file and the reason.

    ``hint`` says what to do about it; ``details`` (a traceback) goes behind "Show Details".
    """
    box = QMessageBox(parent)
    box.setObjectName("errorDialog")
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(f"<b>{_escape(title)}</b>")
    if isinstance(error, AnnotatorError):
        info = _escape(error.reason)
        if error.path:
            info += f"<br><br><span style='color:#9a9ea6'>{_escape(error.path)}</span>"
    else:
        info = _escape(str(error) or type(error).__name__)
    if hint:
        info += f"<br><br>{_escape(hint)}"
    box.setInformativeText(info)
    if details is None and isinstance(error, BaseException) and not isinstance(error, AnnotatorError):
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    open_dialog(box)
    return box


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- relink -------------------------------------------------------------------------------------
class RelinkDialog(QDialog):
    """The project's video is not where it was: point to it (the content must match)."""

    def __init__(self, project_path: str, error: AnnotatorError, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("relinkDialog")
        self.setWindowTitle("Video not found")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        title = QLabel(f"<b>The video of {_escape(Path(project_path).name)} has moved</b>")
        layout.addWidget(title)
        reason = QLabel(_escape(error.reason))
        reason.setWordWrap(True)
        reason.setObjectName("hint")
        layout.addWidget(reason)
        layout.addWidget(QLabel("Where is it now? Nothing is lost: the masks are in the project."))
        row = QHBoxLayout()
        self.path_edit = QLineEdit(placeholderText="/path/to/the/video.mp4")
        row.addWidget(self.path_edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        layout.addLayout(row)
        ok, cancel = QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok | cancel)
        buttons.button(ok).setText("Relink")
        buttons.accepted.connect(self._accept_if_file)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._hint = QLabel(objectName="hint")
        layout.addWidget(self._hint)

    def video_path(self) -> str:
        return self.path_edit.text().strip()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Locate the video", "", VIDEO_FILTER)
        if path:
            self.path_edit.setText(path)

    def _accept_if_file(self) -> None:
        if Path(self.video_path()).is_file():
            self.accept()
        else:
            self._hint.setText("That is not a file.")


# --- notices --------------------------------------------------------------------------------------
class NoticeBar(QFrame):
    """A slim bar above the canvas for things worth knowing that need no dialog."""

    action_clicked = Signal(str)  # the action key given to show()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 5, 6, 5)
        self._icon = QLabel()
        layout.addWidget(self._icon)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self._button = QPushButton(objectName="link")
        self._button.clicked.connect(lambda: self.action_clicked.emit(self._action))
        layout.addWidget(self._button)
        close = QToolButton()
        close.setIcon(icon("clear"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self._action = ""
        self.level = "info"
        self.hide()

    def show_notice(self, message: str, level: str = "warning", action: str = "",
                    action_text: str = "") -> None:
        self.level = level
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        pixmap = {"error": QStyle.StandardPixmap.SP_MessageBoxCritical,
                  "warning": QStyle.StandardPixmap.SP_MessageBoxWarning}.get(
            level, QStyle.StandardPixmap.SP_MessageBoxInformation)
        self._icon.setPixmap(self.style().standardIcon(pixmap).pixmap(16, 16))
        self.label.setText(message)
        self._action = action
        self._button.setText(action_text)
        self._button.setVisible(bool(action))
        self.show()


# --- recent files ------------------------------------------------------------------------------------
class RecentFiles:
    """The recently opened videos and projects, newest first, kept in QSettings."""

    KEY = "recent/files"

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def paths(self) -> list[str]:
        value = self._settings.value(self.KEY, [])
        items = value if isinstance(value, list) else ([value] if value else [])
        return [str(p) for p in items if str(p)]

    def existing(self) -> list[str]:
        return [p for p in self.paths() if Path(p).exists()]

    def add(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.paths() if p != path]
        self._settings.setValue(self.KEY, items[:MAX_RECENT])
        self._settings.sync()

    def clear(self) -> None:
        self._settings.remove(self.KEY)
        self._settings.sync()


# --- welcome ------------------------------------------------------------------------------------------
class WelcomePage(QWidget):
    """What the window shows with nothing open: open buttons, recent files, a drop zone."""

    open_clicked = Signal()
    path_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        row = QHBoxLayout()
        row.addStretch(1)
        column = QVBoxLayout()
        column.setSpacing(14)

        self.drop_zone = QFrame(objectName="dropZone")
        self.drop_zone.setMinimumSize(520, 230)
        zone = QVBoxLayout(self.drop_zone)
        zone.setContentsMargins(36, 28, 36, 28)
        zone.setSpacing(10)
        title = QLabel("Annotator", objectName="welcomeTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        zone.addWidget(title)
        subtitle = QLabel("Click to segment, propagate through the video, correct, export.",
                          objectName="welcomeSubtitle")
        subtitle.setAlignment(Qt.AlignmentFlag.AlignCenter)
        zone.addWidget(subtitle)
        zone.addSpacing(8)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.open_button = QPushButton(icon("open"), "  Open video or project…", objectName="primary")
        self.open_button.setMinimumHeight(36)
        self.open_button.clicked.connect(self.open_clicked)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        zone.addLayout(buttons)
        drop = QLabel("or drop a video, a frame folder or a .annot project here", objectName="hint")
        drop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        zone.addWidget(drop)
        shadow = QGraphicsDropShadowEffect(self.drop_zone)
        shadow.setBlurRadius(30)
        shadow.setOffset(0, 6)
        shadow.setColor(QColor(0, 0, 0, 110))
        self.drop_zone.setGraphicsEffect(shadow)
        column.addWidget(self.drop_zone)

        self.recent_title = QLabel("RECENT", objectName="sectionTitle")
        column.addWidget(self.recent_title)
        self.recent_list = QListWidget(objectName="recentList")
        self.recent_list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.recent_list.setMaximumHeight(220)
        self.recent_list.itemActivated.connect(self._activated)
        self.recent_list.itemClicked.connect(self._activated)
        column.addWidget(self.recent_list)
        self.status = QLabel(objectName="hint")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(self.status)
        tips = QLabel("F1 lists every shortcut  ·  the classical engine works without any model download",
                      objectName="hint")
        tips.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(tips)

        row.addLayout(column, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(3)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for path in paths:
            p = Path(path)
            item = QListWidgetItem(icon("open"), f"{p.name}    —    {p.parent}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent_list.addItem(item)
        self.recent_title.setVisible(bool(paths))
        self.recent_list.setVisible(bool(paths))

    def set_busy(self, message: str) -> None:
        self.status.setText(message)
        self.open_button.setEnabled(not message)

    def set_drop_active(self, active: bool) -> None:
        self.drop_zone.setProperty("active", "true" if active else "false")
        self.drop_zone.style().unpolish(self.drop_zone)
        self.drop_zone.style().polish(self.drop_zone)

    def _activated(self, item: QListWidgetItem) -> None:
        self.path_chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
