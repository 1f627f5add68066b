"""Small line icons drawn with QPainter: no icon pack to ship, and they follow the palette.

Each icon is drawn on a 24-unit grid into a 48 px pixmap (crisp on HiDPI), in the text
colour, with a dimmer copy for the disabled state.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

from annotator.gui import style

_SIZE = 48
_cache: dict[str, QIcon] = {}


def icon(name: str) -> QIcon:
    """The named icon (see ``_DRAW``); an unknown name gives an empty icon."""
    if name not in _cache:
        draw = _DRAW.get(name)
        if draw is None:
            return QIcon()
        result = QIcon()
        result.addPixmap(_render(draw, style.TEXT), QIcon.Mode.Normal)
        result.addPixmap(_render(draw, style.TEXT_FAINT), QIcon.Mode.Disabled)
        result.addPixmap(_render(draw, "#ffffff"), QIcon.Mode.Selected)
        _cache[name] = result
    return _cache[name]


def _canvas(size: int) -> tuple[QPixmap, QPainter]:
    """A transparent size x size pixmap and an antialiased painter on it (end() the painter)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    return pixmap, painter


def dot_icon(color: str, size: int = 14) -> QIcon:
    """A filled circle in ``color`` (menus that list objects)."""
    pixmap, painter = _canvas(size * 2)
    painter.setBrush(QColor(color))
    painter.setPen(QPen(QColor(0, 0, 0, 120), 2))
    painter.drawEllipse(QRectF(3, 3, size * 2 - 6, size * 2 - 6))
    painter.end()
    return QIcon(pixmap)


