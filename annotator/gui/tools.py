"""Canvas tools: the click/box prompt tool and the brush/eraser, plus what they draw.

Tools turn mouse gestures (in frame pixel coordinates) into intentions, as Qt signals; the
Interaction controller turns those into Session calls. A tool never talks to the Session
itself, so the canvas stays a view.

- PromptTool: left click = positive point, right click or Shift+click = negative point,
  a left drag = box, Ctrl+click = pick the object under the cursor.
- BrushTool: a stroke is drawn live as a path and applied on release as ONE full-resolution
  bool mask (one edit, one undo step); ``[`` and ``]`` change the radius; a circle follows
  the cursor at the real size.
- PromptLayer: the green/red prompt dots, the dashed box and the instant rough preview.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QMouseEvent, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
)

from annotator.gui import style
from annotator.gui.overlays import outline_path

Z_PREVIEW = 3.0
Z_TOOL = 10.0
DRAG_THRESHOLD_PX = 6  # screen pixels a press must travel to become a box drag
MIN_BRUSH, MAX_BRUSH = 1, 400


class Tool(QObject):
    """Base: gestures in frame coordinates. Handlers return True when they used the event."""

    name = "tool"
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__()
        self.scene = scene
        self.frame_shape: tuple[int, int] | None = None  # (h, w) of the frame shown
        self.view_scale = 1.0  # screen pixels per frame pixel, kept current by the canvas

    def activate(self) -> None: ...

    def deactivate(self) -> None:
        self.cancel()

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def hover(self, pos: QPointF | None) -> None: ...

    def cancel(self) -> bool:
        """Abort a gesture in progress; True if there was one."""
        return False

    def busy(self) -> bool:
        return False

    def frame_rect(self) -> QRectF:
        """The frame shown, in frame pixels (empty before the first frame)."""
        h, w = self.frame_shape or (0, 0)
        return QRectF(0, 0, w, h)


class PromptTool(Tool):
    name = "segment"
    cursor = Qt.CursorShape.CrossCursor

    point = Signal(float, float, bool)  # x, y, positive
    box = Signal(float, float, float, float)  # x0, y0, x1, y1
    pick = Signal(float, float)  # Ctrl+click: select the object here

    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__(scene)
        self._press: QPointF | None = None
        self._press_screen: QPointF | None = None
        self._negative = False
        self._dragging = False
        self._rubber = rubber_band(scene, QColor("#ffffff"), 1.5, QColor(255, 255, 255, 28))

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        mods = event.modifiers()
        if event.button() == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ControlModifier:
            self.pick.emit(pos.x(), pos.y())
            return True
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        self._press = pos
        self._press_screen = event.position()
        self._negative = (event.button() == Qt.MouseButton.RightButton
                          or bool(mods & Qt.KeyboardModifier.ShiftModifier))
        self._dragging = False
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._press is None or self._press_screen is None:
            return False
        if not self._negative and not self._dragging:
            travelled = QLineF(self._press_screen, event.position()).length()
            self._dragging = travelled >= DRAG_THRESHOLD_PX
        if self._dragging:
            self._rubber.setRect(QRectF(self._press, pos).normalized())
            self._rubber.setVisible(True)
        return True

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._press is None:
            return False
        start, dragging, negative = self._press, self._dragging, self._negative
        self.cancel()
        if dragging:
            rect = QRectF(start, pos).normalized().intersected(self.frame_rect())
            if rect.width() >= 2 and rect.height() >= 2:
                self.box.emit(rect.left(), rect.top(), rect.right(), rect.bottom())
        elif self._inside(start):
            self.point.emit(start.x(), start.y(), not negative)
        return True

    def cancel(self) -> bool:
        was = self._press is not None
        self._press = self._press_screen = None
        self._dragging = False
        self._rubber.setVisible(False)
        return was

    def busy(self) -> bool:
        return self._press is not None

    def _inside(self, pos: QPointF) -> bool:
        return self.frame_rect().contains(pos)


class BrushTool(Tool):
    name = "brush"
    cursor = Qt.CursorShape.CrossCursor

    stroke = Signal(object, bool)  # HxW bool mask, erase
    radius_changed = Signal(int)

    def __init__(self, scene: QGraphicsScene, radius: int = 12) -> None:
        super().__init__(scene)
        self.erase = False
        self.radius = int(np.clip(radius, MIN_BRUSH, MAX_BRUSH))
        self.color = QColor(style.ACCENT)
        self._points: list[QPointF] = []
        self._path_item = QGraphicsPathItem()
        self._path_item.setZValue(Z_TOOL)
        scene.addItem(self._path_item)
        # The brush outline: a thin white ring over a wider dark one, visible on any footage.
        self._cursor_item = _cursor_ring(scene, QColor(255, 255, 255, 230), 1.2, Z_TOOL + 1)
        self._cursor_shadow = _cursor_ring(scene, QColor(0, 0, 0, 160), 3.0, Z_TOOL + 0.5)
        self._hover: QPointF | None = None

    def set_radius(self, radius: int) -> None:
        radius = int(np.clip(radius, MIN_BRUSH, MAX_BRUSH))
        if radius != self.radius:
            self.radius = radius
            self.hover(self._hover)
            self.radius_changed.emit(radius)

    def grow(self, factor: float) -> None:
        """``]`` and ``[``: about 20 % per press, at least one pixel."""
        step = max(1, round(self.radius * abs(factor - 1)))
        self.set_radius(self.radius + (step if factor > 1 else -step))

    def deactivate(self) -> None:
        self.cancel()
        self.hover(None)

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.frame_shape is None:
            return False
        self._points = [pos]
        self._update_path()
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        self.hover(pos)
        if not self._points:
            return False
        # Skip points closer than a quarter radius: the path stays light on long strokes.
        if QLineF(self._points[-1], pos).length() >= max(1.0, self.radius / 4):
            self._points.append(pos)
            self._update_path()
        return True

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if not self._points or self.frame_shape is None:
            return False
        if pos != self._points[-1]:
            self._points.append(pos)
        mask = rasterize_stroke([(p.x(), p.y()) for p in self._points], self.radius, self.frame_shape)
        self.cancel()
        if mask.any():
            self.stroke.emit(mask, self.erase)
        return True

    def hover(self, pos: QPointF | None) -> None:
        self._hover = pos
        visible = pos is not None
        self._cursor_item.setVisible(visible)
        self._cursor_shadow.setVisible(visible)
        if pos is not None:
            r = self.radius
            rect = QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r)
            self._cursor_item.setRect(rect)
            self._cursor_shadow.setRect(rect)

    def cancel(self) -> bool:
        was = bool(self._points)
        self._points = []
        self._path_item.setPath(QPainterPath())
        return was

    def busy(self) -> bool:
        return bool(self._points)

    def _update_path(self) -> None:
        path = QPainterPath(self._points[0])
        for point in self._points[1:]:
            path.lineTo(point)
        if len(self._points) == 1:
            path.lineTo(self._points[0] + QPointF(0.01, 0))  # a dot still shows as a disc
        color = QColor(255, 255, 255, 110) if self.erase else QColor(self.color.red(), self.color.green(),
                                                                      self.color.blue(), 150)
        pen = QPen(color, 2 * self.radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        self._path_item.setPen(pen)
        self._path_item.setPath(path)


def rasterize_stroke(points: list[tuple[float, float]], radius: int, shape: tuple[int, int]) -> np.ndarray:
    """The pixels a round brush of ``radius`` covers along ``points`` (frame coordinates)."""
    canvas = np.zeros(shape, np.uint8)
    pts = [(int(round(x - 0.5)), int(round(y - 0.5))) for x, y in points]
    for a, b in zip(pts, pts[1:]):
        cv2.line(canvas, a, b, 1, thickness=max(1, 2 * radius), lineType=cv2.LINE_8)
    for p in pts:
        cv2.circle(canvas, p, radius, 1, thickness=-1)
    return canvas.astype(bool)


class PromptLayer:
    """What the user asked for on this frame: prompt dots, the box, and the rough preview."""

    DOT_RADIUS = 6.0  # screen pixels

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = scene
        self._dots: list[QGraphicsEllipseItem] = []
        self._box = QGraphicsRectItem()
        pen = QPen(QColor("#ffffff"), 1.6, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._box.setPen(pen)
        self._box.setZValue(Z_TOOL - 1)
        self._box.setVisible(False)
        scene.addItem(self._box)
        self._preview = QGraphicsPixmapItem()
        self._preview.setZValue(Z_PREVIEW)
        self._preview.setOpacity(0.5)
        scene.addItem(self._preview)
        self._preview_outline = QGraphicsPathItem()
        outline_pen = QPen(QColor("#ffffff"), 1.4, Qt.PenStyle.DashLine)
        outline_pen.setCosmetic(True)
        self._preview_outline.setPen(outline_pen)
        self._preview_outline.setZValue(Z_PREVIEW + 0.1)
        scene.addItem(self._preview_outline)
        self.preview_shown = False

    def show_prompts(self, points: list[tuple[float, float]], labels: list[int],
                     box: tuple[float, float, float, float] | None) -> None:
        for dot in self._dots:
            self._scene.removeItem(dot)
        self._dots = []
        r = self.DOT_RADIUS
        for (x, y), label in zip(points, labels):
            dot = QGraphicsEllipseItem(-r, -r, 2 * r, 2 * r)
            dot.setPos(QPointF(x, y))
            # Constant size on screen: a dot must not grow into a blob at 800 % zoom.
            dot.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            dot.setBrush(QBrush(QColor(style.POSITIVE if label else style.NEGATIVE)))
            pen = QPen(QColor("#ffffff"), 1.8)
            pen.setCosmetic(True)
            dot.setPen(pen)
            dot.setZValue(Z_TOOL)
            self._scene.addItem(dot)
            self._dots.append(dot)
        if box is not None:
            x0, y0, x1, y1 = box
            self._box.setRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
        self._box.setVisible(box is not None)

    def show_preview(self, mask: np.ndarray | None, color: QColor) -> None:
        """A rough mask (None: remove it), drawn lighter with a dashed edge: not the real answer yet."""
        if mask is None:
            self._preview.setPixmap(QPixmap())
            self._preview_outline.setPath(QPainterPath())
            self.preview_shown = False
            return
        h, w = mask.shape
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[mask] = (color.red(), color.green(), color.blue(), 255)
        image = QImage(rgba.data, w, h, rgba.strides[0], QImage.Format.Format_RGBA8888)
        self._preview.setPixmap(QPixmap.fromImage(image))
        self._preview_outline.setPath(outline_path(mask))
        self.preview_shown = True

    @property
    def dot_count(self) -> int:
        return len(self._dots)


def rubber_band(scene: QGraphicsScene, color: QColor, width: float, fill: QColor) -> QGraphicsRectItem:
    """A hidden dashed box with a cosmetic pen, above the overlays, added to ``scene``: what a
    box drag shows while it lasts."""
    band = QGraphicsRectItem()
    pen = QPen(color, width, Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    band.setPen(pen)
    band.setBrush(fill)
    band.setZValue(Z_TOOL)
    band.setVisible(False)
    scene.addItem(band)
    return band


def _cursor_ring(scene: QGraphicsScene, color: QColor, width: float, z: float) -> QGraphicsEllipseItem:
    """A hidden ellipse item with a cosmetic pen (same width at any zoom), added to ``scene``."""
    ring = QGraphicsEllipseItem()
    pen = QPen(color, width)
    pen.setCosmetic(True)
    ring.setPen(pen)
    ring.setZValue(z)
    ring.setVisible(False)
    scene.addItem(ring)
    return ring
