"""Project store: CRUD for everything it holds, events, readers beside a writer, reopen."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from annotator.core import masks as rle_ops
from annotator.core.filelock import WriterLock
from annotator.core.project import Change, Project, VideoRef
from annotator.errors import FrameIndexError, ProjectError, ProjectLockedError

W, H = 64, 48
VIDEO = VideoRef("clip.mp4", "fp-123", 200, W, H, 30.0, codec="h264", rotation=90)


def box(x0: int, y0: int, x1: int, y1: int) -> dict:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return rle_ops.encode(m)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "clip.annot", VIDEO)
    yield p
    p.close()


def test_create_stores_video_and_refuses_existing_file(tmp_path, project):
    assert project.video.fingerprint == "fp-123"
    assert (project.video.width, project.video.height, project.video.frame_count) == (W, H, 200)
    assert project.video.codec == "h264" and project.video.rotation == 90
    assert project.readonly is False and project.SCHEMA_VERSION >= 1
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "clip.annot", VIDEO)
    conn = sqlite3.connect(tmp_path / "clip.annot")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == Project.SCHEMA_VERSION
    conn.close()


def test_categories(project):
    car = project.add_category("car", "vehicle")
    person = project.ensure_category("person")
    assert project.ensure_category("person") == person
    assert [c.name for c in project.categories()] == ["car", "person"]
    assert project.category(car.id).supercategory == "vehicle"
    with pytest.raises(ValueError, match="already exists"):
        project.add_category("car")
    project.rename_category(car.id, "truck")
    assert project.category(car.id).name == "truck"
    with pytest.raises(ValueError, match="already exists"):
        project.rename_category(car.id, "person")
    obj = project.add_object("bus 1", category_id=car.id)
    project.delete_category(car.id)
    assert project.object(obj.id).category_id is None
    with pytest.raises(KeyError):
        project.category(car.id)
    with pytest.raises(KeyError):
        project.add_object(category_id=999)


def test_objects_ids_names_colours(project):
    a = project.add_object()
    b = project.add_object(name="dog", color="#ABCDEF", attributes={"pose": "sitting"})
    assert (a.id, a.name) == (1, "object 1") and a.color.startswith("#") and len(a.color) == 7
    assert b.color == "#abcdef" and b.attributes == {"pose": "sitting"} and a.color != b.color
    assert [o.id for o in project.objects()] == [1, 2]
    project.delete_object(b.id)
    c = project.add_object()
    assert c.id == 3, "ids are never reused"
    with pytest.raises(ValueError, match="in use"):
        project.add_object(object_id=b.id)  # its deletion can still be undone
    d = project.add_object(object_id=10, name="imported")
    assert d.id == 10 and project.add_object().id == 11
    updated = project.update_object(a.id, name="cat", hidden=True, attributes={"x": 1})
    assert (updated.name, updated.hidden, updated.attributes) == ("cat", True, {"x": 1})
    assert project.object(a.id) == updated
    with pytest.raises(KeyError):
        project.object(99)
    with pytest.raises(ValueError):
        project.update_object(a.id, color="red")


def test_masks_crud_area_bbox_and_order(project):
    o1, o2 = project.add_object(), project.add_object()
    rec = project.set_mask(o1.id, 5, box(2, 3, 12, 8), "user", score=0.9)
    assert (rec.area, rec.bbox, rec.locked, rec.source) == (50, [2.0, 3.0, 10.0, 5.0], False, "user")
    assert project.mask(o1.id, 5) == rec
    assert np.array_equal(rle_ops.decode(project.mask(o1.id, 5).rle), rle_ops.decode(box(2, 3, 12, 8)))
    project.set_masks([(o2.id, 5, box(0, 0, 4, 4), "imported", None, True),
                       (o1.id, 7, box(1, 1, 2, 2), "tracked", 0.4, None),
                       (o2.id, 2, box(5, 5, 9, 9), "tracked", 0.3, None)])
    assert [(r.object_id, r.frame) for r in project.masks_on_frame(5)] == [(1, 5), (2, 5)]
    assert project.object_frames(o1.id) == [5, 7]
    assert [(r.frame, r.object_id) for r in project.iter_masks()] == [(2, 2), (5, 1), (5, 2), (7, 1)]
    assert [r.frame for r in project.iter_masks(object_ids=[o1.id], frame_start=6)] == [7]
    assert [r.frame for r in project.iter_masks(frame_stop=5)] == [2]
    assert [(r.object_id, r.frame) for r in project.iter_masks(locked_only=True)] == [(2, 5)]
    assert project.track_summary(o1.id) == [(5, 0.9, False, "user", 50), (7, 0.4, False, "tracked", 1)]
    assert project.mask_count() == 4 and project.mask_count([o2.id]) == 2
    # uncompressed and bytes counts are accepted and stored compressed as str
    raw = {"size": [H, W], "counts": rle_ops.uncompressed_counts(box(3, 3, 6, 6))}
    assert project.set_mask(o1.id, 9, raw, "imported").area == 9
    assert isinstance(project.mask(o1.id, 9).rle["counts"], str)
    project.delete_mask(o1.id, 9)
    assert project.mask(o1.id, 9) is None
    assert project.delete_masks(o2.id, 0, None) == 2 and project.object_frames(o2.id) == []


def test_mask_validation(project):
    o = project.add_object()
    with pytest.raises(ValueError, match="does not match the video"):
        project.set_mask(o.id, 0, rle_ops.empty(10, 10), "user")
    with pytest.raises(ValueError, match="source"):
        project.set_mask(o.id, 0, box(0, 0, 2, 2), "magic")
    with pytest.raises(FrameIndexError):
        project.set_mask(o.id, 200, box(0, 0, 2, 2), "user")
    with pytest.raises(KeyError):
        project.set_mask(42, 0, box(0, 0, 2, 2), "user")
    assert project.mask_count() == 0


def test_iter_masks_streams_in_pages_without_holding_the_lock(project):
    oids = [project.add_object().id for _ in range(3)]
    rows = [(oid, f, box(f % 50, 0, f % 50 + 3, 3), "tracked", 0.5, None) for f in range(200) for oid in oids]
    project.set_masks(rows, record_history=False)
    seen, writes = [], []
    for i, rec in enumerate(project.iter_masks()):
        seen.append((rec.frame, rec.object_id))
        if i == 300:  # another thread can write mid-iteration: the lock is free between pages
            t = threading.Thread(target=lambda: writes.append(project.set_reviewed(oids[0], 0, True)))
            t.start()
            t.join(timeout=10)
            assert not t.is_alive()
    assert seen == sorted(seen) and len(seen) == 600 and writes == [None]
    assert [r.frame for r in project.iter_masks(object_ids=[oids[1]], frame_start=150, frame_stop=160)] \
        == list(range(150, 160))
    assert list(project.iter_masks(object_ids=[])) == []


def test_locks_absent_and_write_tracked(project):
    o = project.add_object()
    project.set_locked(o.id, 4, True)  # no mask yet: an empty mask means "absent here"
    rec = project.mask(o.id, 4)
    assert rec.locked and rec.area == 0 and rec.rle == rle_ops.empty(H, W)
    assert project.is_locked(o.id, 4) and project.locked_frames(o.id) == [4]
    step = project.begin_step("Propagate")
    assert project.write_tracked(o.id, 4, box(0, 0, 5, 5), 0.8, step=step) is False
    assert project.write_tracked(o.id, 5, box(0, 0, 5, 5), 0.8, step=step) is True
    assert project.write_tracked(77, 5, box(0, 0, 5, 5), 0.8, step=step) is False  # object gone
    assert project.write_tracked_many([(o.id, 4, box(0, 0, 1, 1), 0.1), (o.id, 6, box(0, 0, 1, 1), 0.1)],
                                      step=step) == [False, True]
    step.close()
    assert project.mask(o.id, 4).area == 0 and project.mask(o.id, 5).source == "tracked"
    project.set_mask(o.id, 5, box(1, 1, 3, 3), "user")  # locked=None keeps the flag
    assert not project.is_locked(o.id, 5)
    project.set_mask(o.id, 5, box(1, 1, 3, 3), "user", locked=True)
    project.set_mask(o.id, 5, box(1, 1, 4, 4), "user")
    assert project.is_locked(o.id, 5)
    project.set_locked(o.id, 5, False)
    assert project.locked_frames(o.id) == [4] and project.mask(o.id, 5).area == 9


def test_review_marks_and_frame_attributes(project):
    o = project.add_object()
    project.set_reviewed(o.id, 3, True)
    project.set_reviewed(o.id, 8, True)
    project.set_frame_attributes(o.id, 3, {"occluded": True, "truncated": False})
    assert project.reviewed_frames(o.id) == [3, 8]
    assert project.frame_attributes(o.id, 3) == {"occluded": True, "truncated": False}
    assert project.frame_attributes(o.id, 4) == {}
    project.set_reviewed(o.id, 3, False)
    assert project.reviewed_frames(o.id) == [8] and project.frame_attributes(o.id, 3)["occluded"] is True
    project.set_mask(o.id, 8, box(0, 0, 2, 2), "user")
    project.set_mask(o.id, 9, box(0, 0, 2, 2), "user")
    assert [r.frame for r in project.iter_masks(reviewed_only=True)] == [8]


def test_bulk_frame_attributes_read_and_write_in_one_step(project):
    a, b = project.add_object(), project.add_object()
    project.set_frame_attributes_many([(a.id, f, {"occluded": True}) for f in range(5)]
                                      + [(b.id, 2, {"truncated": True})])
    assert project.frame_attribute_map([b.id]) == {(b.id, 2): {"truncated": True}}
    assert len(project.frame_attribute_map()) == 6
    project.undo()  # all of it was one step
    assert project.frame_attribute_map() == {}


def test_iter_masks_from_a_start_frame_pages_past_the_first_page(project):
    oid = project.add_object().id
    project.set_masks([(oid, f, box(0, 0, 2, 2), "tracked", 0.5, None) for f in range(200)],
                      record_history=False)
    frames = [r.frame for r in project.iter_masks(frame_start=3)]
    assert frames == list(range(3, 200))  # more than one page, none repeated or skipped


def test_prompts_and_insights(project):
    o = project.add_object()
    p1 = project.add_prompt(o.id, 2, "point", {"x": 10, "y": 5, "label": 1})
    p2 = project.add_prompt(o.id, 2, "box", {"box": [1, 2, 30, 40]})
    got = project.prompts(o.id, 2)
    assert [p["id"] for p in got] == [p1, p2] and got[0]["data"] == {"x": 10, "y": 5, "label": 1}
    assert project.prompts(o.id, 3) == []
    project.clear_prompts(o.id, 2)
    assert project.prompts(o.id, 2) == []

    i1 = project.add_insight("caption", {"text": "a dog runs"}, object_id=o.id, frame_start=0, frame_end=9,
                             model="blip-base")
    i2 = project.add_insight("scene", {"labels": ["park"]})
    assert [i.id for i in project.insights()] == [i1, i2]
    (cap,) = project.insights(kind="caption", object_id=o.id)
    assert (cap.payload, cap.frame_end, cap.model) == ({"text": "a dog runs"}, 9, "blip-base")
    project.update_insight(i1, {"text": "a dog jumps"})
    assert project.insights(kind="caption")[0].payload == {"text": "a dog jumps"}
    project.delete_insight(i2)
    assert [i.id for i in project.insights()] == [i1]
    with pytest.raises(KeyError):
        project.delete_insight(i2)


def test_delete_object_takes_everything_with_it(project):
    o, keep = project.add_object(), project.add_object()
    project.set_mask(o.id, 1, box(0, 0, 3, 3), "user", locked=True)
    project.set_reviewed(o.id, 1, True)
    project.add_prompt(o.id, 1, "point", {"x": 1, "y": 1, "label": 1})
    project.add_insight("caption", {"text": "x"}, object_id=o.id)
    project.add_insight("caption", {"text": "y"}, object_id=keep.id)
    project.delete_object(o.id)
    assert [x.id for x in project.objects()] == [keep.id]
    assert project.mask(o.id, 1) is None and project.reviewed_frames(o.id) == []
    assert project.prompts(o.id, 1) == [] and [i.object_id for i in project.insights()] == [keep.id]


def test_settings_are_json_and_outside_history(project):
    assert project.get_setting("last_frame", 0) == 0
    project.set_setting("last_frame", 17)
    project.set_setting("model", {"name": "sam-vit-b", "device": "cpu"})
    assert project.get_setting("last_frame") == 17 and project.get_setting("model")["name"] == "sam-vit-b"
    assert not project.can_undo()


def test_listen_delivers_changes_after_commit(project):
    got: list[list[Change]] = []
    unsubscribe = project.listen(got.append)
    o = project.add_object()
    project.set_mask(o.id, 3, box(0, 0, 2, 2), "user")
    project.set_reviewed(o.id, 3, True)
    project.add_prompt(o.id, 3, "point", {"x": 1, "y": 1, "label": 1})
    project.set_masks([(o.id, f, box(0, 0, 2, 2), "tracked", None, None) for f in (4, 5)])
    assert got[0] == [Change("object", o.id, None)]
    assert got[1] == [Change("mask", o.id, 3)]
    assert got[2] == [Change("mark", o.id, 3)]
    assert got[3] == [Change("prompt", o.id, 3)]
    assert got[4] == [Change("mask", o.id, 4), Change("mask", o.id, 5)]
    project.undo()
    assert got[5] == [Change("mask", o.id, 5), Change("mask", o.id, 4)]
    project.set_reviewed(o.id, 3, True)  # no change: no event
    assert len(got) == 6
    # The store lock is free while listeners run: a listener may read, even from another thread.
    reads: list[int] = []

    def read_elsewhere(changes: list[Change]) -> None:
        t = threading.Thread(target=lambda: reads.append(len(project.objects())))
        t.start()
        t.join(timeout=10)

    project.listen(read_elsewhere)
    project.add_object()
    assert reads == [2]
    unsubscribe()
    project.add_object()
    assert len(got) == 7


def test_failed_edit_rolls_back_and_notifies_nothing(project):
    o = project.add_object()
    got = []
    project.listen(got.append)
    with pytest.raises(KeyError):
        project.set_masks([(o.id, 1, box(0, 0, 2, 2), "user", None, None),
                           (999, 1, box(0, 0, 2, 2), "user", None, None)])
    assert project.mask(o.id, 1) is None and got == []
    assert project.undo_label() == "Add object"


def test_readonly_open_beside_a_writer(tmp_path, project):
    o = project.add_object()
    project.set_mask(o.id, 0, box(0, 0, 4, 4), "user")
    reader = Project.open(tmp_path / "clip.annot", readonly=True)
    try:
        assert reader.readonly and [x.id for x in reader.objects()] == [o.id]
        project.set_mask(o.id, 1, box(0, 0, 4, 4), "user")  # the writer keeps writing
        assert reader.object_frames(o.id) == [0, 1]
        with pytest.raises(ProjectError, match="read-only"):
            reader.add_object()
        with pytest.raises(ProjectError, match="read-only"):
            reader.begin_step("x")
    finally:
        reader.close()


def test_second_writer_is_refused_until_the_first_closes(tmp_path, project):
    with pytest.raises(ProjectLockedError, match="open elsewhere") as info:
        Project.open(tmp_path / "clip.annot")
    assert "pid" in str(info.value) and str(tmp_path / "clip.annot") in str(info.value)
    assert (tmp_path / "clip.annot.lock").exists()
    project.close()
    assert not (tmp_path / "clip.annot.lock").exists()  # no clutter left beside the video
    with Project.open(tmp_path / "clip.annot") as again:
        assert not again.readonly


def test_writer_lock_admits_one_holder_under_contention(tmp_path):
    path = tmp_path / "busy.annot"
    holders, overlaps, acquired = [0], [], [0]

    def hammer() -> None:
        for _ in range(200):
            try:
                lock = WriterLock(path)
            except ProjectLockedError:
                continue
            holders[0] += 1
            if holders[0] != 1:
                overlaps.append(holders[0])
            acquired[0] += 1
            holders[0] -= 1
            lock.release()

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert overlaps == [] and acquired[0] > 0


def test_reopen_keeps_everything(tmp_path, project):
    cat = project.add_category("dog")
    o = project.add_object("rex", category_id=cat.id, attributes={"breed": "lab"})
    project.set_mask(o.id, 7, box(3, 3, 9, 9), "user", score=0.75, locked=True)
    project.set_reviewed(o.id, 7, True)
    project.set_frame_attributes(o.id, 7, {"occluded": True})
    project.add_prompt(o.id, 7, "box", {"box": [3, 3, 9, 9]})
    project.add_insight("caption", {"text": "dog"}, object_id=o.id)
    project.set_setting("last_frame", 7)
    before = (project.categories(), project.objects(), list(project.iter_masks()),
              project.reviewed_frames(o.id), project.frame_attributes(o.id, 7), project.prompts(o.id, 7),
              project.insights())
    project.close()
    with pytest.raises(ProjectError, match="closed"):
        project.objects()
    with Project.open(tmp_path / "clip.annot") as p:
        after = (p.categories(), p.objects(), list(p.iter_masks()), p.reviewed_frames(o.id),
                 p.frame_attributes(o.id, 7), p.prompts(o.id, 7), p.insights())
        assert after == before and p.get_setting("last_frame") == 7 and p.video == project.video
        assert p.undo_label() == "Add caption"


def test_writers_on_two_threads_share_one_connection(project):
    oids = [project.add_object().id for _ in range(2)]
    errors = []

    def write(oid: int) -> None:
        try:
            for f in range(60):
                project.set_mask(oid, f, box(0, 0, 1 + f % 30, 2), "tracked")
        except Exception as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(oid,)) for oid in oids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and project.mask_count() == 120


def test_save_copy_is_a_complete_project_of_its_own(tmp_path, project):
    o = project.add_object("kept")
    project.set_mask(o.id, 3, box(0, 0, 4, 4), "user", locked=True)
    copy_path = project.save_copy(tmp_path / "copy.annot")
    project.set_mask(o.id, 4, box(0, 0, 4, 4), "user")  # after the copy: not in it
    with Project.open(copy_path) as copy:
        assert [x.name for x in copy.objects()] == ["kept"]
        assert copy.object_frames(o.id) == [3] and copy.is_locked(o.id, 3)
        assert copy.undo_label() is not None  # history travels with the copy
    assert not (tmp_path / "copy.annot-wal").exists()
    with pytest.raises(ProjectError, match="cannot replace"):
        project.save_copy(project.path)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ProjectError, match="cannot write"):
        project.save_copy(not_a_folder / "copy.annot")
