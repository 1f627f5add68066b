"""Search a video by text or by example: build the index over the store, run a query.

``build_index`` embeds frames at a stride (default about 2 a second) and, per object, crops
of its masks at those frames (at most ``max_crops`` per object, spread along the track). It is
incremental: only frames and crops missing from the index (core/search_index.py), or crops
whose mask box changed, are computed. It reports progress and stops between batches when
cancelled, keeping what it computed. ``search`` ranks frames and crops against a phrase, or
against an object's mean crop (``like``), and groups high-scoring neighbouring frames into
time segments.

The Session runs both as one Job on the engine lane (``session.text.search``, app/text_tools.py);
the GUI's Find tab and ``annotator search`` call that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator import paths
from annotator.core import masks as rle_masks
from annotator.core.search_index import (
    Hit,
    SearchIndex,
    Segment,
    index_file,
    normalise,
    scores,
    segments,
    top_k,
)
from annotator.engines.crops import masked_crop, spread
from annotator.engines.embedder import Embedder
from annotator.errors import CancelledError

PER_SECOND = 2.0  # frames indexed per second of video
MAX_CROPS = 32  # crops per object, spread along its track
BATCH = 16

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class SearchResult:
    query: str
    model: str
    hits: list[Hit]
    segments: list[Segment] = field(default_factory=list)
    # (indexed frames, their scores): the timeline's score strip; not part of the JSON
    frame_scores: tuple[np.ndarray, np.ndarray] | None = None
    encode_ms: float | None = None  # encoding the phrase (None: a search by object)
    query_ms: float = 0.0  # ranking, once the phrase is encoded
    indexed: dict[str, int] = field(default_factory=dict)  # frames and crops this search computed

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``search --json`` document (DESIGN.md: query, model, hits), plus segments."""
        return {
            "query": self.query,
            "model": self.model,
            "hits": [{"frame": h.frame, "time_s": round(h.time_s, 3), "score": round(h.score, 4),
                      "object_id": h.object_id} for h in self.hits],
            "segments": [{"start": s.start, "stop": s.stop, "start_s": round(s.start_s, 3),
                          "stop_s": round(s.stop_s, 3), "score": round(s.score, 4)} for s in self.segments],
        }


def stride_for(fps: float, per_second: float = PER_SECOND) -> int:
    """Frames between indexed frames: about ``per_second`` indexed frames a second."""
    if per_second <= 0:
        raise ValueError(f"frames per second to index must be positive, got {per_second}")
    return max(1, int(round((fps or 25.0) / per_second)))


def open_index(fingerprint: str, embedder: Embedder) -> SearchIndex:
    """The index of one video for the embedder's model, in the user cache folder."""
    return SearchIndex(index_file(paths.cache_dir(), fingerprint, embedder.name), embedder.name, embedder.dim)


