"""The catalogue half of the project store: categories, objects, prompts and insights.

Split out of project.py to keep each file to one concern; ``Project`` mixes this in and provides
the connection, the lock, transactions (``_edit``/``_read``) and row writes (``_put``). Every
mutator takes ``step=`` like the mask writers; without it (and outside ``with project.step()``)
each call is its own undo step.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from annotator.core.records import UNSET, Category, Insight, ObjectInfo, palette_color
from annotator.core.schema import CATEGORIES, INSIGHTS, MARKS, MASKS, OBJECTS, PROMPTS, Row, TableSpec

if TYPE_CHECKING:
    from annotator.core.history import StepHandle

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ItemsMixin:
    """Categories, objects, prompts and insights (mixed into Project)."""

    # --- categories -----------------------------------------------------------------------------
    def categories(self) -> list[Category]:
        with self._read() as conn:
            rows = conn.execute("SELECT id, name, supercategory FROM categories ORDER BY id").fetchall()
        return [Category(*r) for r in rows]

    def category(self, category_id: int) -> Category:
        with self._read() as conn:
            row = conn.execute("SELECT id, name, supercategory FROM categories WHERE id = ?",
                               (category_id,)).fetchone()
        if row is None:
            raise KeyError(f"no category {category_id}")
        return Category(*row)

    def add_category(self, name: str, supercategory: str = "", *, step: StepHandle | None = None) -> Category:
        name = _clean_name(name, "category")
        with self._edit(f"Add category '{name}'", step) as tx:
            if self._category_named(name) is not None:
                raise ValueError(f"category {name!r} already exists")
            cid = self._next_id("categories")
            self._put(tx, CATEGORIES, (cid,), (name, supercategory or ""))
        return Category(cid, name, supercategory or "")

    def ensure_category(self, name: str, *, step: StepHandle | None = None) -> Category:
        name = _clean_name(name, "category")
        with self._lock:
            existing = self._category_named(name)
            return existing if existing is not None else self.add_category(name, step=step)

    def rename_category(self, category_id: int, name: str, *, step: StepHandle | None = None) -> None:
        name = _clean_name(name, "category")
        with self._edit(f"Rename category to '{name}'", step) as tx:
            before = self._row(CATEGORIES, (category_id,), f"no category {category_id}")
            other = self._category_named(name)
            if other is not None and other.id != category_id:
                raise ValueError(f"category {name!r} already exists")
            self._put(tx, CATEGORIES, (category_id,), (name, before[1]), before=before)

    def delete_category(self, category_id: int, *, step: StepHandle | None = None) -> None:
        """Delete a category; its objects stay, with no category."""
        with self._edit("Delete category", step) as tx:
            self._row(CATEGORIES, (category_id,), f"no category {category_id}")
            for (oid,) in self._conn.execute("SELECT id FROM objects WHERE category_id = ?",
                                             (category_id,)).fetchall():
                before = OBJECTS.read(self._conn, (oid,))
                self._put(tx, OBJECTS, (oid,), _replace(OBJECTS, before, category_id=None), before=before)
            self._put(tx, CATEGORIES, (category_id,), None)

    def _category_named(self, name: str) -> Category | None:
        row = self._conn.execute("SELECT id, name, supercategory FROM categories WHERE name = ?",
                                 (name,)).fetchone()
        return None if row is None else Category(*row)

    # --- objects ----------------------------------------------------------------------------------
    def objects(self) -> list[ObjectInfo]:
        with self._read() as conn:
            rows = conn.execute("SELECT id, name, category_id, color, attributes, hidden FROM objects "
                                "ORDER BY id").fetchall()
        return [_object_info(r) for r in rows]

    def object(self, oid: int) -> ObjectInfo:
        with self._read() as conn:
            row = conn.execute("SELECT id, name, category_id, color, attributes, hidden FROM objects "
                               "WHERE id = ?", (oid,)).fetchone()
        if row is None:
            raise KeyError(f"no object {oid}")
        return _object_info(row)

    def add_object(self, name: str | None = None, category_id: int | None = None, color: str | None = None,
                   attributes: dict | None = None, object_id: int | None = None, *,
                   step: StepHandle | None = None) -> ObjectInfo:
        """A new object; ids are positive and never reused (``object_id`` picks one, e.g. on import)."""
        if color is not None:
            color = _check_color(color)
        attrs = _dump_dict(attributes or {}, "attributes")
        with self._edit("Add object", step) as tx:
            if object_id is None:
                oid = self._next_id("objects")
            else:
                oid = int(object_id)
                if oid <= 0:
                    raise ValueError(f"object ids are positive, got {oid}")
                if self._conn.execute("SELECT 1 FROM objects WHERE id = ?", (oid,)).fetchone() or \
                        self._conn.execute("SELECT 1 FROM history_changes WHERE tbl = 'objects' AND k1 = ? "
                                           "LIMIT 1", (oid,)).fetchone():
                    raise ValueError(f"object id {oid} is in use (or was, and undo may bring it back)")
            self._check_category(category_id)
            values = (name if name else f"object {oid}", category_id, color or palette_color(oid), attrs, 0)
            self._put(tx, OBJECTS, (oid,), values)
        return _object_info((oid, *values))

    def update_object(self, oid: int, *, name: Any = UNSET, category_id: Any = UNSET, color: Any = UNSET,
                      attributes: Any = UNSET, hidden: Any = UNSET,
                      step: StepHandle | None = None) -> ObjectInfo:
        changes: dict[str, Any] = {}
        if name is not UNSET:
            changes["name"] = _clean_name(name, "object")
        if color is not UNSET:
            changes["color"] = _check_color(color)
        if attributes is not UNSET:
            changes["attributes"] = _dump_dict(attributes or {}, "attributes")
        if hidden is not UNSET:
            changes["hidden"] = int(bool(hidden))
        if category_id is not UNSET:
            changes["category_id"] = category_id
        with self._edit("Edit object", step) as tx:
            before = self._row(OBJECTS, (oid,), f"no object {oid}")
            if "category_id" in changes:
                self._check_category(changes["category_id"])
            values = _replace(OBJECTS, before, **changes)
            if values != tuple(before[:-1]):
                self._put(tx, OBJECTS, (oid,), values, before=before)
        return _object_info((oid, *values))

    def delete_object(self, oid: int, *, step: StepHandle | None = None) -> None:
        """Delete an object with its masks, marks, prompts and insights (one undoable step)."""
        with self._edit("Delete object", step) as tx:
            self._row(OBJECTS, (oid,), f"no object {oid}")
            # Children first, so undo (which walks backwards) restores the object before them.
            for spec, sql in ((MASKS, "SELECT object_id, frame FROM masks WHERE object_id = ?"),
                              (MARKS, "SELECT object_id, frame FROM marks WHERE object_id = ?"),
                              (PROMPTS, "SELECT id FROM prompts WHERE object_id = ?"),
                              (INSIGHTS, "SELECT id FROM insights WHERE object_id = ?")):
                for key in self._conn.execute(sql, (oid,)).fetchall():
                    self._put(tx, spec, tuple(key), None)
            self._put(tx, OBJECTS, (oid,), None)

    def _check_category(self, category_id: int | None) -> None:
        if category_id is None:
            return
        if self._conn.execute("SELECT 1 FROM categories WHERE id = ?", (category_id,)).fetchone() is None:
            raise KeyError(f"no category {category_id}")

    def _require_object(self, oid: int) -> None:
        if self._conn.execute("SELECT 1 FROM objects WHERE id = ?", (oid,)).fetchone() is None:
            raise KeyError(f"no object {oid}")

    # --- prompts and insights ---------------------------------------------------------------------
    def add_prompt(self, oid: int, frame: int, kind: str, data: dict, *,
                   step: StepHandle | None = None) -> int:
        """Record a click or box given for (object, frame); returns the prompt id."""
        text = _dump_dict(data, "prompt data")
        with self._edit("Add prompt", step) as tx:
            self._require_object(oid)
            pid = self._next_id("prompts")
            self._put(tx, PROMPTS, (pid,), (oid, int(frame), str(kind), text))
        return pid

    def prompts(self, oid: int, frame: int) -> list[dict]:
        """[{"id", "object_id", "frame", "kind", "data"}] in the order they were given."""
        with self._read() as conn:
            rows = conn.execute("SELECT id, object_id, frame, kind, data FROM prompts WHERE object_id = ? "
                                "AND frame = ? ORDER BY id", (oid, frame)).fetchall()
        return [{"id": r[0], "object_id": r[1], "frame": r[2], "kind": r[3], "data": json.loads(r[4])}
                for r in rows]

    def clear_prompts(self, oid: int, frame: int, *, step: StepHandle | None = None) -> None:
        with self._edit("Clear prompts", step) as tx:
            for (pid,) in self._conn.execute("SELECT id FROM prompts WHERE object_id = ? AND frame = ?",
                                             (oid, frame)).fetchall():
                self._put(tx, PROMPTS, (pid,), None)

    def add_insight(self, kind: str, payload: dict, object_id: int | None = None,
                    frame_start: int | None = None, frame_end: int | None = None, model: str | None = None,
                    *, step: StepHandle | None = None) -> int:
        """Store a free-form result (a class guess, a caption ...); returns its id."""
        text = _dump_dict(payload, "insight payload")
        with self._edit(f"Add {kind}", step) as tx:
            if object_id is not None:
                self._require_object(object_id)
            iid = self._next_id("insights")
            values = (str(kind), object_id, frame_start, frame_end, model, text, time.time())
            self._put(tx, INSIGHTS, (iid,), values)
        return iid

    def insights(self, kind: str | None = None, object_id: int | None = None) -> list[Insight]:
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if object_id is not None:
            where.append("object_id = ?")
            params.append(object_id)
        sql = "SELECT id, kind, object_id, frame_start, frame_end, model, payload, created FROM insights"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [Insight(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]

    def update_insight(self, insight_id: int, payload: dict, *, step: StepHandle | None = None) -> None:
        text = _dump_dict(payload, "insight payload")
        with self._edit("Edit insight", step) as tx:
            before = self._row(INSIGHTS, (insight_id,), f"no insight {insight_id}")
            self._put(tx, INSIGHTS, (insight_id,), _replace(INSIGHTS, before, payload=text), before=before)

    def delete_insight(self, insight_id: int, *, step: StepHandle | None = None) -> None:
        with self._edit("Delete insight", step) as tx:
            self._row(INSIGHTS, (insight_id,), f"no insight {insight_id}")
            self._put(tx, INSIGHTS, (insight_id,), None)


def _object_info(row: tuple) -> ObjectInfo:
    return ObjectInfo(row[0], row[1], row[2], row[3], json.loads(row[4]), bool(row[5]))


def _replace(spec: TableSpec, row: Row, **changes: Any) -> tuple:
    values = list(row[:-1])
    for col, value in changes.items():
        values[spec.cols.index(col)] = value
    return tuple(values)


def _clean_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")
    return name.strip()


def _check_color(color: Any) -> str:
    if not isinstance(color, str) or not _COLOR.match(color):
        raise ValueError(f"colour must be '#rrggbb', got {color!r}")
    return color.lower()


def _dump_dict(value: Any, what: str) -> str:
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable ({exc})") from exc

