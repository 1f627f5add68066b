"""Undo/redo over the project store: sequences, steps, threads, conflicts, persistence, pruning."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from annotator.core import masks as rle_ops
from annotator.core.project import Project, VideoRef
from annotator.errors import HistoryError

W, H = 40, 30
VIDEO = VideoRef("clip.mp4", "fp", 300, W, H, 25.0)


def box(x0: int, y0: int, x1: int, y1: int) -> dict:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return rle_ops.encode(m)


def area_at(p: Project, oid: int, frame: int) -> int | None:
    rec = p.mask(oid, frame)
    return None if rec is None else rec.area


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "h.annot", VIDEO)
    yield p
    p.close()


def test_each_edit_is_a_step_and_undo_redo_walk_them(project):
    assert (project.undo(), project.redo()) == (None, None)
    assert not project.can_undo() and not project.can_redo()
    o = project.add_object()
    project.set_mask(o.id, 0, box(0, 0, 2, 2), "user")
    project.set_mask(o.id, 0, box(0, 0, 3, 3), "user")
    project.set_locked(o.id, 0, True)
    assert project.undo_label() == "Lock frame"
    assert project.undo() == "Lock frame" and not project.is_locked(o.id, 0)
    assert project.undo() == "Set mask" and area_at(project, o.id, 0) == 4
    assert project.undo() == "Set mask" and area_at(project, o.id, 0) is None
    assert project.undo() == "Add object" and project.objects() == []
    assert project.undo() is None and not project.can_undo()
    assert project.redo_label() == "Add object"
    assert [project.redo() for _ in range(4)] == ["Add object", "Set mask", "Set mask", "Lock frame"]
    assert area_at(project, o.id, 0) == 9 and project.is_locked(o.id, 0) and project.redo() is None


def test_new_edit_discards_redo(project):
    o = project.add_object()
    project.set_mask(o.id, 1, box(0, 0, 2, 2), "user")
    project.set_mask(o.id, 2, box(0, 0, 2, 2), "user")
    project.undo()
    project.undo()
    assert project.can_redo()
    project.set_reviewed(o.id, 5, True)
    assert not project.can_redo() and project.redo() is None
    assert [e["label"] for e in project.history_entries()] == ["Add object", "Mark reviewed"]
    # an edit that changes nothing is no step and keeps the redo stack
    project.undo()
    project.set_reviewed(o.id, 9, False)
    assert project.redo() == "Mark reviewed"


def test_steps_group_and_nest(project):
    o = project.add_object()
    with project.step("Brush stroke") as outer:
        project.set_mask(o.id, 3, box(0, 0, 4, 4), "user")
        with project.step("inner") as inner:
            assert inner is outer
            project.set_locked(o.id, 3, True)
        project.set_reviewed(o.id, 3, True)
    with project.step("Nothing"):
        pass
    assert [e["label"] for e in project.history_entries()] == ["Add object", "Brush stroke"]
    assert project.undo() == "Brush stroke"
    assert project.mask(o.id, 3) is None and project.reviewed_frames(o.id) == []
    assert project.redo() == "Brush stroke" and project.is_locked(o.id, 3)
    handle = project.begin_step("Job")
    handle.close()
    handle.close()  # harmless
    with pytest.raises(HistoryError, match="closed"):
        project.set_mask(o.id, 4, box(0, 0, 1, 1), "user", step=handle)


def test_step_of_another_thread_is_not_joined(project):
    """``with step()`` is per thread: another thread's edits stay their own steps."""
    o = project.add_object()
    started, finish = threading.Event(), threading.Event()

    def other() -> None:
        started.wait(10)
        project.set_mask(o.id, 9, box(0, 0, 2, 2), "tracked")
        finish.set()

    t = threading.Thread(target=other)
    t.start()
    with project.step("Mine"):
        project.set_mask(o.id, 1, box(0, 0, 2, 2), "user")
        started.set()
        finish.wait(10)
    t.join(10)
    labels = [e["label"] for e in project.history_entries()]
    assert labels == ["Add object", "Mine", "Set mask"] or labels == ["Add object", "Set mask", "Mine"]


def test_running_step_cannot_be_undone(project):
    o = project.add_object()
    step = project.begin_step("Propagate")
    project.write_tracked(o.id, 1, box(0, 0, 2, 2), 0.9, step=step)
    assert not project.can_undo() and project.undo_label() is None
    with pytest.raises(HistoryError, match="still running"):
        project.undo()
    step.close()
    assert project.undo() == "Propagate" and project.mask(o.id, 1) is None


