"""Every command of the window as a named action, with shortcuts the user can change.

The table ``SPECS`` is the single list of commands: the menus, the toolbar, the help
dialog (F1) and the user guide all come from it. Shortcuts follow DESIGN.md; a user's
changes are kept in QSettings under ``shortcuts/<id>`` and applied at start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from annotator.gui.icons import icon


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    group: str
    shortcuts: tuple[str, ...] = ()
    icon: str | None = None
    tip: str = ""
    checkable: bool = False


SPECS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("open", "&Open…", "File", ("Ctrl+O",), "open",
               "Open a video, a frame folder or a .annot project"),
    ActionSpec("export", "&Export…", "File", ("Ctrl+E",), "export", "Export the masks as a dataset"),
    ActionSpec("save_copy", "Save a &Copy As…", "File", ("Ctrl+Shift+S",), None,
               "Write a copy of the project file (this one is already saved)"),
    ActionSpec("close_project", "&Close", "File", ("Ctrl+W",), None,
               "Close the project (it is already saved)"),
    ActionSpec("quit", "&Quit", "File", ("Ctrl+Q",), None, "Quit (everything is already saved)"),
    # Edit
    ActionSpec("undo", "&Undo", "Edit", ("Ctrl+Z",), "undo",
               "Undo the last edit (a whole propagation is one)"),
    ActionSpec("redo", "&Redo", "Edit", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo", "Redo"),
    ActionSpec("commit", "Commit prompts", "Edit", ("Return", "Enter"), "commit",
               "End the click session (the mask is already saved)"),
    ActionSpec("escape", "Clear prompts / cancel", "Edit", ("Esc",), "clear",
               "Clear this frame's prompts; cancel a running propagation when there are none"),
    ActionSpec("toggle_lock", "Lock / unlock frame", "Edit", ("L",), "lock",
               "Lock the object's mask on this frame (propagation never overwrites it)"),
    ActionSpec("delete_mask", "Clear mask (absent here)", "Edit", ("Delete",), None,
               "Clear the object's mask on this frame and lock it as 'absent here'"),
    ActionSpec("remove_mask", "Remove mask (unlocked)", "Edit", ("Shift+Delete",), None,
               "Remove the object's mask on this frame without locking it"),
    ActionSpec("review", "Mark frame reviewed", "Edit", ("U",), "review",
               "Toggle the review mark of the object on this frame"),
    # Tools
    ActionSpec("tool_segment", "Click / box", "Tools", ("S",), "segment",
               "Left click: add, right click or Shift+click: remove, drag: box", checkable=True),
    ActionSpec("tool_brush", "Brush", "Tools", ("P",), "brush",
               "Paint onto the object's mask", checkable=True),
    ActionSpec("tool_eraser", "Eraser", "Tools", ("E",), "eraser", "Erase from the object's mask",
               checkable=True),
    ActionSpec("brush_smaller", "Smaller brush", "Tools", ("[",), None, "Brush and eraser size down"),
    ActionSpec("brush_larger", "Larger brush", "Tools", ("]",), None, "Brush and eraser size up"),
    # Propagate
    ActionSpec("propagate_forward", "Propagate &forward", "Propagate", ("F",), "forward",
               "Carry the masks on this frame forward, up to each object's next locked frame"),
    ActionSpec("propagate_backward", "Propagate &backward", "Propagate", ("B",), "backward",
               "Carry the masks on this frame backward, up to each object's previous locked frame"),
    ActionSpec("propagate_all", "Propagate &all", "Propagate", ("Shift+F",), "both",
               "Both directions from every locked frame, each object up to its neighbouring locks"),
    ActionSpec("cancel_jobs", "Cancel propagation", "Propagate", (), "stop",
               "Stop; frames done so far are kept"),
    # Navigate
    ActionSpec("play", "Play / pause", "Navigate", ("Space",), None, "Play or pause"),
    ActionSpec("next_frame", "Next frame", "Navigate", ("Right",)),
    ActionSpec("prev_frame", "Previous frame", "Navigate", ("Left",)),
    ActionSpec("next_10", "Forward 10 frames", "Navigate", ("Shift+Right",)),
    ActionSpec("prev_10", "Back 10 frames", "Navigate", ("Shift+Left",)),
    ActionSpec("first_frame", "First frame", "Navigate", ("Home",)),
    ActionSpec("last_frame", "Last frame", "Navigate", ("End",)),
    ActionSpec("next_unreviewed", "Next unreviewed frame", "Navigate", ("Shift+U",), None,
               "Jump to the object's next frame with a mask that is not reviewed"),
    ActionSpec("next_weak", "Next weak frame", "Navigate", ("W",), None,
               "Jump to the object's next tracked frame with low confidence"),
    # Objects
    ActionSpec("new_object", "&New object", "Objects", ("N",), None,
               "Add an object; the next click segments it"),
    *(ActionSpec(f"select_{n}", f"Select object {n}", "Objects", (str(n),)) for n in range(1, 10)),
    # View
    ActionSpec("fit", "&Fit to window", "View", ("Ctrl+0",), "fit", "Show the whole frame"),
    ActionSpec("actual_size", "&Actual size (100%)", "View", ("Ctrl+1",), "actual",
               "One video pixel per screen pixel"),
    ActionSpec("zoom_in", "Zoom in", "View", ("Ctrl+=", "Ctrl++")),
    ActionSpec("zoom_out", "Zoom out", "View", ("Ctrl+-",)),
    ActionSpec("toggle_masks", "Show masks", "View", ("H",), "eye",
               "Show or hide every mask", checkable=True),
    ActionSpec("toggle_outline", "Outline only", "View", ("O",), "outline", "Draw masks as outlines",
               checkable=True),
    ActionSpec("models", "&Models…", "View", (), "chip", "Choose, download and verify models"),
    # Help
    ActionSpec("help", "&Keyboard shortcuts…", "Help", ("F1",), "help", "Every shortcut; change them here"),
    ActionSpec("user_guide", "&User guide", "Help", (), None, "Open the user guide"),
    ActionSpec("about", "&About Annotator", "Help", ()),
)

MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Left click", "Add a positive point (segments the selected object, or a new one)"),
    ("Right click / Shift+click", "Add a negative point"),
    ("Left drag", "Draw a box prompt"),
    ("Ctrl+click", "Select the object under the cursor"),
    ("Brush / eraser drag", "Paint / erase; one stroke is one undo step"),
    ("Wheel", "Zoom around the cursor"),
    ("Middle drag, Alt+drag, Space+drag", "Pan"),
    ("Drop a file on the window", "Open a video or a project"),
)

_SETTINGS_GROUP = "shortcuts"


class ActionRegistry(QObject):
    """Creates the QActions from SPECS on ``window`` and keeps their shortcuts in QSettings."""

    def __init__(self, window: QWidget, settings: QSettings) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self._specs = {spec.id: spec for spec in SPECS}
        self._actions: dict[str, QAction] = {}
        for spec in SPECS:
            action = QAction(spec.text, window)
            action.setObjectName(f"action_{spec.id}")
            if spec.icon:
                action.setIcon(icon(spec.icon))
            action.setCheckable(spec.checkable)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setAutoRepeat(spec.group == "Navigate" or spec.id in ("brush_smaller", "brush_larger"))
            window.addAction(action)  # shortcuts work even when no menu or toolbar shows the action
            self._actions[spec.id] = action
            self._apply(spec.id, self.shortcuts(spec.id))

    def __getitem__(self, action_id: str) -> QAction:
        return self._actions[action_id]

    def __iter__(self):
        return iter(self._actions.values())

    def spec(self, action_id: str) -> ActionSpec:
        return self._specs[action_id]

    def specs(self) -> list[ActionSpec]:
        return list(self._specs.values())

    def bind(self, action_id: str, callback: Callable[..., object]) -> QAction:
        """Connect the action; checkable ones pass their checked state."""
        action = self._actions[action_id]
        if action.isCheckable():
            action.toggled.connect(callback)
        else:
            action.triggered.connect(lambda _checked=False: callback())
        return action

    # --- shortcuts --------------------------------------------------------------------------
    def default_shortcuts(self, action_id: str) -> list[str]:
        return list(self._specs[action_id].shortcuts)

    def shortcuts(self, action_id: str) -> list[str]:
        """The current shortcuts (portable text, e.g. "Ctrl+Shift+Z")."""
        key = f"{_SETTINGS_GROUP}/{action_id}"
        if self._settings.contains(key):
            value = self._settings.value(key)
            if value in (None, ""):
                return []
            return [str(v) for v in (value if isinstance(value, list) else [value]) if str(v)]
        return self.default_shortcuts(action_id)

    def set_shortcuts(self, action_id: str, sequences: list[str]) -> None:
        """Change and persist; an empty list removes every shortcut of the action."""
        normal = [QKeySequence(s).toString(QKeySequence.SequenceFormat.PortableText) for s in sequences if s]
        if normal == self.default_shortcuts(action_id):
            self._settings.remove(f"{_SETTINGS_GROUP}/{action_id}")
        else:
            self._settings.setValue(f"{_SETTINGS_GROUP}/{action_id}", normal if normal else "")
        self._settings.sync()
        self._apply(action_id, normal)

    def reset_all(self) -> None:
        self._settings.remove(_SETTINGS_GROUP)
        self._settings.sync()
        for action_id in self._specs:
            self._apply(action_id, self.default_shortcuts(action_id))

    def owner_of(self, sequence: str, ignore: str | None = None) -> str | None:
        """The action that already uses ``sequence`` (to refuse duplicates)."""
        wanted = QKeySequence(sequence)
        for action_id, action in self._actions.items():
            if action_id != ignore and any(s == wanted for s in action.shortcuts()):
                return action_id
        return None

    def shortcut_text(self, action_id: str) -> str:
        """For tooltips and the help dialog, in the platform's notation."""
        return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                         for s in self._actions[action_id].shortcuts())

    def _apply(self, action_id: str, sequences: list[str]) -> None:
        action = self._actions[action_id]
        action.setShortcuts([QKeySequence(s) for s in sequences])
        spec = self._specs[action_id]
        tip = spec.tip or spec.text.replace("&", "").rstrip("…")
        keys = self.shortcut_text(action_id)
        action.setToolTip(f"{tip}  ({keys})" if keys else tip)
        action.setStatusTip(spec.tip)
