"""Find objects by text and search, through the Session as Jobs (the way the GUI drives them):
tiny random SAM 3 installed as ``sam3`` and tiny CLIP as ``clip-vit-b-32``, the sample video."""

from __future__ import annotations

import os

import pytest

from annotator.app.events import JobFinished
from annotator.app.session import Session
from annotator.errors import ProjectError
from tests.session_helpers import copy_sample

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TIMEOUT = 600  # a hang guard: these jobs take seconds (tens on a loaded box)


@pytest.fixture
def session(tmp_path, tmp_path_factory):
    from annotator.engines import weights
    from tests import tiny_sam3 as tiny
    from tests.tiny_describe import install, snapshots

    model = tiny.tiny_video(new_det_thresh=0.2, max_num_objects=3)  # bounded: a random detector
    tiny.save_snapshot(model, tiny.video_processor(), weights.model_dir("sam3"))
    clip, _blip = snapshots(tmp_path_factory.getbasetemp() / "tiny-describe")
    install("clip-vit-b-32", clip)
    s = Session(segmenter="classical", tracker="classical", device="cpu")
    s.open(copy_sample(tmp_path))
    yield s
    s.shutdown()


def test_find_on_a_frame_is_a_job_and_one_undo_step(session):
    events = []
    session.events.connect(JobFinished, lambda event: events.append(event.kind))
    before = {o.id for o in session.objects()}
    report = session.text.find("red car, person", frame=5, threshold=0.05).result(TIMEOUT)
    assert report.objects and "find_text" in events
    for obj in report.objects:
        rec = session.mask(obj.id, 5)
        assert rec.source == "detected" and not rec.locked
    assert session.text.accept(report.objects[0].id) == 1
    assert session.mask(report.objects[0].id, 5).locked
    session.undo()  # the accept
    assert session.undo() == "Find objects: red car, person"
    assert {o.id for o in session.objects()} == before


def test_more_like_a_box(session):
    job = session.text.find_like((10, 10, 60, 50), frame=2, category="ellipse", threshold=0.05)
    report = job.result(TIMEOUT)
    assert report.text == "like ellipse" and (report.objects or report.overlaps)
    assert all(o.category == "ellipse" for o in report.objects)


def test_track_a_phrase_reports_progress_and_keeps_what_it_wrote_when_cancelled(session):
    estimates = []
    job = session.text.track("red car", start=0, stop=7, threshold=0.0,
                             estimate=lambda per_frame, total: estimates.append((per_frame, total)))
    report = job.result(TIMEOUT)
    assert report.frames_done == 8 and not report.cancelled
    assert "s left" in job.progress.message and job.progress.frame == 7
    assert len(estimates) == 1 and estimates[0][0] > 0 and estimates[0][1] == 8  # once, after frame 1
    for obj in report.objects:
        assert all(session.mask(obj.id, f).source == "detected" for f in obj.frames)
    assert session.undo() == "Track phrase: red car"


def test_search_builds_the_index_then_ranks(session):
    job = session.text.search("a red car", top=5)
    result = job.result(TIMEOUT)
    assert len(result.hits) == 5 and result.model == "clip-vit-b-32"
    assert job.progress.message == "indexing the video"
    assert result.indexed == {"frames": 9, "crops": 0} and result.encode_ms is not None  # no objects yet
    again = session.text.search("a red car", top=5).result(TIMEOUT)  # the index is kept
    assert [h.frame for h in again.hits] == [h.frame for h in result.hits]
    assert again.indexed == {"frames": 0, "crops": 0}


def test_text_tools_refuse_without_a_project_and_bad_input(session):
    with pytest.raises(ValueError, match="no phrase"):
        session.text.find(" , ")
    with pytest.raises(ValueError, match="positive"):
        session.text.search("a car", per_second=0)
    session.close()
    with pytest.raises(ProjectError, match="no project is open"):
        session.text.find("car")


def _wait_until(condition, what: str) -> None:
    import time

    deadline = time.monotonic() + TIMEOUT  # a hang guard, not a timing check
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_track_asks_after_the_first_frame_and_resumes(session):
    """ask=True on a CPU: the Job waits after frame 1 (written) until resume()."""
    estimates = []
    job = session.text.track("red car", start=0, stop=5, threshold=0.0, ask=True,
                             estimate=lambda per_frame, total: estimates.append(total))
    _wait_until(lambda: job.progress.message.startswith("waiting"), "the question")
    assert estimates == [6] and job.progress.done == 1 and not job.done()
    assert session.text.resume(job)
    report = job.result(TIMEOUT)
    assert report.frames_done == 6 and not report.cancelled
    assert not session.text.resume(job)  # nothing waits any more


def test_track_cancelled_at_the_question_keeps_the_first_frame(session):
    job = session.text.track("red car", start=3, stop=9, threshold=0.0, ask=True)
    _wait_until(lambda: job.progress.message.startswith("waiting"), "the question")
    job.cancel()
    job.wait(TIMEOUT)
    assert job.state.value == "cancelled"
    made = {o.id for o in session.objects() if o.name == "red car"}
    assert made, "the random detector found nothing on frame 3 (threshold 0)"
    frames = {rec.frame for rec in session.view.iter_masks() if rec.object_id in made}
    assert frames == {3}  # the first frame's masks are kept, nothing after
    assert session.undo() == "Track phrase: red car"
