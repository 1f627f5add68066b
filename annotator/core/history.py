"""Undo and redo as recorded row changes over the project store, persistent across reopen.

How it works
------------
Every write to a tracked table (schema.TABLES) goes through the project, which gives the row a
fresh revision number (``rev``, unique in the project) and tells the open *step* about it. The
step keeps, per row it touched, one ``history_changes`` entry holding:

- ``image`` / ``image_rev``: the row image that is NOT in the table right now (at record time the
  before-image, NULL when the row did not exist), with the revision it had;
- ``expected_rev``: the revision the row has as the step left it (NULL: the step left it absent).

Undo walks the step's entries newest first. A row is reverted only if it is still at
``expected_rev``; then the stored image (with its old revision) goes back into the table and the
entry keeps the image just replaced, so the same entry serves redo (it is a swap). A row that
someone changed since (``rev`` differs) is left alone, counted as skipped, and the entry is dropped
so a later redo cannot resurrect a stale image. Restoring old revisions verbatim keeps other steps'
entries valid, which is what makes interleaved steps (a propagation running while the user edits
and undoes) come out right. A row whose restore would break a reference (a mask whose object is
gone, an object that still has masks) waits until the rest of the step is applied, and is skipped
if it still cannot go, so undo never leaves the store inconsistent.

Compactness: a propagation that writes 10,000 new masks records 10,000 tiny entries (key + two
revisions, image NULL), not 10,000 copies of the masks.

Ordering: undo takes the newest step by creation; if that one is still open (a running job),
undo raises HistoryError. Redo takes the most recently undone step. A step's first change
discards the steps that were undone before the step began (a new edit after undos clears redo).
Only the newest ``max_steps`` finished steps are kept.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annotator.core.records import Change, HistoryResult
from annotator.core.schema import TABLES, Row, TableSpec
from annotator.errors import HistoryError

DEFAULT_MAX_STEPS = 500
_PAGE = 512  # history entries read per query while undoing a big step
_APPLIED, _CONFLICT, _BLOCKED = "applied", "conflict", "blocked"


class StepHandle:
    """One undo step. Pass it as ``step=`` to mutators (from any thread); ``close()`` ends it.

    A step that recorded no change leaves no history entry. Closing twice is harmless.
    """

    def __init__(self, step_id: int, label: str, begin_clock: int,
                 closer: Callable[[StepHandle], None]) -> None:
        self.id = step_id
        self.label = label
        self.begin_clock = begin_clock
        self.recorded = False  # has a history_steps row
        self.closed = False
        self.seen: dict[tuple[str, int, int], int] = {}  # (table, k1, k2) -> history_changes.id
        self._closer = closer

    def close(self) -> None:
        if not self.closed:
            self._closer(self)

    def __enter__(self) -> StepHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"StepHandle({self.id}, {self.label!r}, {state})"


class Tx:
    """What one store transaction collects: its step, the changes for listeners, rollback fixes."""

    __slots__ = ("step", "changes", "on_rollback")

    def __init__(self, step: StepHandle | None) -> None:
        self.step = step
        self.changes: list[Change] = []
        self.on_rollback: list[Callable[[], None]] = []

    def rolled_back(self) -> None:
        for fix in reversed(self.on_rollback):
            fix()


class History:
    """Step bookkeeping and undo/redo. The project calls it with its lock held, inside a transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        self._conn = conn
        self._path = path
        self.max_steps = max_steps
        self._ids_lock = threading.Lock()
        row = conn.execute("SELECT MAX(id), MAX(undo_order) FROM history_steps").fetchone()
        self._next_id = (row[0] or 0) + 1
        self._clock = row[1] or 0  # advances on every undo; steps remember it when they begin

    # --- steps ----------------------------------------------------------------------------------
    def new_step(self, label: str, closer: Callable[[StepHandle], None]) -> StepHandle:
        with self._ids_lock:  # ids in creation order: undo is LIFO by creation
            step_id = self._next_id
            self._next_id += 1
        return StepHandle(step_id, label, self._clock, closer)

    def record(self, tx: Tx, spec: TableSpec, key: tuple[int, ...], before: Row | None,
               new_rev: int | None) -> None:
        """Note that ``tx.step`` changed a row from ``before`` (None: absent) to revision ``new_rev``."""
        step = tx.step
        assert step is not None
        if not step.recorded:
            self._discard_redo(step.begin_clock)
            self._conn.execute("INSERT INTO history_steps (id, label, state, created) "
                               "VALUES (?, ?, 'open', ?)", (step.id, step.label, time.time()))
            step.recorded = True
            tx.on_rollback.append(lambda: setattr(step, "recorded", False))
        flat = (spec.name, *spec.flat_key(key))
        entry = step.seen.get(flat)
        if entry is not None:  # the first before-image stays; only where the step left the row moves
            self._conn.execute("UPDATE history_changes SET expected_rev = ? WHERE id = ?", (new_rev, entry))
            return
        image, image_rev = (None, None) if before is None else (_dump(before[:-1]), before[-1])
        cur = self._conn.execute(
            "INSERT INTO history_changes (step_id, tbl, k1, k2, image, image_rev, expected_rev) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (step.id, *flat, image, image_rev, new_rev))
        step.seen[flat] = int(cur.lastrowid)
        tx.on_rollback.append(lambda: step.seen.pop(flat, None))

    def finish(self, step: StepHandle) -> None:
        """End a step inside the caller's transaction: it becomes undoable, old steps are pruned."""
        if step.recorded:
            self._conn.execute("UPDATE history_steps SET state = 'done' WHERE id = ? AND state = 'open'",
                               (step.id,))
            self.prune()

    def close_interrupted(self) -> int:
        """Steps left open by a crash become ordinary finished steps (a cancelled job is one step)."""
        n = self._conn.execute("UPDATE history_steps SET state = 'done' WHERE state = 'open'").rowcount
        self.prune()
        return n

    def prune(self) -> None:
        total = self._conn.execute("SELECT COUNT(*) FROM history_steps WHERE state != 'open'").fetchone()[0]
        excess = total - max(0, int(self.max_steps))
        if excess > 0:
            ids = [r[0] for r in self._conn.execute(
                "SELECT id FROM history_steps WHERE state = 'done' ORDER BY id LIMIT ?", (excess,))]
            self._delete_steps(ids)

    def clear(self) -> None:
        ids = [r[0] for r in self._conn.execute("SELECT id FROM history_steps WHERE state != 'open'")]
        self._delete_steps(ids)

    # --- queries ------------------------------------------------------------------------------
    def undo_top(self) -> tuple[int, str, str] | None:
        """(id, label, state) of the step undo would take; state 'open' means it is still running."""
        return self._conn.execute("SELECT id, label, state FROM history_steps WHERE state != 'undone' "
                                  "ORDER BY id DESC LIMIT 1").fetchone()

    def redo_top(self) -> tuple[int, str] | None:
        return self._conn.execute("SELECT id, label FROM history_steps WHERE state = 'undone' "
                                  "ORDER BY undo_order DESC LIMIT 1").fetchone()

    def entries(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT s.id, s.label, s.state, s.created, COUNT(c.id) FROM history_steps s "
            "LEFT JOIN history_changes c ON c.step_id = s.id GROUP BY s.id ORDER BY s.id").fetchall()
        return [{"id": r[0], "label": r[1], "state": r[2], "created": r[3], "rows": r[4]} for r in rows]

    # --- undo / redo ----------------------------------------------------------------------------
    def undo(self, tx: Tx) -> HistoryResult | None:
        top = self.undo_top()
        if top is None:
            return None
        step_id, label, state = top
        if state == "open":
            raise HistoryError(f"cannot undo '{label}': it is still running", self._path)
        applied, skipped = self._swap(tx, step_id, newest_first=True)
        self._clock += 1
        self._conn.execute("UPDATE history_steps SET state = 'undone', undo_order = ? WHERE id = ?",
                           (self._clock, step_id))
        return HistoryResult(label, applied, skipped)

    def redo(self, tx: Tx) -> HistoryResult | None:
        top = self.redo_top()
        if top is None:
            return None
        step_id, label = top
        applied, skipped = self._swap(tx, step_id, newest_first=False)
        self._conn.execute("UPDATE history_steps SET state = 'done', undo_order = NULL WHERE id = ?",
                           (step_id,))
        return HistoryResult(label, applied, skipped)

    def _swap(self, tx: Tx, step_id: int, newest_first: bool) -> tuple[int, int]:
        conn = self._conn
        counts = {_APPLIED: 0, _CONFLICT: 0}
        blocked: list[tuple] = []
        order, cmp = ("DESC", "<") if newest_first else ("ASC", ">")
        last = None
        while True:
            # Paged by id so that undoing a step of 100k rows never holds them all in memory.
            bound = "" if last is None else f"AND id {cmp} {int(last)}"
            page = conn.execute(
                f"SELECT id, tbl, k1, k2, image, image_rev, expected_rev FROM history_changes "
                f"WHERE step_id = ? {bound} ORDER BY id {order} LIMIT {_PAGE}", (step_id,)).fetchall()
            if not page:
                break
            last = page[-1][0]
            blocked += self._apply_all(tx, page, counts)
        # A row may wait on another of the same step (a category still referenced by an object
        # that the step also reverts): retry until nothing moves, then give up on the rest.
        while blocked:
            retry, blocked = blocked, self._apply_all(tx, blocked, counts)
            if len(blocked) == len(retry):
                for entry in blocked:
                    conn.execute("DELETE FROM history_changes WHERE id = ?", (entry[0],))
                counts[_CONFLICT] += len(blocked)
                break
        return counts[_APPLIED], counts[_CONFLICT]

    def _apply_all(self, tx: Tx, entries: list[tuple], counts: dict[str, int]) -> list[tuple]:
        """Apply ``entries`` in order, counting outcomes into ``counts``; returns the blocked ones."""
        blocked = []
        for entry in entries:
            outcome = self._apply(tx, entry)
            if outcome == _BLOCKED:
                blocked.append(entry)
            else:
                counts[outcome] += 1
        return blocked

    def _apply(self, tx: Tx, entry: tuple) -> str:
        """Swap one history entry with its row; returns _APPLIED, _CONFLICT or _BLOCKED."""
        entry_id, tbl, k1, k2, image, image_rev, expected_rev = entry
        conn = self._conn
        spec = TABLES[tbl]
        key = spec.key(k1, k2)
        current = spec.read(conn, key)
        current_rev = None if current is None else current[-1]
        if current_rev != expected_rev:
            # Changed since by someone else: leave it, and forget this entry.
            conn.execute("DELETE FROM history_changes WHERE id = ?", (entry_id,))
            return _CONFLICT
        values = None if image is None else json.loads(image)
        # A row that would break a reference (a mask whose object is gone, an object that still
        # has masks) waits: an undo never leaves the store inconsistent.
        if values is None:
            if current is not None:
                if not spec.can_delete(conn, key):
                    return _BLOCKED
                spec.delete(conn, key)
        else:
            if not spec.can_write(conn, key, values):
                return _BLOCKED
            try:
                spec.write(conn, key, values, int(image_rev))
            except sqlite3.IntegrityError:  # e.g. a unique name taken since: it cannot come back
                conn.execute("DELETE FROM history_changes WHERE id = ?", (entry_id,))
                return _CONFLICT
        conn.execute("UPDATE history_changes SET image = ?, image_rev = ?, expected_rev = ? WHERE id = ?",
                     (None if current is None else _dump(current[:-1]), current_rev, image_rev, entry_id))
        tx.changes.append(spec.change(key, values if values is not None else
                                      (current[:-1] if current is not None else None)))
        return _APPLIED

    # --- housekeeping -------------------------------------------------------------------------
    def _discard_redo(self, begin_clock: int) -> None:
        ids = [r[0] for r in self._conn.execute(
            "SELECT id FROM history_steps WHERE state = 'undone' AND undo_order <= ?", (begin_clock,))]
        self._delete_steps(ids)

    def _delete_steps(self, ids: list[int]) -> None:
        for step_id in ids:
            self._conn.execute("DELETE FROM history_changes WHERE step_id = ?", (step_id,))
            self._conn.execute("DELETE FROM history_steps WHERE id = ?", (step_id,))


def _dump(values: tuple | list) -> str:
    return json.dumps(list(values), separators=(",", ":"))
