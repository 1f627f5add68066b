"""The canvas and its tools through real input: zoom, pan, fit, overlays, brush, eraser, box,
lock, delete, object selection, frame stepping."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.core import masks as rle_ops
from tests.gui.helpers import TIMEOUT_MS, click_frame, gt_mask, inner_point, iou, press_key, wait_for_frame

pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")]


def wheel(window, pos: QPoint, delta: int) -> None:
    viewport = window.canvas.viewport()
    point = QPointF(pos)
    event = QWheelEvent(point, viewport.mapToGlobal(point), QPoint(), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(viewport, event)


def drag(window, points: list[tuple[float, float]], button=Qt.MouseButton.LeftButton,
         modifier=Qt.KeyboardModifier.NoModifier) -> None:
    viewport = window.canvas.viewport()
    view = [window.canvas.frame_to_view(x, y) for x, y in points]
    QTest.mousePress(viewport, button, modifier, view[0])
    for p in view[1:]:
        QTest.mouseMove(viewport, p)
    QTest.mouseRelease(viewport, button, modifier, view[-1])


def wait_mask(qtbot, window, oid: int, frame: int, predicate=lambda r: r is not None) -> None:
    qtbot.waitUntil(lambda: predicate(window.session.view.mask(oid, frame))
                    and not window.interaction.segmenting(), timeout=TIMEOUT_MS)


def test_wheel_zooms_around_the_cursor_and_keys_fit_and_100(make_window, sample_copy):
    window = make_window(sample_copy)
    canvas = window.canvas
    fitted = canvas.scale_factor
    frame_w = canvas.frame_shape[1]
    assert abs(fitted * frame_w - canvas.viewport().width()) < 2 or fitted * canvas.frame_shape[0] <= \
        canvas.viewport().height() + 2
    anchor = canvas.frame_to_view(200, 150)
    wheel(window, anchor, 240)  # two notches in
    assert canvas.scale_factor > fitted * 1.3
    under = canvas.view_to_frame(anchor)
    assert abs(under.x() - 200.5) < 2 and abs(under.y() - 150.5) < 2  # the pixel stayed under the cursor
    press_key(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.scale_factor == pytest.approx(1.0)
    press_key(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.scale_factor == pytest.approx(fitted, rel=1e-3)
    assert window.status.zoom_label.text() == f"{fitted * 100:.0f}%"


@pytest.mark.parametrize("how", ["middle", "alt", "space"])
def test_pan_by_dragging(make_window, sample_copy, how):
    window = make_window(sample_copy)
    canvas = window.canvas
    before = canvas.frame_to_view(320, 180)
    viewport = canvas.viewport()
    start, end = before, before + QPoint(60, 35)
    button, modifier = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    if how == "middle":
        button = Qt.MouseButton.MiddleButton
    elif how == "alt":
        modifier = Qt.KeyboardModifier.AltModifier
    else:
        canvas.setFocus()
        QTest.keyPress(canvas, Qt.Key.Key_Space)
    QTest.mousePress(viewport, button, modifier, start)
    QTest.mouseMove(viewport, start + QPoint(30, 15))
    QTest.mouseMove(viewport, end)
    QTest.mouseRelease(viewport, button, modifier, end)
    if how == "space":
        QTest.keyRelease(canvas, Qt.Key.Key_Space)
    after = canvas.frame_to_view(320, 180)
    assert (after - before) == QPoint(60, 35)
    assert window.session._project.mask_count() == 0  # panning never prompts


def test_overlay_colour_opacity_outline_and_toggle(make_window, sample_copy, sample_gt, qtbot):
    window = make_window(sample_copy)
    x, y = inner_point(gt_mask(sample_gt, 1, 0))
    px = x + 18  # inside the ellipse, away from the green prompt dot

    def pixel() -> QColor:
        return window.canvas.viewport().grab().toImage().pixelColor(window.canvas.frame_to_view(px, y))

    def distance(a: QColor, b: QColor) -> float:
        return float(np.linalg.norm(np.subtract(a.getRgb()[:3], b.getRgb()[:3])))

    click_frame(window, x, y)
    oid = window.interaction.current_object
    wait_mask(qtbot, window, oid, 0)
    qtbot.waitUntil(lambda: oid in window.canvas.overlays.drawn_objects, timeout=TIMEOUT_MS)
    colour = QColor(window.session.view.object(oid).color)
    tinted = pixel()
    press_key(window, Qt.Key.Key_H)  # every mask hidden: the bare video
    assert not window.registry["toggle_masks"].isChecked()
    plain = pixel()
    press_key(window, Qt.Key.Key_H)
    assert distance(pixel(), tinted) < 3
    assert distance(tinted, colour) < distance(plain, colour)  # the mask is drawn in the object colour
    window.opacity.setValue(100)
    assert distance(pixel(), colour) < 8  # fully opaque fill
    press_key(window, Qt.Key.Key_O)  # outline only: the inside shows the video again
    assert window.registry["toggle_outline"].isChecked()
    assert distance(pixel(), plain) < 3
    press_key(window, Qt.Key.Key_O)
    assert distance(pixel(), colour) < 8
    window.session.set_object_hidden(oid, True)  # the objects panel's per-object eye
    qtbot.waitUntil(lambda: window.canvas.overlays.drawn_objects == [], timeout=TIMEOUT_MS)
    assert distance(pixel(), plain) < 3


def test_brush_stroke_is_one_locked_edit_and_eraser_removes(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    project = window.session._project
    press_key(window, Qt.Key.Key_N)  # a new object, selected
    oid = window.interaction.current_object
    press_key(window, Qt.Key.Key_P)
    assert window.canvas.tool is window.interaction.brush_tool and not window.interaction.brush_tool.erase
    radius = window.interaction.brush_tool.radius
    press_key(window, Qt.Key.Key_BracketRight)
    assert window.interaction.brush_tool.radius > radius and window.brush_size.value() > radius
    press_key(window, Qt.Key.Key_BracketLeft)
    steps = len(project.history_entries())
    drag(window, [(100, 100), (140, 110), (180, 120), (220, 130)])
    wait_mask(qtbot, window, oid, 0)
    record = project.mask(oid, 0)
    assert record.locked and record.source == "user"
    painted = record.area
    assert painted > 80 * 2 * window.interaction.brush_tool.radius * 0.8
    assert len(project.history_entries()) == steps + 1  # one stroke, one undo step

    press_key(window, Qt.Key.Key_E)
    assert window.interaction.brush_tool.erase
    drag(window, [(100, 95), (140, 105)])
    wait_mask(qtbot, window, oid, 0, lambda r: r is not None and r.area < painted)
    press_key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: project.mask(oid, 0).area == painted, timeout=TIMEOUT_MS)
    press_key(window, Qt.Key.Key_S)
    assert window.canvas.tool is window.interaction.prompt_tool


def test_box_drag_segments_and_ctrl_click_picks(make_window, sample_copy, sample_gt, qtbot):
    window = make_window(sample_copy)
    truth = gt_mask(sample_gt, 2, 0)
    ys, xs = np.nonzero(truth)
    drag(window, [(xs.min() - 6, ys.min() - 6), ((xs.min() + xs.max()) / 2, ys.mean()),
                  (xs.max() + 6, ys.max() + 6)])
    assert window.canvas.prompts.preview_shown
    oid = window.interaction.current_object
    wait_mask(qtbot, window, oid, 0)
    assert iou(rle_ops.decode(window.session.view.mask(oid, 0).rle), truth) > 0.7
    qtbot.waitUntil(lambda: oid in window.canvas.overlays.drawn_objects, timeout=TIMEOUT_MS)
    press_key(window, Qt.Key.Key_N)
    assert window.interaction.current_object != oid
    x, y = inner_point(truth)
    click_frame(window, x, y, modifier=Qt.KeyboardModifier.ControlModifier)
    assert window.interaction.current_object == oid
    press_key(window, Qt.Key.Key_2)
    assert window.interaction.current_object == oid + 1
    press_key(window, Qt.Key.Key_1)
    assert window.interaction.current_object == oid


def test_lock_delete_and_remove_keys(make_window, sample_copy, sample_gt, qtbot):
    window = make_window(sample_copy)
    project = window.session._project
    x, y = inner_point(gt_mask(sample_gt, 1, 0))
    click_frame(window, x, y)
    oid = window.interaction.current_object
    wait_mask(qtbot, window, oid, 0)
    assert project.is_locked(oid, 0)
    press_key(window, Qt.Key.Key_L)
    assert not project.is_locked(oid, 0)
    press_key(window, Qt.Key.Key_L)
    assert project.is_locked(oid, 0)
    press_key(window, Qt.Key.Key_Delete)  # absent here: an empty, locked mask
    record = project.mask(oid, 0)
    assert record.area == 0 and record.locked
    press_key(window, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)  # removed, unlocked
    assert project.mask(oid, 0) is None
    press_key(window, Qt.Key.Key_U)
    assert 0 in project.reviewed_frames(oid)


def test_escape_clears_prompts_and_enter_commits(make_window, sample_copy, sample_gt, qtbot):
    window = make_window(sample_copy)
    x, y = inner_point(gt_mask(sample_gt, 3, 0))
    click_frame(window, x, y)
    oid = window.interaction.current_object
    wait_mask(qtbot, window, oid, 0)
    qtbot.waitUntil(lambda: window.canvas.prompts.dot_count == 1, timeout=TIMEOUT_MS)
    press_key(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.canvas.prompts.dot_count == 0, timeout=TIMEOUT_MS)
    assert window.session.view.mask(oid, 0) is not None  # the saved mask stays


def test_arrow_keys_step_frames_and_the_canvas_follows(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    press_key(window, Qt.Key.Key_Right)
    wait_for_frame(qtbot, window, 1)
    press_key(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    wait_for_frame(qtbot, window, 11)
    press_key(window, Qt.Key.Key_Left)
    wait_for_frame(qtbot, window, 10)
    press_key(window, Qt.Key.Key_End)
    wait_for_frame(qtbot, window, 99)
    press_key(window, Qt.Key.Key_Home)
    wait_for_frame(qtbot, window, 0)
    assert window.status.frame_label.text().startswith("Frame 0 / 99")
    expected = window.session.frame_image(0)
    assert np.array_equal(window.canvas.frame_rgb, expected)


def test_space_taps_play_and_pause(make_window, sample_copy, qtbot):
    window = make_window(sample_copy)
    if window.player is None:
        pytest.skip("no timeline player in this build")
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.player.is_playing, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.session.current_frame >= 3, timeout=TIMEOUT_MS)
    QTest.keyClick(window.canvas, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.player.is_playing, timeout=TIMEOUT_MS)
    stopped = window.session.current_frame
    press_key(window, Qt.Key.Key_Right)  # stepping works after pausing
    qtbot.waitUntil(lambda: window.session.current_frame == stopped + 1, timeout=TIMEOUT_MS)
