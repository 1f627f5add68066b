"""F1: every shortcut and mouse gesture, searchable, with the shortcuts editable in place.

Double-click a shortcut (or select it and press Enter) to record a new one; Backspace in the
recorder clears it. A key already used by another command is refused with a message that
names that command. Changes are saved at once (QSettings) and apply immediately.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.gui import style
from annotator.gui.actions import MOUSE_HELP, ActionRegistry

_ID_ROLE = Qt.ItemDataRole.UserRole + 1


class _ShortcutDelegate(QStyledItemDelegate):
    def __init__(self, dialog: HelpDialog) -> None:
        super().__init__(dialog)
        self._dialog = dialog

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        editor = QKeySequenceEdit(parent)
        editor.setClearButtonEnabled(True)
        editor.setMaximumSequenceLength(1)
        editor.editingFinished.connect(lambda: self.commitData.emit(editor))
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        action_id = index.data(_ID_ROLE)
        sequences = self._dialog.registry.shortcuts(action_id) if action_id else []
        assert isinstance(editor, QKeySequenceEdit)
        editor.setKeySequence(QKeySequence(sequences[0]) if sequences else QKeySequence())

    def setModelData(self, editor: QWidget, model: object,
                     index: QModelIndex | QPersistentModelIndex) -> None:
        assert isinstance(editor, QKeySequenceEdit)
        action_id = index.data(_ID_ROLE)
        if action_id:
            text = editor.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            self._dialog.change_shortcut(action_id, text)


class HelpDialog(QDialog):
    """Keyboard shortcuts (editable) and mouse gestures."""

    def __init__(self, registry: ActionRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 680)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 12)
        layout.setSpacing(8)

        self.search = QLineEdit(placeholderText="Search commands or keys…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        layout.addWidget(self.search)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Command", "Shortcut"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setStyleSheet("QTreeView::item { padding: 3px 2px; }")
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.tree.setItemDelegateForColumn(1, _ShortcutDelegate(self))
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.tree, 1)

        self.message = QLabel(objectName="hint")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        row = QHBoxLayout()
        hint = QLabel("Double-click a shortcut to change it.", objectName="hint")
        row.addWidget(hint, 1)
        reset = QPushButton("Reset all to defaults")
        reset.clicked.connect(self._reset_all)
        row.addWidget(reset)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        layout.addLayout(row)
        self._populate()

    # --- content ------------------------------------------------------------------------------
    def _populate(self) -> None:
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for spec in self.registry.specs():
            parent = groups.get(spec.group)
            if parent is None:
                parent = self._section(spec.group)
                groups[spec.group] = parent
            item = QTreeWidgetItem(parent, [spec.text.replace("&", "").rstrip("…"),
                                            self.registry.shortcut_text(spec.id)])
            item.setData(1, _ID_ROLE, spec.id)
            item.setToolTip(0, spec.tip)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        mouse = self._section("Mouse")
        for gesture, meaning in MOUSE_HELP:
            item = QTreeWidgetItem(mouse, [meaning, gesture])
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.tree.expandAll()
        self._filter(self.search.text())

    def _section(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title.upper(), ""])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        item.setForeground(0, self.palette().placeholderText())
        item.setFirstColumnSpanned(True)
        return item

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            section = self.tree.topLevelItem(i)
            visible = 0
            for j in range(section.childCount()):
                child = section.child(j)
                hit = not needle or needle in child.text(0).lower() or needle in child.text(1).lower()
                child.setHidden(not hit)
                visible += hit
            section.setHidden(visible == 0)

    # --- editing -------------------------------------------------------------------------------
    def change_shortcut(self, action_id: str, sequence: str) -> bool:
        """Set the first shortcut of an action (empty: none); refuses keys another command uses."""
        if sequence:
            owner = self.registry.owner_of(sequence, ignore=action_id)
            if owner is not None:
                name = self.registry.spec(owner).text.replace("&", "")
                self._say(f"{QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText)} is "
                          f"already used by “{name}”. Change that one first.", error=True)
                return False
        current = self.registry.shortcuts(action_id)
        new = ([sequence] if sequence else []) + [s for s in current[1:] if s != sequence]
        self.registry.set_shortcuts(action_id, new)
        self._say("Saved.", error=False)
        self._refresh_texts()
        return True

    def _reset_all(self) -> None:
        self.registry.reset_all()
        self._refresh_texts()
        self._say("Every shortcut is back to its default.", error=False)

    def _refresh_texts(self) -> None:
        for i in range(self.tree.topLevelItemCount()):
            section = self.tree.topLevelItem(i)
            for j in range(section.childCount()):
                child = section.child(j)
                action_id = child.data(1, _ID_ROLE)
                if action_id:
                    child.setText(1, self.registry.shortcut_text(action_id))

    def _say(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {style.ERROR if error else style.TEXT_DIM};")
