"""The "draw example box" canvas tool of the Find tab ("more like this").

While the Find tab's "Draw example box" button is down, the canvas uses this tool: a left drag
draws a dashed box and, on release, emits ``drawn`` with the box in frame pixels (clipped to the
frame). The main window hands that box to the Find panel, which runs SAM 3 with it as a concept
example (``session.text.find_like``) and ends the mode. Esc during a drag drops the box; Esc
with no drag leaves the mode (main_window.escape). The tool edits nothing itself.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QGraphicsScene

from annotator.gui.tools import Tool, rubber_band

MIN_SIDE_PX = 2  # frame pixels: a smaller box is a slip, not an example
EXAMPLE_COLOR = "#ffb02e"


class ExampleBoxTool(Tool):
    name = "example"
    cursor = Qt.CursorShape.CrossCursor

    drawn = Signal(float, float, float, float)  # x0, y0, x1, y1 in frame pixels

    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__(scene)
        self._press: QPointF | None = None
        self._rubber = rubber_band(scene, QColor(EXAMPLE_COLOR), 2.0, QColor(255, 176, 46, 36))

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self._press = pos
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._press is None:
            return False
        self._rubber.setRect(QRectF(self._press, pos).normalized())
        self._rubber.setVisible(True)
        return True

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._press is None:
            return False
        start = self._press
        self.cancel()
        rect = QRectF(start, pos).normalized().intersected(self.frame_rect())
        if rect.width() >= MIN_SIDE_PX and rect.height() >= MIN_SIDE_PX:
            self.drawn.emit(rect.left(), rect.top(), rect.right(), rect.bottom())
        return True

    def cancel(self) -> bool:
        was = self._press is not None
        self._press = None
        self._rubber.setVisible(False)
        return was

    def busy(self) -> bool:
        return self._press is not None
