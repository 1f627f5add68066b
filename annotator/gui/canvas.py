"""The canvas: a QGraphicsView that shows one frame at full quality with its masks.

Scene coordinates are frame pixel coordinates (the frame pixmap sits at the origin, scale 1),
so tools and overlays need no conversion and ``mapToScene`` gives (x, y) in the video.

- Zoom: the wheel, around the cursor; Fit (the default until the user zooms) and 100 %.
- Pan: middle drag, Alt+drag or Space+drag. Tapping Space without dragging emits
  ``space_tapped`` (play/pause), so one key does both, as in video editors.
- Mouse gestures go to the active tool (tools.py); the canvas itself never edits anything.
- Up close the frame is drawn with nearest-neighbour sampling, so the user sees the real
  pixels they are labelling; zoomed out it is smoothed.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from annotator.gui import style
from annotator.gui.overlays import OverlayLayer, rgb_image
from annotator.gui.tools import PromptLayer, Tool

MIN_SCALE, MAX_SCALE = 0.02, 64.0
WHEEL_STEP = 1.0015  # zoom factor per wheel delta unit (120 per notch: about 20 % a notch)
NEAREST_ABOVE = 2.0  # show real pixels from this zoom up


class CanvasView(QGraphicsView):
    zoom_changed = Signal(float)
    cursor_moved = Signal(object)  # (x, y) in frame pixels, or None when the cursor leaves
    space_tapped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(style.CANVAS_BG))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # files dropped here go to the main window
        self.viewport().setAcceptDrops(False)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)

        self._frame_item = QGraphicsPixmapItem()
        self._frame_item.setZValue(0)
        self._frame_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._frame_item)
        self.overlays = OverlayLayer(self.scene())
        self.prompts = PromptLayer(self.scene())
        self.tool: Tool | None = None

        self.frame_index = -1
        self.frame_rgb: np.ndarray | None = None
        self.hud_lines: list[str] = []
        self.hud_badge = ""  # a right-aligned note ("LOCKED", "PREVIEW")
        self.hud_color: QColor | None = None  # a dot before the first line (the object's colour)
        self._fit_mode = True
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._space_used = False

    # --- frame ---------------------------------------------------------------------------------
    @property
    def frame_shape(self) -> tuple[int, int] | None:
        return None if self.frame_rgb is None else self.frame_rgb.shape[:2]

    def show_frame(self, index: int, rgb: np.ndarray) -> None:
        """Show a decoded frame (HxWx3 uint8); the first one, or a new size, is fitted to the view."""
        rgb = np.ascontiguousarray(rgb)
        new_size = self.frame_shape != rgb.shape[:2]
        self.frame_index, self.frame_rgb = index, rgb
        self._frame_item.setPixmap(QPixmap.fromImage(rgb_image(rgb)))
        h, w = rgb.shape[:2]
        # Room around the frame so it can be panned anywhere, even when it fits the view.
        self.setSceneRect(QRectF(-w, -h, 3 * w, 3 * h))
        if self.tool is not None:
            self.tool.frame_shape = (h, w)
        if new_size or self._fit_mode:
            self.fit()

    def clear_frame(self) -> None:
        self.frame_index, self.frame_rgb = -1, None
        self._frame_item.setPixmap(QPixmap())
        self.overlays.clear()
        self.prompts.show_prompts([], [], None)
        self.prompts.show_preview(None, QColor())
        self.hud_lines, self.hud_badge = [], ""

    def set_tool(self, tool: Tool | None) -> None:
        if self.tool is tool:
            return
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        if tool is not None:
            tool.frame_shape = self.frame_shape
            tool.view_scale = self.scale_factor
            tool.activate()
            self.viewport().setCursor(tool.cursor)

    # --- zoom and pan ----------------------------------------------------------------------------
    @property
    def scale_factor(self) -> float:
        return float(self.transform().m11())

    def fit(self) -> None:
        shape = self.frame_shape
        if shape is None:
            return
        h, w = shape
        self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        self._fit_mode = True
        self._after_zoom()

    def actual_size(self) -> None:
        centre = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(centre)
        self._fit_mode = False
        self._after_zoom()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom by ``factor`` around ``anchor`` (viewport pixels; default the centre)."""
        current = self.scale_factor
        factor = float(np.clip(current * factor, MIN_SCALE, MAX_SCALE)) / current
        if abs(factor - 1.0) < 1e-6:
            return
        if anchor is None:
            anchor = self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        after = self.mapToScene(anchor)
        delta = after - before
        self.translate(delta.x(), delta.y())
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._fit_mode = False
        self._after_zoom()

    def _after_zoom(self) -> None:
        scale = self.scale_factor
        mode = (Qt.TransformationMode.FastTransformation if scale >= NEAREST_ABOVE
                else Qt.TransformationMode.SmoothTransformation)
        self._frame_item.setTransformationMode(mode)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < NEAREST_ABOVE)
        if self.tool is not None:
            self.tool.view_scale = scale
        self.zoom_changed.emit(scale)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) screen pixels."""
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - round(dx))
        v.setValue(v.value() - round(dy))

    # --- coordinates --------------------------------------------------------------------------------
    def frame_to_view(self, x: float, y: float) -> QPoint:
        """Viewport pixel of frame pixel (x, y)'s centre (what tests click on)."""
        return self.mapFromScene(QPointF(x + 0.5, y + 0.5))

    def view_to_frame(self, pos: QPoint | QPointF) -> QPointF:
        point = pos.toPoint() if isinstance(pos, QPointF) else pos
        return self.mapToScene(point)

    # --- events ----------------------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Space and event.modifiers() == Qt.KeyboardModifier.NoModifier):
            event.accept()  # Space is ours while the canvas has focus: tap = play, hold = pan
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers():
            if not event.isAutoRepeat():
                self._space_down, self._space_used = True, False
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            tapped = self._space_down and not self._space_used
            self._space_down = False
            self._restore_cursor()
            if tapped:
                self.space_tapped.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: object) -> None:
        self._space_down = False
        self._restore_cursor()
        super().focusOutEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(WHEEL_STEP ** delta, event.position().toPoint())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._starts_pan(event):
            self._pan_from = event.position()
            self._space_used = True
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if (self.tool is not None and self.frame_rgb is not None
                and self.tool.press(event, self.view_to_frame(event.position()))):
            event.accept()
            return
        event.accept()  # nothing else on the canvas reacts to clicks (no scene item selection)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.mousePressEvent(event)  # two quick clicks are two prompts, not a "double click"

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self.view_to_frame(event.position())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.pan_by(delta.x(), delta.y())
            self._fit_mode = False
            event.accept()
            return
        if self.frame_rgb is not None:
            self.cursor_moved.emit((pos.x(), pos.y()))
        if self.tool is not None and self.frame_rgb is not None:
            self.tool.hover(pos)
            self.tool.move(event, pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self._restore_cursor()
            event.accept()
            return
        if self.tool is not None and self.frame_rgb is not None:
            self.tool.release(event, self.view_to_frame(event.position()))
        event.accept()

    def leaveEvent(self, event: QEvent) -> None:
        if self.tool is not None:
            self.tool.hover(None)
        self.cursor_moved.emit(None)
        super().leaveEvent(event)

    def contextMenuEvent(self, event: object) -> None:
        pass  # right click is a negative prompt, never a menu

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def _starts_pan(self, event: QMouseEvent) -> bool:
        button, mods = event.button(), event.modifiers()
        return (button == Qt.MouseButton.MiddleButton
                or (button == Qt.MouseButton.LeftButton
                    and (bool(mods & Qt.KeyboardModifier.AltModifier) or self._space_down)))

    def _restore_cursor(self) -> None:
        if self._space_down:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.viewport().setCursor(self.tool.cursor if self.tool else Qt.CursorShape.CrossCursor)

    # --- heads-up display -------------------------------------------------------------------------------
    def set_hud(self, lines: list[str], badge: str = "", color: QColor | None = None) -> None:
        if lines != self.hud_lines or badge != self.hud_badge or color != self.hud_color:
            self.hud_lines, self.hud_badge, self.hud_color = lines, badge, color
            self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if not self.hud_lines and not self.hud_badge:
            return
        painter.save()
        painter.resetTransform()
        font = QFont(self.font())
        font.setPointSizeF(max(8.5, font.pointSizeF() - 0.5))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        pad, line_h = 8, metrics.height()
        if self.hud_lines:
            dot = line_h * 0.6 if self.hud_color is not None else 0.0
            indent = dot + (6 if dot else 0)
            width = max(metrics.horizontalAdvance(line) for line in self.hud_lines) + 2 * pad + indent
            box = QRectF(10, 10, width, line_h * len(self.hud_lines) + pad * 1.2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(16, 17, 20, 190))
            painter.drawRoundedRect(box, 6, 6)
            if self.hud_color is not None:
                painter.setBrush(self.hud_color)
                painter.setPen(QColor(255, 255, 255, 160))
                centre = QPointF(box.left() + pad + dot / 2, box.top() + pad * 0.6 + line_h / 2)
                painter.drawEllipse(centre, dot / 2, dot / 2)
            painter.setPen(QColor(style.TEXT))
            for i, line in enumerate(self.hud_lines):
                baseline = box.top() + pad * 0.6 + metrics.ascent() + i * line_h
                painter.drawText(QPointF(box.left() + pad + indent, baseline), line)
        if self.hud_badge:
            width = metrics.horizontalAdvance(self.hud_badge) + 2 * pad
            box = QRectF(self.viewport().width() - width - 10, 10, width, line_h + pad)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(style.ACCENT_DIM))
            painter.drawRoundedRect(box, 6, 6)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.hud_badge)
        painter.restore()
