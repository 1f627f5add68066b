"""The search index: L2-normalised image embeddings of frames (at a stride) and of object crops,
stored per video and model, ranked by a float32 block matrix product. No torch here.

Storage: one SQLite file per (video fingerprint, model) in the user cache folder
(``<cache>/search/<fingerprint>-<model>.sqlite``), so the index survives closing the project,
is shared by every project over the same video, and never bloats the project file. Rows are
added as they are computed (WAL, one commit per batch), so a cancelled build keeps its work and
the next build only computes what is missing. Object crops are keyed by (object, frame) and
remember the box they were cut from: a crop whose mask box changed is computed again.

Ranking: ``scores = matrix @ query`` in float32 blocks of ``BLOCK`` rows (BLAS sgemv per block:
bounded temporary memory for a 1M-row index; float16 products get no BLAS on a CPU), then
``argpartition`` for the top K. Segments: runs of neighbouring indexed frames whose score is
well above the video's typical score (see :func:`segments`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK = 65536  # rows per matrix-product block: 128 MB of float32 at 512 dimensions
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frames (frame INTEGER PRIMARY KEY, vec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS crops (object_id INTEGER NOT NULL, frame INTEGER NOT NULL, box TEXT NOT NULL,
                                  vec BLOB NOT NULL, PRIMARY KEY (object_id, frame)) WITHOUT ROWID;
"""


@dataclass
class Hit:
    frame: int
    time_s: float
    score: float
    object_id: int | None  # None: the whole frame matched; else this object's crop matched


@dataclass
class Segment:
    start: int  # first frame (inclusive)
    stop: int  # last frame (inclusive)
    start_s: float
    stop_s: float
    score: float  # the best score inside


