"""The Find panel on a real Session: search a phrase (tiny CLIP), jump to hits by click and
Enter, find objects by text on the frame (tiny random SAM 3) and accept one."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
WAIT = 300_000  # ms, a hang guard: the jobs take seconds (tens on a loaded box)


@pytest.fixture
def panel(session, bridge, show, tmp_path_factory):
    from annotator.engines import weights
    from annotator.gui.search_panel import SearchPanel
    from tests import tiny_sam3 as tiny
    from tests.tiny_describe import install, snapshots

    model = tiny.tiny_video(new_det_thresh=0.2, max_num_objects=3)
    tiny.save_snapshot(model, tiny.video_processor(), weights.model_dir("sam3"))
    clip, _blip = snapshots(tmp_path_factory.getbasetemp() / "tiny-describe")
    install("clip-vit-b-32", clip)
    return show(SearchPanel(bridge))


def test_search_fills_hits_click_and_enter_jump(panel, session, qtbot):
    from annotator.gui.search_panel import FRAME_ROLE

    panel.query.setText("a red car")
    panel.query.returnPressed.emit()
    qtbot.waitUntil(lambda: panel.hits.topLevelItemCount() > 2, timeout=WAIT)
    frames = [panel.hits.topLevelItem(i).data(0, FRAME_ROLE) for i in range(3)]
    qtbot.waitUntil(lambda: session.current_frame == frames[0], timeout=10_000)  # the best hit is shown
    panel.query.returnPressed.emit()  # the same phrase again: the next hit
    qtbot.waitUntil(lambda: session.current_frame == frames[1], timeout=10_000)
    panel.hits.itemClicked.emit(panel.hits.topLevelItem(2), 0)
    qtbot.waitUntil(lambda: session.current_frame == frames[2], timeout=10_000)
    assert "hits for 'a red car'" in panel.status.text()


def test_scores_reach_the_timeline_strip(panel, session, bridge, qtbot):
    from annotator.gui.timeline import TimelineWidget

    timeline = TimelineWidget(bridge)
    qtbot.addWidget(timeline)
    panel.scores_ready.connect(timeline.set_search_scores)
    panel.query.setText("a dog")
    panel.search()
    qtbot.waitUntil(lambda: len(timeline.score_strip.opts["x0"]) > 0, timeout=WAIT)
    assert len(timeline.score_strip.opts["x0"]) == 9  # 100 frames at 25 fps, every 12th indexed
    assert max(timeline.score_strip.opts["height"]) > 0
    timeline.set_search_scores([], [])
    assert len(timeline.score_strip.opts["x0"]) == 0


def test_find_on_frame_then_accept(panel, session, qtbot):
    before = {o.id for o in session.objects()}
    panel.phrases.setText("red car")
    panel.threshold.setValue(0.05)  # the random detector scores about 0.25
    panel.frame_button.click()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Added"), timeout=WAIT)
    new = sorted({o.id for o in session.objects()} - before)
    assert new
    panel.set_object(new[0])
    panel.accept_button.click()
    assert panel.status.text().startswith("Accepted 1")
    assert session.mask(new[0], session.current_frame).locked


def test_a_job_that_ends_before_the_panel_stores_it_is_still_seen(session, bridge, show, qtbot):
    """A Job can finish between submit and the Session's on_done, which then calls back at once on
    the UI thread, before the panel has recorded the job: the bridge delivers that JobFinished on
    the next turn of the event loop, so the panel still ends its progress and shows the result."""
    from annotator.app.finding import FindReport
    from annotator.core.jobs import finished_job
    from annotator.gui.search_panel import SearchPanel

    panel = show(SearchPanel(bridge))

    def start():
        job = finished_job("Find objects by text", FindReport("sam3", "car"))
        session._track_job(job, "find_text")  # what every Session job does, here already done
        return job

    assert panel._start("Finding", start) is not None
    qtbot.waitUntil(lambda: panel.status.text().startswith("Added 0"), timeout=10_000)
    assert not panel.progress.isVisible() and panel._job is None
