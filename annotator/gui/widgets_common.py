"""Small pieces shared by the timeline, the objects panel and the models dialog.

Line icons in the style of gui/icons.py (drawn, so they follow the palette), colour
swatches, the confidence colour ramp and time formatting. Nothing here knows a Session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QCoreApplication, QPointF, QRectF, QSettings, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from annotator.gui import style

_SIZE = 48
_cache: dict[str, QIcon] = {}

# Confidence ramp: red (0) -> amber (0.5) -> green (1), muted so it sits well on the dark panel.
CONF_STOPS = ((0.0, (226, 74, 74)), (0.5, (232, 163, 60)), (1.0, (53, 196, 106)))
WEAK_DEFAULT = 0.5


def app_settings() -> QSettings:
    """The app's settings (the main window's QSettings(org, app)), also before the app names itself."""
    return QSettings(QCoreApplication.organizationName() or "Annotator",
                     QCoreApplication.applicationName() or "Annotator")


# --- icons ---------------------------------------------------------------------------------------
def line_icon(name: str) -> QIcon:
    """A transport or panel icon by name (see ``_DRAW``); gui/icons.py names work too."""
    if name in _cache:
        return _cache[name]
    draw = _DRAW.get(name)
    if draw is None:
        from annotator.gui.icons import icon

        return icon(name)
    result = QIcon()
    result.addPixmap(_render(draw, style.TEXT), QIcon.Mode.Normal)
    result.addPixmap(_render(draw, style.TEXT_FAINT), QIcon.Mode.Disabled)
    result.addPixmap(_render(draw, "#ffffff"), QIcon.Mode.Selected)
    _cache[name] = result
    return result


def swatch_icon(color: str, size: int = 14, hidden: bool = False) -> QIcon:
    """A rounded square in ``color`` (hollow when the object is hidden)."""
    pixmap = QPixmap(size * 2, size * 2)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    rect = QRectF(3, 3, size * 2 - 6, size * 2 - 6)
    if hidden:
        painter.setPen(QPen(QColor(color), 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
    else:
        painter.setPen(QPen(QColor(0, 0, 0, 110), 2))
        painter.setBrush(QColor(color))
    painter.drawRoundedRect(rect, 6, 6)
    painter.end()
    return QIcon(pixmap)


def _render(draw: Callable[[QPainter, QColor], None], color: str) -> QPixmap:
    pixmap = QPixmap(_SIZE, _SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(_SIZE / 24, _SIZE / 24)
    pen = QPen(QColor(color), 1.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    draw(painter, QColor(color))
    painter.end()
    return pixmap


def _poly(*points: tuple[float, float]) -> QPolygonF:
    return QPolygonF([QPointF(x, y) for x, y in points])


def _play(p: QPainter, c: QColor) -> None:
    p.setBrush(c)
    p.drawPolygon(_poly((8, 5), (19, 12), (8, 19)))


def _pause(p: QPainter, c: QColor) -> None:
    p.setBrush(c)
    p.drawRoundedRect(QRectF(7, 5, 3.4, 14), 1, 1)
    p.drawRoundedRect(QRectF(13.6, 5, 3.4, 14), 1, 1)


def _step_forward(p: QPainter, c: QColor) -> None:
    p.setBrush(c)
    p.drawPolygon(_poly((7, 6), (15, 12), (7, 18)))
    p.drawLine(QPointF(17.5, 6), QPointF(17.5, 18))


def _mirror(draw: Callable[[QPainter, QColor], None]) -> Callable[[QPainter, QColor], None]:
    def mirrored(p: QPainter, c: QColor) -> None:
        p.translate(24, 0)
        p.scale(-1, 1)
        draw(p, c)

    return mirrored


def _to_end(p: QPainter, c: QColor) -> None:
    p.setBrush(c)
    p.drawPolygon(_poly((4, 6), (11, 12), (4, 18)))
    p.drawPolygon(_poly((11, 6), (18, 12), (11, 18)))
    p.drawLine(QPointF(20, 6), QPointF(20, 18))


def _plus(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(12, 5), QPointF(12, 19))
    p.drawLine(QPointF(5, 12), QPointF(19, 12))


def _trash(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(4.5, 7), QPointF(19.5, 7))
    p.drawPolyline(_poly((9.5, 7), (9.5, 4.5), (14.5, 4.5), (14.5, 7)))
    p.drawPolyline(_poly((6.5, 7), (7.5, 20), (16.5, 20), (17.5, 7)))
    p.drawLine(QPointF(10.3, 10.5), QPointF(10.3, 16.5))
    p.drawLine(QPointF(13.7, 10.5), QPointF(13.7, 16.5))


def _merge(p: QPainter, c: QColor) -> None:
    p.drawPolyline(_poly((5, 4), (5, 8), (12, 14), (12, 20)))
    p.drawPolyline(_poly((19, 4), (19, 8), (12, 14)))
    p.drawPolyline(_poly((9, 17), (12, 20), (15, 17)))


def _split(p: QPainter, c: QColor) -> None:
    p.drawPolyline(_poly((12, 20), (12, 12), (5, 6), (5, 3.5)))
    p.drawPolyline(_poly((12, 12), (19, 6), (19, 3.5)))
    p.drawPolyline(_poly((2.5, 6), (5, 3.5), (7.5, 6)))
    p.drawPolyline(_poly((16.5, 6), (19, 3.5), (21.5, 6)))


def _swap(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(4, 8.5), QPointF(19, 8.5))
    p.drawPolyline(_poly((15.5, 5), (19, 8.5), (15.5, 12)))
    p.drawLine(QPointF(20, 15.5), QPointF(5, 15.5))
    p.drawPolyline(_poly((8.5, 12), (5, 15.5), (8.5, 19)))


def _range(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(5, 5), QPointF(5, 19))
    p.drawLine(QPointF(19, 5), QPointF(19, 19))
    faded = QColor(c)
    faded.setAlpha(90)
    p.setBrush(faded)
    p.drawRect(QRectF(5, 9, 14, 6))


def _more(p: QPainter, c: QColor) -> None:
    p.setBrush(c)
    for x in (6, 12, 18):
        p.drawEllipse(QPointF(x, 12), 1.3, 1.3)


def _eye_off(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(2, 12)
    path.quadTo(12, 2, 22, 12)
    path.quadTo(12, 22, 2, 12)
    p.drawPath(path)
    p.drawEllipse(QPointF(12, 12), 3.2, 3.2)
    p.drawLine(QPointF(4, 20), QPointF(20, 4))


def _download(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(12, 3.5), QPointF(12, 15))
    p.drawPolyline(_poly((7.5, 10.5), (12, 15), (16.5, 10.5)))
    p.drawPolyline(_poly((4.5, 15.5), (4.5, 20), (19.5, 20), (19.5, 15.5)))


def _weak(p: QPainter, c: QColor) -> None:
    # A falling confidence curve with a warning dot: "the next weak frame".
    p.drawPolyline(_poly((3, 7), (8, 8), (12, 11), (15, 17), (21, 18)))
    p.setBrush(c)
    p.drawEllipse(QPointF(15, 17), 2, 2)


_DRAW: dict[str, Callable[[QPainter, QColor], None]] = {
    "play": _play, "pause": _pause, "step_forward": _step_forward, "step_back": _mirror(_step_forward),
    "to_end": _to_end, "to_start": _mirror(_to_end), "plus": _plus, "trash": _trash, "merge": _merge,
    "split": _split, "swap": _swap, "range": _range, "more": _more, "eye_off": _eye_off,
    "download": _download, "weak": _weak,
}


# --- widgets -------------------------------------------------------------------------------------
def tool_button(icon_name: str, tip: str, parent: QWidget | None = None, checkable: bool = False,
                size: int = 18) -> QToolButton:
    """A flat icon button with a tooltip (the style sheet gives it hover and checked states)."""
    button = QToolButton(parent)
    button.setIcon(line_icon(icon_name))
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
