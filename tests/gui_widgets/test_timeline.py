"""The timeline on a real Session: lanes follow the store, the playhead scrubs, lanes select,
Shift+drag selects a range, and a 10,000-frame video with ten objects stays cheap to update."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from annotator.app.events import FrameChanged
from annotator.core import masks as rle_ops
from annotator.gui.timeline import TimelineWidget
from annotator.gui.timeline_lanes import EMPTY, NONE, PRESENT


def gt_rle(gt: dict, oid: int, frame: int) -> dict:
    return gt["objects"][str(oid)]["masks"][frame]


def view_point(timeline: TimelineWidget, frame: float, lane_y: float) -> QPoint:
    """Viewport pixel of (frame, lane y) in the timeline's plot."""
    scene = timeline.view.mapViewToScene(QPointF(frame, lane_y))
    return timeline.plot.mapFromScene(scene)


@pytest.fixture
def timeline(bridge, show, qtbot):
    widget = TimelineWidget(bridge)
    show(widget, 1000, 240)
    yield widget
    widget.shutdown()


def test_lanes_show_masks_locks_confidence_and_reviews(session, timeline, gt, qtbot):
    a = session.add_object("ellipse")
    b = session.add_object("square")
    session.set_mask(a.id, rle_ops.decode(gt_rle(gt, 1, 10)), frame=10)  # a user edit: locked
    session._project.write_tracked_many([(a.id, f, gt_rle(gt, 1, f), 0.9 - 0.01 * f) for f in range(11, 40)],
                                       step=None)
    session.mark_absent(b.id, 50, 54)
    session.set_reviewed(a.id, True, frame=12)
    qtbot.waitUntil(lambda: timeline.lane_ids() == [a.id, b.id])

    def lanes_match() -> None:
        data = timeline.lane_data(a.id)
        assert np.flatnonzero(data.state == PRESENT).tolist() == list(range(10, 40))
        assert np.flatnonzero(data.locked).tolist() == [10]
        assert np.flatnonzero(data.reviewed).tolist() == [12]
        other = timeline.lane_data(b.id)
        assert np.flatnonzero(other.state == EMPTY).tolist() == [50, 51, 52, 53, 54]
        assert other.locked[50:55].all()

    qtbot.waitUntil(lanes_match)
    data = timeline.lane_data(a.id)
    eff = data.effective_score()
    assert eff[10] == 1.0  # your edit counts as sure
    assert eff[20] == pytest.approx(0.7)
    assert np.isinf(eff[5])  # no mask
    # The strip keeps a weak frame visible even when many frames share one pixel (min pooling).
    strip = data.strip_rgba(0, 99, 10)
    assert strip.shape == (1, 10, 4)
    weakest = data.strip_rgba(30, 39, 1)[0, 0, :3]
    assert tuple(weakest) == tuple(data.strip_rgba(39, 39, 1)[0, 0, :3])
    assert "confidence 0.70" in data.describe(20) and "locked" in data.describe(10)


def test_updates_are_incremental_and_follow_undo(session, timeline, gt, qtbot):
    obj = session.add_object()
    qtbot.waitUntil(lambda: timeline.lane_ids() == [obj.id])
    session.set_mask(obj.id, rle_ops.decode(gt_rle(gt, 1, 30)), frame=30)
    qtbot.waitUntil(lambda: timeline.lane_data(obj.id).state[30] == PRESENT)
    assert timeline.lane_data(obj.id).locked[30]
    session.undo()
    qtbot.waitUntil(lambda: timeline.lane_data(obj.id).state[30] == NONE)
    session.redo()
    qtbot.waitUntil(lambda: timeline.lane_data(obj.id).state[30] == PRESENT)
    items = timeline._lanes[obj.id]
    assert list(items.presence.opts["x0"]) == [29.5]  # one run, starting at frame 30


def test_hidden_objects_have_no_lane_and_renames_relabel(session, timeline, qtbot):
    a = session.add_object("first")
    b = session.add_object("second")
    qtbot.waitUntil(lambda: timeline.lane_ids() == [a.id, b.id])
    session.set_object_hidden(a.id, True)
    qtbot.waitUntil(lambda: timeline.lane_ids() == [b.id])
    session.rename_object(b.id, "renamed")
    qtbot.waitUntil(lambda: timeline.lane_axis.labels[0][0] == f"{b.id}  renamed")
    timeline.set_selected_object(b.id)
    assert timeline.lane_axis.labels[0][2] is True


