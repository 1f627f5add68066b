"""The per-(object, frame) half of the project store: masks, locks, review marks, frame attributes.

Split out of project.py to keep each file to one concern; ``Project`` mixes this in and provides
the connection, the lock, transactions (``_edit``/``_read``) and row writes (``_put``).

A mask row holds the RLE counts plus what the timeline and exporters need without decoding
(source, score, lock flag, area, bbox). A lock may hold an empty mask ("absent here").
Review marks and frame attributes live in ``marks``, a sparse table: a row exists only while a
frame is reviewed or has attributes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from annotator.core import masks as rle_ops
from annotator.core.records import MASK_SOURCES, MaskRecord
from annotator.core.schema import MARKS, MASK_COL, MASKS
from annotator.errors import FrameIndexError

if TYPE_CHECKING:
    from annotator.core.history import StepHandle

_PAGE_ROWS = 256  # rows per page when streaming masks; the lock is released between pages
_COLUMNS = ("object_id", "frame", "counts", "height", "width", "source", "score", "locked", "area",
            "bx", "by", "bw", "bh")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM masks"
_LOCKED = MASK_COL["locked"]

MaskRow = tuple  # (oid, frame, rle, source, score, locked) as set_masks takes it


class MaskRowsMixin:
    """Masks, locks, review marks and frame attributes (mixed into Project)."""

    # --- reads --------------------------------------------------------------------------------
    def mask(self, oid: int, frame: int) -> MaskRecord | None:
        with self._read() as conn:
            row = conn.execute(_SELECT + " WHERE object_id = ? AND frame = ?", (oid, frame)).fetchone()
        return None if row is None else _record(row)

    def masks_on_frame(self, frame: int) -> list[MaskRecord]:
        with self._read() as conn:
            rows = conn.execute(_SELECT + " WHERE frame = ? ORDER BY object_id", (frame,)).fetchall()
        return [_record(r) for r in rows]

    def object_frames(self, oid: int) -> list[int]:
        """Frames where the object has a mask row (an empty locked mask counts)."""
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT frame FROM masks WHERE object_id = ? ORDER BY frame",
                                               (oid,))]

    def mask_count(self, object_ids: Iterable[int] | None = None) -> int:
        where, params = _object_filter(object_ids)
        with self._read() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM masks m {where}", params).fetchone()[0])

    def iter_masks(self, object_ids: Iterable[int] | None = None, frame_start: int | None = None,
                   frame_stop: int | None = None, locked_only: bool = False,
                   reviewed_only: bool = False) -> Iterator[MaskRecord]:
        """Masks ordered by frame, then object, streamed in pages (the lock is not held between pages).

        ``frame_stop`` is exclusive. Rows committed while the iteration runs may or may not show.
        """
        where, params = _object_filter(object_ids)
        conds = [where[len("WHERE "):]] if where else []
        if frame_stop is not None:
            conds.append("m.frame < ?")
            params.append(int(frame_stop))
        if locked_only:
            conds.append("m.locked = 1")
        if reviewed_only:
            conds.append("EXISTS (SELECT 1 FROM marks k WHERE k.object_id = m.object_id "
                         "AND k.frame = m.frame AND k.reviewed = 1)")
        columns = ", ".join(f"m.{c}" for c in _COLUMNS)
        # Each page starts where the last one ended with one row-value bound that the index
        # can seek to; a separate ``frame >= start`` bound would make SQLite rescan from the
        # start frame on every page (quadratic over a long export).
        last: tuple[int, int] | None = None if frame_start is None else (int(frame_start), -1)
        while True:
            page_conds = [*conds, "(m.frame, m.object_id) > (?, ?)"] if last is not None else conds
            sql = (f"SELECT {columns} FROM masks m INDEXED BY masks_by_frame"
                   + (" WHERE " + " AND ".join(page_conds) if page_conds else "")
                   + f" ORDER BY m.frame, m.object_id LIMIT {_PAGE_ROWS}")
            with self._read() as conn:
                rows = conn.execute(sql, params + list(last or ())).fetchall()
            for row in rows:
                yield _record(row)
            if len(rows) < _PAGE_ROWS:
                return
            last = (rows[-1][1], rows[-1][0])

    def track_summary(self, oid: int) -> list[tuple[int, float | None, bool, str, int]]:
        """(frame, score, locked, source, area) per mask row, without decoding anything (the timeline)."""
        with self._read() as conn:
            rows = conn.execute("SELECT frame, score, locked, source, area FROM masks WHERE object_id = ? "
                                "ORDER BY frame", (oid,)).fetchall()
        return [(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    # --- mask writes --------------------------------------------------------------------------
    def set_mask(self, oid: int, frame: int, rle: dict, source: str, score: float | None = None,
                 locked: bool | None = None, *, step: StepHandle | None = None) -> MaskRecord:
        """Store a mask; ``locked=None`` keeps the current lock flag (False for a new row)."""
        frame = self._check_frame(frame)
        values = self._mask_values(rle, source, score, False)
        with self._edit("Set mask", step) as tx:
            self._require_object(oid)
            values = self._store_mask(tx, oid, frame, values, locked)
        return _record((oid, frame, *values))

    def set_masks(self, rows: Iterable[MaskRow], *, step: StepHandle | None = None,
                  record_history: bool = True) -> int:
        """Store many masks in one transaction; ``record_history=False`` for bulk imports into a new
        project (nothing to undo, and history stays small). Returns the number of rows written."""
        prepared = []
        for oid, frame, rle, source, score, locked in rows:
            prepared.append((int(oid), self._check_frame(frame), self._mask_values(rle, source, score, False),
                             locked))
        with self._edit("Set masks", step, record=record_history) as tx:
            known: set[int] = set()
            for oid, frame, values, locked in prepared:
                if oid not in known:
                    self._require_object(oid)
                    known.add(oid)
                self._store_mask(tx, oid, frame, values, locked)
        return len(prepared)

    def write_tracked(self, oid: int, frame: int, rle: dict, score: float | None, *,
                      step: StepHandle | None) -> bool:
        """For propagation jobs: write a "tracked" mask unless (oid, frame) is locked or the object is
        gone, checked and written atomically. Returns whether it wrote."""
        return self.write_tracked_many([(oid, frame, rle, score)], step=step)[0]

    def write_tracked_many(self, items: Iterable[tuple[int, int, dict, float | None]], *,
                           step: StepHandle | None) -> list[bool]:
        """``write_tracked`` for several (oid, frame, rle, score) in one commit (one frame of a
        multi-object propagation)."""
        prepared = [(int(oid), self._check_frame(frame), self._mask_values(rle, "tracked", score, False))
                    for oid, frame, rle, score in items]
        wrote: list[bool] = []
        with self._edit("Propagate", step) as tx:
            alive: dict[int, bool] = {}
            for oid, frame, values in prepared:
                if oid not in alive:
                    alive[oid] = self._conn.execute("SELECT 1 FROM objects WHERE id = ?", (oid,)).fetchone() \
                        is not None
                before = MASKS.read(self._conn, (oid, frame)) if alive[oid] else None
                if not alive[oid] or (before is not None and before[_LOCKED]):
                    wrote.append(False)
                    continue
                self._put(tx, MASKS, (oid, frame), values, before=before)
                wrote.append(True)
        return wrote

    def delete_mask(self, oid: int, frame: int, *, step: StepHandle | None = None) -> None:
        with self._edit("Delete mask", step) as tx:
            self._put(tx, MASKS, (oid, frame), None)

    def delete_masks(self, oid: int, frame_start: int, frame_stop: int | None = None, *,
                     step: StepHandle | None = None) -> int:
        """Delete the object's masks on frames [frame_start, frame_stop); returns how many."""
        stop = frame_stop if frame_stop is not None else 2**62
        with self._edit("Delete masks", step) as tx:
            frames = [r[0] for r in self._conn.execute(
                "SELECT frame FROM masks WHERE object_id = ? AND frame >= ? AND frame < ? ORDER BY frame",
                (oid, frame_start, stop))]
            for frame in frames:
                self._put(tx, MASKS, (oid, frame), None)
        return len(frames)

    # --- locks ----------------------------------------------------------------------------------
    def set_locked(self, oid: int, frame: int, locked: bool, *, step: StepHandle | None = None) -> None:
        """Lock or unlock (oid, frame). Locking a frame with no mask stores an empty one: "absent here"."""
        frame = self._check_frame(frame)
        locked = bool(locked)
        with self._edit("Lock frame" if locked else "Unlock frame", step) as tx:
            self._require_object(oid)
            before = MASKS.read(self._conn, (oid, frame))
            if before is None:
                if not locked:
                    return
                empty = rle_ops.empty(self.video.height, self.video.width)
                self._put(tx, MASKS, (oid, frame), self._mask_values(empty, "user", None, True), before=None)
            elif bool(before[_LOCKED]) != locked:
                values = list(before[:-1])
                values[_LOCKED] = int(locked)
                self._put(tx, MASKS, (oid, frame), tuple(values), before=before)

    def is_locked(self, oid: int, frame: int) -> bool:
        with self._read() as conn:
            row = conn.execute("SELECT locked FROM masks WHERE object_id = ? AND frame = ?",
                               (oid, frame)).fetchone()
        return bool(row and row[0])

    def locked_frames(self, oid: int) -> list[int]:
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT frame FROM masks WHERE object_id = ? AND locked = 1 "
                                               "ORDER BY frame", (oid,))]

    # --- review marks and frame attributes ------------------------------------------------------------
    def set_reviewed(self, oid: int, frame: int, reviewed: bool, *, step: StepHandle | None = None) -> None:
        with self._edit("Mark reviewed" if reviewed else "Unmark reviewed", step) as tx:
            self._set_mark(tx, oid, self._check_frame(frame), reviewed=bool(reviewed))

    def reviewed_frames(self, oid: int) -> list[int]:
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT frame FROM marks WHERE object_id = ? AND reviewed = 1 "
                                               "ORDER BY frame", (oid,))]

    def frame_attributes(self, oid: int, frame: int) -> dict:
        with self._read() as conn:
            row = conn.execute("SELECT attributes FROM marks WHERE object_id = ? AND frame = ?",
                               (oid, frame)).fetchone()
        return {} if row is None else json.loads(row[0])

    def frame_attribute_map(self, object_ids: Iterable[int] | None = None) -> dict[tuple[int, int], dict]:
        """Every non-empty (object, frame) attribute dict, in one query (exports read this)."""
        where, params = _object_filter(object_ids)
        where = where.replace("m.", "k.")
        extra = " AND " if where else " WHERE "
        with self._read() as conn:
            rows = conn.execute(f"SELECT k.object_id, k.frame, k.attributes FROM marks k {where}"
                                f"{extra}k.attributes != '{{}}'", params).fetchall()
        return {(oid, frame): json.loads(text) for oid, frame, text in rows}

    def set_frame_attributes_many(self, rows: Iterable[tuple[int, int, dict]], *,
                                  step: StepHandle | None = None) -> None:
        """Set many (object, frame, attributes) in one transaction (imports)."""
        with self._edit("Set frame attributes", step) as tx:
            for oid, frame, attrs in rows:
                if not isinstance(attrs, dict):
                    raise TypeError(f"frame attributes must be a dict, got {type(attrs).__name__}")
                text = json.dumps(attrs, sort_keys=True)
                self._set_mark(tx, oid, self._check_frame(frame), attributes=text)

    def set_frame_attributes(self, oid: int, frame: int, attrs: dict, *,
                             step: StepHandle | None = None) -> None:
        """Replace the object's attributes on this frame, e.g. ``{"occluded": True}``."""
        if not isinstance(attrs, dict):
            raise TypeError(f"frame attributes must be a dict, got {type(attrs).__name__}")
        text = json.dumps(attrs, sort_keys=True)
        with self._edit("Set frame attributes", step) as tx:
            self._set_mark(tx, oid, self._check_frame(frame), attributes=text)

    def _set_mark(self, tx: Any, oid: int, frame: int, reviewed: bool | None = None,
                  attributes: str | None = None) -> None:
        self._require_object(oid)
        before = MARKS.read(self._conn, (oid, frame))
        current = (0, "{}") if before is None else tuple(before[:-1])
        new = (current[0] if reviewed is None else int(reviewed),
               current[1] if attributes is None else attributes)
        if new == current:
            return
        # Keep the table sparse: a frame neither reviewed nor attributed has no row.
        self._put(tx, MARKS, (oid, frame), None if new == (0, "{}") else new, before=before)

    # --- helpers --------------------------------------------------------------------------------------
    def _store_mask(self, tx: Any, oid: int, frame: int, values: tuple, locked: bool | None) -> tuple:
        before = MASKS.read(self._conn, (oid, frame))
        if locked is None:
            locked = bool(before[_LOCKED]) if before is not None else False
        values = (*values[:_LOCKED], int(bool(locked)), *values[_LOCKED + 1:])
        self._put(tx, MASKS, (oid, frame), values, before=before)
        return values

    def _mask_values(self, rle: dict, source: str, score: float | None, locked: bool) -> tuple:
        """The MASKS columns for an RLE: counts as str, size checked, area and bbox precomputed."""
        if source not in MASK_SOURCES:
            raise ValueError(f"mask source must be one of {MASK_SOURCES}, got {source!r}")
        try:
            h, w = rle_ops.size(rle)
            counts = rle["counts"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an RLE dict ({exc!r}); expected {{'size': [h, w], 'counts': str}}") \
                from exc
        if (h, w) != (self.video.height, self.video.width) and self.video.height and self.video.width:
            raise ValueError(f"mask size {h}x{w} does not match the video "
                             f"({self.video.height}x{self.video.width})")
        if not isinstance(counts, str):  # bytes or uncompressed list counts: compress once, here
            counts = rle_ops.to_coco(rle)["counts"]
            counts = counts.decode("ascii") if isinstance(counts, bytes) else counts
        norm = {"size": [h, w], "counts": counts}
        x, y, bw, bh = rle_ops.bbox(norm)
        if score is not None:
            score = float(score)
            if not math.isfinite(score):
                raise ValueError(f"mask score must be finite, got {score}")
        return (counts, h, w, source, score, int(bool(locked)), rle_ops.area(norm), x, y, bw, bh)

    def _check_frame(self, frame: int) -> int:
        frame = int(frame)
        count = self.video.frame_count
        if frame < 0 or (count and frame >= count):
            raise FrameIndexError(f"frame {frame} is outside 0..{count - 1}", self.path)
        return frame


def _record(row: tuple) -> MaskRecord:
    return MaskRecord(
        object_id=row[0], frame=row[1], rle={"size": [row[3], row[4]], "counts": row[2]}, source=row[5],
        score=row[6], locked=bool(row[7]), area=row[8], bbox=[row[9], row[10], row[11], row[12]],
    )


def _object_filter(object_ids: Iterable[int] | None) -> tuple[str, list[Any]]:
    if object_ids is None:
        return "", []
    ids = sorted({int(i) for i in object_ids})
    if not ids:
        return "WHERE 0", []
    return f"WHERE m.object_id IN ({', '.join('?' for _ in ids)})", list(ids)
