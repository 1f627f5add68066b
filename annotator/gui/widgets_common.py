"""Small pieces shared by the timeline, the objects panel and the models dialog.

Icon buttons (the icons themselves are drawn in gui/icons.py), colour swatches, the
confidence colour ramp and time formatting. Nothing here knows a Session.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QCoreApplication, QRectF, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from annotator.app.review import WEAK_THRESHOLD
from annotator.gui import style
from annotator.gui.icons import icon

# Confidence ramp: red (0) -> amber (0.5) -> green (1), muted so it sits well on the dark panel.
CONF_STOPS = ((0.0, (226, 74, 74)), (0.5, (232, 163, 60)), (1.0, (53, 196, 106)))
WEAK_DEFAULT = WEAK_THRESHOLD  # the calibrated default (engines/track_confidence.py says why)


def app_settings() -> QSettings:
    """The app's settings (the main window's QSettings(org, app)), also before the app names itself."""
    return QSettings(QCoreApplication.organizationName() or "Annotator",
                     QCoreApplication.applicationName() or "Annotator")


# --- widgets -------------------------------------------------------------------------------------
def tool_button(icon_name: str, tip: str, parent: QWidget | None = None, checkable: bool = False,
                size: int = 18) -> QToolButton:
    """A flat icon button with a tooltip (the style sheet gives it hover and checked states)."""
    button = QToolButton(parent)
    button.setIcon(icon(icon_name))
    button.setIconSize(QSize(size, size))
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setAutoRaise(True)
    button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    return button


def check_box(text: str, tip: str = "") -> QCheckBox:
    """A checkbox whose box shows on the dark palette.

    Fusion draws the indicator's outline from the Window colour made darker, which vanishes
    on a dark window; a lighter Window role here (never painted by a checkbox) brings it back.
    """
    box = QCheckBox(text)
    box.setToolTip(tip)
    palette = box.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#a0a4ac"))
    palette.setColor(QPalette.ColorRole.Base, QColor(style.RAISED))
    box.setPalette(palette)
    box.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    return box


class ColorSwatch(QWidget):
    """A clickable colour square; ``clicked`` when pressed with the left button."""

    clicked = Signal()

    def __init__(self, color: str = "#808080", size: int = 16, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = QColor(color)
        self.setFixedSize(size, size)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def color(self) -> str:
        return self._color.name()

    def set_color(self, color: str) -> None:
        self._color = QColor(color)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(0, 0, 0, 120), 1))
        painter.setBrush(self._color)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class SectionHeader(QFrame):
    """A small uppercase caption with an optional widget on the right."""

    def __init__(self, title: str, right: QWidget | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 8, 2, 2)
        label = self.label = QLabel(title.upper())
        label.setObjectName("sectionTitle")
        font = label.font()
        font.setPointSizeF(max(7.5, font.pointSizeF() - 1.5))
        font.setLetterSpacing(font.SpacingType.AbsoluteSpacing, 0.6)
        label.setFont(font)
        layout.addWidget(label)
        layout.addStretch(1)
        if right is not None:
            layout.addWidget(right)

    def set_title(self, title: str) -> None:
        self.label.setText(title.upper())


# --- numbers -------------------------------------------------------------------------------------
def confidence_rgb(scores: np.ndarray) -> np.ndarray:
    """(N,) scores in 0..1 -> (N, 3) uint8 colours on the red-amber-green ramp (NaN -> 0)."""
    s = np.clip(np.nan_to_num(np.asarray(scores, np.float32), nan=0.0), 0.0, 1.0)
    xs = np.array([stop[0] for stop in CONF_STOPS], np.float32)
    out = np.empty((s.size, 3), np.uint8)
    for channel in range(3):
        ys = np.array([stop[1][channel] for stop in CONF_STOPS], np.float32)
        out[:, channel] = np.interp(s, xs, ys).astype(np.uint8)
    return out


def confidence_color(score: float | None) -> QColor:
    r, g, b = confidence_rgb(np.array([1.0 if score is None else score]))[0]
    return QColor(int(r), int(g), int(b))


def format_time(seconds: float) -> str:
    """0:04.20, 12:03.04, 1:02:03.04: minutes and seconds to the hundredth."""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"
    return f"{int(minutes)}:{secs:05.2f}"


def format_bytes(n: int | float) -> str:
    """375 MB, 1.25 GB, 56.0 MB: three significant figures, decimal units as download sites use."""
    n = float(n)
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit != "MB" or n >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.2f} GB" if n < 10 else f"{n:.1f} GB"