def test_dragging_the_playhead_scrubs(session, timeline, mouse, qtbot):
    session.set_frame(20)
    qtbot.waitUntil(lambda: timeline.playhead.value() == 20)
    viewport = timeline.plot.viewport()
    start = view_point(timeline, 20, 1.0)
    points = [start + QPoint(dx, 0) for dx in (0, 3, 8, 20, 40)]
    points.append(view_point(timeline, 63, 1.0))
    with qtbot.waitSignal(timeline.playhead.sigDragged, timeout=5000):  # the line itself moved
        mouse.drag(viewport, points)
    qtbot.waitUntil(lambda: session.current_frame == 63)
    assert timeline.playhead.value() == 63
    assert timeline.transport.frame.value() == 63
    assert "0:02.52" in timeline.transport.time.text()  # 63 / 25 fps


def test_dragging_anywhere_on_the_lanes_scrubs(session, timeline, mouse, qtbot):
    seen: list[int] = []
    timeline.bridge.event.connect(lambda e: seen.append(e.frame) if isinstance(e, FrameChanged) else None)
    a = view_point(timeline, 80, 2.5)
    mouse.drag(timeline.plot.viewport(), [a, a + QPoint(8, 0), view_point(timeline, 85, 2.5),
                                          view_point(timeline, 90, 2.5)])
    qtbot.waitUntil(lambda: session.current_frame == 90)
    assert seen[0] >= 80 and seen == sorted(seen)  # the frames followed the mouse


def test_wheel_zooms_time_and_shift_wheel_scrolls_lanes(session, bridge, show, mouse, qtbot):
    ids = [session.add_object(f"o{i}").id for i in range(9)]
    timeline = TimelineWidget(bridge)
    show(timeline, 900, 200)  # room for about three lanes
    qtbot.waitUntil(lambda: timeline.lane_ids() == ids and timeline.lanes_scroll.isVisible())
    def span() -> float:
        (a, b), _ = timeline.view.viewRange()
        return b - a

    before = span()
    mouse.wheel(timeline.plot.viewport(), view_point(timeline, 50, 0.5), 3)
    qtbot.waitUntil(lambda: span() < before * 0.9)
    (z0, z1), _ = timeline.view.viewRange()
    assert z0 < 50 < z1  # zoomed around the cursor
    mouse.wheel(timeline.plot.viewport(), view_point(timeline, 50, 0.5), -1,
                Qt.KeyboardModifier.ShiftModifier)
    assert timeline.lanes_scroll.value() == 1
    assert timeline.view.viewRange()[1][0] > 0  # the lanes moved up by one
    timeline.set_selected_object(ids[0])
    assert timeline.lanes_scroll.value() == 0  # selecting a lane brings it into view
    timeline.shutdown()


def test_click_on_a_lane_selects_the_object_and_moves_there(session, timeline, mouse, qtbot):
    a = session.add_object("a")
    b = session.add_object("b")
    qtbot.waitUntil(lambda: timeline.lane_ids() == [a.id, b.id])
    with qtbot.waitSignal(timeline.object_clicked, timeout=5000) as blocker:
        mouse.click(timeline.plot.viewport(), view_point(timeline, 77, 1.5))  # lane 1 = b
    assert blocker.args == [b.id]
    assert session.current_frame == 77


def test_shift_drag_selects_a_range_and_it_can_be_cleared(session, timeline, mouse, qtbot):
    viewport = timeline.plot.viewport()
    a, b = view_point(timeline, 12, 0.5), view_point(timeline, 30, 0.5)
    with qtbot.waitSignal(timeline.range_changed, timeout=5000):
        mouse.drag(viewport, [a, a + QPoint(6, 0), b], modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert timeline.selected_range() == (12, 30)
    assert "12–30" in timeline.transport.range.text()
    assert session.current_frame == 0  # a range drag does not scrub
    qtbot.mouseClick(timeline.transport.clear_range, Qt.MouseButton.LeftButton)
    assert timeline.selected_range() is None


def test_transport_buttons_and_frame_box(session, timeline, qtbot):
    qtbot.mouseClick(timeline.transport.last, Qt.MouseButton.LeftButton)
    assert session.current_frame == session.frame_count - 1
    qtbot.mouseClick(timeline.transport.back, Qt.MouseButton.LeftButton)
    assert session.current_frame == session.frame_count - 2
    qtbot.mouseClick(timeline.transport.first, Qt.MouseButton.LeftButton)
    assert session.current_frame == 0
    box = timeline.transport.frame
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, "42")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert session.current_frame == 42
    timeline.transport.speed.setCurrentIndex(timeline.transport.speed.findData(2.0))
    assert timeline.player.speed == 2.0


