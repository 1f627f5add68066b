"""The main window: composes the canvas, the timeline, the objects panel and the bars.

It owns the Session and its SessionBridge, builds menus and the toolbar from the action
registry, and wires actions to the controllers. The work itself lives elsewhere:
interaction.py (canvas gestures and edit keys), propagation_bar.py (propagation),
opening.py (open, relink, recent), status.py, dialogs.py. Nothing here waits on a model
or on the disk.

There is no Save: every edit is in the project file when it is made, so closing the
window never asks anything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from annotator import __version__
from annotator.app.events import (
    EngineStatus,
    FrameChanged,
    HistoryChanged,
    JobFinished,
    JobProgress,
    JobStarted,
    Notice,
    ProjectClosed,
    ProjectOpened,
)
from annotator.app.session import Session
from annotator.errors import AnnotatorError
from annotator.gui.actions import ActionRegistry
from annotator.gui.canvas import CanvasView
from annotator.gui.dialogs import NoticeBar, RecentFiles, WelcomePage, error_dialog
from annotator.gui.example_box import ExampleBoxTool
from annotator.gui.export_dialog import ExportDialog
from annotator.gui.focus import open_dialog, return_focus
from annotator.gui.help_dialog import HelpDialog
from annotator.gui.insights_panel import InsightsPanel
from annotator.gui.interaction import Interaction
from annotator.gui.jobs import SessionBridge
from annotator.gui.menus import build_menus, build_toolbar
from annotator.gui.models_dialog import ModelsDialog, restore_engine_choice
from annotator.gui.objects_panel import ObjectsPanel
from annotator.gui.opening import Opener
from annotator.gui.propagation_bar import PropagationBar, PropagationController
from annotator.gui.search_panel import SearchPanel
from annotator.gui.status import StatusBar
from annotator.gui.timeline import TimelineWidget

log = logging.getLogger(__name__)

ORGANIZATION = APPLICATION = "Annotator"
USER_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def default_settings() -> QSettings:
    # The (format, scope, org, app) form honours QSettings.setDefaultFormat (tests use an ini
    # file in a temp dir); QSettings(org, app) would always use the native store.
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class MainWindow(QMainWindow):
    def __init__(self, session: Session | None = None, settings: QSettings | None = None,
                 precompute: bool = True, owns_session: bool | None = None) -> None:
        """``owns_session``: shut the session (and its threads) down on close; default: when
        the window made the session itself. ``precompute``: encode frames ahead in the background."""
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Annotator")
        self.setAcceptDrops(True)
        self.resize(_default_size())
        self.settings = settings or default_settings()
        self.session = session or Session()
        self._owns_session = session is None if owns_session is None else owns_session
        if session is None:
            restore_engine_choice(self.session, self.settings)  # the Models dialog's last choice
        self._precompute = precompute
        self._classical_noted = False
        self.bridge = SessionBridge(self.session, self)
        self.registry = ActionRegistry(self, self.settings)
        self.recent = RecentFiles(self.settings)

        self.canvas = CanvasView()
        self.notices = NoticeBar()
        self._preparing: object | None = None  # the model preparation job on show
        self.propagation_bar = PropagationBar()
        self.welcome = WelcomePage()
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.interaction = Interaction(self.bridge, self.canvas, self.say, self)
        self.example_tool = ExampleBoxTool(self.canvas.scene())  # the Find tab's "more like this" box
        self._tool_before_example: Any = None
        self.propagation = PropagationController(self.bridge, self.propagation_bar, self.say, self)
        self.opener = Opener(self.session, self.recent, self)
        self.timeline = TimelineWidget(self.bridge)
        self.objects_panel = ObjectsPanel(self.bridge, settings=self.settings)
        self.insights_panel = InsightsPanel(self.bridge)
        self.search_panel = SearchPanel(self.bridge)
        self.player = self.timeline.player

        self._build_layout()
        build_toolbar(self)  # sets self.toolbar, tool_group, brush_size, opacity
        build_menus(self)  # sets self.recent_menu
        self._bind_actions()
        self._connect()
        self._restore_settings()
        self._show_editor(False)
        self.status.start()
        self.status.set_engines(**self.session.engine_status())

    # --- public API (tests and app.py use these) ------------------------------------------------------
    def open_path(self, path: str | Path, video: str | None = None) -> Any:
        """Open a video, frame folder or project in the background; returns the opening Job."""
        return self.opener.open(str(path), video)

    def say(self, message: str, level: str = "info") -> None:
        """info: status bar; warning: the notice bar; error: a dialog (the app keeps running)."""
        if level == "error":
            error_dialog(self, "Something went wrong", message)
        elif level == "warning":
            self.notices.show_notice(message, "warning")
        self.status.showMessage(message, 6000)

    # --- layout ---------------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        editor = QWidget()
        column = QVBoxLayout(editor)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.propagation_bar)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(editor)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.notices)
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        bottom, right = Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.timeline_dock = self._dock("Timeline", self.timeline, bottom)
        self.objects_dock = self._dock("Objects", self.objects_panel, right)
        self.insights_dock = self._dock("Insights", self.insights_panel, right)
        self.tabifyDockWidget(self.objects_dock, self.insights_dock)
        self.search_dock = self._dock("Find", self.search_panel, right)
        self.tabifyDockWidget(self.insights_dock, self.search_dock)
        self.objects_dock.raise_()
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}Dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    # --- actions --------------------------------------------------------------------------------------
    def _bind_actions(self) -> None:
        a, it, canvas = self.registry, self.interaction, self.canvas
        bind = a.bind
        bind("open", self.opener.ask)
        bind("export", self.export)
        bind("save_copy", self.save_copy)
        bind("close_project", self.close_project)
        bind("quit", self.close)
        bind("undo", self.undo)
        bind("redo", self.redo)
        bind("commit", it.commit)
        bind("escape", self.escape)
        bind("toggle_lock", it.toggle_lock)
        bind("delete_mask", it.mark_absent_here)
        bind("remove_mask", it.remove_mask)
        bind("review", it.toggle_reviewed)
        bind("tool_segment", lambda on: on and self._set_tool("segment"))
        bind("tool_brush", lambda on: on and self._set_tool("brush"))
        bind("tool_eraser", lambda on: on and self._set_tool("eraser"))
        bind("brush_smaller", lambda: it.brush_tool.grow(0.8))
        bind("brush_larger", lambda: it.brush_tool.grow(1.25))
        bind("propagate_forward", lambda: self.propagation.propagate("forward"))
        bind("propagate_backward", lambda: self.propagation.propagate("backward"))
        bind("propagate_all", lambda: self.propagation.propagate("all"))
        bind("cancel_jobs", self.propagation.cancel)
        bind("play", self.toggle_play)
        bind("next_frame", lambda: self.step(1))
        bind("prev_frame", lambda: self.step(-1))
        bind("next_10", lambda: self.step(10))
        bind("prev_10", lambda: self.step(-10))
        bind("first_frame", lambda: self.go_to(0))
        bind("last_frame", lambda: self.go_to(10**9))
        bind("next_unreviewed", self.objects_panel.next_unreviewed)
        bind("next_weak", self.objects_panel.next_weak_frame)
        bind("new_object", it.new_object)
        for n in range(1, 10):
            bind(f"select_{n}", lambda n=n: it.select_nth(n))
        bind("fit", canvas.fit)
        bind("actual_size", canvas.actual_size)
        bind("zoom_in", lambda: canvas.zoom_by(1.25))
        bind("zoom_out", lambda: canvas.zoom_by(0.8))
        bind("toggle_masks", canvas.overlays.set_visible)
        bind("toggle_outline", self._set_outline)
        bind("models", self.open_models)
        bind("help", self.show_help)
        bind("user_guide", self.open_user_guide)
        bind("about", self._about)
        a["toggle_masks"].setChecked(True)

    def _connect(self) -> None:
        b = self.bridge
        b.event.connect(self._on_event)
        # Coalesce: one propagation fires many changes, the labels need one refresh.
        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(0)
        self._history_timer.timeout.connect(self._update_history_actions)
        self.opener.started.connect(lambda path: self.welcome.set_busy(f"Opening {Path(path).name}…"))
        self.opener.opened.connect(lambda _path: self.welcome.set_busy(""))
        self.opener.failed.connect(lambda _path, _error: self.welcome.set_busy(""))
        self.welcome.open_clicked.connect(self.opener.ask)
        self.welcome.path_chosen.connect(self.open_path)
        self.notices.action_clicked.connect(lambda key: self.open_models() if key == "models" else None)
        self.status.models_requested.connect(self.open_models)
        self.canvas.zoom_changed.connect(self.status.set_zoom)
        self.canvas.cursor_moved.connect(self.status.set_cursor)
        self.canvas.space_tapped.connect(self._space_tapped)
        self.brush_size.valueChanged.connect(self.interaction.brush_tool.set_radius)
        self.interaction.brush_tool.radius_changed.connect(self.brush_size.setValue)
        self.opacity.valueChanged.connect(lambda v: self.canvas.overlays.set_opacity(v / 100))
        self.interaction.selection_changed.connect(self._on_selection_changed)
        panel, timeline = self.objects_panel, self.timeline
        panel.selected_object_changed.connect(lambda oid: self.interaction.select(oid or None))
        panel.message.connect(lambda text, level: self.say(text, level))
        self.insights_panel.message.connect(lambda text, level: self.say(text, level))
        self.search_panel.message.connect(lambda text, level: self.say(text, level))
        self.search_panel.scores_ready.connect(self.timeline.set_search_scores)
        self.search_panel.example_mode.connect(self._example_mode)
        self.example_tool.drawn.connect(self.search_panel.find_like_box)
        timeline.object_clicked.connect(lambda oid: self.interaction.select(oid or None))
        panel.set_range_source(timeline.selected_range)  # "mark absent" starts from the timeline range

    def _example_mode(self, on: bool) -> None:
        """The Find tab's "Draw example box": the canvas takes the example tool until a box is
        drawn, Esc, or another tool is chosen (then that tool stays)."""
        if on and self.canvas.tool is not self.example_tool:
            self._tool_before_example = self.canvas.tool
            self.canvas.set_tool(self.example_tool)
            self.say("Drag a box around one example of what to find; Esc cancels.", "info")
        elif not on and self.canvas.tool is self.example_tool:
            self.canvas.set_tool(self._tool_before_example or self.interaction.prompt_tool)

    def _set_tool(self, name: str) -> None:
        self.search_panel.end_example_mode()  # the chosen tool replaces the example box
        it = self.interaction
        if name == "segment":
            self.canvas.set_tool(it.prompt_tool)
        else:
            it.brush_tool.erase = name == "eraser"
            self.canvas.set_tool(it.brush_tool)
        self.status.showMessage({"segment": "Click: add · right click: remove · drag: box · Enter: commit",
                                 "brush": "Brush: drag to paint ([ ] size)",
                                 "eraser": "Eraser: drag to erase ([ ] size)"}[name], 4000)

    def _set_outline(self, outline: bool) -> None:
        self.canvas.overlays.set_outline_only(outline)
        self.registry["toggle_outline"].setIcon(_icon("outline" if outline else "fill"))

    # --- commands -------------------------------------------------------------------------------------
    def undo(self) -> None:
        self._history(self.session.undo, "Undid", "Nothing to undo")

    def redo(self) -> None:
        self._history(self.session.redo, "Redid", "Nothing to redo")

    def _history(self, call: Any, verb: str, nothing: str) -> None:
        if not self.session.is_open:
            return
        try:
            label = call()
        except AnnotatorError as exc:  # e.g. the newest step is a propagation still running
            self.say(exc.reason[:1].upper() + exc.reason[1:], "info")
            return
        self.session.forget_all_prompts()  # a click session must not refine a mask that changed
        self.say(f"{verb}: {label}" if label else nothing, "info")

    def escape(self) -> None:
        if self.canvas.tool is self.example_tool:  # Esc drops the box being drawn, else the mode
            if not self.example_tool.cancel():
                self.search_panel.end_example_mode()
            return
        if self.interaction.escape():
            return
        if self.propagation.cancel():
            self.say("Cancelling the propagation; the frames done are kept.", "info")
            return
        self.notices.hide()

    def step(self, delta: int) -> None:
        if not self.session.is_open:
            return
        if self.player.is_playing:
            self.player.pause()
        self.session.step_frames(delta)

    def go_to(self, frame: int) -> None:
        if self.session.is_open:
            self.session.set_frame(frame)

    def toggle_play(self) -> None:
        if self.session.is_open:
            self.player.toggle()

    def _space_tapped(self) -> None:
        if "Space" in self.registry.shortcuts("play"):
            self.toggle_play()

    def close_project(self) -> None:
        if self.session.is_open:
            self.session.close()

    def export(self) -> None:
        if not self.session.is_open:
            return
        dialog = ExportDialog(self.bridge, self, selected_object=self.interaction.current_object)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        open_dialog(dialog)

    def save_copy(self) -> None:
        project = self.session.view if self.session.is_open else None
        if project is None:
            return
        from PySide6.QtWidgets import QFileDialog

        suggested = str(project.path.with_name(project.path.stem + " copy.annot"))
        target, _ = QFileDialog.getSaveFileName(self, "Save a copy of the project", suggested,
                                                "Annotator projects (*.annot)")
        return_focus(self)
        if not target:
            return
        def done(job: Any) -> None:  # runs on the I/O thread: go through the bridge's signal
            if job.error is None:  # a failure is reported by the Session itself
                self.bridge.event.emit(Notice(f"Saved a copy as {target}", "info"))

        self.session.save_copy(target).on_done(done)

    def open_models(self) -> None:
        dialog = ModelsDialog(self.bridge, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self.insights_panel.refresh_models())  # a download
        open_dialog(dialog)

    def open_user_guide(self) -> None:
        if USER_GUIDE.exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(USER_GUIDE)))
        else:  # an installed package carries no docs folder
            self.say("The user guide is docs/user-guide.md in Annotator's source repository.", "info")

    def show_help(self) -> None:
        dialog = HelpDialog(self.registry, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        open_dialog(dialog)

    def _about(self) -> None:
        QMessageBox.about(self, "About Annotator",
                          f"<b>Annotator {__version__}</b><br>Label video: click to segment, propagate, "
                          "correct, export.<br><br>Every edit is saved in the project file as you make it.")
        return_focus(self)

    # --- bridge reactions -----------------------------------------------------------------------------
    def _on_event(self, event: object) -> None:
        match event:
            case ProjectOpened():
                self._on_project_opened(event)
            case ProjectClosed():
                self._on_project_closed()
            case FrameChanged(frame=frame):
                self._on_frame_changed(frame)
            case HistoryChanged():
                self._history_timer.start()
            case EngineStatus():
                self._on_engine_status(event.segmenter, event.tracker, event.device, event.reason)
            case Notice(message=message, level=level):
                self.say(message, level)
            case JobStarted(kind="prepare") | JobProgress() | JobFinished(kind="prepare"):
                self._on_preparation(event)

    def _on_preparation(self, event: JobStarted | JobProgress | JobFinished) -> None:
        """A model's one-off preparation (its ONNX export on a CPU): shown in the notice bar
        while it runs (a minute or so), then its outcome in the status bar."""
        if isinstance(event, JobProgress):
            if event.job is self._preparing and event.total is None:
                self.notices.show_notice(event.message, "info")
            return
        if isinstance(event, JobStarted):
            self._preparing = event.job
            self.notices.show_notice(f"{event.job.name}…", "info")
        elif event.job is self._preparing:
            self._preparing = None
            if self.notices.level == "info":
                self.notices.hide()
            self.say(event.job.progress.message, "info")

    def _on_project_opened(self, event: ProjectOpened) -> None:
        self._show_editor(True)
        name = Path(event.video_path).name
        self.setWindowTitle(f"{name} — Annotator")
        self._on_frame_changed(self.session.current_frame)
        if self._precompute:
            self.session.enable_precompute()
        self.canvas.setFocus()

    def _on_project_closed(self) -> None:
        self._show_editor(False)
        self.setWindowTitle("Annotator")
        self.status.set_frame(None, 0, 0.0)
        self.status.zoom_label.clear()
        self.status.set_cursor(None)

    def _on_frame_changed(self, frame: int) -> None:
        video = self.session.video_info
        if video is not None:
            self.status.set_frame(frame, video.frame_count, video.timestamp(frame))

    def _on_selection_changed(self, oid: int | None) -> None:
        if self.objects_panel.current_object_id() != oid:
            self.objects_panel.select_object(oid)
        self.timeline.set_selected_object(oid)
        self.insights_panel.set_object(oid)
        self.search_panel.set_object(oid)

    def _on_engine_status(self, segmenter: str, tracker: str, device: str, reason: str) -> None:
        self.status.set_engines(segmenter, tracker, device, reason)
        if segmenter == "classical" and "installed" in reason and not self._classical_noted:
            self._classical_noted = True
            self.notices.show_notice("No model weights are installed: clicks and tracking use the classical "
                                     "engines (fast, no download, less precise on real video).", "info",
                                     "models", "Models…")

    def _update_history_actions(self) -> None:
        """Name the step undo/redo would revert (it just says "Nothing to undo" when there is
        nothing, so the actions stay enabled while a project is open)."""
        project = self.session.view if self.session.is_open else None
        if project is None or project.closed:
            return
        undo_label, redo_label = project.undo_label(), project.redo_label()
        for action_id, verb, label in (("undo", "Undo", undo_label), ("redo", "Redo", redo_label)):
            action = self.registry[action_id]
            action.setText(f"&{verb} {label}" if label else f"&{verb}")
            keys = self.registry.shortcut_text(action_id)
            action.setToolTip(f"{verb} {label or ''}".strip() + (f"  ({keys})" if keys else ""))

    def _show_editor(self, editing: bool) -> None:
        self.stack.setCurrentIndex(1 if editing else 0)
        if not editing:
            self.welcome.set_recent(self.recent.existing())
        for dock in (self.timeline_dock, self.objects_dock, self.insights_dock, self.search_dock):
            dock.setVisible(editing)
        if editing and not self._docks_sized:
            # First run (no saved layout): the canvas gets the room, the panels what they need.
            self._docks_sized = True
            self.resizeDocks([self.timeline_dock], [230], Qt.Orientation.Vertical)
            self.resizeDocks([self.objects_dock], [330], Qt.Orientation.Horizontal)
        for action_id in ("export", "save_copy", "close_project", "undo", "redo", "propagate_forward",
                          "propagate_backward", "propagate_all", "fit", "actual_size", "new_object"):
            self.registry[action_id].setEnabled(editing)
        if editing:
            self._update_history_actions()

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.existing()
        for path in paths:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # --- drag and drop --------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_path(event) is not None:
            event.acceptProposedAction()
            self.welcome.set_drop_active(True)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.welcome.set_drop_active(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.welcome.set_drop_active(False)
        path = _dropped_path(event)
        if path is not None:
            event.acceptProposedAction()
            self.open_path(path)

    # --- settings and closing -------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self._docks_sized = isinstance(state, QByteArray) and self.restoreState(state)
        self.opacity.setValue(int(s.value("view/opacity", 45)))
        self.canvas.overlays.set_opacity(self.opacity.value() / 100)
        outline = str(s.value("view/outline", "false")).lower() == "true"
        self.registry["toggle_outline"].setChecked(outline)
        self._set_outline(outline)
        self.interaction.brush_tool.set_radius(int(s.value("tools/brush_radius", 12)))

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/opacity", self.opacity.value())
        s.setValue("view/outline", self.registry["toggle_outline"].isChecked())
        s.setValue("tools/brush_radius", self.interaction.brush_tool.radius)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Nothing to save: stop timers and jobs (their finished frames are already in the file)."""
        self._save_settings()
        self._history_timer.stop()
        self.status.stop()
        self.interaction.stop_timers()
        self.propagation.stop_timers()
        if self.player.is_playing:
            self.player.pause()
        self.timeline.shutdown()
        self.objects_panel.shutdown()
        self.insights_panel.shutdown()
        try:
            if self._owns_session:
                self.session.shutdown()
            else:
                self.session.close()
        except AnnotatorError as exc:  # closing must never trap the user in the app
            log.warning("closing the session: %s", exc)
        self.bridge.detach()
        event.accept()


def _dropped_path(event: QDropEvent | QDragEnterEvent) -> str | None:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            return url.toLocalFile()
    return None



def _icon(name: str) -> Any:
    from annotator.gui.icons import icon

    return icon(name)


def _default_size() -> Any:
    """1440x900, or 90% of a smaller screen, so the first window fits."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication

    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return QSize(1440, 900)
    available = screen.availableGeometry()
    return QSize(min(1440, int(available.width() * 0.9)), min(900, int(available.height() * 0.9)))
