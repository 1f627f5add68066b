"""The objects panel's parts: the object list with its in-place editors (name; class with
completion), and the small forms behind merge, split, swap and the range edits.

Each dialog only collects values (``values()``) and explains in one line what will happen;
the panel makes the Session call when it is accepted. They open window-modal with
``open()`` (never ``exec()`` from a slot), so tests can drive them and nothing stacks event
loops. Every edit they lead to is one undo step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.app.values import ObjectInfo
from annotator.gui import style
from annotator.gui.icons import icon, swatch_icon

COL_VISIBLE, COL_ID, COL_NAME, COL_CLASS, COL_FRAMES = range(5)
ID_ROLE = Qt.ItemDataRole.UserRole


class ObjectItemDelegate(QStyledItemDelegate):
    """Line edit for names; an editable combo with completion for classes; nothing else edits."""

    def __init__(self, categories: Callable[[], list[str]], rename: Callable[[int, str], None],
                 set_class: Callable[[int, str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._categories = categories
        self._rename = rename
        self._set_class = set_class

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: QModelIndex) -> QWidget | None:
        if index.column() == COL_NAME:
            editor = QLineEdit(parent)
            editor.setObjectName("nameEditor")
            return editor
        if index.column() == COL_CLASS:
            combo = QComboBox(parent)
            combo.setObjectName("classEditor")
            combo.setEditable(True)
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            combo.addItems(self._categories())
            completer = QCompleter(self._categories(), combo)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            combo.setCompleter(completer)
            combo.lineEdit().setPlaceholderText("class (type a new one)")
            return combo
        return None

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        text = index.data(Qt.ItemDataRole.EditRole) or ""
        if isinstance(editor, QComboBox):
            editor.setCurrentText(text)
            editor.lineEdit().selectAll()
        elif isinstance(editor, QLineEdit):
            editor.setText(text)
            editor.selectAll()

    def setModelData(self, editor: QWidget, model: Any, index: QModelIndex) -> None:
        text = editor.currentText() if isinstance(editor, QComboBox) else editor.text()  # type: ignore[attr-defined]
        oid = index.siblingAtColumn(COL_ID).data(ID_ROLE)
        if index.column() == COL_NAME:
            self._rename(oid, text)
        else:
            self._set_class(oid, text)


class ObjectList(QTreeWidget):
    """One row per object: eye, colour and id, name, class, frames with a mask."""

    HEADERS = ("", "#", "Name", "Class", "Frames")

    def __init__(self, delegate: QStyledItemDelegate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("objectList")
        self.setColumnCount(len(self.HEADERS))
        self.setHeaderLabels(list(self.HEADERS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setIconSize(QSize(14, 14))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed)
        delegate.setParent(self)
        self.setItemDelegate(delegate)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setStyleSheet("QTreeView::item { padding: 3px 0; }")
        header = self.header()
        header.setStretchLastSection(False)
        modes = (QHeaderView.ResizeMode.Fixed, QHeaderView.ResizeMode.ResizeToContents,
                 QHeaderView.ResizeMode.Stretch, QHeaderView.ResizeMode.Interactive,
                 QHeaderView.ResizeMode.ResizeToContents)
        for col, mode in enumerate(modes):
            header.setSectionResizeMode(col, mode)
        header.resizeSection(COL_VISIBLE, 28)
        header.resizeSection(COL_CLASS, 90)
        self.headerItem().setToolTip(COL_VISIBLE, "Shown on the canvas and the timeline")
        self.headerItem().setToolTip(COL_FRAMES, "Frames with a mask (a locked “absent” frame counts)")

    def fill(self, objects: Sequence[ObjectInfo], categories: dict[int, str], counts: dict[int, int]) -> None:
        self.clear()
        for info in objects:
            self.addTopLevelItem(self._make_item(info, categories.get(info.category_id or -1, ""),
                                                 counts.get(info.id, 0)))

    def item_for(self, oid: int | None) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.data(COL_ID, ID_ROLE) == oid:
                return item
        return None

    def set_counts(self, counts: dict[int, int]) -> None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            item.setText(COL_FRAMES, str(counts.get(item.data(COL_ID, ID_ROLE), 0)))

    @staticmethod
    def _make_item(info: ObjectInfo, category: str, count: int) -> QTreeWidgetItem:
        item = QTreeWidgetItem()
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        item.setData(COL_ID, ID_ROLE, info.id)
        item.setIcon(COL_VISIBLE, icon("eye_off" if info.hidden else "eye"))
        item.setToolTip(COL_VISIBLE, "Show" if info.hidden else "Hide")
        item.setIcon(COL_ID, swatch_icon(info.color, hidden=info.hidden))
        item.setText(COL_ID, str(info.id))
        item.setToolTip(COL_ID, f"{info.color}: double click to change the colour")
        item.setText(COL_NAME, info.name)
        item.setToolTip(COL_NAME, "Double click or F2 to rename")
        item.setText(COL_CLASS, category)
        item.setToolTip(COL_CLASS, "Double click to set the class (type a new one to create it)")
        item.setText(COL_FRAMES, str(count))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        item.setTextAlignment(COL_FRAMES, right)
        item.setTextAlignment(COL_ID, right)
        if info.hidden:
            for col in range(COL_FRAMES + 1):
                item.setForeground(col, QColor(style.TEXT_FAINT))
        if not category:
            item.setForeground(COL_CLASS, QColor(style.TEXT_FAINT))
        return item


class _Form(QDialog):
    """Title, a one-line explanation, a form and OK / Cancel (OK is the primary button)."""

    def __init__(self, title: str, ok_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(12)
        heading = QLabel(f"<b>{title}</b>")
        layout.addWidget(heading)
        self.form = QFormLayout()
        self.form.setHorizontalSpacing(14)
        self.form.setVerticalSpacing(8)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(self.form)
        self.explain = QLabel()
        self.explain.setObjectName("hint")
        self.explain.setWordWrap(True)
        layout.addWidget(self.explain)
        ok_cancel = QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        self.buttons = QDialogButtonBox(ok_cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(ok_text)
        self.ok.setObjectName("primary")
        self.ok.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def object_combo(self, objects: Sequence[ObjectInfo], current: int | None) -> QComboBox:
        combo = QComboBox()
        for info in objects:
            combo.addItem(swatch_icon(info.color, hidden=info.hidden), f"{info.id}  {info.name}", info.id)
        index = combo.findData(current) if current is not None else -1
        combo.setCurrentIndex(max(0, index))
        combo.currentIndexChanged.connect(lambda _i: self.update_text())
        return combo

    def frame_spin(self, value: int, frame_count: int, minimum: int = 0) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(minimum, max(minimum, frame_count - 1))
        spin.setValue(min(max(minimum, value), max(minimum, frame_count - 1)))
        spin.setAccelerated(True)
        spin.valueChanged.connect(lambda _v: self.update_text())
        return spin

    def update_text(self) -> None:
        """Refresh the explanation and the OK button (subclasses)."""


class MergeDialog(_Form):
    """Fold one object into another: masks are united frame by frame, the second one goes."""

    def __init__(self, objects: Sequence[ObjectInfo], keep: int | None,
                 parent: QWidget | None = None) -> None:
        super().__init__("Merge objects", "Merge", parent)
        self._names = {o.id: o.name for o in objects}
        self.keep = self.object_combo(objects, keep)
        other = next((o.id for o in objects if o.id != keep), None)
        self.absorb = self.object_combo(objects, other)
        self.form.addRow("Keep", self.keep)
        self.form.addRow("Merge into it", self.absorb)
        self.update_text()

    def values(self) -> tuple[int, int]:
        return int(self.keep.currentData()), int(self.absorb.currentData())

    def update_text(self) -> None:
        keep, absorb = self.values()
        if keep == absorb:
            self.explain.setText("Choose two different objects.")
            self.ok.setEnabled(False)
            return
        self.ok.setEnabled(True)
        gone = self._names[absorb]
        self.explain.setText(f"The masks of “{gone}” are added to “{self._names[keep]}” on every frame, "
                             f"then “{gone}” is deleted. Locked frames stay locked.")


class SplitDialog(_Form):
    """From a frame on, the object's masks belong to a new object (an identity switch fix)."""

    def __init__(self, info: ObjectInfo, frame: int, frame_count: int, parent: QWidget | None = None) -> None:
        super().__init__("Split object", "Split", parent)
        self._info = info
        self.frame = self.frame_spin(frame, frame_count)
        self.form.addRow("Object", QLabel(f"{info.id}  {info.name}"))
        self.form.addRow("From frame", self.frame)
        self.update_text()

    def values(self) -> int:
        return self.frame.value()

    def update_text(self) -> None:
        self.explain.setText(f"Masks of “{self._info.name}” from frame {self.frame.value()} to the end move "
                             "to a new object of the same class; the frames before stay.")