def test_prompt_marker_follows_the_click_session(session, timeline, qtbot):
    obj = session.add_object()
    qtbot.waitUntil(lambda: timeline.lane_ids() == [obj.id])
    job = session.click(obj.id, 100, 100, frame=5)
    job.wait(30)
    qtbot.waitUntil(lambda: len(timeline._lanes[obj.id].prompt.data) == 1)
    assert timeline._lanes[obj.id].prompt.data[0]["x"] == 5
    session.clear_prompts(obj.id, frame=5)
    qtbot.waitUntil(lambda: len(timeline._lanes[obj.id].prompt.data) == 0)


@pytest.mark.slow
def test_ten_thousand_frames_ten_objects_stay_fluid(tmp_path, bridge_factory, show, qtbot):
    """Ten objects tracked over 10,000 frames; then a propagation-like stream of single-frame
    writes. Prints the open and per-update costs (no thresholds: the figures are the report)."""
    from annotator.core.project import Project

    session, bridge = bridge_factory(_long_video(tmp_path / "long.mp4", 10_000))
    project: Project = session._project
    n = session.frame_count
    full = rle_ops.encode(np.ones((36, 64), bool))
    for k in range(10):
        oid = session.add_object(f"object {k + 1}").id
        rows = [(oid, f, full, "tracked", 0.5 + 0.5 * np.sin(f / (40 + k)) ** 2, False) for f in range(n)]
        project.set_masks(rows, record_history=False)
    start = time.perf_counter()
    timeline = TimelineWidget(bridge)
    show(timeline, 1200, 420)
    timeline.flush()
    opened = time.perf_counter() - start

    costs = []
    for f in range(0, 400, 4):  # 100 "frames" of a 10-object propagation, one commit each
        project.write_tracked_many([(oid, f, full, 0.2) for oid in timeline.lane_ids()], step=None)
        t0 = time.perf_counter()
        timeline.flush()
        costs.append(time.perf_counter() - t0)
    data = timeline.lane_data(timeline.lane_ids()[0])
    assert data.score[396] == pytest.approx(0.2) and data.score[397] != pytest.approx(0.2)
    costs_ms = np.array(costs) * 1000
    print(f"\n10,000 frames x 10 objects: open {opened * 1000:.0f} ms; per update (10 objects, 1 frame) "
          f"median {np.median(costs_ms):.1f} ms, max {costs_ms.max():.1f} ms")
    timeline.shutdown()


def _long_video(path: Path, frames: int) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = 64, 36
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "250"}
        image = np.zeros((36, 64, 3), np.uint8)
        for i in range(frames):
            image[:] = i % 251
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def bridge_factory(qtbot):
    from annotator.app.session import Session
    from annotator.gui.jobs import SessionBridge

    made = []

    def factory(video: Path):
        session = Session(segmenter="classical", tracker="classical")
        session.open(video)
        bridge = SessionBridge(session)
        made.append((session, bridge))
        return session, bridge

    yield factory
    for session, bridge in made:
        bridge.detach()
        session.shutdown()


def test_enter_in_the_frame_box_jumps_even_inside_a_window(bridge, session, qtbot):
    """The main window binds Return as a window shortcut; typed frame + Enter must still jump."""
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    fired: list[bool] = []
    action = QAction("commit", window)
    action.setShortcut(QKeySequence("Return"))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.triggered.connect(lambda _=False: fired.append(True))
    window.addAction(action)
    timeline = TimelineWidget(bridge)
    window.setCentralWidget(timeline)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    box = timeline.transport.frame
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, "57")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert session.current_frame == 57 and fired == []
    timeline.shutdown()
