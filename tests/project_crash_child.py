"""Crash-test child: edits a project in a loop and reports each commit on stdout, until killed.

    python tests/project_crash_child.py PROJECT SEED

It prints ``ready`` once the project is open, then ``<op>.<n>`` right after each commit returns
(op = index of the edit in this run, n = commit within the edit). The parent (test_project_crash.py)
kills it with SIGKILL at a random moment and replays the same edits on ``Model`` (this module) to
know what the file must hold. Imports only annotator.core: no torch, so it starts fast.

Edits are chosen by ``plan(rng, object_ids)`` from a seeded RNG and the current object ids, so the
child (reading the project) and the parent (reading its model) make the same choices.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.project import Project, VideoRef

WIDTH, HEIGHT, FRAMES = 16, 8, 12
VIDEO = VideoRef("crash-test.mp4", "crash-fingerprint", FRAMES, WIDTH, HEIGHT, 25.0)
MAX_STEPS = 15  # small, so pruning happens under crashes too

Op = tuple


def tag_rle(tag: int) -> dict:
    """A mask whose pixels spell ``tag`` in binary: distinct tags give distinct masks."""
    bits = np.array([(tag >> i) & 1 for i in range(WIDTH * HEIGHT)], dtype=bool)
    return rle_ops.encode(bits.reshape(HEIGHT, WIDTH))


def plan(rng: random.Random, object_ids: list[int]) -> Op:
    """The next edit, from the RNG and the object ids that exist right now."""
    if not object_ids:
        return ("add_object",)
    oid = object_ids[rng.randrange(len(object_ids))]
    frame = rng.randrange(FRAMES)
    tag = rng.getrandbits(60) | 1
    kind = rng.choices(
        ["add_object", "set_mask", "toggle_lock", "propagate", "set_masks", "delete_object", "undo", "redo"],
        weights=[2, 6, 3, 3, 2, 1, 4, 2])[0]
    if kind == "propagate":
        return ("propagate", oid, frame, rng.randint(1, 4), tag)
    if kind == "set_masks":
        return ("set_masks", oid, sorted(rng.sample(range(FRAMES), 3)), tag)
    if kind in ("set_mask", "toggle_lock", "delete_object"):
        return (kind, oid, frame, tag)
    return (kind,)


def run_child(path: str, seed: int) -> None:
    rng = random.Random(seed)
    project = Project.open(path)
    print("ready", flush=True)
    i = 0
    while True:
        op = plan(rng, [o.id for o in project.objects()])
        for n in _apply(project, op):
            print(f"{i}.{n}", flush=True)  # only after the commit returned
        i += 1


def _apply(p: Project, op: Op) -> Iterator[int]:
    kind = op[0]
    if kind == "add_object":
        p.add_object()
    elif kind == "set_mask":
        p.set_mask(op[1], op[2], tag_rle(op[3]), "user")
    elif kind == "toggle_lock":
        p.set_locked(op[1], op[2], not p.is_locked(op[1], op[2]))
    elif kind == "delete_object":
        p.delete_object(op[1])
    elif kind == "set_masks":
        p.set_masks([(op[1], f, tag_rle(op[3] + k), "imported", 0.5, None) for k, f in enumerate(op[2])])
    elif kind == "undo":
        p.undo()
    elif kind == "redo":
        p.redo()
    elif kind == "propagate":
        _, oid, start, count, tag = op
        step = p.begin_step("Propagate")
        for k in range(count):
            p.write_tracked(oid, min(start + k, FRAMES - 1), tag_rle(tag + k), 0.75, step=step)
            yield k
        step.close()
        return
    yield 0


# --- the parent's model of what the file must hold ------------------------------------------------

@dataclass
class _Step:
    label: str
    before: tuple
    after: tuple = ()
    state: str = "open"
    undo_order: int = 0


@dataclass
class Model:
    """Objects, masks and undo history as the project must have them after a run of edits."""

    objects: dict[int, str] = field(default_factory=dict)
    # (object, frame) -> (counts, source, locked)
    masks: dict[tuple[int, int], tuple[str, str, bool]] = field(default_factory=dict)
    next_id: int = 1
    steps: list[_Step] = field(default_factory=list)
    clock: int = 0

    def snapshot(self) -> tuple:
        return dict(self.objects), dict(self.masks)

    def state(self) -> tuple:
        return self.objects, self.masks

    def commits(self, op: Op) -> Iterator[None]:
        """Apply ``op`` one commit at a time (yield after each), exactly as the store does."""
        kind = op[0]
        if kind == "undo":
            live = [s for s in self.steps if s.state != "undone"]
            if live:
                step = live[-1]
                self.objects, self.masks = (dict(x) for x in step.before)
                self.clock += 1
                step.state, step.undo_order = "undone", self.clock
            yield None
            return
        if kind == "redo":
            undone = [s for s in self.steps if s.state == "undone"]
            if undone:
                step = max(undone, key=lambda s: s.undo_order)
                self.objects, self.masks = (dict(x) for x in step.after)
                step.state = "done"
            yield None
            return
        if kind == "propagate":
            _, oid, start, count, tag = op
            step = None
            for k in range(count):
                key = (oid, min(start + k, FRAMES - 1))
                if oid in self.objects and not (key in self.masks and self.masks[key][2]):
                    step = step or self._begin("Propagate")
                    self.masks[key] = (tag_rle(tag + k)["counts"], "tracked", False)
                    step.after = self.snapshot()
                yield None
            if step is not None:
                self._finish(step)
            return
        step = self._begin(_LABELS[kind] if kind != "toggle_lock" else
                           ("Unlock frame" if self._locked(op[1], op[2]) else "Lock frame"))
        if kind == "add_object":
            self.objects[self.next_id] = f"object {self.next_id}"
            self.next_id += 1
        elif kind == "set_mask":
            key = (op[1], op[2])
            self.masks[key] = (tag_rle(op[3])["counts"], "user", self._locked(*key))
        elif kind == "toggle_lock":
            key = (op[1], op[2])
            if key in self.masks:
                counts, source, locked = self.masks[key]
                self.masks[key] = (counts, source, not locked)
            else:
                self.masks[key] = (rle_ops.empty(HEIGHT, WIDTH)["counts"], "user", True)
        elif kind == "delete_object":
            del self.objects[op[1]]
            self.masks = {k: v for k, v in self.masks.items() if k[0] != op[1]}
        elif kind == "set_masks":
            for k, f in enumerate(op[2]):
                self.masks[(op[1], f)] = (tag_rle(op[3] + k)["counts"], "imported", self._locked(op[1], f))
        step.after = self.snapshot()
        self._finish(step)
        yield None

    def reopened(self) -> None:
        """What a writable open does: interrupted steps count as finished, history is pruned."""
        for s in self.steps:
            if s.state == "open":
                s.state = "done"
        self._prune()

    def history(self) -> list[tuple[str, str]]:
        return [(s.label, s.state) for s in self.steps]

    def _locked(self, oid: int, frame: int) -> bool:
        return (oid, frame) in self.masks and self.masks[(oid, frame)][2]

    def _begin(self, label: str) -> _Step:
        # A step's first change drops the redo stack (every undo here happened before it began).
        self.steps = [s for s in self.steps if s.state != "undone"]
        step = _Step(label, self.snapshot())
        self.steps.append(step)
        return step

    def _finish(self, step: _Step) -> None:
        step.state = "done"
        self._prune()

    def _prune(self) -> None:
        excess = sum(s.state != "open" for s in self.steps) - MAX_STEPS
        for s in [s for s in self.steps if s.state == "done"][:max(0, excess)]:
            self.steps.remove(s)


_LABELS = {"add_object": "Add object", "set_mask": "Set mask", "delete_object": "Delete object",
           "set_masks": "Set masks"}


def read_state(p: Project) -> tuple:
    """(objects, masks) of a project in the Model's shape."""
    objects = {o.id: o.name for o in p.objects()}
    masks = {(r.object_id, r.frame): (r.rle["counts"], r.source, r.locked) for r in p.iter_masks()}
    return objects, masks


if __name__ == "__main__":
    run_child(sys.argv[1], int(sys.argv[2]))
