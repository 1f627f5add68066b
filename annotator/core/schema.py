"""The project file's schema: DDL, migrations, and the generic row access that history relies on.

Schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a database from
version ``i`` to ``i + 1`` (version 0 is an empty file), so ``SCHEMA_VERSION`` is simply
``len(MIGRATIONS)``. A migration must only add: old rows stay readable.

Every table that undo can touch ("tracked" tables) has a ``rev`` column: a number, unique across
the project, that changes on every write of the row. History compares it to decide whether a
row is still as a step left it (see history.py). Foreign keys are DEFERRABLE INITIALLY DEFERRED
because undo restores rows in an order that is only consistent once the whole step is applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.core.records import Change
from annotator.errors import ProjectCorruptError

APP_ID = "annotator"

_FK = "DEFERRABLE INITIALLY DEFERRED"

_V1 = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE video (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    path TEXT NOT NULL, fingerprint TEXT NOT NULL, frame_count INTEGER NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, fps REAL NOT NULL,
    codec TEXT NOT NULL DEFAULT '', rotation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE, supercategory TEXT NOT NULL DEFAULT '',
    rev INTEGER NOT NULL
);
CREATE TABLE objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id > 0),
    name TEXT NOT NULL,
    category_id INTEGER REFERENCES categories(id) {_FK},
    color TEXT NOT NULL, attributes TEXT NOT NULL DEFAULT '{{}}', hidden INTEGER NOT NULL DEFAULT 0,
    rev INTEGER NOT NULL
);
CREATE TABLE masks (
    object_id INTEGER NOT NULL REFERENCES objects(id) {_FK},
    frame INTEGER NOT NULL CHECK (frame >= 0),
    counts TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
    source TEXT NOT NULL, score REAL, locked INTEGER NOT NULL DEFAULT 0,
    area INTEGER NOT NULL, bx REAL NOT NULL, by REAL NOT NULL, bw REAL NOT NULL, bh REAL NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (object_id, frame)
);
CREATE INDEX masks_by_frame ON masks (frame, object_id);
CREATE TABLE marks (
    object_id INTEGER NOT NULL REFERENCES objects(id) {_FK},
    frame INTEGER NOT NULL,
    reviewed INTEGER NOT NULL DEFAULT 0, attributes TEXT NOT NULL DEFAULT '{{}}',
    rev INTEGER NOT NULL,
    PRIMARY KEY (object_id, frame)
) WITHOUT ROWID;
CREATE TABLE prompts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id INTEGER NOT NULL REFERENCES objects(id) {_FK},
    frame INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
    rev INTEGER NOT NULL
);
CREATE INDEX prompts_by_object_frame ON prompts (object_id, frame);
CREATE TABLE insights (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    object_id INTEGER REFERENCES objects(id) {_FK},
    frame_start INTEGER, frame_end INTEGER, model TEXT, payload TEXT NOT NULL, created REAL NOT NULL,
    rev INTEGER NOT NULL
);
CREATE INDEX insights_by_kind ON insights (kind, object_id);
CREATE TABLE history_steps (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'done', 'undone')),
    created REAL NOT NULL,
    undo_order INTEGER
);
CREATE TABLE history_changes (
    id INTEGER PRIMARY KEY,
    step_id INTEGER NOT NULL,
    tbl TEXT NOT NULL, k1 INTEGER NOT NULL, k2 INTEGER NOT NULL,
    image TEXT, image_rev INTEGER,
    expected_rev INTEGER
);
CREATE INDEX history_changes_by_step ON history_changes (step_id);
"""


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    # Statement by statement, not executescript(): that would commit, and migrate() runs
    # all steps in one transaction.
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO meta (key, value) VALUES ('app', ?), ('rev', '0')", (APP_ID,))


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v0_to_v1]
SCHEMA_VERSION = len(MIGRATIONS)

REQUIRED_TABLES = frozenset({
    "meta", "settings", "video", "categories", "objects", "masks", "marks", "prompts", "insights",
    "history_steps", "history_changes",
})


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file up to SCHEMA_VERSION in one transaction (the caller holds the writer lock)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def check_tables(conn: sqlite3.Connection, path: Path) -> None:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = REQUIRED_TABLES - names
    if missing:
        raise ProjectCorruptError(
            f"not an Annotator project (missing tables: {', '.join(sorted(missing))})", path)
    row = conn.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
    if row is None or row[0] != APP_ID:
        raise ProjectCorruptError("not an Annotator project (no application marker)", path)


# --- generic rows of the tracked tables ---------------------------------------------------------

Row = tuple  # the values of ``TableSpec.cols`` in order, then ``rev``


