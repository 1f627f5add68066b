"""Fixtures for the timeline, player, objects panel and models dialog tests.

``bridge`` opens a real Session (classical engines, real PyAV decode, a real SQLite project)
on a private copy of resources/sample.mp4 and wraps it in a SessionBridge. QSettings go to
an ini file under tmp_path, and a test that leaves a repeating QTimer of ours running fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

# Shared fixtures (autouse ones included) take effect here by being names in this conftest.
from tests.qt_fixtures import (  # noqa: F401
    _no_dangling_qtimers,
    _styled_app,
    bridge,
    isolated_settings,
    load_sample_gt,
    sample_copy,
    show_factory,
)


@pytest.fixture
def session(sample_copy: Path) -> Iterator[object]:  # noqa: F811 (the imported fixture, by name)
    """A real Session on the sample copy with the classical segmenter and tracker."""
    from annotator.app.session import Session

    s = Session(segmenter="classical", tracker="classical")
    s.open(sample_copy)
    yield s
    s.shutdown()


@pytest.fixture
def show(qtbot: object) -> Callable[..., object]:
    """show(widget, w, h): register with qtbot, size, show and wait until exposed."""
    return show_factory(qtbot, 900, 260)


@pytest.fixture(scope="module")
def gt() -> dict:
    """resources/sample_gt.json, read once a module."""
    return load_sample_gt()


class Mouse:
    """Real QMouseEvents sent to a widget (a view's viewport), with explicit buttons and modifiers.

    QTest.mouseMove cannot hold a button down on every platform plugin, so drags are sent as
    press, moves and release events, the way a window system delivers them. A pyqtgraph scene
    drops moves that come faster than its rate limit (100 a second), as a real mouse never
    does: each move waits until the scene would take it.
    """

    def __init__(self, qtbot: object) -> None:
        self._qtbot = qtbot

    def _send(self, widget: object, kind: object, pos: object, button: object, buttons: object,
              modifiers: object) -> None:
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        local = QPointF(pos)  # type: ignore[arg-type]
        global_pos = QPointF(widget.mapToGlobal(local.toPoint()))  # type: ignore[attr-defined]
        event = QMouseEvent(kind, local, global_pos, button, buttons, modifiers)  # type: ignore[arg-type]
        QApplication.sendEvent(widget, event)  # type: ignore[arg-type]

    def click(self, widget: object, pos: object, button: object = None, modifiers: object = None) -> None:
        self.drag(widget, [pos], button, modifiers)

    def drag(self, widget: object, points: list, button: object = None, modifiers: object = None) -> None:
        from PySide6.QtCore import QEvent, Qt

        button = button or Qt.MouseButton.LeftButton
        modifiers = modifiers or Qt.KeyboardModifier.NoModifier
        self._send(widget, QEvent.Type.MouseMove, points[0], Qt.MouseButton.NoButton,
                   Qt.MouseButton.NoButton, modifiers)
        self._send(widget, QEvent.Type.MouseButtonPress, points[0], button, button, modifiers)
        scene = widget.parent().scene() if hasattr(widget.parent(), "scene") else None  # type: ignore[attr-defined]
        for point in points[1:]:
            if scene is not None and hasattr(scene, "_moveEventIsAllowed"):
                self._qtbot.waitUntil(scene._moveEventIsAllowed, timeout=1000)  # type: ignore[attr-defined]
            self._send(widget, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button, modifiers)
        self._send(widget, QEvent.Type.MouseButtonRelease, points[-1], button, Qt.MouseButton.NoButton,
                   modifiers)


    def wheel(self, widget: object, pos: object, steps: int, modifiers: object = None) -> None:
        """``steps`` notches of the wheel (positive: away from the user)."""
        from PySide6.QtCore import QPoint, QPointF, Qt
        from PySide6.QtGui import QWheelEvent
        from PySide6.QtWidgets import QApplication

        local = QPointF(pos)  # type: ignore[arg-type]
        event = QWheelEvent(local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0),  # type: ignore[attr-defined]
                            QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                            modifiers or Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)  # type: ignore[arg-type]


@pytest.fixture
def mouse(qtbot: object) -> Mouse:
    return Mouse(qtbot)
