"""The main window's toolbar and menus, built from the action registry (actions.py).

Kept apart from main_window.py so the window class stays about wiring, not widget lists.
``w`` is the MainWindow; it is typed ``Any`` because main_window imports this module, and an
import back (even under TYPE_CHECKING) would be a cycle that import-linter refuses.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QLabel, QSizePolicy, QSlider, QSpinBox, QToolBar, QWidget


def build_toolbar(w: Any) -> None:
    """Open | undo, redo | tools, brush size | propagate | fit, 100 % | masks, opacity | models, help."""
    a = w.registry
    bar = QToolBar("Tools")
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    bar.addAction(a["open"])
    bar.addSeparator()
    bar.addActions([a["undo"], a["redo"]])
    bar.addSeparator()
    w.tool_group = QActionGroup(w)
    for action_id in ("tool_segment", "tool_brush", "tool_eraser"):
        w.tool_group.addAction(a[action_id])
        bar.addAction(a[action_id])
    a["tool_segment"].setChecked(True)
    w.brush_size = QSpinBox()
    w.brush_size.setRange(1, 400)
    w.brush_size.setSuffix(" px")
    w.brush_size.setToolTip("Brush and eraser radius ([ and ])")
    w.brush_size.setValue(w.interaction.brush_tool.radius)
    bar.addWidget(w.brush_size)
    bar.addSeparator()
    bar.addActions([a["propagate_backward"], a["propagate_forward"], a["propagate_all"]])
    bar.addSeparator()
    bar.addActions([a["fit"], a["actual_size"]])
    bar.addSeparator()
    bar.addActions([a["toggle_masks"], a["toggle_outline"]])
    w.opacity = QSlider(Qt.Orientation.Horizontal)
    w.opacity.setRange(0, 100)
    w.opacity.setFixedWidth(110)
    w.opacity.setToolTip("Mask opacity")
    bar.addWidget(_spaced(QLabel("Opacity")))
    bar.addWidget(w.opacity)
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    bar.addActions([a["models"], a["help"]])
    w.toolbar = bar


def build_menus(w: Any) -> None:
    """File, Edit, Tools, Propagate, Navigate, Objects, View, Help: every action of the registry."""
    a, menu = w.registry, w.menuBar()
    file = menu.addMenu("&File")
    file.addAction(a["open"])
    w.recent_menu = file.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(w.fill_recent_menu)
    file.addSeparator()
    file.addActions([a["export"], a["save_copy"], a["close_project"]])
    file.addSeparator()
    file.addAction(a["quit"])
    edit = menu.addMenu("&Edit")
    edit.addActions([a["undo"], a["redo"]])
    edit.addSeparator()
    edit.addActions([a["commit"], a["escape"]])
    edit.addSeparator()
    edit.addActions([a["toggle_lock"], a["delete_mask"], a["remove_mask"], a["review"]])
    tools = menu.addMenu("&Tools")
    tools.addActions([a["tool_segment"], a["tool_brush"], a["tool_eraser"]])
    tools.addSeparator()
    tools.addActions([a["brush_smaller"], a["brush_larger"]])
    propagate = menu.addMenu("&Propagate")
    propagate.addActions([a["propagate_forward"], a["propagate_backward"], a["propagate_all"]])
    propagate.addSeparator()
    propagate.addAction(a["cancel_jobs"])
    navigate = menu.addMenu("&Navigate")
    navigate.addActions([a[i] for i in ("play", "next_frame", "prev_frame", "next_10", "prev_10",
                                        "first_frame", "last_frame")])
    navigate.addSeparator()
    navigate.addActions([a["next_unreviewed"], a["next_weak"]])
    objects = menu.addMenu("&Objects")
    objects.addAction(a["new_object"])
    objects.addSeparator()
    objects.addActions([a[f"select_{n}"] for n in range(1, 10)])
    view = menu.addMenu("&View")
    view.addActions([a["fit"], a["actual_size"], a["zoom_in"], a["zoom_out"]])
    view.addSeparator()
    view.addActions([a["toggle_masks"], a["toggle_outline"]])
    view.addSeparator()
    view.addActions([w.timeline_dock.toggleViewAction(), w.objects_dock.toggleViewAction(),
                     w.search_dock.toggleViewAction()])
    view.addSeparator()
    view.addAction(a["models"])
    help_menu = menu.addMenu("&Help")
    help_menu.addActions([a["help"], a["user_guide"]])
    help_menu.addSeparator()
    help_menu.addAction(a["about"])


def _spaced(label: QLabel) -> QLabel:
    label.setContentsMargins(8, 0, 4, 0)
    return label