@dataclass(frozen=True)
class TableSpec:
    """A tracked table: its key columns (one or two ints), value columns and change kind."""

    name: str
    keys: tuple[str, ...]
    cols: tuple[str, ...]
    kind: str
    object_col: str | None = None  # where to find the object id in the values (one-key tables)
    frame_col: str | None = None
    parents: tuple[tuple[str, str], ...] = ()  # (column, table whose id it references)
    children: tuple[tuple[str, str], ...] = ()  # (table, column that references this table's id)

    def __post_init__(self) -> None:
        where = " AND ".join(f"{k} = ?" for k in self.keys)
        cols = ", ".join(self.cols)
        names = ", ".join((*self.keys, *self.cols, "rev"))
        marks = ", ".join("?" for _ in range(len(self.keys) + len(self.cols) + 1))
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*self.cols, "rev"))
        object.__setattr__(self, "_select", f"SELECT {cols}, rev FROM {self.name} WHERE {where}")
        object.__setattr__(self, "_upsert", f"INSERT INTO {self.name} ({names}) VALUES ({marks}) "
                                            f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {updates}")
        object.__setattr__(self, "_delete", f"DELETE FROM {self.name} WHERE {where}")

    def key(self, k1: int, k2: int) -> tuple[int, ...]:
        return (k1, k2) if len(self.keys) == 2 else (k1,)

    def flat_key(self, key: Sequence[int]) -> tuple[int, int]:
        return (int(key[0]), int(key[1])) if len(key) == 2 else (int(key[0]), 0)

    def read(self, conn: sqlite3.Connection, key: Sequence[int]) -> Row | None:
        return conn.execute(self._select, tuple(key)).fetchone()  # type: ignore[attr-defined]

    def write(self, conn: sqlite3.Connection, key: Sequence[int], values: Sequence[Any], rev: int) -> None:
        conn.execute(self._upsert, (*key, *values, rev))  # type: ignore[attr-defined]

    def delete(self, conn: sqlite3.Connection, key: Sequence[int]) -> None:
        conn.execute(self._delete, tuple(key))  # type: ignore[attr-defined]

    def can_write(self, conn: sqlite3.Connection, key: Sequence[int], values: Sequence[Any]) -> bool:
        """Whether every row this one references exists (undo checks before restoring a row)."""
        row = dict(zip((*self.keys, *self.cols), (*key, *values)))
        for col, parent in self.parents:
            ref = row[col]
            if ref is None:
                continue
            if conn.execute(f"SELECT 1 FROM {parent} WHERE id = ?", (ref,)).fetchone() is None:
                return False
        return True

    def can_delete(self, conn: sqlite3.Connection, key: Sequence[int]) -> bool:
        """Whether no row references this one (undo checks before removing a row)."""
        return not any(conn.execute(f"SELECT 1 FROM {table} WHERE {col} = ? LIMIT 1", (key[0],)).fetchone()
                       for table, col in self.children)

    def change(self, key: Sequence[int], values: Sequence[Any] | None) -> Change:
        """The Change listeners get for this row (``values`` of either side of the edit)."""
        if len(self.keys) == 2:
            return Change(self.kind, int(key[0]), int(key[1]))
        if self.kind == "object":
            return Change("object", int(key[0]), None)
        oid = frame = None
        if values is not None:
            if self.object_col is not None:
                oid = values[self.cols.index(self.object_col)]
            if self.frame_col is not None:
                frame = values[self.cols.index(self.frame_col)]
        return Change(self.kind, oid, frame)


_OF_OBJECT = (("object_id", "objects"),)
CATEGORIES = TableSpec("categories", ("id",), ("name", "supercategory"), "category",
                       children=(("objects", "category_id"),))
OBJECTS = TableSpec("objects", ("id",), ("name", "category_id", "color", "attributes", "hidden"), "object",
                    parents=(("category_id", "categories"),),
                    children=(("masks", "object_id"), ("marks", "object_id"), ("prompts", "object_id"),
                              ("insights", "object_id")))
MASKS = TableSpec("masks", ("object_id", "frame"),
                  ("counts", "height", "width", "source", "score", "locked", "area", "bx", "by", "bw", "bh"),
                  "mask", parents=_OF_OBJECT)
MARKS = TableSpec("marks", ("object_id", "frame"), ("reviewed", "attributes"), "mark", parents=_OF_OBJECT)
PROMPTS = TableSpec("prompts", ("id",), ("object_id", "frame", "kind", "data"), "prompt",
                    object_col="object_id", frame_col="frame", parents=_OF_OBJECT)
INSIGHTS = TableSpec("insights", ("id",),
                     ("kind", "object_id", "frame_start", "frame_end", "model", "payload", "created"),
                     "insight", object_col="object_id", frame_col="frame_start", parents=_OF_OBJECT)

TABLES: dict[str, TableSpec] = {t.name: t for t in (CATEGORIES, OBJECTS, MASKS, MARKS, PROMPTS, INSIGHTS)}

# Column positions in a MASKS row, for readers that build MaskRecords.
MASK_COL = {c: i for i, c in enumerate(MASKS.cols)}