def index_file(cache_root: Path, fingerprint: str, model: str) -> Path:
    """Where the index of one video for one model lives."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{fingerprint}-{model}")
    return Path(cache_root) / "search" / f"{safe}.sqlite"


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (a zero row stays zero)."""
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class SearchIndex:
    """Frame and crop embeddings of one video for one model (see the module docstring)."""

    def __init__(self, path: str | Path, model: str, dim: int) -> None:
        self.path = Path(path)
        self.model = model
        self.dim = int(dim)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.RLock()
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
            if meta and (meta.get("model") != model or int(meta.get("dim", -1)) != self.dim):
                # Another model's vectors under this name: start over rather than mix spaces.
                self._db.execute("DELETE FROM frames")
                self._db.execute("DELETE FROM crops")
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [("model", model), ("dim", str(self.dim))])
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- frames -----------------------------------------------------------------------------
    def frame_ids(self) -> set[int]:
        with self._lock:
            return {int(r[0]) for r in self._db.execute("SELECT frame FROM frames")}

    def add_frames(self, frames: Sequence[int], vectors: np.ndarray) -> None:
        vectors = self._check(vectors, len(frames))
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO frames VALUES (?, ?)",
                                 [(int(f), v.tobytes()) for f, v in zip(frames, vectors, strict=True)])
            self._cache.pop("frames", None)

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices ascending, (N, dim) float32 matrix)."""
        with self._lock:
            if "frames" not in self._cache:
                rows = self._db.execute("SELECT frame, vec FROM frames ORDER BY frame").fetchall()
                self._cache["frames"] = self._unpack(rows)
            return self._cache["frames"]

    # --- object crops -----------------------------------------------------------------------
    def crop_boxes(self, object_id: int | None = None) -> dict[tuple[int, int], str]:
        """{(object, frame): box key} of the stored crops."""
        sql, args = "SELECT object_id, frame, box FROM crops", ()
        if object_id is not None:
            sql, args = sql + " WHERE object_id = ?", (int(object_id),)
        with self._lock:
            return {(int(o), int(f)): b for o, f, b in self._db.execute(sql, args)}

    def add_crops(self, keys: Sequence[tuple[int, int, str]], vectors: np.ndarray) -> None:
        """``keys``: (object id, frame, box key) per row of ``vectors``."""
        vectors = self._check(vectors, len(keys))
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO crops VALUES (?, ?, ?, ?)",
                                 [(int(o), int(f), str(b), v.tobytes())
                                  for (o, f, b), v in zip(keys, vectors, strict=True)])
            self._cache.pop("crops", None)

    def drop_crops(self, keys: Iterable[tuple[int, int]]) -> None:
        with self._lock, self._db:
            self._db.executemany("DELETE FROM crops WHERE object_id = ? AND frame = ?",
                                 [(int(o), int(f)) for o, f in keys])
            self._cache.pop("crops", None)

    def crops(self, object_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """((N, 2) int [object, frame] rows, (N, dim) float32), sorted by object then frame."""
        with self._lock:
            if "crops" not in self._cache:
                rows = self._db.execute("SELECT object_id, frame, vec FROM crops ORDER BY object_id, frame")
                keys, vecs = [], []
                for o, f, v in rows:
                    keys.append((int(o), int(f)))
                    vecs.append(np.frombuffer(v, np.float32))
                self._cache["crops"] = (np.asarray(keys, np.int64).reshape(-1, 2),
                                        np.stack(vecs) if vecs else np.zeros((0, self.dim), np.float32))
            keys, vecs = self._cache["crops"]
        if object_id is None:
            return keys, vecs
        pick = keys[:, 0] == int(object_id)
        return keys[pick], vecs[pick]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"frames": int(self._db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]),
                    "crops": int(self._db.execute("SELECT COUNT(*) FROM crops").fetchone()[0])}

    def _check(self, vectors: np.ndarray, n: int) -> np.ndarray:
        vectors = normalise(vectors) if len(vectors) else np.zeros((0, self.dim), np.float32)
        if vectors.shape != (n, self.dim):
            raise ValueError(f"expected {n} vectors of {self.dim} numbers, got {vectors.shape}")
        return vectors

    def _unpack(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray([r[0] for r in rows], np.int64)
        if not rows:
            return ids, np.zeros((0, self.dim), np.float32)
        return ids, np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), self.dim)


# --- ranking -------------------------------------------------------------------------------------
def scores(matrix: np.ndarray, query: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Cosine scores of every row against ``query`` (both unit length), float32, block by block."""
    query = normalise(query)[0]
    out = np.empty(len(matrix), np.float32)
    for start in range(0, len(matrix), block):
        np.dot(matrix[start:start + block], query, out=out[start:start + block])
    return out


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties: lower index first)."""
    k = min(max(int(k), 0), len(values))
    if k == 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-values, k - 1)[:k] if k < len(values) else np.arange(len(values))
    return part[np.lexsort((part, -values[part]))]


def segments(frames: np.ndarray, frame_scores: np.ndarray, fps: float, *, spread: float = 1.0,
             max_gap: int | None = None, floor: float | None = None) -> list[Segment]:
    """Runs of neighbouring indexed frames that score high, best first.

    "High": at least ``median + spread * MAD-sigma`` of the video's frame scores (robust to
    the few frames that match), or ``floor`` if given. Neighbouring: the next indexed frame is
    within ``max_gap`` frames (default: 1.5 x the typical stride), so a run is a stretch of
    time, not isolated frames.
    """
    frames = np.asarray(frames, np.int64)
    frame_scores = np.asarray(frame_scores, np.float32)
    if len(frames) == 0:
        return []
    order = np.argsort(frames, kind="stable")
    frames, frame_scores = frames[order], frame_scores[order]
    if floor is None:
        median = float(np.median(frame_scores))
        sigma = 1.4826 * float(np.median(np.abs(frame_scores - median)))
        floor = median + spread * max(sigma, 1e-6)
    if max_gap is None:
        steps = np.diff(frames)
        max_gap = int(np.ceil(1.5 * float(np.median(steps)))) if len(steps) else 1
    fps = fps if fps and fps > 0 else 1.0
    found: list[Segment] = []
    start = None
    for i, (frame, score) in enumerate(zip(frames, frame_scores, strict=True)):
        high = score >= floor
        if high and start is None:
            start = i
        joined = i + 1 < len(frames) and frames[i + 1] - frame <= max_gap and frame_scores[i + 1] >= floor
        if start is not None and (not high or not joined):
            stop = i if high else i - 1
            if stop >= start:
                a, b = int(frames[start]), int(frames[stop])
                found.append(Segment(a, b, a / fps, b / fps, float(frame_scores[start:stop + 1].max())))
            start = None
    return sorted(found, key=lambda s: (-s.score, s.start))
