"""Describing a project end to end (annotator/app/describe/): a real Session
on the sample video with the ground-truth masks of its three objects, the tiny random-weight
CLIP and BLIP installed as clip-vit-b-32 and blip-base, Jobs on the engine lane, insights in the
SQLite store, undo, cancel, and the COCO / YouTube-VIS exports carrying the results."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator.app.describe import kinds as insight_kinds
from annotator.app.describe import runs as describe_runs
from annotator.app.describe import steps as describe_steps
from annotator.app.events import JobFinished, JobStarted
from annotator.app.session import Session
from annotator.core import masks as rle_ops
from annotator.core.jobs import JobState
from annotator.engines.crops import masked_crop
from annotator.engines.describe import mean_embedding
from annotator.errors import WeightsMissingError
from tests.session_helpers import SAMPLE_GT, copy_sample
from tests.tiny_describe import install_both

CATEGORIES = ("ellipse", "rectangle")
WAIT = 120  # s: generous; the runs take a few seconds on 2 cores


@pytest.fixture(scope="module")
def gt() -> dict:
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return json.loads(SAMPLE_GT.read_text())


@pytest.fixture
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return install_both(tmp_path_factory.getbasetemp() / "tiny-describe")


def open_session(folder: Path, gt: dict, categories: tuple[str, ...] = CATEGORIES) -> Session:
    """A Session on a copy of the sample with objects 1-3 masked on every other frame."""
    session = Session(segmenter="classical", tracker="classical")
    session.open(copy_sample(folder))
    project = session._project
    assert project is not None
    with project.step("Set up"):
        for name in categories:
            project.ensure_category(name)
        for oid in (1, 2, 3):
            project.add_object(name=gt["objects"][str(oid)]["kind"], object_id=oid)
        project.set_masks((oid, frame, gt["objects"][str(oid)]["masks"][frame], "imported", 0.9, False)
                          for oid in (1, 2, 3) for frame in range(0, 100, 2))
    project.clear_history()
    return session


@pytest.fixture
def session(tmp_path: Path, gt: dict, models: tuple[Path, Path]) -> Any:
    s = open_session(tmp_path, gt)
    yield s
    s.shutdown()


def kinds(project: Any) -> list[str]:
    return sorted(i.kind for i in project.insights())


def test_classify_objects_and_clip(session: Session) -> None:
    events: list[tuple[str, str]] = []
    finished = threading.Event()
    session.events.connect(JobStarted, lambda e: events.append(("started", e.kind)))
    session.events.connect(JobFinished, lambda e: (events.append(("finished", e.kind)), finished.set()))
    job = session.classify(labels=["star", "Ellipse", "dog"])
    report = job.result(WAIT)
    assert finished.wait(WAIT)  # done callbacks run just after result() returns
    assert events == [("started", "classify"), ("finished", "classify")]
    assert report.classify_model == "clip-vit-b-32" and report.device == "cpu" and not report.cancelled
    assert sorted(report.object_labels) == [1, 2, 3]
    project = session._project
    vocab = ["ellipse", "rectangle", "star", "dog"]  # categories first; "Ellipse" is not repeated
    for oid in (1, 2, 3):
        (found,) = project.insights(kind=insight_kinds.OBJECT_LABELS, object_id=oid)
        payload = found.payload
        assert found.model == "clip-vit-b-32" and found.created > 0
        assert payload["vocabulary"] == vocab and payload["templates"] > 1 and payload["accepted"] is None
        scores = [e["score"] for e in payload["labels"]]
        assert [e["label"] for e in payload["labels"]] != [] and sorted(scores, reverse=True) == scores
        assert len(scores) == 4 and abs(sum(scores) - 1) < 1e-4  # the whole vocabulary fits in the top 5
        frames = payload["frames"]
        assert 1 < len(frames) <= 8 and all(f % 2 == 0 for f in frames)  # frames with a mask
        assert found.frame_start == min(frames) and found.frame_end == max(frames) + 1
        assert payload["device"] == "cpu" and payload["seconds"] >= 0
    (clip,) = project.insights(kind=insight_kinds.SCENE_LABELS)
    assert clip.object_id is None and (clip.frame_start, clip.frame_end) == (0, 100)
    assert clip.payload["scope"] == "clip" and len(clip.payload["frames"]) == 8

    # The stored scores are what the classifier gives for the crops of those frames.
    classifier = session.engines.describers().get("classify")
    (found,) = project.insights(kind=insight_kinds.OBJECT_LABELS, object_id=2)
    crops = [masked_crop(session.frame_image(f), rle_ops.decode(project.mask(2, f).rle))
             for f in found.payload["frames"]]
    expected = classifier.rank(mean_embedding(classifier.embed_images(crops)), vocab, 5)
    assert [e["label"] for e in found.payload["labels"]] == [s.label for s in expected]
    assert np.allclose([e["score"] for e in found.payload["labels"]], [s.score for s in expected], atol=1e-5)

    # One run is one undo step.
    assert project.undo_label() == "Classify"
    project.undo()
    assert kinds(project) == []
    project.redo()
    assert kinds(project).count(insight_kinds.OBJECT_LABELS) == 3
    json.dumps(report.to_json())  # plain JSON for the CLI


def test_rerun_replaces_and_accepting_a_label_is_one_undo_step(session: Session) -> None:
    project = session._project
    session.classify(labels=["star"], clip=False).result(WAIT)
    session.classify(labels=["star"], clip=False).result(WAIT)
    assert kinds(project) == [insight_kinds.OBJECT_LABELS] * 3
    (found,) = project.insights(kind=insight_kinds.OBJECT_LABELS, object_id=3)
    describe_runs.accept_label(project, 3, "star", found.id)
    star = next(c for c in project.categories() if c.name == "star")
    assert project.object(3).category_id == star.id
    assert project.insights(kind=insight_kinds.OBJECT_LABELS, object_id=3)[0].payload["accepted"] == "star"
    project.undo()
    assert project.object(3).category_id is None
    assert "star" not in [c.name for c in project.categories()]  # the new category went too
    assert project.insights(kind=insight_kinds.OBJECT_LABELS, object_id=3)[0].payload["accepted"] is None
    project.redo()
    assert project.object(3).category_id == star.id
    with pytest.raises(ValueError, match="empty"):
        describe_runs.accept_label(project, 3, "  ")


def test_caption_objects_and_describe_the_clip_in_timed_segments(session: Session) -> None:
    project = session._project
    job = session.caption(max_segment_s=1.0, keyframes=[10])
    report = job.result(WAIT)
    assert report.caption_model == "blip-base" and sorted(report.object_captions) == [1, 2, 3]
    for oid in (1, 2, 3):
        (cap,) = project.insights(kind=insight_kinds.OBJECT_CAPTION, object_id=oid)
        assert cap.payload["text"] == report.object_captions[oid] and cap.payload["text"]
        assert cap.payload["frame"] == describe_steps.best_frame(project, oid) == cap.frame_start
    # The sample is one shot of 4 s at 25 fps: four 1-second segments, back to back.
    (shots,) = project.insights(kind=insight_kinds.SHOTS)
    assert shots.payload == {**shots.payload, "cuts": [], "frame_count": 100}
    segs = describe_runs.segments(project)
    assert [(s.frame_start, s.frame_end) for s in segs] == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert [(s.payload["start_s"], s.payload["end_s"]) for s in segs] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert [s.payload["keyframe"] for s in segs] == [12, 37, 62, 87]
    assert all(s.payload["text"] and s.model == "blip-base" and s.payload["shot"] == 0 for s in segs)
    (frame_cap,) = project.insights(kind=insight_kinds.FRAME_CAPTION)
    assert (frame_cap.frame_start, frame_cap.frame_end, frame_cap.payload["time_s"]) == (10, 11, 0.4)

    # Editing a caption is one undo step and keeps the model's text.
    first = segs[0]
    describe_runs.edit_caption(project, first.id, "  a red   ellipse moves ")
    edited = describe_runs.segments(project)[0]
    assert edited.payload["text"] == "a red ellipse moves" and edited.payload["edited"]
    assert edited.payload["original"] == first.payload["text"]
    project.undo()
    assert describe_runs.segments(project)[0].payload == first.payload
    project.redo()

    # A new run keeps the user's words: the edited segment (same range) and an edited object caption.
    (cap1,) = project.insights(kind=insight_kinds.OBJECT_CAPTION, object_id=1)
    describe_runs.edit_caption(project, cap1.id, "my ellipse")
    session.caption(max_segment_s=1.0).result(WAIT)
    assert describe_runs.segments(project)[0].payload["text"] == "a red ellipse moves"
    kept = project.insights(kind=insight_kinds.OBJECT_CAPTION, object_id=1)
    assert [i.payload["text"] for i in kept] == ["my ellipse"]
    with pytest.raises(KeyError):
        describe_runs.edit_caption(project, 10_000, "x")


def test_cancel_keeps_what_was_finished(session: Session) -> None:
    project = session._project
    cache = session.engines.describers()
    cache.set_model("caption", "auto", batch_size=1)
    gate = threading.Event()
    blocker = session.workers.submit(cache.lane, "hold the lane", lambda ctx: gate.wait(30))
    job = session.caption(clip=False)
    job.on_progress(lambda j, p: j.cancel() if p.done >= 1 else None)  # after the first caption
    gate.set()
    blocker.result(WAIT)
    assert job.wait(WAIT) and job.state is JobState.CANCELLED
    (partial,) = job.partial
    assert partial.cancelled and len(partial.object_captions) == 1
    assert kinds(project) == [insight_kinds.OBJECT_CAPTION]
    project.undo()  # the cancelled run is one step too
    assert kinds(project) == []


def test_cancel_before_it_starts(session: Session) -> None:
    cache = session.engines.describers()
    gate = threading.Event()
    blocker = session.workers.submit(cache.lane, "hold the lane", lambda ctx: gate.wait(30))
    job = session.classify()
    job.cancel()
    gate.set()
    blocker.result(WAIT)
    assert job.wait(WAIT) and job.state is JobState.CANCELLED
    assert kinds(session._project) == [] and not session._project.can_undo()


def test_missing_models_refuse_before_any_job(tmp_path: Path, gt: dict) -> None:
    session = open_session(tmp_path, gt)
    try:
        with pytest.raises(WeightsMissingError, match="annotator models download clip-vit-b-32"):
            session.classify()
        with pytest.raises(WeightsMissingError, match="annotator models download blip-base"):
            session.caption()
        assert session.workers.active_jobs() == []
        status = session.engines.describers().status("caption")
        assert not status.ready and status.missing == "blip-base"
        assert status.command == "annotator models download blip-base" and "blip-base" in status.message
    finally:
        session.shutdown()


def test_nothing_to_classify_against(tmp_path: Path, gt: dict, models: tuple[Path, Path]) -> None:
    session = open_session(tmp_path, gt, categories=())
    try:
        with pytest.raises(ValueError, match="no labels"):
            session.classify()
        assert describe_runs.vocabulary(session._project, [" dog ", "", "DOG", "cat"]) == ["dog", "cat"]
        describe_runs.save_labels(session._project, ["dog", " cat ", "dog"])
        assert describe_runs.saved_labels(session._project) == ["dog", "cat"]
        assert describe_runs.parse_labels("dog, cat ,, red car") == ["dog", "cat", "red car"]
    finally:
        session.shutdown()


def test_per_shot_labels_and_objects_without_masks(session: Session) -> None:
    project = session._project
    empty = project.add_object(name="never drawn")
    report = session.classify(per_shot=True, frames_per_shot=2).result(WAIT)
    assert report.skipped_objects == [empty.id]
    scopes = sorted(i.payload["scope"] for i in project.insights(kind=insight_kinds.SCENE_LABELS))
    assert scopes == ["clip", "shot"]
    assert project.insights(kind=insight_kinds.SHOTS)  # found once, reused by the next run
    assert describe_steps.track_frames(project, 1, 3) == [0, 48, 98]


def test_exports_carry_the_accepted_class_scores_and_captions(session: Session, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    from annotator.formats.coco import export_coco
    from annotator.formats.ytvis import export_ytvis, import_ytvis

    project = session._project
    session.describe(describe_runs.DescribePlan(labels=["star"], max_segment_s=2.0)).result(WAIT)
    describe_runs.accept_label(project, 3, "star")
    (tmp_path / "out").mkdir()

    coco_path = export_coco(project, tmp_path / "out" / "coco.json").files[0]
    doc = json.loads(Path(coco_path).read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    track3 = next(t for t in doc["tracks"] if t["object_id"] == 3)
    assert names[track3["category_id"]] == "star"
    kinds3 = {i["kind"]: i for i in track3["attributes"]["insights"]}
    assert kinds3[insight_kinds.OBJECT_LABELS]["payload"]["accepted"] == "star"
    assert kinds3[insight_kinds.OBJECT_LABELS]["model"] == "clip-vit-b-32"
    assert kinds3[insight_kinds.OBJECT_CAPTION]["payload"]["text"]
    video_kinds = [i["kind"] for i in doc["videos"][0]["attributes"]["insights"]]
    assert video_kinds.count(insight_kinds.SEGMENT_CAPTION) == 2 and insight_kinds.SCENE_LABELS in video_kinds
    coco = COCO(str(coco_path))  # the official loader still reads it
    anns = coco.loadAnns(coco.getAnnIds())
    assert {names[a["category_id"]] for a in anns if a["track_id"] == 3} == {"star"}

    ytvis_path = export_ytvis(project, tmp_path / "out" / "ytvis.json").files[0]
    doc = json.loads(Path(ytvis_path).read_text())
    found = doc["videos"][0]["attributes"]["insights"]
    segs = [i for i in found if i["kind"] == insight_kinds.SEGMENT_CAPTION]
    assert [(s["frame_start"], s["frame_end"]) for s in segs] == [(0, 50), (50, 100)]
    ann3 = next(a for a in doc["annotations"] if a["object_id"] == 3)
    track_kinds = {i["kind"] for i in ann3["attributes"]["insights"]}
    assert track_kinds == {insight_kinds.OBJECT_LABELS, insight_kinds.OBJECT_CAPTION}
    assert {c["id"]: c["name"] for c in doc["categories"]}[ann3["category_id"]] == "star"
    summary = import_ytvis(ytvis_path, project.locate_video(), tmp_path / "back.annot")
    assert summary.objects == 3  # our importer (like the official loaders) ignores the extra fields


def test_an_object_deleted_during_a_run_is_skipped(session: Session) -> None:
    project = session._project

    def delete_once(job: Any, progress: Any) -> None:
        first = progress.message == "classifying objects" and progress.done == 0
        if first and 2 in {o.id for o in project.objects()}:
            project.delete_object(2)  # the user deletes it while the run has its frames planned

    cache = session.engines.describers()
    gate = threading.Event()
    blocker = session.workers.submit(cache.lane, "hold the lane", lambda ctx: gate.wait(30))
    job = session.classify(clip=False)
    job.on_progress(delete_once)
    gate.set()
    blocker.result(WAIT)
    report = job.result(WAIT)
    assert sorted(report.object_labels) == [1, 3] and report.skipped_objects == [2]
    assert sorted(i.object_id for i in project.insights()) == [1, 3]