def build_index(index: SearchIndex, source: Any, project: Any | None, embedder: Embedder, *,
                stride: int, max_crops: int = MAX_CROPS, batch: int = BATCH,
                progress: Progress | None = None, cancel: threading.Event | None = None) -> dict[str, int]:
    """Add what is missing: frames at ``stride`` and object crops. Returns what was computed.

    ``source`` is a VideoSource (or any FrameSource), ``project`` the store (None: frames only).
    Raises CancelledError when ``cancel`` is set; rows already written stay.
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    have = index.frame_ids()
    todo_frames = [f for f in range(0, source.frame_count, stride) if f not in have]
    todo_crops = _crops_to_compute(index, project, stride, max_crops) if project is not None else []
    total = len(todo_frames) + len(todo_crops)
    done = 0
    for start in range(0, len(todo_frames), batch):
        _check(cancel)
        chunk = todo_frames[start:start + batch]
        index.add_frames(chunk, embedder.embed_images([source.frame(f) for f in chunk]))
        done += len(chunk)
        if progress:
            progress(done, total)
    for start in range(0, len(todo_crops), batch):
        _check(cancel)
        keys, images = [], []
        for oid, frame, record in todo_crops[start:start + batch]:
            crop = masked_crop(source.frame(frame), rle_masks.decode(record.rle))
            if crop is not None:
                keys.append((oid, frame, _box_key(record.bbox)))
                images.append(crop)
        if images:
            index.add_crops(keys, embedder.embed_images(images))
        done += len(todo_crops[start:start + batch])
        if progress:
            progress(done, total)
    return {"frames": len(todo_frames), "crops": len(todo_crops)}


def _crops_to_compute(index: SearchIndex, project: Any, stride: int,
                      max_crops: int) -> list[tuple[int, int, Any]]:
    stored = index.crop_boxes()
    wanted: set[tuple[int, int]] = set()
    todo = []
    for obj in project.objects():
        frames = [f for f, _score, _locked, _source, area in project.track_summary(obj.id) if area > 0]
        on_stride = [f for f in frames if f % stride == 0] or frames
        for frame in spread(on_stride, max_crops):
            wanted.add((obj.id, frame))
            record = project.mask(obj.id, frame)
            if record is not None and stored.get((obj.id, frame)) != _box_key(record.bbox):
                todo.append((obj.id, frame, record))
    stale = [key for key in stored if key not in wanted]  # deleted objects, masks moved or cleared
    if stale:
        index.drop_crops(stale)
    return todo


def _box_key(bbox: Any) -> str:
    return ",".join(f"{float(v):.1f}" for v in bbox)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("search index build cancelled (what was computed is kept)")


# --- queries -------------------------------------------------------------------------------------
def search(index: SearchIndex, embedder: Embedder, fps: float, query: str | None = None,
           like: int | None = None, top: int = 10, with_crops: bool = True) -> SearchResult:
    """Rank frames (and object crops) against a phrase or against object ``like``'s crops.

    Hits are best first; a frame appears once per (frame, object) pair, the whole frame as
    ``object_id`` None. ``like`` leaves out the object's own crops (its other frames are what
    one looks for).
    """
    if (query is None) == (like is None):
        raise ValueError("search by a phrase or by an object (--like), one of the two")
    encode_ms = None
    if query is not None:
        if not query.strip():
            raise ValueError("the search phrase is empty")
        started = time.perf_counter()
        vector = embedder.embed_texts([query.strip()])[0]
        encode_ms = (time.perf_counter() - started) * 1000
        label = query.strip()
    else:
        _keys, crops = index.crops(like)
        if len(crops) == 0:
            raise ValueError(f"object {like} has no indexed crops (no masks yet, or the index is not built)")
        vector = normalise(crops.mean(axis=0))[0]
        label = f"like object {like}"
    started = time.perf_counter()
    frame_ids, frame_vecs = index.frames()
    frame_scores = scores(frame_vecs, vector) if len(frame_vecs) else np.zeros(0, np.float32)
    fps = fps if fps and fps > 0 else 25.0
    hits = [Hit(int(frame_ids[i]), frame_ids[i] / fps, float(frame_scores[i]), None)
            for i in top_k(frame_scores, top)]
    if with_crops:
        keys, crop_vecs = index.crops()
        if like is not None and len(keys):
            other = keys[:, 0] != like
            keys, crop_vecs = keys[other], crop_vecs[other]
        if len(keys):
            crop_scores = scores(crop_vecs, vector)
            hits += [Hit(int(keys[i, 1]), keys[i, 1] / fps, float(crop_scores[i]), int(keys[i, 0]))
                     for i in top_k(crop_scores, top)]
    hits.sort(key=lambda h: (-h.score, h.frame, -1 if h.object_id is None else h.object_id))
    found = segments(frame_ids, frame_scores, fps)
    return SearchResult(label, index.model, hits[:top], found, (frame_ids, frame_scores), encode_ms,
                        (time.perf_counter() - started) * 1000)


def frame_scores(index: SearchIndex, embedder: Embedder, query: str) -> tuple[np.ndarray, np.ndarray]:
    """(indexed frames, their scores against ``query``): the timeline's score strip."""
    frame_ids, frame_vecs = index.frames()
    if len(frame_vecs) == 0:
        return frame_ids, np.zeros(0, np.float32)
    return frame_ids, scores(frame_vecs, embedder.embed_texts([query])[0])