class SwapDialog(_Form):
    """Exchange two objects' masks from a frame on (the tracker switched their identities)."""

    def __init__(self, objects: Sequence[ObjectInfo], first: int | None, frame: int, frame_count: int,
                 parent: QWidget | None = None) -> None:
        super().__init__("Swap identities", "Swap", parent)
        self._names = {o.id: o.name for o in objects}
        self.first = self.object_combo(objects, first)
        self.second = self.object_combo(objects, next((o.id for o in objects if o.id != first), None))
        self.frame = self.frame_spin(frame, frame_count)
        self.form.addRow("Object", self.first)
        self.form.addRow("Swap with", self.second)
        self.form.addRow("From frame", self.frame)
        self.update_text()

    def values(self) -> tuple[int, int, int]:
        return int(self.first.currentData()), int(self.second.currentData()), self.frame.value()

    def update_text(self) -> None:
        a, b, frame = self.values()
        if a == b:
            self.explain.setText("Choose two different objects.")
            self.ok.setEnabled(False)
            return
        self.ok.setEnabled(True)
        self.explain.setText(f"From frame {frame} to the end, the masks of “{self._names[a]}” and "
                             f"“{self._names[b]}” trade places.")


class RangeEditDialog(_Form):
    """One of the range edits for one object:

    - ``clear_from``: delete its masks from a frame to the end (locked ones too);
    - ``absent``: lock an empty mask on frames first..last ("not in view here");
    - ``copy_forward``: copy this frame's mask to the next K frames (locked).
    """

    TITLES = {"clear_from": ("Clear masks from a frame on", "Clear"),
              "absent": ("Mark absent", "Mark absent"),
              "copy_forward": ("Copy mask forward", "Copy")}

    def __init__(self, kind: str, info: ObjectInfo, frame: int, frame_count: int,
                 selected: tuple[int, int] | None = None, parent: QWidget | None = None) -> None:
        title, ok = self.TITLES[kind]
        super().__init__(title, ok, parent)
        self.kind = kind
        self._info = info
        self._frame_count = frame_count
        self.form.addRow("Object", QLabel(f"{info.id}  {info.name}"))
        first, last = selected if selected is not None else (frame, frame)
        self.start = self.frame_spin(first if kind == "absent" else frame, frame_count)
        self.stop = self.frame_spin(last, frame_count)
        self.count = QSpinBox()
        self.count.setRange(1, max(1, frame_count - 1))
        self.count.setValue(min(max(1, frame_count - 1 - frame), 10) if frame < frame_count - 1 else 1)
        self.count.setSuffix(" frames")
        self.count.setAccelerated(True)
        self.count.valueChanged.connect(lambda _v: self.update_text())
        if kind == "clear_from":
            self.form.addRow("From frame", self.start)
        elif kind == "absent":
            self.form.addRow("From frame", self.start)
            self.form.addRow("To frame", self.stop)
        else:
            self.form.addRow("Copy frame", self.start)
            self.form.addRow("To the next", self.count)
        self.update_text()

    def values(self) -> tuple[int, int]:
        """clear_from: (frame, -1); absent: (first, last); copy_forward: (frame, count)."""
        if self.kind == "absent":
            first, last = sorted((self.start.value(), self.stop.value()))
            return first, last
        if self.kind == "copy_forward":
            return self.start.value(), self.count.value()
        return self.start.value(), -1

    def update_text(self) -> None:
        name = self._info.name
        if self.kind == "clear_from":
            self.explain.setText(f"Every mask of “{name}” from frame {self.start.value()} to the end is "
                                 "deleted, locked ones included.")
        elif self.kind == "absent":
            first, last = self.values()
            count = last - first + 1
            frames = f"Frame {first} gets" if count == 1 else f"Frames {first}–{last} ({count}) get"
            self.explain.setText(f"{frames} an empty, locked mask: “{name}” is not there, and propagation "
                                 "will not put it back.")
        else:
            frame, count = self.values()
            last = min(self._frame_count - 1, frame + count)
            self.ok.setEnabled(last > frame)
            text = (f"The mask of “{name}” on frame {frame} is copied to frames {frame + 1}–{last} and "
                    "locked there.") if last > frame else "There are no frames after this one."
            self.explain.setText(text)


def describe_mask(record: Any) -> str:
    """One line about an object's mask on a frame, for the panel."""
    if record is None:
        return "No mask on this frame."
    if record.area == 0:
        return "Absent here (empty mask)" + (", locked." if record.locked else ".")
    names = {"user": "Your edit", "tracked": "Tracked", "imported": "Imported",
             "detected": "Detected by text"}
    source = names.get(record.source, record.source)
    parts = [source]
    if record.source == "tracked" and record.score is not None:
        parts.append(f"confidence {record.score:.2f}")
    parts.append(f"{record.area:,} px")
    if record.locked:
        parts.append("locked")
    return " · ".join(parts) + "."
