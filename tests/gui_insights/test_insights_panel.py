"""The insights panel on a real Session, driven through qtbot: the missing-model message, runs
as Jobs with progress and cancel, one-click label acceptance, seeking from the segment list,
in-place caption edits, and undo of everything the panel changes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton

from annotator.app.describe import kinds as insight_kinds
from annotator.app.describe import runs as describe_runs
from annotator.app.events import JobProgress
from annotator.gui.insights_panel import InsightsPanel
from tests.tiny_describe import install_both

pytestmark = pytest.mark.gui
WAIT_MS = 120_000


@pytest.fixture
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return install_both(tmp_path_factory.getbasetemp() / "tiny-describe")


@pytest.fixture
def panel(bridge, show):
    widget = InsightsPanel(bridge)
    show(widget)
    yield widget
    widget.shutdown()


def run_and_wait(qtbot, panel: InsightsPanel, button: QPushButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert panel._job is not None
    qtbot.waitUntil(lambda: panel._job is None, timeout=WAIT_MS)


def row_center(tree, item) -> QPoint:
    return tree.visualItemRect(item).center()


def test_without_weights_it_says_what_is_missing_and_how_to_get_it(session, panel, qtbot) -> None:
    text = panel.banner.text()
    assert panel.banner.isVisible()
    assert "annotator models download clip-vit-b-32" in text and "annotator models download blip-base" in text
    assert not panel.classify_button.isEnabled() and not panel.caption_button.isEnabled()
    assert "clip-vit-b-32" in panel.classify_button.toolTip()
    # Asking anyway (e.g. from a menu) is refused with the same words; nothing runs, nothing hangs.
    assert panel.classify() is None and panel._job is None
    assert "annotator models download clip-vit-b-32" in panel.status.text()
    assert session.workers.active_jobs() == []
    panel.set_object(1)
    assert "press Classify" in panel.object_hint.text()


def test_models_found_after_a_download(session, panel, models) -> None:
    assert panel.banner.isVisible()
    panel.refresh_models()  # what the window calls when the models dialog closes
    assert not panel.banner.isVisible()
    assert panel.classify_button.isEnabled() and panel.caption_button.isEnabled()


def test_classify_then_accept_a_label_with_one_click_and_undo(session, models, bridge, show, qtbot) -> None:
    panel = InsightsPanel(bridge)
    show(panel)
    try:
        panel.labels_edit.setText("star, dog")
        panel.set_object(3)
        progress: list[int] = []
        bridge.event.connect(lambda e: progress.append(e.done) if isinstance(e, JobProgress) else None)
        run_and_wait(qtbot, panel, panel.classify_button)
        assert progress and panel.progress.isHidden() and not panel.cancel_button.isVisible()
        assert "Labelled 3 object(s)" in panel.status.text()
        assert describe_runs.saved_labels(session._project) == ["star", "dog"]  # kept in the project
        qtbot.waitUntil(lambda: panel.labels_tree.topLevelItemCount() == 4)
        labels = [panel.labels_tree.topLevelItem(i).text(0) for i in range(4)]
        assert sorted(labels) == ["dog", "ellipse", "rectangle", "star"]
        assert panel.clip_labels.text().startswith("Clip: ")

        # One click on "Use" makes it the object's class.
        row = labels.index("dog")
        button = panel.labels_tree.itemWidget(panel.labels_tree.topLevelItem(row), 2)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        dog = next(c for c in session.view.categories() if c.name == "dog")
        assert session.view.object(3).category_id == dog.id
        qtbot.waitUntil(lambda: panel.labels_tree.topLevelItem(0) is not None and any(
            panel.labels_tree.itemWidget(panel.labels_tree.topLevelItem(i), 2).text() == "✓ Class"
            for i in range(panel.labels_tree.topLevelItemCount())))
        assert "Class: dog" in panel.object_hint.text()

        # Undo (the window's Ctrl+Z) reverts it in one step, and the panel follows.
        assert session.undo() == "Set class to 'dog'"
        assert session.view.object(3).category_id is None
        qtbot.waitUntil(lambda: "Class: none" in panel.object_hint.text())
        assert session.undo() == "Classify"
        qtbot.waitUntil(lambda: panel.labels_tree.topLevelItemCount() == 0)
    finally:
        panel.shutdown()


def test_caption_segments_seek_and_edit_in_place(session, models, panel, qtbot) -> None:
    panel.refresh_models()
    panel.set_object(1)
    run_and_wait(qtbot, panel, panel.caption_button)
    tree = panel.segments_tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 1)
    item = tree.topLevelItem(0)
    assert item.text(0) == "0:00.00 – 0:04.00" and item.text(1)
    assert panel.object_caption.text()  # the object's caption

    # A keyframe caption joins the list at its time; clicking a row seeks there.
    session.set_frame(60)
    run_and_wait(qtbot, panel, panel.frame_button)
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 2)
    assert tree.topLevelItem(1).text(0) == "@ 0:02.40"
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=row_center(tree, tree.topLevelItem(0)))
    assert session.current_frame == 0
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=row_center(tree, tree.topLevelItem(1)))
    assert session.current_frame == 60

    # Double click the caption, type, Enter: one undoable edit.
    item = tree.topLevelItem(0)
    rect = tree.visualItemRect(item)
    pos = QPoint(tree.header().sectionViewportPosition(1) + 10, rect.center().y())
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: any(w.isVisible() for w in tree.findChildren(QLineEdit)))
    editor = next(w for w in tree.findChildren(QLineEdit) if w.isVisible())
    editor.selectAll()
    qtbot.keyClicks(editor, "a ball rolls across the field")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next turn of the loop
    qtbot.waitUntil(lambda: describe_runs.segments(session._project)[0].payload["edited"])
    (segment,) = describe_runs.segments(session._project)
    assert segment.payload["text"] == "a ball rolls across the field"
    assert session.undo() == "Edit insight"
    qtbot.waitUntil(lambda: tree.topLevelItem(0) is not None
                    and tree.topLevelItem(0).text(1) == segment.payload["original"])

    # The object's caption is edited in place too.
    panel.object_caption.setFocus()
    panel.object_caption.selectAll()
    qtbot.keyClicks(panel.object_caption, "the red ellipse")
    qtbot.keyClick(panel.object_caption, Qt.Key.Key_Return)
    (cap,) = session._project.insights(kind=insight_kinds.OBJECT_CAPTION, object_id=1)
    assert cap.payload["text"] == "the red ellipse" and cap.payload["edited"]


def test_cancel_a_run(session, models, panel, qtbot) -> None:
    panel.refresh_models()
    lane = session.engines.describers().lane
    gate = threading.Event()
    blocker = session.workers.submit(lane, "hold the lane", lambda ctx: gate.wait(30))
    qtbot.mouseClick(panel.caption_button, Qt.MouseButton.LeftButton)
    assert panel.cancel_button.isVisible() and not panel.caption_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    gate.set()
    blocker.result(30)
    qtbot.waitUntil(lambda: panel._job is None, timeout=WAIT_MS)
    assert "Cancelled" in panel.status.text() and panel.caption_button.isEnabled()
    assert session._project.insights() == []


def test_project_closed_and_deleted_object(session, models, panel, qtbot) -> None:
    panel.refresh_models()
    panel.set_object(2)
    session.delete_object(2)
    qtbot.waitUntil(lambda: panel.object_id() is None)
    assert "Select an object" in panel.object_hint.text()
    session.close()
    QApplication.processEvents()
    assert not panel.classify_button.isEnabled() and panel.segments_tree.topLevelItemCount() == 0