def test_propagation_on_a_worker_thread_interleaved_with_user_edits(project):
    o = project.add_object()
    other = project.add_object()
    project.set_mask(o.id, 0, box(0, 0, 5, 5), "user", locked=True)
    halfway, go = threading.Event(), threading.Event()
    wrote: dict[int, bool] = {}
    step = project.begin_step("Propagate")

    def propagate() -> None:
        for f in range(1, 60):
            if f == 20:
                halfway.set()
                go.wait(10)
            wrote[f] = project.write_tracked(o.id, f, box(0, 0, 1 + f % 30, 3), 0.5, step=step)
        step.close()

    worker = threading.Thread(target=propagate)
    worker.start()
    assert halfway.wait(10)
    # The user corrects a frame already tracked and one not reached yet; both become locks.
    project.set_mask(o.id, 10, box(10, 10, 20, 20), "user", locked=True)
    project.set_mask(o.id, 30, box(10, 10, 20, 20), "user", locked=True)
    # ... and makes and undoes edits of their own while the job runs.
    project.update_object(other.id, name="renamed")
    assert project.undo() == "Edit object" and project.object(other.id).name == "object 2"
    go.set()
    for f in range(5):  # concurrent with the worker's writes
        project.set_mask(other.id, f, box(0, 0, 2, 2), "user")
        assert project.undo() == "Set mask"
    worker.join(20)
    assert not worker.is_alive()
    assert wrote[30] is False and all(wrote[f] for f in range(1, 60) if f != 30)
    user_box = rle_ops.decode(box(10, 10, 20, 20))
    for f in (10, 30):  # the user's locked frames were never overwritten
        rec = project.mask(o.id, f)
        assert rec.locked and rec.source == "user" and np.array_equal(rle_ops.decode(rec.rle), user_box)
    assert project.mask_count([other.id]) == 0
    # LIFO by creation: the user's two corrections (newer) come off first, then the propagation.
    assert project.undo() == "Set mask" and project.mask(o.id, 30) is None
    assert project.undo() == "Set mask" and project.mask(o.id, 10).source == "tracked"
    assert project.undo() == "Propagate"
    assert project.object_frames(o.id) == [0] and project.last_history_result.skipped == 0
    assert project.redo() == "Propagate" and project.redo() == "Set mask" and project.redo() == "Set mask"
    assert project.mask(o.id, 10).source == "user" and project.mask(o.id, 30).source == "user"
    assert len(project.object_frames(o.id)) == 60


def test_undo_skips_rows_changed_since(project):
    o = project.add_object()
    step = project.begin_step("Propagate")
    project.write_tracked(o.id, 1, box(0, 0, 2, 2), 0.5, step=step)
    project.set_mask(o.id, 2, box(0, 0, 2, 2), "user")  # unlocked user edit, its own step
    project.write_tracked(o.id, 2, box(0, 0, 3, 3), 0.5, step=step)  # the job overwrites it
    step.close()
    # Undo order: the user's edit (created after the job began) first. Its row has moved on: skipped.
    assert project.undo() == "Set mask"
    assert project.last_history_result.skipped == 1 and area_at(project, o.id, 2) == 9
    # The job's undo puts back what it replaced: the user's mask, whose own undo was skipped.
    assert project.undo() == "Propagate" and project.last_history_result.applied == 2
    assert project.object_frames(o.id) == [2] and project.mask(o.id, 2).source == "user"
    # A write outside history (bulk import) is also "changed since".
    assert project.redo() == "Propagate" and area_at(project, o.id, 2) == 9
    project.set_masks([(o.id, 1, box(0, 0, 4, 4), "imported", None, None)], record_history=False)
    assert project.undo() == "Propagate"
    assert project.last_history_result.skipped == 1 and area_at(project, o.id, 1) == 16
    assert project.redo() == "Propagate" and area_at(project, o.id, 1) == 16  # skipped rows stay out


def test_undo_delete_object_brings_everything_back(project):
    cat = project.add_category("dog")
    o = project.add_object("rex", category_id=cat.id, attributes={"a": 1})
    for f in range(5):
        project.set_mask(o.id, f, box(0, 0, f + 1, 2), "user", locked=f % 2 == 0)
    project.set_reviewed(o.id, 2, True)
    project.set_frame_attributes(o.id, 2, {"occluded": True})
    project.add_prompt(o.id, 2, "point", {"x": 1, "y": 1, "label": 1})
    project.add_insight("caption", {"text": "a dog"}, object_id=o.id)
    snapshot = (project.objects(), list(project.iter_masks()), project.reviewed_frames(o.id),
                project.frame_attributes(o.id, 2), project.prompts(o.id, 2), project.insights())
    project.delete_object(o.id)
    assert project.objects() == [] and project.mask_count() == 0 and project.insights() == []
    assert project.undo() == "Delete object"
    assert (project.objects(), list(project.iter_masks()), project.reviewed_frames(o.id),
            project.frame_attributes(o.id, 2), project.prompts(o.id, 2), project.insights()) == snapshot
    assert project.redo() == "Delete object" and project.mask_count() == 0
    project.undo()
    assert project.object(o.id).name == "rex"


