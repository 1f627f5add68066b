"""The main window: welcome state, opening (menu, drop, recent), errors that keep the app
running (bad file, project open elsewhere, moved video), shortcuts help and customisation,
the status bar, settings, and quitting without a question."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QKeySequenceEdit, QMessageBox

from annotator.app.project_files import default_project_path
from annotator.app.session import Session
from annotator.core.project import Project
from annotator.gui.actions import SPECS
from annotator.gui.app import display_problem
from annotator.gui.dialogs import RelinkDialog
from annotator.gui.help_dialog import HelpDialog
from tests.gui.helpers import TIMEOUT_MS, hover, press_key, wait_for_frame

pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")]
REPO = Path(__file__).resolve().parents[2]


def visible_error(window) -> QMessageBox | None:
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    boxes += [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    return boxes[0] if boxes else None


def close_dialogs(window) -> None:
    for box in window.findChildren(QMessageBox):
        box.close()


def test_welcome_state_when_nothing_is_open(make_window):
    window = make_window()
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.open_button.isVisible()
    assert not window.timeline_dock.isVisible() and not window.objects_dock.isVisible()
    for action_id in ("propagate_forward", "export", "fit"):
        assert not window.registry[action_id].isEnabled()
    assert "Classical" in window.status.engine_button.text()


def test_no_display_says_how_to_run_it():
    assert display_problem({}, "linux") == "no display"
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None
    if not sys.platform.startswith("linux"):
        return
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "annotator", "clip.mp4"], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=120)
    assert result.returncode == 1
    assert "xvfb-run" in result.stderr and "QT_QPA_PLATFORM=offscreen" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_file_shows_an_error_and_the_app_keeps_running(make_window, tmp_path, sample_copy, qtbot):
    window = make_window()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    window.open_path(broken)
    qtbot.waitUntil(lambda: visible_error(window) is not None, timeout=TIMEOUT_MS)
    box = visible_error(window)
    assert "broken.mp4" in box.text() + box.informativeText()
    assert window.stack.currentWidget() is window.welcome
    box.close()
    window.open_path(sample_copy)  # and the next open works
    wait_for_frame(qtbot, window, 0)


def test_a_project_open_elsewhere_is_refused_with_a_dialog(make_window, sample_copy, qtbot):
    with Session(segmenter="classical", tracker="classical") as other:
        other.open(sample_copy)  # holds the writer lock, like a second app would
        window = make_window()
        window.open_path(sample_copy)
        qtbot.waitUntil(lambda: visible_error(window) is not None, timeout=TIMEOUT_MS)
        box = visible_error(window)
        assert "open elsewhere" in box.text().lower()
        assert not window.session.is_open
        box.close()


def test_a_moved_video_is_relinked(make_window, sample_copy, tmp_path, qtbot):
    with Session(segmenter="classical", tracker="classical") as session:
        session.open(sample_copy)
        oid = session.add_object().id
        project_path = session.view.path
    moved_dir = tmp_path / "moved"
    moved_dir.mkdir()
    moved = moved_dir / "renamed.mp4"
    shutil.move(sample_copy, moved)
    window = make_window()
    window.open_path(project_path)
    qtbot.waitUntil(lambda: isinstance(window.opener.last_dialog, RelinkDialog)
                    and window.opener.last_dialog.isVisible(), timeout=TIMEOUT_MS)
    dialog = window.opener.last_dialog
    QTest.keyClicks(dialog.path_edit, str(moved))
    QTest.keyClick(dialog.path_edit, Qt.Key.Key_Return)
    wait_for_frame(qtbot, window, 0)
    assert Path(window.session._project.video.path) == moved.resolve()
    assert [o.id for o in window.session.objects()] == [oid]  # nothing lost


def test_dropping_a_video_opens_it(make_window, sample_copy, qtbot):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sample_copy))])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    wait_for_frame(qtbot, window, 0)
    assert window.windowTitle().startswith("sample.mp4")


def test_recent_files_and_view_settings_survive_a_restart(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    window.opacity.setValue(70)
    press_key(window, Qt.Key.Key_O)
    press_key(window, Qt.Key.Key_Right)
    wait_for_frame(qtbot, window, 1)
    project_path = str(window.session.view.path)
    window.close()

    again = make_window()
    assert again.opacity.value() == 70
    assert again.registry["toggle_outline"].isChecked()
    first = again.welcome.recent_list.item(0)
    assert first is not None and first.data(Qt.ItemDataRole.UserRole) == project_path
    rect = again.welcome.recent_list.visualItemRect(first)
    QTest.mouseClick(again.welcome.recent_list.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    wait_for_frame(qtbot, again, 1)  # the project remembers its last frame


def test_f1_lists_every_command_and_a_shortcut_can_be_changed(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    press_key(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(HelpDialog)), timeout=TIMEOUT_MS)
    dialog = next(d for d in window.findChildren(HelpDialog) if d.isVisible())
    items = {}
    for i in range(dialog.tree.topLevelItemCount()):
        section = dialog.tree.topLevelItem(i)
        for j in range(section.childCount()):
            items[section.child(j).text(0)] = section.child(j)
    for spec in SPECS:
        assert spec.text.replace("&", "").rstrip("…") in items
    assert items["Propagate forward"].text(1) == "F"

    # Record a new key in place: double-click the shortcut, press G.
    item = items["Propagate forward"]
    dialog.tree.scrollToItem(item)
    dialog.tree.editItem(item, 1)
    editor = dialog.tree.findChild(QKeySequenceEdit)
    assert editor is not None
    QTest.keyClick(editor, Qt.Key.Key_G)
    qtbot.waitUntil(lambda: item.text(1) == "G", timeout=TIMEOUT_MS)
    # A key another command uses is refused, and says which one.
    assert not dialog.change_shortcut("propagate_forward", "B")
    assert "Propagate backward" in dialog.message.text()
    dialog.close()
    window.close()

    again = make_window(sample_copy.with_name("sample.mp4.annot"))
    assert [s.toString() for s in again.registry["propagate_forward"].shortcuts()] == ["G"]
    again.registry.reset_all()
    assert [s.toString() for s in again.registry["propagate_forward"].shortcuts()] == ["F"]


def test_status_bar_shows_engines_frame_and_memory(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    assert "Classical" in window.status.engine_button.text()
    assert "classical" in window.status.engine_button.toolTip().lower()
    assert window.status.frame_label.text().startswith("Frame 0 / 99")
    press_key(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.status.frame_label.text().startswith("Frame 1 / 99"), timeout=TIMEOUT_MS)
    assert "00:00.04" in window.status.frame_label.text()  # 25 fps
    assert "RAM" in window.status.memory_bar.format()
    hover(window, 100, 50)
    qtbot.waitUntil(lambda: window.status.cursor_label.text() == "x 100  y 50", timeout=TIMEOUT_MS)


def test_closing_never_asks_and_everything_is_saved(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    press_key(window, Qt.Key.Key_N)
    oid = window.interaction.current_object
    press_key(window, Qt.Key.Key_L)  # an edit: lock "absent here"
    project_path = window.session.view.path
    assert window.close()  # returns at once: no "save changes?" question
    assert visible_error(window) is None
    with Project.open(project_path, readonly=True) as project:
        assert [o.id for o in project.objects()] == [oid]
        assert project.is_locked(oid, 0)


def test_close_project_returns_to_the_welcome_page(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    press_key(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.welcome, timeout=TIMEOUT_MS)
    assert not window.session.is_open
    assert window.welcome.recent_list.count() >= 1
    assert default_project_path(sample_copy).exists()


def test_nothing_to_propagate_is_a_hint_not_a_crash(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    press_key(window, Qt.Key.Key_F)
    assert window.propagation.job is None
    assert window.notices.isVisible() and "nothing to propagate" in window.notices.label.text().lower()
    press_key(window, Qt.Key.Key_Escape)
    assert not window.notices.isVisible()
    assert visible_error(window) is None


def test_ctrl_e_exports_coco_in_the_background(make_window, sample_copy, tmp_path, qtbot):
    import json

    from annotator.gui.export_dialog import ExportDialog
    from tests.gui.helpers import click_frame

    window = make_window(sample_copy)
    click_frame(window, 189, 198)
    qtbot.waitUntil(lambda: window.session._project.mask_count() == 1 and not window.interaction.segmenting(),
                    timeout=TIMEOUT_MS)
    press_key(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(ExportDialog)), timeout=TIMEOUT_MS)
    dialog = next(d for d in window.findChildren(ExportDialog) if d.isVisible())
    assert dialog.format.currentData() == "coco"
    out = tmp_path / "export" / "clip.json"
    dialog.out.clear()
    QTest.keyClicks(dialog.out, str(out))
    QTest.mouseClick(dialog.skip_empty, Qt.MouseButton.LeftButton)
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=TIMEOUT_MS)
    doc = json.loads(out.read_text())
    assert len(doc["annotations"]) == 1 and len(doc["images"]) == 1
    assert "Saved 1 annotations" in dialog.status.text()
    dialog.close()
