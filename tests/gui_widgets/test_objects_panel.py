"""The objects panel on a real Session: in-place editing with real key and mouse events, the
dialogs of merge/split/swap and the range edits, per-frame attributes and review jumps."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QColorDialog, QComboBox, QLineEdit, QMessageBox

from annotator.core import masks as rle_ops
from annotator.gui.object_dialogs import COL_CLASS, COL_NAME, COL_VISIBLE
from annotator.gui.objects_panel import ObjectsPanel


def mask(gt: dict, oid: int, frame: int):
    return rle_ops.decode(gt["objects"][str(oid)]["masks"][frame])


@pytest.fixture
def panel(bridge, show):
    widget = ObjectsPanel(bridge)
    show(widget, 380, 560)
    yield widget
    widget.shutdown()


def row_point(panel: ObjectsPanel, oid: int, column: int) -> QPoint:
    """A point inside the object's row, in the given column (viewport coordinates)."""
    rect = panel.tree.visualItemRect(panel._item(oid))
    return QPoint(panel.tree.header().sectionViewportPosition(column) + 8, rect.center().y())


def open_editor(panel: ObjectsPanel, kind: type, name: str):
    """The visible in-place editor (a closed one may linger until its deferred delete)."""
    editors = [w for w in panel.tree.findChildren(kind, name) if w.isVisible()]
    assert len(editors) == 1, editors
    return editors[0]


def objects(session) -> dict:
    return {o.id: o for o in session.objects()}


def test_add_select_and_signal(session, panel, qtbot):
    with qtbot.waitSignal(panel.selected_object_changed, timeout=2000) as blocker:
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    oid = blocker.args[0]
    assert oid in objects(session) and panel.current_object_id() == oid
    second = panel.add_object()
    assert panel.current_object_id() == second
    with qtbot.waitSignal(panel.selected_object_changed, timeout=2000) as blocker:
        qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton,
                         pos=row_point(panel, oid, COL_NAME))
    assert blocker.args == [oid]
    panel.select_object(None)
    assert panel.current_object_id() is None


def test_rename_inline_with_the_keyboard(session, panel, qtbot):
    oid = panel.add_object()
    qtbot.waitUntil(lambda: panel._item(oid) is not None)
    point = row_point(panel, oid, COL_NAME)
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=point)  # a double click is a
    qtbot.mouseDClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=point)  # click, then a second one
    qtbot.waitUntil(lambda: panel.tree.findChild(QLineEdit, "nameEditor") is not None)
    editor = open_editor(panel, QLineEdit, "nameEditor")
    qtbot.keyClicks(editor, "pedestrian")  # replaces the selected old name
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: objects(session)[oid].name == "pedestrian")
    qtbot.waitUntil(lambda: panel._item(oid).text(COL_NAME) == "pedestrian")


def test_class_is_completed_from_the_categories_and_new_ones_are_created(session, panel, qtbot):
    a = panel.add_object()
    b = panel.add_object()
    panel.tree.editItem(panel._item(a), COL_CLASS)
    combo = open_editor(panel, QComboBox, "classEditor")
    qtbot.keyClicks(combo.lineEdit(), "bicycle")
    qtbot.keyClick(combo.lineEdit(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: session.category_names() == ["bicycle"])
    assert session._project.category(objects(session)[a].category_id).name == "bicycle"

    qtbot.waitUntil(lambda: panel._item(b) is not None)
    panel.tree.editItem(panel._item(b), COL_CLASS)
    combo = open_editor(panel, QComboBox, "classEditor")
    completer = combo.completer()
    qtbot.keyClicks(combo.lineEdit(), "cyc")
    qtbot.waitUntil(lambda: completer.completionCount() == 1)
    assert completer.currentCompletion() == "bicycle"  # matches inside the name, case-insensitive


def test_colour_and_hide(session, panel, qtbot):
    oid = panel.add_object()
    panel.choose_color(oid)
    dialog = panel.dialog
    assert isinstance(dialog, QColorDialog)
    dialog.setCurrentColor(QColor("#12ab34"))
    dialog.accept()
    qtbot.waitUntil(lambda: objects(session)[oid].color == "#12ab34")
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=row_point(panel, oid, COL_VISIBLE))
    qtbot.waitUntil(lambda: objects(session)[oid].hidden)
    qtbot.waitUntil(lambda: panel._item(oid) is not None)
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=row_point(panel, oid, COL_VISIBLE))
    qtbot.waitUntil(lambda: not objects(session)[oid].hidden)


