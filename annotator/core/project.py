"""The project store: one SQLite file (``clip.annot``) holding everything a user made for one video.

Access model (docs/design.md, "Threading and store access"):

- A ``Project`` owns ONE connection (``check_same_thread=False``) guarded by an ``RLock``. Every
  public method takes the lock for one short transaction, so the UI thread and a propagation job
  can both write; SQLite never sees two writers from this process.
- Every edit commits at once (WAL, ``synchronous=FULL``): when a mutator returns, the edit is on
  disk and survives a crash or power cut.
- One writer process: opening for writing takes an exclusive lock on ``<project>.lock``
  (core/filelock.py); a second writer gets ProjectLockedError. Read-only opens
  (``Project.open(path, readonly=True)``) take no lock and read while the writer commits.
- Every mutator call outside an explicit step is its own undo step. ``with p.step(label)`` groups
  this thread's edits; ``begin_step(label)`` returns a handle that jobs on other threads pass as
  ``step=``. Undo/redo live in core/history.py and persist in the file.
- Listeners (``listen``) get ``list[Change]`` after each commit, on the committing thread, with
  the store lock released.

Frame ranges are half-open: ``frame_stop`` is exclusive (None: to the end).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from annotator.core import schema
from annotator.core.filelock import WriterLock
from annotator.core.history import DEFAULT_MAX_STEPS, History, StepHandle, Tx
from annotator.core.project_items import ItemsMixin
from annotator.core.project_masks import MaskRowsMixin
from annotator.core.records import (
    PALETTE,
    UNSET,
    Category,
    Change,
    HistoryResult,
    Insight,
    MaskRecord,
    ObjectInfo,
    VideoRef,
)
from annotator.core.schema import Row, TableSpec
from annotator.errors import (
    HistoryError,
    ProjectCorruptError,
    ProjectError,
    ProjectVersionError,
    VideoMissingError,
)

__all__ = [
    "PALETTE", "UNSET", "Category", "Change", "HistoryResult", "Insight", "MaskRecord", "ObjectInfo",
    "Project", "StepHandle", "VideoRef",
]

log = logging.getLogger(__name__)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_STEPS_KEY = "history_max_steps"
_MISSING = object()


class Project(ItemsMixin, MaskRowsMixin):
    """An open project file. Use ``Project.create`` / ``Project.open``; close it (or use ``with``)."""

    SCHEMA_VERSION = schema.SCHEMA_VERSION

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool, lock: WriterLock | None) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        self._writer_lock = lock
        self._lock = threading.RLock()
        self._closed = False
        self._listeners: list[Callable[[list[Change]], None]] = []
        self._local = threading.local()  # per-thread stack of `with step()` handles
        self._open_steps: dict[int, StepHandle] = {}
        rev = conn.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()
        self._rev = self._rev_saved = int(rev[0]) if rev else 0
        self.video = self._load_video()
        self._history = History(conn, path, int(self.get_setting(_MAX_STEPS_KEY, DEFAULT_MAX_STEPS)))
        self.last_history_result: HistoryResult | None = None
        if not readonly:
            with self._edit("", record=False):
                self._history.close_interrupted()

    # --- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, video: VideoRef) -> Project:
        """Make a new project file for ``video``; ProjectError if ``path`` exists."""
        path = Path(path)
        if path.exists():
            raise ProjectError("already exists; open it instead", path)
        lock = WriterLock(path)
        try:
            if path.exists():  # again under the lock: two creators must not race
                raise ProjectError("already exists; open it instead", path)
            for suffix in ("-wal", "-shm"):  # leftovers of a deleted project must not be replayed
                with contextlib.suppress(FileNotFoundError):
                    path.with_name(path.name + suffix).unlink()
            tmp = path.with_name(f".{path.name}.creating")
            _build_new_file(tmp, video)
            tmp.replace(path)  # the project appears complete or not at all
            return cls._connect(path, readonly=False, lock=lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False) -> Project:
        path = Path(path)
        if not path.exists():
            raise ProjectError("no such project file", path)
        if path.is_dir():
            raise ProjectError("is a folder, not a project file", path)
        lock = None if readonly else WriterLock(path)
        try:
            return cls._connect(path, readonly, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _connect(cls, path: Path, readonly: bool, lock: WriterLock | None) -> Project:
        _check_header(path)
        conn = None
        try:
            if readonly:
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                       check_same_thread=False, isolation_level=None)
            else:
                conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 10000")  # a reader may meet a checkpoint
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.SCHEMA_VERSION:
                raise ProjectVersionError(
                    f"written by a newer Annotator (schema {version}, this build reads up to "
                    f"{schema.SCHEMA_VERSION}); update Annotator to open it", path)
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise ProjectCorruptError(f"the file is damaged ({'; '.join(problems)})", path)
            if version == 0:
                raise ProjectCorruptError("not an Annotator project (an SQLite file without its schema)",
                                          path)
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")  # a returned commit is on disk
                conn.execute("PRAGMA foreign_keys = ON")
                schema.migrate(conn, path)
            elif version < schema.SCHEMA_VERSION:
                raise ProjectVersionError(f"written by an older Annotator (schema {version}); open it for "
                                          "writing once to upgrade it", path)
            schema.check_tables(conn, path)
            return cls(path, conn, readonly, lock)
        except sqlite3.OperationalError as exc:  # permissions, a missing folder, a full disk ...
            if conn is not None:
                conn.close()
            raise ProjectError(f"cannot open the project file ({exc})", path) from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
            if conn is not None:
                conn.close()
            raise ProjectCorruptError(f"the file is damaged or not a project ({exc})", path) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def close(self) -> None:
        """Finish open steps, close the file and release the writer lock. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                for handle in list(self._open_steps.values()):
                    self._close_step(handle)
            finally:
                self._closed = True
                self._conn.close()
                if self._writer_lock is not None:
                    self._writer_lock.release()
                elif self.readonly:
                    _remove_reader_leftovers(self.path)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "closed" if self._closed else ("read-only" if self.readonly else "writable")
        return f"Project({str(self.path)!r}, {mode})"

    # --- video and settings ---------------------------------------------------------------------
    def save_copy(self, target: str | Path) -> Path:
        """Write a consistent copy of the whole project (history included) to ``target``.

        SQLite's online backup reads a snapshot while this process may keep writing; the copy
        is built beside the target and renamed into place, so a failure leaves nothing behind.
        The copy is a project of its own: open it with ``Project.open``.
        """
        import os
        import tempfile

        target = Path(target).resolve()
        if target == self.path.resolve():
            raise ProjectError("a copy cannot replace the project itself", target)
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise ProjectError(f"cannot write here ({exc.strerror or exc})", target) from exc
        os.close(fd)
        try:
            copy = sqlite3.connect(name)
            try:
                with self._read() as conn:
                    conn.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            finally:
                copy.close()
            os.replace(name, target)
        except (sqlite3.Error, OSError) as exc:
            Path(name).unlink(missing_ok=True)
            raise ProjectError(f"cannot write a copy ({exc})", target) from exc
        return target

    def relink_video(self, new_path: str, fingerprint: str) -> None:
        """Point the project at its video's new location; refused if it is a different video."""
        new_path = str(Path(new_path).resolve())
        if fingerprint != self.video.fingerprint:
            raise ProjectError(f"{new_path} is not this project's video (its content differs from "
                               f"{self.video.path}); relink refused", self.path)
        with self._edit("", record=False) as tx:
            self._conn.execute("UPDATE video SET path = ? WHERE id = 1", (new_path,))
            tx.on_rollback.append(lambda old=self.video: setattr(self, "video", old))
            self.video = dataclasses.replace(self.video, path=new_path)
            tx.changes.append(Change("video", None, None))

    def locate_video(self) -> Path:
        """The video's path: where it was stored, else a file of the same name beside the project."""
        stored = Path(self.video.path)
        if stored.exists():  # a file, or a folder of frames
            return stored
        beside = self.path.resolve().parent / stored.name
        if beside.exists():
            return beside
        raise VideoMissingError(f"video not found at {stored} (nor beside the project as {beside}); "
                                "relink it to the moved file", self.path)

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON value (last frame, model choice ...). Settings are not part of undo."""
        text = json.dumps(value)
        with self._edit("", record=False):
            self._conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, text))
            if key == _MAX_STEPS_KEY:
                self._history.max_steps = int(value)
                self._history.prune()

    # --- steps, undo, redo, events -----------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[StepHandle]:
        """Edits this thread makes inside form one undo step; nested steps merge into the outer one."""
        stack = self._thread_steps()
        if stack:
            stack.append(stack[0])
            try:
                yield stack[0]
            finally:
                stack.pop()
            return
        handle = self.begin_step(label)
        stack.append(handle)
        try:
            yield handle
        finally:
            stack.pop()
            handle.close()

    def begin_step(self, label: str) -> StepHandle:
        """A step for a job on another thread: pass ``step=handle`` to mutators; ``close()`` ends it."""
        self._require_writable()
        with self._lock:
            self._require_open()
            handle = self._history.new_step(label, self._close_step)
            self._open_steps[handle.id] = handle
        return handle

    def undo(self) -> str | None:
        """Undo the newest step; returns its label, or None if there is nothing to undo."""
        result = self._undo_redo(self._history.undo)
        return None if result is None else result.label

    def redo(self) -> str | None:
        result = self._undo_redo(self._history.redo)
        return None if result is None else result.label

    def can_undo(self) -> bool:
        return self.undo_label() is not None

    def can_redo(self) -> bool:
        return self.redo_label() is not None

    def undo_label(self) -> str | None:
        """Label of the step undo would revert (None if none, or if it is still running)."""
        with self._read():
            top = self._history.undo_top()
        return top[1] if top is not None and top[2] == "done" else None

    def redo_label(self) -> str | None:
        with self._read():
            top = self._history.redo_top()
        return None if top is None else top[1]

    def history_entries(self) -> list[dict[str, Any]]:
        """Every kept step, oldest first: {"id", "label", "state", "created", "rows"}."""
        with self._read():
            return self._history.entries()

    def clear_history(self) -> None:
        """Forget every finished step (e.g. after importing into a new project)."""
        with self._edit("", record=False):
            self._history.clear()

    def listen(self, callback: Callable[[list[Change]], None]) -> Callable[[], None]:
        """``callback(changes)`` after each commit, on the committing thread; returns unsubscribe."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def _undo_redo(self, action: Callable[[Tx], HistoryResult | None]) -> HistoryResult | None:
        try:
            with self._edit("", record=False) as tx:
                result = action(tx)
        except sqlite3.IntegrityError as exc:  # deferred foreign keys caught an inconsistent result
            raise HistoryError(f"cannot undo/redo: the result would be inconsistent ({exc})",
                               self.path) from exc
        self.last_history_result = result
        return result

    def _close_step(self, handle: StepHandle) -> None:
        with self._lock:
            if handle.closed:
                return
            self._open_steps.pop(handle.id, None)
            finished = handle.recorded and not self._closed
            if finished:
                with self._edit("", record=False):
                    self._history.finish(handle)
            handle.closed = True
            handle.seen.clear()
        if finished:
            # The step just became undoable: views refresh their "Undo ..." labels.
            self._emit([Change("history", None, None)])

    def _thread_steps(self) -> list[StepHandle]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    # --- transactions and rows --------------------------------------------------------------------
    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._require_open()
            yield self._conn

    @contextlib.contextmanager
    def _edit(self, label: str, step: StepHandle | None = None, record: bool = True) -> Iterator[Tx]:
        """One write transaction; commits on success, rolls back on any error, then notifies."""
        self._require_writable()
        with self._lock:
            self._require_open()
            implicit = False
            handle = None
            if record:
                handle, implicit = self._resolve_step(step, label)
            tx = Tx(handle)
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield tx
                if implicit:
                    self._history.finish(handle)  # type: ignore[arg-type]
                if self._rev != self._rev_saved:
                    self._conn.execute("UPDATE meta SET value = ? WHERE key = 'rev'", (str(self._rev),))
                self._conn.execute("COMMIT")
                self._rev_saved = self._rev
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                tx.rolled_back()
                if isinstance(exc, sqlite3.OperationalError):  # disk full, I/O error ...: nothing was saved
                    raise ProjectError(f"cannot save the change ({exc})", self.path) from exc
                raise
        if tx.changes:
            self._emit(tx.changes)

    def _resolve_step(self, step: StepHandle | None, label: str) -> tuple[StepHandle, bool]:
        if step is not None:
            if step.closed:
                raise HistoryError(f"step '{step.label}' is already closed", self.path)
            return step, False
        stack = self._thread_steps()
        if stack:
            return stack[0], False
        return self._history.new_step(label, self._close_step), True

    def _put(self, tx: Tx, spec: TableSpec, key: tuple[int, ...], values: tuple | None,
             before: Any = _MISSING) -> Row | None:
        """Write (or with ``values=None`` delete) one tracked row, recording it in the step."""
        if before is _MISSING:
            before = spec.read(self._conn, key)
        if values is None:
            if before is None:
                return None
            spec.delete(self._conn, key)
            new_rev = None
        else:
            self._rev += 1
            new_rev = self._rev
            spec.write(self._conn, key, values, new_rev)
        if tx.step is not None:
            self._history.record(tx, spec, key, before, new_rev)
        tx.changes.append(spec.change(key, values if values is not None else before[:-1]))
        return before

    def _row(self, spec: TableSpec, key: tuple[int, ...], missing: str) -> Row:
        row = spec.read(self._conn, key)
        if row is None:
            raise KeyError(missing)
        return row

    def _next_id(self, table: str) -> int:
        # AUTOINCREMENT's high-water mark: ids of deleted rows are never handed out again,
        # so undo can always bring a row back under its own id.
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        top = self._conn.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0]
        return max(row[0] if row else 0, top or 0) + 1

    def _require_open(self) -> None:
        if self._closed:
            raise ProjectError("project is closed", self.path)

    def _require_writable(self) -> None:
        if self.readonly:
            raise ProjectError("opened read-only; cannot change it", self.path)

    def _emit(self, changes: list[Change]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback(changes)
            except Exception:  # a broken view must not break the store
                log.exception("project listener failed")

    def _load_video(self) -> VideoRef:
        row = self._conn.execute("SELECT path, fingerprint, frame_count, width, height, fps, codec, rotation "
                                 "FROM video WHERE id = 1").fetchone()
        if row is None:
            raise ProjectCorruptError("not a usable Annotator project (no video record)", self.path)
        return VideoRef(*row)


# --- helpers ----------------------------------------------------------------------------------------

def _remove_reader_leftovers(path: Path) -> None:
    """After a read-only close: let SQLite delete the -wal / -shm a ``mode=ro`` reader leaves.

    A read-only connection can neither checkpoint nor delete them. When no writer holds the
    project, a brief read-write connection (``query_only``: it writes no data) is opened and
    closed: SQLite's last connection to close checkpoints and deletes both files, and one that is
    not last (a writer or reader that came meanwhile) leaves them alone, so this is safe whoever
    else opens the file. While a writer holds the project, the files are its own and stay: the
    writer removes them when it closes. (Not ``immutable=1``: a writer may hold the project.)
    """
    import os

    from annotator.errors import ProjectLockedError

    leftovers = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not any(p.exists() for p in leftovers):
        return
    if not (os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)):
        return  # read-only media: nothing SQLite could remove
    try:
        WriterLock(path).release()  # only a probe: is a writer holding the project now?
    except (ProjectLockedError, ProjectError):
        return
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA busy_timeout = 1000")
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # opens the WAL, so close can clean up
        finally:
            conn.close()
    except sqlite3.Error:
        log.debug("could not remove the reader's -wal / -shm of %s", path, exc_info=True)


def _build_new_file(tmp: Path, video: VideoRef) -> None:
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):  # of a create that crashed: never replay them
            leftover.unlink()
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
    except sqlite3.Error as exc:
        raise ProjectError(f"cannot create the project file ({exc})", tmp) from exc
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        schema.migrate(conn, tmp)
        conn.execute("INSERT INTO video (id, path, fingerprint, frame_count, width, height, fps, codec, "
                     "rotation) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (str(Path(video.path).resolve()), video.fingerprint, int(video.frame_count),
                      int(video.width), int(video.height), float(video.fps), video.codec or "",
                      int(video.rotation)))
        conn.execute("INSERT INTO meta (key, value) VALUES ('created', ?)", (str(time.time()),))
    except sqlite3.Error as exc:
        conn.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise ProjectError(f"cannot create the project file ({exc})", tmp) from exc
    conn.close()  # the last connection checkpoints the WAL into the main file


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ProjectError(f"cannot read ({exc.strerror or exc})", path) from exc
    if not head:
        raise ProjectCorruptError("not an Annotator project (the file is empty)", path)
    if head != _SQLITE_MAGIC:
        raise ProjectCorruptError("not an Annotator project (not an SQLite database)", path)
