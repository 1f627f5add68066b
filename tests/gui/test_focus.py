"""After a dialog closes, the window is active again and its canvas has the keyboard, so the
shortcuts work without a click. (tests/x11 checks the same in a real X11 window with no window
manager; this offscreen check runs everywhere.)"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog

from annotator.gui.focus import open_dialog, return_focus
from tests.gui.helpers import TIMEOUT_MS, press_key

pytestmark = pytest.mark.gui


def _focus_elsewhere(window) -> None:
    window.objects_panel.setFocus()
    assert not window.canvas.hasFocus()


def test_the_canvas_gets_the_keyboard_back_after_the_export_dialog(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    _focus_elsewhere(window)
    press_key(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = window.findChild(QDialog, "exportDialog")
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT_MS)
    dialog.reject()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window and window.canvas.hasFocus(),
                    timeout=TIMEOUT_MS)


def test_open_dialog_returns_the_focus_whatever_closes_it(make_window, qtbot):
    window = make_window()
    for close in (QDialog.accept, QDialog.reject, QDialog.close):
        _focus_elsewhere(window)
        dialog = QDialog(window)
        open_dialog(dialog)
        qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT_MS)
        close(dialog)
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=TIMEOUT_MS)
        # with no project the welcome page is up and the canvas hidden: the window takes the focus
        assert window.hasFocus() or window.isAncestorOf(QApplication.focusWidget())


def test_return_focus_ignores_a_window_that_is_gone(qtbot):
    import shiboken6
    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    shiboken6.delete(widget)
    return_focus(widget)  # no crash on a deleted widget
    return_focus(None)
