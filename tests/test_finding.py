"""Find objects by text: detections become new objects with ``detected`` masks, overlaps with
existing objects are reported and not added, one undo step, accept locks, exports leave them out;
and `annotator detect` end to end with a tiny random SAM 3 installed as ``sam3``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from annotator.app.finding import accept, add_detections, add_tracks
from annotator.cli.main import main
from annotator.core import masks as rle
from annotator.core.project import Project
from annotator.core.records import VideoRef
from annotator.engines.sam3 import Instance
from annotator.engines.sam3_video import TrackedInstance
from tests.session_helpers import SAMPLE_GT
from tests.tiny_describe import sample_project

os.environ.setdefault("HF_HUB_OFFLINE", "1")
H, W = 40, 60


def box_mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture()
def project(tmp_path: Path):
    ref = VideoRef(path=str(tmp_path / "v.mp4"), fingerprint="f", frame_count=10, width=W, height=H, fps=5.0)
    with Project.create(tmp_path / "v.mp4.annot", ref) as p:
        p.add_object(name="mine", object_id=1)
        p.set_mask(1, 3, rle.encode(box_mask(0, 0, 20, 20)), "user", locked=True)
        yield p


def test_detections_become_new_detected_objects_in_one_undo_step(project):
    instances = [Instance("camel", box_mask(30, 5, 50, 30), 0.9, (30, 5, 50, 30)),
                 Instance("camel", box_mask(1, 1, 20, 20), 0.8, (1, 1, 20, 20)),  # on object 1: IoU 0.9
                 Instance("person", box_mask(22, 22, 28, 38), 0.6, (22, 22, 28, 38))]
    report = add_detections(project, 3, instances, "sam3", "camel, person")
    assert [(o.category, o.frames) for o in report.objects] == [("camel", [3]), ("person", [3])]
    (skipped,) = report.overlaps
    assert (skipped.phrase, skipped.object_id, skipped.frame) == ("camel", 1, 3) and skipped.iou >= 0.5
    for obj in report.objects:
        rec = project.mask(obj.id, 3)
        assert rec.source == "detected" and not rec.locked and rec.score == pytest.approx(obj.score)
        info = next(o for o in project.objects() if o.id == obj.id)
        names = {c.id: c.name for c in project.categories()}
        assert names[info.category_id] == obj.category
    assert project.mask(1, 3).source == "user" and project.mask(1, 3).locked  # untouched
    doc = report.to_json()
    assert set(doc) >= {"model", "text", "objects"} and doc["objects"][0]["frames"] == [3]
    assert set(doc["objects"][0]) == {"id", "category", "score", "frames"}
    assert project.undo() == "Find objects: camel, person"
    assert [o.id for o in project.objects()] == [1]


def test_accept_turns_detections_into_locked_user_masks(project):
    report = add_detections(project, 5, [Instance("dog", box_mask(30, 5, 50, 30), 0.7, (0, 0, 1, 1))],
                            "sam3", "dog")
    oid = report.objects[0].id
    assert accept(project, oid) == 1
    rec = project.mask(oid, 5)
    assert rec.source == "user" and rec.locked
    assert accept(project, oid) == 0
    project.undo()
    assert project.mask(oid, 5).source == "detected"


def test_exports_leave_detected_masks_out_unless_asked(project, tmp_path):
    from annotator.formats import ExportOptions, export_project

    camel = Instance("camel", box_mask(30, 5, 50, 30), 0.9, (0, 0, 1, 1))
    add_detections(project, 3, [camel], "sam3", "camel")
    project.close()
    path = tmp_path / "v.mp4.annot"
    out = tmp_path / "coco.json"
    export_project(path, "coco", out, ExportOptions(skip_empty=True))
    assert len(json.loads(out.read_text())["annotations"]) == 1  # object 1 only
    export_project(path, "coco", out, ExportOptions(skip_empty=True, include_detected=True))
    assert len(json.loads(out.read_text())["annotations"]) == 2


def test_tracks_become_objects_and_a_track_on_an_existing_object_is_skipped(project):
    def tracks():
        yield 3, [TrackedInstance(1, "camel", box_mask(30, 5, 50, 30), 0.9, True),
                  TrackedInstance(2, "camel", box_mask(0, 0, 19, 20), 0.8, True)]  # overlaps object 1
        yield 4, [TrackedInstance(1, "camel", box_mask(31, 5, 51, 30), 0.9, False),
                  TrackedInstance(2, "camel", box_mask(0, 0, 19, 20), 0.8, False)]
        yield 5, [TrackedInstance(3, "camel", box_mask(2, 25, 12, 38), 0.7, True)]  # new mid-video
    report = add_tracks(project, tracks(), "sam3", "camel", total=3)
    assert [(o.category, o.frames) for o in report.objects] == [("camel", [3, 4]), ("camel", [5])]
    assert [(s.frame, s.object_id) for s in report.overlaps] == [(3, 1)]
    assert report.frames_done == 3 and not report.cancelled
    assert project.undo() == "Track phrase: camel"
    assert [o.id for o in project.objects()] == [1]


# --- the command line, with a tiny random SAM 3 -------------------------------------------------
@pytest.fixture
def sam3_installed():
    from annotator.engines import weights
    from tests import tiny_sam3 as tiny

    # At most 3 objects: the random detector would otherwise add new ones on every frame.
    model = tiny.tiny_video(new_det_thresh=0.2, max_num_objects=3)
    tiny.save_snapshot(model, tiny.video_processor(), weights.model_dir("sam3"))


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return sample_project(tmp_path)


def test_detect_on_a_frame_adds_detected_objects(sample, sam3_installed, capsys):
    rc = main(["detect", str(sample), "--text", "red car, person", "--frame", "4", "--threshold", "0.05",
               "--model", "sam3", "--device", "cpu", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["model"] == "sam3" and doc["text"] == "red car, person"
    assert doc["objects"], "the random detector at threshold 0.05 finds instances"
    with Project.open(sample, readonly=True) as project:
        for obj in doc["objects"]:
            assert obj["frames"] == [4] and obj["category"] in ("red car", "person")
            rec = project.mask(obj["id"], 4)
            assert rec.source == "detected" and not rec.locked and rec.area > 0
    assert "detect: sam3 on cpu" in err


def test_detect_more_like_a_box(sample, sam3_installed, capsys):
    rc = main(["detect", str(sample), "--text", "ellipse", "--box", "10,10,60,50", "--frame", "2",
               "--threshold", "0.05", "--model", "sam3", "--device", "cpu", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["text"] == "like ellipse"
    assert doc["objects"] or doc["not_added"]
    assert all(o["category"] == "ellipse" and o["frames"] == [2] for o in doc["objects"])
    with pytest.raises(SystemExit):
        main(["detect", str(sample), "--text", "a, b", "--box", "10,10,60,50", "--model", "sam3"])


def test_detect_track_and_usage(sample, sam3_installed, capsys):
    with pytest.raises(SystemExit) as info:
        main(["detect", str(sample), "--text", " , "])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["detect", str(sample), "--text", "car", "--frame", "1000", "--model", "sam3",
              "--device", "cpu"])
    capsys.readouterr()
    rc = main(["detect", str(sample), "--text", "red car", "--track", "--span", "2:9", "--threshold", "0.0",
               "--model", "sam3", "--device", "cpu", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["frames_done"] == 8 and not doc["cancelled"]
    assert "first frame took" in err  # the CPU time estimate
    assert all(o["category"] == "red car" and 2 <= min(o["frames"]) <= max(o["frames"]) <= 9
               for o in doc["objects"])


def test_detect_track_interrupted_prints_what_it_found(sample, sam3_installed, capsys, monkeypatch):
    """Ctrl+C during `detect --track` (a real KeyboardInterrupt in the main thread, raised when the
    CPU estimate arrives): the JSON still comes out, says ``cancelled``, and the exit status is 130."""
    import _thread
    import signal
    import time

    from annotator.cli import cmd_detect

    said = cmd_detect.message

    def message_then_interrupt(text: str) -> None:
        said(text)
        if "first frame took" in text:  # said on the worker, after the first frame
            _thread.interrupt_main()
            # Hold the worker until the main thread has taken the Ctrl+C and cancelled the job
            # (it polls every 0.1 s): a tiny model would otherwise finish the span first.
            time.sleep(2)

    monkeypatch.setattr(cmd_detect, "message", message_then_interrupt)
    # interrupt_main does nothing where SIGINT is ignored (a run started in the background).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = main(["detect", str(sample), "--text", "red car", "--track", "--span", "0:9",
                   "--threshold", "0.0", "--model", "sam3", "--device", "cpu", "--json"])
    finally:
        signal.signal(signal.SIGINT, previous)
    out, err = capsys.readouterr()
    assert rc == 130, err
    assert out, err
    doc = json.loads(out)
    assert doc["cancelled"] and 1 <= doc["frames_done"] < 10
    assert "cancelled; the objects found so far are kept" in err


def test_a_chosen_project_path_is_made_and_refused_for_another_video(tmp_path):
    """``annotator detect --project P``: the Session opens (or makes) the video's project at P, and
    refuses a P that belongs to another video instead of writing into it."""
    from PIL import Image

    from annotator.app.session import Session
    from annotator.errors import ProjectError
    from tests.session_helpers import copy_sample

    video = copy_sample(tmp_path)
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(other)
    chosen = tmp_path / "elsewhere" / "mine.annot"
    chosen.parent.mkdir()
    with Session(segmenter="classical", tracker="classical", device="cpu") as session:
        assert session.open(video, project=chosen).path == chosen
        session.close()
        assert not (tmp_path / "sample.mp4.annot").exists()  # nothing beside the video
        with pytest.raises(ProjectError, match="belongs to another video"):
            session.open(other, project=chosen)
