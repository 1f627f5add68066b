"""The objects panel: the list of objects and everything done to one of them.

The list shows each object's visibility, colour, id, name, class and how many frames have a
mask. Names and classes are edited in place (double click or F2; the class field completes
from the project's categories and a new name creates the class). The colour opens a colour
picker; the eye hides or shows the object. The tool row and the context menu hold merge,
split, swap and the range edits (clear from a frame on, mark absent, copy forward), each
asked for in a small dialog (object_dialogs.py). Below the list: the selected object's
attributes on the current frame (occluded, truncated), its review mark (U), and the jumps
to the next unreviewed and the next weak frame.

Every change is one Session call (one undo step). The panel reads the store only to show it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.app.events import (
    CategoriesChanged,
    FrameChanged,
    MarksChanged,
    MasksChanged,
    ObjectsChanged,
    ProjectClosed,
    ProjectOpened,
)
from annotator.app.values import ObjectInfo
from annotator.errors import AnnotatorError
from annotator.gui import style
from annotator.gui.focus import open_dialog
from annotator.gui.icons import icon, swatch_icon
from annotator.gui.jobs import SessionBridge
from annotator.gui.object_dialogs import (
    COL_CLASS,
    COL_ID,
    COL_NAME,
    COL_VISIBLE,
    ID_ROLE,
    MergeDialog,
    ObjectItemDelegate,
    ObjectList,
    RangeEditDialog,
    SplitDialog,
    SwapDialog,
    describe_mask,
)
from annotator.gui.widgets_common import (
    WEAK_DEFAULT,
    SectionHeader,
    app_settings,
    check_box,
    tool_button,
)

COUNTS_MS = 200
ATTRIBUTES = (("occluded", "Occluded", "Partly hidden behind something on this frame"),
              ("truncated", "Truncated", "Cut off by the frame border on this frame"))


class ObjectsPanel(QWidget):
    selected_object_changed = Signal(int)  # 0: none
    message = Signal(str, str)  # text, level ("info" | "warning"), for the window's status bar

    def __init__(self, bridge: SessionBridge, parent: QWidget | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("objectsPanel")
        self.bridge = bridge
        self.session = bridge.session
        self._settings = settings or app_settings()
        self._current: int | None = None
        self._objects: dict[int, ObjectInfo] = {}
        self._categories: dict[int, str] = {}
        self._reviewed: set[int] = set()  # reviewed frames of the selected object
        self._building = False
        self._range_source: Callable[[], tuple[int, int] | None] | None = None
        self.dialog: QWidget | None = None  # the open merge/split/... dialog or confirmation

        self._build()
        self._rebuild_timer = _single_shot(self, 0, self._rebuild)
        self._counts_timer = _single_shot(self, COUNTS_MS, self._update_counts)
        bridge.event.connect(self._on_event)
        if self.session.is_open:
            self._rebuild()
        else:
            self._set_enabled(False)

    # --- building -----------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        tools = QHBoxLayout()
        tools.setSpacing(2)
        self.add_button = QPushButton(icon("plus"), " Add")
        self.add_button.setToolTip("Add an object (N); the next click on the frame segments it")
        self.add_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.add_button.clicked.connect(self.add_object)
        tools.addWidget(self.add_button)
        tools.addStretch(1)
        self.merge_button = tool_button("merge", "Merge two objects into one…")
        self.split_button = tool_button("split", "Split the object from a frame on into a new one…")
        self.swap_button = tool_button("swap", "Swap two objects' identities from a frame on…")
        self.range_button = tool_button("range", "Range edits: clear from a frame, mark absent, copy forward")
        self.range_button.setPopupMode(self.range_button.ToolButtonPopupMode.InstantPopup)
        self.range_menu = QMenu(self)
        self.range_menu.addAction("Clear masks from a frame on…", lambda: self.range_edit("clear_from"))
        self.range_menu.addAction("Mark absent on frames…", lambda: self.range_edit("absent"))
        self.range_menu.addAction("Copy mask forward…", lambda: self.range_edit("copy_forward"))
        self.range_button.setMenu(self.range_menu)
        self.delete_button = tool_button("trash", "Delete the object with all its masks…")
        self.merge_button.clicked.connect(self.merge)
        self.split_button.clicked.connect(self.split)
        self.swap_button.clicked.connect(self.swap)
        self.delete_button.clicked.connect(self.delete_current)
        for button in (self.merge_button, self.split_button, self.swap_button, self.range_button,
                       self.delete_button):
            tools.addWidget(button)
        layout.addLayout(tools)

        self.tree = ObjectList(ObjectItemDelegate(self.category_names, self.rename_object,
                                                  self.set_object_class, self))
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.currentItemChanged.connect(self._on_current_item_changed)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.itemDoubleClicked.connect(self._on_item_double_clicked)
        layout.addWidget(self.tree, 1)
        self.empty_hint = QLabel("No objects yet. Press N or click on the frame to add one.")
        self.empty_hint.setObjectName("hint")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty_hint)

        self.frame_header = SectionHeader("This frame")
        layout.addWidget(self.frame_header)
        self.frame_state = QLabel()
        self.frame_state.setObjectName("hint")
        self.frame_state.setWordWrap(True)
        layout.addWidget(self.frame_state)
        checks = QHBoxLayout()
        checks.setSpacing(14)
        self.reviewed_check = check_box("Reviewed", "This object is checked on this frame (U)")
        self.reviewed_check.clicked.connect(lambda on: self._set_reviewed(on))
        checks.addWidget(self.reviewed_check)
        self.attribute_checks: dict[str, QCheckBox] = {}
        for key, text, tip in ATTRIBUTES:
            box = check_box(text, tip)
            box.clicked.connect(lambda on, key=key: self.set_attribute(key, on))
            checks.addWidget(box)
            self.attribute_checks[key] = box
        checks.addStretch(1)
        layout.addLayout(checks)

        layout.addWidget(SectionHeader("Review"))
        review = QHBoxLayout()
        review.setSpacing(6)
        self.unreviewed_button = QPushButton(icon("review"), " Next unreviewed")
        self.unreviewed_button.setToolTip("Jump to the object's next frame with a mask that is not reviewed "
                                          "(Shift+U)")
        self.unreviewed_button.clicked.connect(self.next_unreviewed)
        self.weak_button = QPushButton(icon("weak"), " Next weak")
        self.weak_button.setToolTip("Jump to the object's next tracked frame with a confidence below the "
                                    "threshold (W)")
        self.weak_button.clicked.connect(self.next_weak_frame)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.05, 0.95)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setPrefix("< ")
        self.threshold.setToolTip("A tracked frame is weak when its confidence is below this")
        self.threshold.setValue(float(self._settings.value("objects/weak_threshold", WEAK_DEFAULT)))
        self.threshold.valueChanged.connect(lambda v: self._settings.setValue("objects/weak_threshold", v))
        for widget in (self.unreviewed_button, self.weak_button, self.threshold):
            widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        review.addWidget(self.unreviewed_button)
        review.addWidget(self.weak_button)
        review.addWidget(self.threshold)
        review.addStretch(1)
        layout.addLayout(review)

        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(18)
        layout.addWidget(self.status)

    # --- public API ----------------------------------------------------------------------------------
    def current_object_id(self) -> int | None:
        return self._current

    def select_object(self, oid: int | None) -> None:
        item = self._item(oid) if oid else None
        if item is None and oid and self._rebuild_timer.isActive():  # the list lags a just-made object
            self._rebuild_timer.stop()
            self._rebuild()
            item = self._item(oid)
        if item is None:
            self.tree.setCurrentIndex(QModelIndex())
            self._set_current(None)
            return
        if self.tree.currentItem() is not item:
            self.tree.setCurrentItem(item)
        self._set_current(oid)

    def set_range_source(self, source: Callable[[], tuple[int, int] | None] | None) -> None:
        """Where "mark absent" takes its default range from (e.g. ``timeline.selected_range``)."""
        self._range_source = source

    @property
    def weak_threshold(self) -> float:
        return float(self.threshold.value())

    def category_names(self) -> list[str]:
        return sorted(self._categories.values(), key=str.lower)

    def add_object(self) -> int | None:
        if not self.session.is_open:
            return None
        info = self._call(self.session.add_object)
        if info is None:
            return None
        self._objects[info.id] = info
        self._rebuild()
        self.select_object(info.id)
        self._say(f"{info.name} added: click on it in the frame to segment it.")
        return info.id

    def rename_object(self, oid: int, name: str) -> None:
        name = name.strip()
        if oid in self._objects and name and name != self._objects[oid].name:
            self._call(self.session.rename_object, oid, name)

    def set_object_class(self, oid: int, name: str) -> None:
        name = name.strip()
        info = self._objects.get(oid)
        if info is None or name == self._categories.get(info.category_id or -1, ""):
            return
        self._call(self.session.set_object_category, oid, name or None)

    def set_object_color(self, oid: int, color: str) -> None:
        self._call(self.session.set_object_color, oid, QColor(color).name())

    def set_hidden(self, oid: int, hidden: bool) -> None:
        self._call(self.session.set_object_hidden, oid, hidden)

    def choose_color(self, oid: int | None = None) -> None:
        oid = oid or self._current
        if oid is None or oid not in self._objects:
            return
        dialog = QColorDialog(QColor(self._objects[oid].color), self)
        dialog.setWindowTitle(f"Colour of {self._objects[oid].name}")
        dialog.colorSelected.connect(lambda color: self.set_object_color(oid, color.name()))
        self._open(dialog)

    def delete_current(self) -> None:
        oid = self._require_current()
        if oid is None:
            return
        info = self._objects[oid]
        frames = self.session.view.mask_count(oid) if self.session.is_open else 0
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete object",
                          f"Delete “{info.name}” and its {frames} mask{'s' if frames != 1 else ''}?",
                          QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("Undo (Ctrl+Z) brings it back.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        delete.clicked.connect(lambda: self._delete(oid))
        self._open(box)

    def merge(self) -> None:
        if len(self._objects) < 2:
            self._say("Merging needs two objects.", "warning")
            return
        dialog = MergeDialog(list(self._objects.values()), self._current, self)
        dialog.accepted.connect(lambda: self._merge(*dialog.values()))
        self._open(dialog)

    def split(self) -> None:
        oid = self._require_current()
        if oid is None:
            return
        dialog = SplitDialog(self._objects[oid], self.session.current_frame, self.session.frame_count, self)
        dialog.accepted.connect(lambda: self._split(oid, dialog.values()))
        self._open(dialog)

    def swap(self) -> None:
        if len(self._objects) < 2:
            self._say("Swapping needs two objects.", "warning")
            return
        dialog = SwapDialog(list(self._objects.values()), self._current, self.session.current_frame,
                            self.session.frame_count, self)
        dialog.accepted.connect(lambda: self._swap(*dialog.values()))
        self._open(dialog)

    def range_edit(self, kind: str) -> None:
        """``clear_from``, ``absent`` or ``copy_forward`` for the selected object, in a dialog."""
        oid = self._require_current()
        if oid is None:
            return
        selected = self._range_source() if self._range_source is not None else None
        dialog = RangeEditDialog(kind, self._objects[oid], self.session.current_frame,
                                 self.session.frame_count, selected, self)
        dialog.accepted.connect(lambda: self._range_edit(oid, kind, dialog.values()))
        self._open(dialog)

    def set_attribute(self, key: str, on: bool) -> None:
        """Set or clear a per-frame attribute (occluded, truncated) of the object on this frame."""
        oid = self._require_current()
        if oid is not None and self.session.is_open:
            self._call(self.session.set_frame_attribute, oid, key, on)

    def toggle_review(self) -> None:
        """U: toggle the selected object's review mark on this frame."""
        oid = self._require_current()
        if oid is not None:
            self._set_reviewed(self.session.current_frame not in self._reviewed)

    def next_unreviewed(self) -> int | None:
        return self._jump(lambda oid, after: self.session.next_unreviewed(oid, after=after, wrap=True),
                          "unreviewed frame")

    def next_weak_frame(self) -> int | None:
        threshold = self.weak_threshold
        return self._jump(lambda oid, after: self.session.next_weak_frame(oid, threshold, after, wrap=True),
                          f"weak frame (confidence < {threshold:.2f})")

    def shutdown(self) -> None:
        self._rebuild_timer.stop()
        self._counts_timer.stop()

    # --- actions -------------------------------------------------------------------------------------
    def _delete(self, oid: int) -> None:
        name = self._objects[oid].name if oid in self._objects else str(oid)
        if self._call(self.session.delete_object, oid) is not _FAILED:
            self._say(f"Deleted {name}.")

    def _merge(self, keep: int, absorb: int) -> None:
        if self._call(self.session.merge_objects, keep, absorb) is not _FAILED:
            self.select_object(keep)
            self._say(f"Merged object {absorb} into {keep}.")

    def _split(self, oid: int, frame: int) -> None:
        info = self._call(self.session.split_object, oid, frame)
        if info is not _FAILED and info is not None:
            self._rebuild()
            self.select_object(info.id)
            self._say(f"Frames {frame}– moved to the new object {info.name}.")

    def _swap(self, a: int, b: int, frame: int) -> None:
        touched = self._call(self.session.swap_objects, a, b, frame)
        if touched is not _FAILED:
            self._say(f"Swapped objects {a} and {b} from frame {frame} ({touched} frames).")

    def _range_edit(self, oid: int, kind: str, values: tuple[int, int]) -> None:
        first, second = values
        if kind == "clear_from":
            if self._call(self.session.clear_from, oid, first) is not _FAILED:
                self._say(f"Cleared the masks from frame {first} on.")
        elif kind == "absent":
            count = self._call(self.session.mark_absent, oid, first, second)
            if count is not _FAILED:
                self._say(f"Marked absent on frames {first}–{second} ({count}).")
        else:
            count = self._call(self.session.copy_forward, oid, second, first)
            if count is not _FAILED:
                self._say(f"Copied the mask of frame {first} to {count} frames.")

    def _set_reviewed(self, reviewed: bool) -> None:
        oid = self._require_current()
        if oid is not None:
            self._call(self.session.set_reviewed, oid, reviewed)

    def _jump(self, finder: Callable[[int, int], int | None], what: str) -> int | None:
        """Go to the next matching frame; the Session's finder wraps around once, like a search."""
        oid = self._require_current()
        if oid is None or not self.session.is_open:
            return None
        here = self.session.current_frame
        frame = self._call(finder, oid, here)
        if frame is None or frame is _FAILED:
            self._say(f"No {what} for {self._objects[oid].name}.")
            return None
        wrapped = frame <= here
        self.session.set_frame(frame)
        self._say(f"Frame {frame}: {what}" + (" (searched again from the start)" if wrapped else ""))
        return frame

    # --- list ----------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        project = self.session.view if self.session.is_open else None
        if project is None or project.closed:
            return
        if self.tree.state() == QAbstractItemView.State.EditingState:
            self._rebuild_timer.start(150)  # never yank an editor away; try again shortly
            return
        self._objects = {o.id: o for o in project.objects()}
        self._categories = {c.id: c.name for c in project.categories()}
        counts = project.mask_counts(list(self._objects))
        self._building = True
        try:
            self.tree.fill(list(self._objects.values()), self._categories, counts)
        finally:
            self._building = False
        self.empty_hint.setVisible(not self._objects)
        self._set_enabled(True)
        current = self._current if self._current in self._objects else None
        self.select_object(current)

    def _item(self, oid: int | None) -> QTreeWidgetItem | None:
        return self.tree.item_for(oid)

    def _update_counts(self) -> None:
        project = self.session.view if self.session.is_open else None
        if project is None or project.closed:
            return
        self.tree.set_counts(project.mask_counts(list(self._objects)))

    def _on_current_item_changed(self, current: QTreeWidgetItem | None, _previous: Any) -> None:
        if self._building:
            return
        self._set_current(current.data(COL_ID, ID_ROLE) if current is not None else None)

    def _set_current(self, oid: int | None) -> None:
        changed = oid != self._current
        self._current = oid
        self._load_reviewed()
        self._refresh_frame()
        self._update_buttons()
        if changed:
            self.selected_object_changed.emit(oid or 0)

    def _on_item_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if column == COL_VISIBLE:
            oid = item.data(COL_ID, ID_ROLE)
            project = self.session.view if self.session.is_open else None
            if project is not None and oid in self._objects:  # the store, not the list: it may lag a click
                self.set_hidden(oid, not project.object(oid).hidden)

    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if column == COL_ID:
            self.choose_color(item.data(COL_ID, ID_ROLE))

    def _context_menu(self, pos: Any) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            menu = QMenu(self)
            menu.addAction(icon("plus"), "Add object", self.add_object)
            menu.popup(self.tree.viewport().mapToGlobal(pos))
            return
        self.tree.setCurrentItem(item)
        oid = item.data(COL_ID, ID_ROLE)
        info = self._objects[oid]
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.tree.editItem(item, COL_NAME))
        menu.addAction("Set class…", lambda: self.tree.editItem(item, COL_CLASS))
        menu.addAction(swatch_icon(info.color), "Colour…", lambda: self.choose_color(oid))
        menu.addAction(icon("eye" if info.hidden else "eye_off"), "Show" if info.hidden else "Hide",
                       lambda: self.set_hidden(oid, not info.hidden))
        menu.addSeparator()
        menu.addAction(icon("merge"), "Merge…", self.merge)
        menu.addAction(icon("split"), f"Split from frame {self.session.current_frame}…", self.split)
        menu.addAction(icon("swap"), "Swap identities…", self.swap)
        menu.addSeparator()
        for action in self.range_menu.actions():
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(icon("trash"), "Delete…", self.delete_current)
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    # --- this frame ----------------------------------------------------------------------------------
    def _load_reviewed(self) -> None:
        project = self.session.view if self.session.is_open else None
        oid = self._current
        self._reviewed = set(project.reviewed_frames(oid)) if project is not None and oid else set()

    def _refresh_frame(self) -> None:
        project = self.session.view if self.session.is_open else None
        oid = self._current
        frame = self.session.current_frame
        enabled = project is not None and oid is not None and not project.closed
        self.frame_header.set_title(f"Frame {frame}" if enabled else "This frame")
        for box in (self.reviewed_check, *self.attribute_checks.values()):
            box.setEnabled(enabled)
        if not enabled:
            self.frame_state.setText("Select an object to see and set its state on this frame.")
            for box in (self.reviewed_check, *self.attribute_checks.values()):
                box.setChecked(False)
            return
        attributes = project.frame_attributes(oid, frame)  # type: ignore[union-attr, arg-type]
        for key, box in self.attribute_checks.items():
            box.setChecked(bool(attributes.get(key)))
        self.reviewed_check.setChecked(frame in self._reviewed)
        self.frame_state.setText(describe_mask(project.mask(oid, frame)))  # type: ignore[union-attr, arg-type]

    def _on_masks_changed(self, oid: Any, frames: Any) -> None:
        if not self._counts_timer.isActive():
            self._counts_timer.start()
        if oid in (None, self._current) and (frames is None or self.session.current_frame in frames):
            self._refresh_frame()

    def _on_marks_changed(self, oid: Any, _frames: Any) -> None:
        if oid in (None, self._current):
            self._load_reviewed()
            self._refresh_frame()

    def _on_event(self, event: object) -> None:
        match event:
            case ProjectOpened():
                self._on_project_opened(event)
            case ProjectClosed():
                self._on_project_closed()
            case ObjectsChanged() | CategoriesChanged():
                self._rebuild_timer.start()
            case MasksChanged(object_id=oid, frames=frames):
                self._on_masks_changed(oid, frames)
            case MarksChanged(object_id=oid, frames=frames):
                self._on_marks_changed(oid, frames)
            case FrameChanged(frame=frame):
                self._on_frame_changed(frame)

    def _on_project_opened(self, _project: object) -> None:
        self._rebuild()

    def _on_frame_changed(self, _frame: int) -> None:
        self._refresh_frame()

    def _on_project_closed(self) -> None:
        self._rebuild_timer.stop()
        self._counts_timer.stop()
        self.tree.clear()
        self._objects = {}
        self._categories = {}
        self._set_current(None)
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.add_button, self.tree, self.unreviewed_button, self.weak_button, self.threshold):
            widget.setEnabled(enabled)
        if not enabled:
            self.empty_hint.setVisible(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        open_ = self.session.is_open
        has = open_ and self._current is not None
        two = open_ and len(self._objects) >= 2
        self.merge_button.setEnabled(two)
        self.swap_button.setEnabled(two)
        for widget in (self.split_button, self.range_button, self.delete_button):
            widget.setEnabled(has)

    # --- helpers -------------------------------------------------------------------------------------
    def _require_current(self) -> int | None:
        if self._current is None or not self.session.is_open:
            self._say("Select an object first (1–9, or click one in the list).", "warning")
            return None
        return self._current

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a Session call; a refusal (bad input, closed project) is shown, never raised."""
        try:
            return fn(*args)
        except (AnnotatorError, ValueError, KeyError, TypeError) as exc:
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            self._say(message, "warning")
            from annotator.gui.dialogs import error_dialog

            error_dialog(self, "That did not work", exc if isinstance(exc, AnnotatorError) else message)
            return _FAILED

    def _open(self, dialog: QWidget) -> None:
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "dialog", None) if self.dialog is dialog else None)
        open_dialog(dialog)  # type: ignore[arg-type]

    def _say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {style.WARNING};" if level == "warning" else "")
        self.message.emit(text, level)


_FAILED = object()


def _single_shot(parent: QWidget, interval: int, slot: Callable[[], None]) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval)
    timer.timeout.connect(slot)
    return timer