def swatch_icon(color: str, size: int = 14, hidden: bool = False) -> QIcon:
    """A rounded square in ``color`` (hollow when the object is hidden)."""
    pixmap, painter = _canvas(size * 2)
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
    pixmap, painter = _canvas(_SIZE)
    painter.scale(_SIZE / 24, _SIZE / 24)
    pen = QPen(QColor(color), 1.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    draw(painter, QColor(color))
    painter.end()
    return pixmap


def _poly(*points: tuple[float, float]) -> QPolygonF:
    return QPolygonF([QPointF(x, y) for x, y in points])


def _mirror(draw: Callable[[QPainter, QColor], None]) -> Callable[[QPainter, QColor], None]:
    """``draw`` flipped left to right (redo from undo, step back from step forward)."""
    def mirrored(p: QPainter, c: QColor) -> None:
        p.translate(24, 0)
        p.scale(-1, 1)
        draw(p, c)

    return mirrored


# --- the drawings (24 x 24 units) --------------------------------------------------------------
def _open(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(3, 19)
    path.lineTo(3, 6)
    path.lineTo(9, 6)
    path.lineTo(11, 8)
    path.lineTo(19, 8)
    path.lineTo(19, 11)
    p.drawPath(path)
    p.drawPolygon(_poly((3, 19), (6, 11), (22, 11), (19, 19)))


def _segment(p: QPainter, c: QColor) -> None:
    # A pointer with a click burst: "click to segment".
    p.drawPolygon(_poly((6, 5), (6, 19), (10, 15.5), (13, 21), (15.5, 20), (12.5, 14.5), (17.5, 14)))
    for x1, y1, x2, y2 in ((17, 4, 18.5, 2.5), (19.5, 7.5, 21.5, 7.5), (13.5, 3, 13.5, 1)):
        p.drawLine(QPointF(x1, y1), QPointF(x2, y2))


def _box(p: QPainter, c: QColor) -> None:
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawRect(QRectF(4, 5, 16, 14))


def _brush(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(20, 3), QPointF(11, 13))
    p.setBrush(c)
    path = QPainterPath()
    path.moveTo(11, 12)
    path.cubicTo(7, 12, 7, 16, 5, 20)
    path.cubicTo(10, 20, 13, 18, 13, 14.5)
    path.closeSubpath()
    p.drawPath(path)


def _eraser(p: QPainter, c: QColor) -> None:
    p.drawPolygon(_poly((9, 20), (4, 15), (14, 5), (20, 11), (11, 20)))
    p.drawLine(QPointF(8, 11), QPointF(14, 17))
    p.drawLine(QPointF(11, 20), QPointF(20, 20))


def _arrow(p: QPainter, forward: bool) -> None:
    sign = 1 if forward else -1
    cx = 12
    p.drawLine(QPointF(cx - 7 * sign, 12), QPointF(cx + 6 * sign, 12))
    p.drawPolyline(_poly((cx + 1 * sign, 7), (cx + 6 * sign, 12), (cx + 1 * sign, 17)))
    p.drawLine(QPointF(cx - 8 * sign, 6), QPointF(cx - 8 * sign, 18))


def _forward(p: QPainter, c: QColor) -> None:
    _arrow(p, True)


def _backward(p: QPainter, c: QColor) -> None:
    _arrow(p, False)


def _both(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(3, 12), QPointF(21, 12))
    p.drawPolyline(_poly((7, 8), (3, 12), (7, 16)))
    p.drawPolyline(_poly((17, 8), (21, 12), (17, 16)))
    p.setBrush(c)
    p.drawEllipse(QPointF(12, 12), 2.2, 2.2)


def _stop(p: QPainter, c: QColor) -> None:
    p.setBrush(c)
    p.drawRoundedRect(QRectF(6, 6, 12, 12), 2, 2)


def _undo(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(5, 10)
    path.lineTo(15, 10)
    path.cubicTo(22, 10, 22, 20, 15, 20)
    path.lineTo(9, 20)
    p.drawPath(path)
    p.drawPolyline(_poly((9, 6), (5, 10), (9, 14)))


def _fit(p: QPainter, c: QColor) -> None:
    for (x, y), (dx, dy) in (((4, 4), (1, 1)), ((20, 4), (-1, 1)), ((4, 20), (1, -1)), ((20, 20), (-1, -1))):
        p.drawPolyline(_poly((x, y + 5 * dy), (x, y), (x + 5 * dx, y)))
    p.drawRect(QRectF(8.5, 8.5, 7, 7))


def _actual(p: QPainter, c: QColor) -> None:
    font = p.font()
    font.setPixelSize(9)
    font.setBold(True)
    p.setFont(font)
    p.drawRoundedRect(QRectF(2.5, 5, 19, 14), 2, 2)
    p.drawText(QRectF(2.5, 5, 19, 14), Qt.AlignmentFlag.AlignCenter, "1:1")


def _eye(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(2, 12)
    path.quadTo(12, 2, 22, 12)
    path.quadTo(12, 22, 2, 12)
    p.drawPath(path)
    p.drawEllipse(QPointF(12, 12), 3.2, 3.2)


def _outline(p: QPainter, c: QColor) -> None:
    pen = p.pen()
    pen.setWidthF(1.8)
    p.setPen(pen)
    path = QPainterPath()
    path.moveTo(5, 14)
    path.cubicTo(4, 6, 13, 2, 17, 6)
    path.cubicTo(22, 10, 20, 19, 13, 20)
    path.cubicTo(9, 20.5, 5.5, 18, 5, 14)
    p.drawPath(path)


def _fill(p: QPainter, c: QColor) -> None:
    faded = QColor(c)
    faded.setAlpha(110)
    p.setBrush(faded)
    _outline(p, c)


def _lock(p: QPainter, c: QColor) -> None:
    p.drawRoundedRect(QRectF(5, 11, 14, 10), 2, 2)
    path = QPainterPath()
    path.moveTo(8, 11)
    path.lineTo(8, 8)
    path.cubicTo(8, 3, 16, 3, 16, 8)
    path.lineTo(16, 11)
    p.drawPath(path)


def _help(p: QPainter, c: QColor) -> None:
    p.drawEllipse(QPointF(12, 12), 9, 9)
    path = QPainterPath()
    path.moveTo(9.3, 9.5)
    path.cubicTo(9.3, 6, 15, 6, 15, 9.5)
    path.cubicTo(15, 12, 12, 12, 12, 14.5)
    p.drawPath(path)
    p.setBrush(c)
    p.drawEllipse(QPointF(12, 17.6), 0.6, 0.6)


def _chip(p: QPainter, c: QColor) -> None:
    p.drawRoundedRect(QRectF(6, 6, 12, 12), 1.5, 1.5)
    p.drawRect(QRectF(9.5, 9.5, 5, 5))
    for t in (9, 12, 15):
        p.drawLine(QPointF(t, 2.5), QPointF(t, 6))
        p.drawLine(QPointF(t, 18), QPointF(t, 21.5))
        p.drawLine(QPointF(2.5, t), QPointF(6, t))
        p.drawLine(QPointF(18, t), QPointF(21.5, t))


def _export(p: QPainter, c: QColor) -> None:
    p.drawPolyline(_poly((8, 9), (5, 9), (5, 20), (19, 20), (19, 9), (16, 9)))
    p.drawLine(QPointF(12, 3), QPointF(12, 14))
    p.drawPolyline(_poly((8.5, 6.5), (12, 3), (15.5, 6.5)))


def _commit(p: QPainter, c: QColor) -> None:
    pen = p.pen()
    pen.setWidthF(2.0)
    p.setPen(pen)
    p.drawPolyline(_poly((5, 12.5), (10, 17.5), (19.5, 7)))


def _clear(p: QPainter, c: QColor) -> None:
    p.drawLine(QPointF(6, 6), QPointF(18, 18))
    p.drawLine(QPointF(18, 6), QPointF(6, 18))


def _review(p: QPainter, c: QColor) -> None:
    p.drawEllipse(QPointF(12, 12), 9, 9)
    p.drawPolyline(_poly((7.5, 12.5), (10.8, 15.6), (16.5, 9)))


# --- transport and panel drawings (timeline, player, objects panel, models dialog) -------------
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
    _eye(p, c)
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
    "open": _open, "segment": _segment, "box": _box, "brush": _brush, "eraser": _eraser,
    "forward": _forward, "backward": _backward, "both": _both, "stop": _stop, "undo": _undo,
    "redo": _mirror(_undo), "fit": _fit, "actual": _actual, "eye": _eye, "outline": _outline, "fill": _fill,
    "lock": _lock, "help": _help, "chip": _chip, "export": _export, "commit": _commit, "clear": _clear,
    "review": _review,
    "play": _play, "pause": _pause, "step_forward": _step_forward, "step_back": _mirror(_step_forward),
    "to_end": _to_end, "to_start": _mirror(_to_end), "plus": _plus, "trash": _trash, "merge": _merge,
    "split": _split, "swap": _swap, "range": _range, "more": _more, "eye_off": _eye_off,
    "download": _download, "weak": _weak,
}