def test_delete_asks_first(session, panel, qtbot):
    oid = panel.add_object()
    panel.delete_current()
    box = panel.dialog
    assert isinstance(box, QMessageBox) and "Delete" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert oid in objects(session)
    panel.delete_current()
    box = panel.dialog
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: oid not in objects(session))
    assert session.undo() is not None and oid in objects(session)  # one undo step brings it back


def test_merge_split_and_swap_through_their_dialogs(session, panel, gt, qtbot):
    a, b = panel.add_object(), panel.add_object()
    for f in (10, 20, 30):
        session.set_mask(a, mask(gt, 1, f), frame=f)
        session.set_mask(b, mask(gt, 2, f), frame=f)
    panel.select_object(a)
    session.set_frame(20)

    panel.swap()
    dialog = panel.dialog
    assert dialog.values() == (a, b, 20)
    dialog.accept()
    assert session.view.mask(a, 20).area == int(mask(gt, 2, 20).sum())  # from frame 20: swapped
    assert session.view.mask(b, 30).area == int(mask(gt, 1, 30).sum())
    assert session.view.mask(a, 10).area == int(mask(gt, 1, 10).sum())  # before frame 20: unchanged

    panel.split()
    dialog = panel.dialog
    dialog.frame.setValue(30)
    dialog.accept()
    new = max(objects(session))
    assert session._project.object_frames(new) == [30] and session._project.object_frames(a) == [10, 20]
    assert panel.current_object_id() == new

    panel.select_object(a)
    panel.merge()
    dialog = panel.dialog
    dialog.absorb.setCurrentIndex(dialog.absorb.findData(new))
    assert dialog.values() == (a, new)
    dialog.accept()
    assert new not in objects(session) and session._project.object_frames(a) == [10, 20, 30]


def test_merge_refuses_the_same_object_twice(session, panel):
    a, _b = panel.add_object(), panel.add_object()
    panel.merge()
    dialog = panel.dialog
    dialog.absorb.setCurrentIndex(dialog.absorb.findData(a))
    dialog.keep.setCurrentIndex(dialog.keep.findData(a))
    assert not dialog.ok.isEnabled() and "different" in dialog.explain.text()
    dialog.reject()


def test_range_edits(session, panel, gt, qtbot):
    oid = panel.add_object()
    session.set_mask(oid, mask(gt, 1, 10), frame=10)
    session.set_frame(10)

    panel.range_edit("copy_forward")
    dialog = panel.dialog
    dialog.count.setValue(5)
    dialog.accept()
    assert session._project.object_frames(oid) == list(range(10, 16))
    assert session._project.locked_frames(oid) == list(range(10, 16))

    panel.set_range_source(lambda: (40, 44))
    panel.range_edit("absent")
    dialog = panel.dialog
    assert dialog.values() == (40, 44)  # taken from the timeline's selection
    dialog.accept()
    assert [session.view.mask(oid, f).area for f in range(40, 45)] == [0] * 5

    session.set_frame(13)
    panel.range_edit("clear_from")
    panel.dialog.accept()
    assert session._project.object_frames(oid) == [10, 11, 12]
    assert "Cleared" in panel.status.text()


