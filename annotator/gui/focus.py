"""Give the keyboard back to the window once a dialog closes.

A window manager usually re-activates the parent when a dialog goes away; without one (Xvfb,
a kiosk, some remote desktops) X's focus falls back to the root window, no Qt window is
active, and the main window's shortcuts (Ctrl+Q, Ctrl+Z, Space ...) do nothing until a click.
So every dialog is opened through ``open_dialog`` (or followed by ``return_focus`` when it is a
static, blocking one such as QFileDialog.getOpenFileName), which activates the window below
and puts the focus on its canvas.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QWidget


def open_dialog(dialog: QDialog) -> QDialog:
    """``dialog.open()`` (window-modal, non-blocking); its close returns the focus to its parent."""
    parent = dialog.parentWidget()
    if parent is not None:
        dialog.finished.connect(lambda _result: return_focus(parent))
    dialog.open()
    return dialog


def return_focus(widget: QWidget | None) -> None:
    """Activate ``widget``'s window and focus its canvas (the widget the shortcuts expect)."""
    if widget is None or not shiboken6.isValid(widget):
        return  # the window went away while the dialog was up
    window = widget.window()
    if not window.isVisible():
        return
    window.raise_()
    window.activateWindow()  # without a window manager Qt sets the X input focus itself
    canvas = getattr(window, "canvas", None)
    target = canvas if isinstance(canvas, QWidget) and canvas.isVisible() else window
    target.setFocus(Qt.FocusReason.ActiveWindowFocusReason)