def test_every_kind_of_edit_is_undoable(project):
    o = project.add_object()
    cat = project.add_category("car")
    project.update_object(o.id, category_id=cat.id, color="#112233", hidden=True)
    project.rename_category(cat.id, "truck")
    project.delete_category(cat.id)
    assert project.object(o.id).category_id is None
    project.undo()
    assert project.category(cat.id).name == "truck" and project.object(o.id).category_id == cat.id
    project.undo()
    assert project.category(cat.id).name == "car"
    project.undo()
    assert (project.object(o.id).color, project.object(o.id).hidden) != ("#112233", True)

    project.set_locked(o.id, 4, True)
    project.set_reviewed(o.id, 4, True)
    project.set_frame_attributes(o.id, 4, {"truncated": True})
    pid = project.add_prompt(o.id, 4, "box", {"box": [0, 0, 5, 5]})
    iid = project.add_insight("class", {"label": "car", "score": 0.9}, object_id=o.id)
    project.update_insight(iid, {"label": "truck", "score": 0.8})
    project.clear_prompts(o.id, 4)
    project.delete_insight(iid)
    checks = [
        lambda: project.insights()[0].payload["label"] == "truck",
        lambda: [p["id"] for p in project.prompts(o.id, 4)] == [pid],
        lambda: project.insights()[0].payload["label"] == "car",
        lambda: project.insights() == [],
        lambda: project.prompts(o.id, 4) == [],
        lambda: project.frame_attributes(o.id, 4) == {},
        lambda: project.reviewed_frames(o.id) == [],
        lambda: project.mask(o.id, 4) is None,
    ]
    for check in checks:
        project.undo()
        assert check()


def test_history_persists_across_reopen(tmp_path, project):
    o = project.add_object()
    project.set_mask(o.id, 1, box(0, 0, 2, 2), "user")
    project.set_mask(o.id, 2, box(0, 0, 3, 3), "user")
    project.undo()
    step = project.begin_step("Propagate")  # left open: a crash or close ends it as one step
    project.write_tracked(o.id, 7, box(0, 0, 1, 1), 0.5, step=step)
    path = project.path
    project.close()
    with Project.open(path) as p:
        assert p.undo_label() == "Propagate" and p.redo_label() is None  # the job's first write cleared redo
        assert p.undo() == "Propagate" and p.mask(o.id, 7) is None
        assert p.undo() == "Set mask" and p.mask(o.id, 1) is None
    with Project.open(path) as p:
        assert p.redo_label() == "Set mask"
        assert p.redo() == "Set mask" and area_at(p, o.id, 1) == 4
        assert p.redo() == "Propagate" and area_at(p, o.id, 7) == 1


def test_history_is_pruned_to_the_setting(project):
    project.set_setting("history_max_steps", 5)
    o = project.add_object()
    for f in range(8):
        project.set_mask(o.id, f, box(0, 0, 2, 2), "user")
    assert len(project.history_entries()) == 5
    assert [project.undo() for _ in range(6)] == ["Set mask"] * 5 + [None]
    assert project.object_frames(o.id) == [0, 1, 2]
    assert len(project.object_frames(o.id)) == 3 and project.objects() != []


def test_propagation_history_is_compact_and_big_steps_undo(tmp_path, project):
    oids = [project.add_object().id for _ in range(4)]
    step = project.begin_step("Propagate")
    for f in range(300):
        project.write_tracked_many([(oid, f, box(0, 0, 1 + f % 20, 2), 0.5) for oid in oids], step=step)
    step.close()
    conn = sqlite3.connect(tmp_path / "h.annot")
    images, rows = conn.execute("SELECT COALESCE(SUM(LENGTH(image)), 0), COUNT(*) FROM history_changes "
                                "WHERE tbl = 'masks'").fetchone()
    conn.close()
    assert (images, rows) == (0, 1200)  # new rows: nothing but keys and revisions is kept
    assert project.undo() == "Propagate" and project.mask_count() == 0
    assert project.last_history_result.applied == 1200
    assert project.redo() == "Propagate" and project.mask_count() == 1200
    assert area_at(project, oids[2], 299) == 2 * (1 + 299 % 20)


def test_undo_never_breaks_references(project):
    o = project.add_object()
    # masks written outside history hang on the object: undoing its creation must leave it
    project.set_masks([(o.id, 1, box(0, 0, 2, 2), "imported", None, None)], record_history=False)
    assert project.undo() == "Add object"
    assert project.last_history_result.skipped == 1 and project.object(o.id).id == o.id
    assert project.mask(o.id, 1) is not None
    # a category the same step also assigned: the object goes first, then the category can follow
    with project.step("Setup"):
        other = project.add_object()
        cat = project.add_category("dog")
        project.update_object(other.id, category_id=cat.id)
    assert project.undo() == "Setup"
    assert project.last_history_result.skipped == 0 and project.categories() == []
    assert [x.id for x in project.objects()] == [o.id]
    assert project.redo() == "Setup" and project.object(other.id).category_id == cat.id