def test_a_refused_edit_is_shown_not_raised(session, panel, qtbot):
    oid = panel.add_object()
    panel.range_edit("copy_forward")  # no mask on this frame to copy
    panel.dialog.accept()
    qtbot.waitUntil(lambda: any(isinstance(w, QMessageBox) and w.isVisible() and "did not work" in w.text()
                                for w in QApplication.topLevelWidgets()))
    assert "no mask" in panel.status.text()
    assert session._project.object_frames(oid) == []
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMessageBox):
            widget.close()


def test_frame_attributes_and_review(session, panel, gt, qtbot):
    oid = panel.add_object()
    session.set_mask(oid, mask(gt, 1, 5), frame=5)
    session._project.write_tracked_many([(oid, f, gt["objects"]["1"]["masks"][f], s)
                                        for f, s in ((6, 0.9), (7, 0.3), (8, 0.95), (9, 0.2))], step=None)
    session.set_frame(5)
    qtbot.mouseClick(panel.attribute_checks["occluded"], Qt.MouseButton.LeftButton)
    assert session.view.frame_attributes(oid, 5) == {"occluded": True}
    qtbot.mouseClick(panel.attribute_checks["truncated"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.attribute_checks["occluded"], Qt.MouseButton.LeftButton)
    assert session.view.frame_attributes(oid, 5) == {"truncated": True}
    session.set_frame(6)
    assert not panel.attribute_checks["truncated"].isChecked()
    assert "Tracked · confidence 0.90" in panel.frame_state.text()
    session.set_frame(5)
    assert panel.attribute_checks["truncated"].isChecked()

    panel.toggle_review()
    assert session.view.reviewed_frames(oid) == [5]
    qtbot.waitUntil(panel.reviewed_check.isChecked)
    assert panel.next_unreviewed() == 6
    panel.threshold.setValue(0.5)
    assert panel.next_weak_frame() == 7
    assert panel.next_weak_frame() == 9
    assert panel.next_weak_frame() == 7  # wrapped around to the first weak frame
    assert "from the start" in panel.status.text()
    panel.toggle_review()  # on frame 7
    qtbot.mouseClick(panel.reviewed_check, Qt.MouseButton.LeftButton)  # and off again with the box
    assert session.view.reviewed_frames(oid) == [5]


def test_without_a_selection_actions_explain_themselves(session, panel):
    panel.select_object(None)
    assert panel.next_weak_frame() is None
    assert "Select an object" in panel.status.text()
    assert not panel.split_button.isEnabled() and not panel.delete_button.isEnabled()


def test_follows_the_project_lifecycle(session, panel, sample_copy, qtbot):
    oid = panel.add_object()
    session.close()
    assert panel.tree.topLevelItemCount() == 0 and not panel.add_button.isEnabled()
    session.open(sample_copy)
    qtbot.waitUntil(lambda: panel._item(oid) is not None)
    assert panel.add_button.isEnabled()


def test_enter_and_escape_belong_to_the_editor_inside_a_window(bridge, session, qtbot):
    """The main window binds Return and Esc as window shortcuts; in a name field they must
    commit and cancel the edit instead."""
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    fired: list[str] = []
    for key in ("Return", "Esc"):
        action = QAction(key, window)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False, key=key: fired.append(key))
        window.addAction(action)
    panel = ObjectsPanel(bridge)
    window.setCentralWidget(panel)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    oid = panel.add_object()
    panel.tree.editItem(panel._item(oid), COL_NAME)
    editor = open_editor(panel, QLineEdit, "nameEditor")
    qtbot.keyClicks(editor, "cyclist")
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert objects(session)[oid].name != "cyclist"  # cancelled
    panel.tree.editItem(panel._item(oid), COL_NAME)
    editor = open_editor(panel, QLineEdit, "nameEditor")
    qtbot.keyClicks(editor, "cyclist")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: objects(session)[oid].name == "cyclist")
    assert fired == []
    qtbot.keyClick(panel.tree, Qt.Key.Key_Return)  # outside an editor the window gets its keys
    assert fired == ["Return"]
    panel.shutdown()
