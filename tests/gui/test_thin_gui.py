"""The GUI is thin: one scripted annotation gives the same COCO export (apart from the creation
date) when the Session is driven headless and when the real window is driven by qtbot.

The script: open the sample, click the ellipse on frame 0, propagate forward, correct frame 20
with a negative click, undo, redo, export COCO. Classical engines (no weights needed; they are
deterministic). The window's clicks are real mouse events on the canvas; the headless run
sends the Session the frame coordinates those viewport pixels map to, which is what a user's
click means.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from annotator.app.session import Session
from annotator.app.values import decode_mask
from tests.gui.helpers import TIMEOUT_MS, click_frame, gt_mask, inner_point, press_key, wait_for_frame
from tests.session_helpers import copy_sample

pytestmark = [pytest.mark.gui, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")]

ELLIPSE = 1
CORRECTED = 20
WAIT_S = TIMEOUT_MS / 1000


def _without_dates(doc: dict[str, Any]) -> dict[str, Any]:
    info = {k: v for k, v in doc["info"].items() if k not in ("date_created", "year")}
    return {**doc, "info": info}


def _negative_point(mask: np.ndarray) -> tuple[int, int]:
    """A pixel inside the mask near its left edge, on its middle row: a negative click there
    cuts the mask, a correction a user would make."""
    ys, xs = np.nonzero(mask)
    row = int(np.median(ys))
    cols = xs[ys == row]
    return int(cols.min() + 0.2 * (cols.max() - cols.min())), row


def _gui_run(make_window: Any, video: Path, out: Path, sample_gt: dict, qtbot: Any) -> list[tuple]:
    """The script through the window; returns the clicks as the Session received them."""
    from annotator.gui.export_dialog import ExportDialog

    window = make_window(video)
    session = window.session
    clicks: list[tuple] = []

    def click(x: int, y: int, button: Qt.MouseButton) -> None:
        point = window.canvas.view_to_frame(window.canvas.frame_to_view(x, y))
        positive = button == Qt.MouseButton.LeftButton
        clicks.append((window.session.current_frame, point.x(), point.y(), positive))
        click_frame(window, x, y, button)

    x, y = inner_point(gt_mask(sample_gt, ELLIPSE, 0))
    click(x, y, Qt.MouseButton.LeftButton)
    oid = window.interaction.current_object
    qtbot.waitUntil(lambda: not window.interaction.segmenting() and session.view.mask(oid, 0) is not None,
                    timeout=TIMEOUT_MS)
    press_key(window, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: window.propagation.job is not None, timeout=TIMEOUT_MS)
    job = window.propagation.job
    qtbot.waitUntil(lambda: job.done() and window.propagation.last_job is job, timeout=5 * TIMEOUT_MS)

    window.go_to(CORRECTED)
    wait_for_frame(qtbot, window, CORRECTED)
    before = session.view.mask(oid, CORRECTED)
    nx, ny = _negative_point(decode_mask(before))
    click(nx, ny, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: not window.interaction.segmenting()
                    and session.view.mask(oid, CORRECTED).area != before.area, timeout=TIMEOUT_MS)
    corrected = session.view.mask(oid, CORRECTED).area
    press_key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: session.view.mask(oid, CORRECTED).area == before.area, timeout=TIMEOUT_MS)
    press_key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: session.view.mask(oid, CORRECTED).area == corrected, timeout=TIMEOUT_MS)

    press_key(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(ExportDialog)), timeout=TIMEOUT_MS)
    dialog = next(d for d in window.findChildren(ExportDialog) if d.isVisible())
    assert dialog.format.currentData() == "coco"
    dialog.out.clear()
    QTest.keyClicks(dialog.out, str(out))
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=TIMEOUT_MS)
    dialog.close()
    return clicks


def _headless_run(video: Path, out: Path, clicks: list[tuple]) -> None:
    """The same script through the Session alone, with the clicks the window sent."""
    (frame0, x0, y0, _), (frame1, x1, y1, positive1) = clicks
    with Session(segmenter="classical", tracker="classical") as session:
        session.open(video)
        obj = session.add_object()
        session.click(obj.id, x0, y0, True, frame=frame0).result(WAIT_S)
        session.propagate("forward", start=frame0).result(5 * WAIT_S)
        session.set_frame(frame1)
        session.click(obj.id, x1, y1, positive1, frame=frame1).result(WAIT_S)
        session.undo()
        session.redo()
        session.export("coco", out).result(WAIT_S)


def test_one_script_gives_the_same_coco_headless_and_through_the_gui(make_window, tmp_path, sample_gt,
                                                                     qtbot):
    gui_video = copy_sample(_folder(tmp_path / "gui"))
    headless_video = copy_sample(_folder(tmp_path / "headless"))
    gui_out, headless_out = tmp_path / "gui.json", tmp_path / "headless.json"

    clicks = _gui_run(make_window, gui_video, gui_out, sample_gt, qtbot)
    assert [c[0] for c in clicks] == [0, CORRECTED] and clicks[1][3] is False
    _headless_run(headless_video, headless_out, clicks)

    gui_doc, headless_doc = json.loads(gui_out.read_text()), json.loads(headless_out.read_text())
    assert len(gui_doc["annotations"]) > CORRECTED  # the propagation is in it, not just the clicks
    assert _without_dates(gui_doc) == _without_dates(headless_doc)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
