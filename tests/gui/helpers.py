"""Helpers for the GUI tests: real input events on the canvas, waits, ground truth."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.core import masks as rle_ops
from tests.session_helpers import iou as iou  # the GUI tests import it from here

TIMEOUT_MS = 60_000  # generous: CI runs on 2 shared cores


def wait_for_frame(qtbot: object, window: object, frame: int | None) -> None:
    """Until the canvas shows ``frame`` (None: the session's current frame) with its masks, and
    the window itself has caught up (session events reach each widget as its own queued call,
    so the canvas can be ready a moment before the window's title and status bar are)."""
    def shown() -> None:
        session = window.session  # type: ignore[attr-defined]
        assert session.is_open
        target = session.current_frame if frame is None else frame
        assert window.canvas.frame_index == target  # type: ignore[attr-defined]
        assert not window.interaction._redraw_timer.isActive()  # type: ignore[attr-defined]
        assert window.stack.currentIndex() == 1 and window.opener.job is None  # type: ignore[attr-defined]
        assert window.status.frame_label.text().startswith(f"Frame {target} ")  # type: ignore[attr-defined]

    qtbot.waitUntil(shown, timeout=TIMEOUT_MS)  # type: ignore[attr-defined]


# --- input helpers --------------------------------------------------------------------------------------
def view_point(window: object, x: float, y: float) -> QPoint:
    return window.canvas.frame_to_view(x, y)  # type: ignore[attr-defined]


def click_frame(window: object, x: float, y: float, button: Qt.MouseButton = Qt.MouseButton.LeftButton,
                modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A real mouse click on the canvas viewport at frame pixel (x, y)."""
    QTest.mouseClick(window.canvas.viewport(), button, modifier, view_point(window, x, y))  # type: ignore[attr-defined]


def hover(window: object, x: float, y: float) -> None:
    """Move the mouse (no button held) over frame pixel (x, y) of the canvas."""
    viewport = window.canvas.viewport()  # type: ignore[attr-defined]
    local = QPointF(view_point(window, x, y))
    event = QMouseEvent(QEvent.Type.MouseMove, local, viewport.mapToGlobal(local), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def press_key(window: object, key: Qt.Key,
              modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A key click delivered to the canvas (which has focus while annotating): shortcuts fire."""
    QTest.keyClick(window.canvas, key, modifier)  # type: ignore[attr-defined]


def gt_mask(gt: dict, object_id: int, frame: int) -> np.ndarray:
    return rle_ops.decode(gt["objects"][str(object_id)]["masks"][frame])


def inner_point(mask: np.ndarray) -> tuple[int, int]:
    """A pixel deep inside the mask (the one farthest from its edge): where a user would click."""
    import cv2

    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)
