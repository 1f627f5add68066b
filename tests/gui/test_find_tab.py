"""The Find tab in the real window (tiny random SAM 3 installed as ``sam3``): "more like this"
with a box drawn on the canvas, and the CPU question after a track's first frame."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tests.gui.helpers import press_key, wait_for_frame
from tests.gui.test_canvas import drag

os.environ.setdefault("HF_HUB_OFFLINE", "1")
WAIT = 300_000  # ms, a hang guard: the jobs take seconds (tens on a loaded box)


@pytest.fixture
def window(make_window, sample_copy):
    from annotator.engines import weights
    from tests import tiny_sam3 as tiny

    model = tiny.tiny_video(new_det_thresh=0.2, max_num_objects=3)  # a random detector finds a few
    tiny.save_snapshot(model, tiny.video_processor(), weights.model_dir("sam3"))
    return make_window(sample_copy)  # no GPU here: SAM 3 runs on the CPU


def test_a_box_drawn_on_the_canvas_finds_more_like_it(window, qtbot):
    panel, canvas = window.search_panel, window.canvas
    before = {o.id for o in window.session.objects()}
    panel.phrases.setText("ellipse")
    panel.threshold.setValue(0.05)  # the random detector scores about 0.25
    panel.example_button.click()
    assert canvas.tool is window.example_tool
    drag(window, [(10, 10), (40, 30), (60, 50)])
    assert canvas.tool is window.interaction.prompt_tool and not panel.example_button.isChecked()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Added"), timeout=WAIT)
    new = [o for o in window.session.objects() if o.id not in before]
    overlaps = "overlapping" in panel.status.text()
    assert new or overlaps
    frame = window.session.current_frame
    for obj in new:
        assert obj.name == "ellipse" and window.session.mask(obj.id, frame).source == "detected"
    if new:
        assert window.session.undo() == "Find objects: like ellipse"  # one undo step
        assert {o.id for o in window.session.objects()} == before


def test_esc_leaves_example_mode_without_a_run(window, qtbot):
    panel, canvas = window.search_panel, window.canvas
    panel.example_button.click()
    assert canvas.tool is window.example_tool
    press_key(window, Qt.Key.Key_Escape)
    assert canvas.tool is window.interaction.prompt_tool and not panel.example_button.isChecked()
    assert panel._job is None
    panel.example_button.click()  # choosing another tool also ends the mode
    window.registry["tool_brush"].trigger()
    assert canvas.tool is window.interaction.brush_tool and not panel.example_button.isChecked()


@pytest.mark.parametrize("answer", ["continue", "cancel"])
def test_tracking_on_the_cpu_asks_after_the_first_frame(window, qtbot, answer):
    panel, session = window.search_panel, window.session
    session.set_frame(session.video_info.frame_count - 6)  # a short run: six frames
    wait_for_frame(qtbot, window, None)
    panel.phrases.setText("red car")
    panel.threshold.setValue(0.0)
    job = panel.track_phrase()
    assert job is not None
    qtbot.waitUntil(lambda: panel.question is not None, timeout=WAIT)
    question = panel.question
    assert "through 6 frames on the CPU will take about" in question.text()
    assert job.progress.done == 1 and not job.done()  # waiting, its first frame written
    assert window.isEnabled()  # the UI thread is free: the question is not a blocking exec()
    names = {b.text(): b for b in question.buttons()}
    if answer == "continue":
        names["Continue"].click()
    else:
        question.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: panel._job is None, timeout=WAIT)
    assert panel.question is None
    start = session.video_info.frame_count - 6
    made = {o.id for o in session.objects() if o.name == "red car"}
    frames = {r.frame for r in session.view.iter_masks() if r.object_id in made}
    if answer == "continue":
        assert job.result().frames_done == 6 and panel.status.text().startswith("Added")
    else:  # what the first frame found is kept, nothing after it
        assert panel.status.text().startswith("Cancelled") and made and frames == {start}
