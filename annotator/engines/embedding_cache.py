"""Image-embedding caches for the click engines: an in-memory LRU and an on-disk store per video.

An *embedding* is a ``dict[str, torch.Tensor]``: the encoder's outputs plus a few small
integer tensors (input and original sizes). Engines keep the embeddings of recent frames in
an ``EmbeddingLRU`` bounded in MB (one SAM ViT embedding is 4 MB in fp32), so clicking
back and forth between frames never runs the encoder twice.

``DiskEmbeddingCache`` keeps them across sessions, so reopening a video does not encode its
frames again (2 s a frame for SAM 2.1-T on a CPU, 11 s for SAM ViT-B). Layout::

    <cache_dir>/embeddings/<video fingerprint>/<model tag>/<frame>.safetensors

Float tensors are stored as fp16 (half the bytes; the decoder output moves by well under
one logit unit), written atomically, and the whole tree is bounded in size by evicting the
least recently used files. A file that cannot be read is deleted and treated as a miss,
so the frame is simply encoded again.

Keys: a frame of a video is keyed by ``frame_key(fingerprint, index)``, a ``(str, int)``
tuple. Only such keys go to disk; any other hashable key (a lone image in the CLI) lives in
memory only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from annotator import paths
from annotator.core.atomic import atomic_write, ensure_dir
from annotator.errors import OutputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Embedding = dict[str, "torch.Tensor"]
FrameKey = tuple[str, int]

_SUFFIX = ".safetensors"


def frame_key(fingerprint: str, frame: int) -> FrameKey:
    """The cache key of frame ``frame`` of the video whose fingerprint is ``fingerprint``."""
    return (str(fingerprint), int(frame))


def as_frame_key(key: Hashable) -> FrameKey | None:
    """``key`` as a (fingerprint, frame) pair when it is one, else None (memory-only key)."""
    if (
        isinstance(key, tuple)
        and len(key) == 2
        and isinstance(key[0], str)
        and isinstance(key[1], (int, np.integer))
        and not isinstance(key[1], bool)
    ):
        return (key[0], int(key[1]))
    return None


def embedding_nbytes(embedding: Embedding) -> int:
    return sum(int(t.numel()) * int(t.element_size()) for t in embedding.values())


class EmbeddingLRU:
    """Thread-safe LRU of embeddings bounded in bytes.

    The most recently used entry is never evicted, even when it alone is over the budget:
    the frame the user is clicking on must stay prepared.
    """

    def __init__(self, max_mb: float = 256) -> None:
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._entries: OrderedDict[Hashable, tuple[Embedding, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Embedding | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, embedding: Embedding) -> None:
        size = embedding_nbytes(embedding)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (embedding, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def ordered_keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


class DiskEmbeddingCache:
    """Per-video embeddings on disk, one safetensors file per (video, model, frame).

    ``model`` is a tag that must change whenever the weights change (the engines use the
    model name plus a short digest of the weights file), so stale embeddings are never read.
    The size bound covers the whole tree under ``root``; the least recently used files
    (by modification time, which a read refreshes) go first.
    """

    def __init__(self, root: str | Path | None = None, max_mb: float = 4096) -> None:
        self.root = Path(root) if root is not None else paths.cache_dir() / "embeddings"
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._lock = threading.Lock()
        self._index: dict[Path, int] | None = None  # file -> bytes, built on first write
        self._index_bytes = 0
        self.reads = 0
        self.writes = 0

    def path_for(self, model: str, key: FrameKey) -> Path:
        fingerprint, frame = key
        return self.root / _safe_name(fingerprint) / _safe_name(model) / f"{frame:06d}{_SUFFIX}"

    def contains(self, model: str, key: FrameKey) -> bool:
        return self.path_for(model, key).is_file()

    def load(self, model: str, key: FrameKey) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent or unreadable (a bad file is removed)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load as st_load

        path = self.path_for(model, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("%s: cannot read cached embedding (%s)", path, exc)
            return None
        try:
            arrays = st_load(data)
            if not arrays:
                raise ValueError("no tensors in file")
        except (SafetensorError, ValueError, OSError) as exc:  # truncated or garbage: encode again
            log.warning("%s: corrupt cached embedding ignored (%s)", path, exc)
            self._remove(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # a read counts as a use for the LRU bound
        self.reads += 1
        return arrays

    def save(self, model: str, key: FrameKey, arrays: dict[str, np.ndarray]) -> Path | None:
        """Write atomically, then evict old files beyond the bound. Returns the path, or None
        when the cache folder cannot be written (the cache is an optimisation, never fatal)."""
        from safetensors.numpy import save as st_save

        path = self.path_for(model, key)
        payload = st_save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
        try:
            ensure_dir(path.parent)
            with atomic_write(path) as f:
                f.write(payload)
        except OutputError as exc:
            log.warning("embedding cache not written: %s", exc)
            return None
        self.writes += 1
        with self._lock:
            index = self._ensure_index()
            self._index_bytes += len(payload) - index.get(path, 0)
            index[path] = len(payload)
        self._evict(keep=path)
        return path

    def clear(self, fingerprint: str | None = None) -> None:
        """Remove every cached embedding (of one video when ``fingerprint`` is given)."""
        import shutil

        target = self.root / _safe_name(fingerprint) if fingerprint else self.root
        shutil.rmtree(target, ignore_errors=True)
        with self._lock:
            self._index = None

    @property
    def nbytes(self) -> int:
        with self._lock:
            self._ensure_index()
            return self._index_bytes

    # --- internals -------------------------------------------------------------------------------
    def _ensure_index(self) -> dict[Path, int]:
        if self._index is None:
            index: dict[Path, int] = {}
            if self.root.is_dir():
                for path in self.root.rglob(f"*{_SUFFIX}"):
                    try:
                        index[path] = path.stat().st_size
                    except OSError:
                        continue
            self._index = index
            self._index_bytes = sum(index.values())
        return self._index

    def _evict(self, keep: Path) -> None:
        with self._lock:
            index = self._ensure_index()
            if self._index_bytes <= self.max_bytes:
                return
            by_age = []
            for path in index:
                try:
                    by_age.append((path.stat().st_mtime_ns, path))
                except OSError:
                    by_age.append((0, path))
            by_age.sort()
            for _, path in by_age:
                if self._index_bytes <= self.max_bytes:
                    break
                if path == keep:
                    continue
                self._index_bytes -= index.pop(path)
                _unlink(path)

    def _remove(self, path: Path) -> None:
        _unlink(path)
        with self._lock:
            if self._index is not None and path in self._index:
                self._index_bytes -= self._index.pop(path)


def to_arrays(embedding: Embedding) -> dict[str, np.ndarray]:
    """Tensors -> numpy for the disk cache: floats as fp16, integers as they are."""
    import torch

    out: dict[str, np.ndarray] = {}
    for name, tensor in embedding.items():
        t = tensor.detach()
        if t.is_floating_point():
            t = t.to(torch.float16)
        out[name] = t.cpu().contiguous().numpy()
    return out


def from_arrays(arrays: dict[str, np.ndarray], device: str) -> Embedding:
    """numpy from the disk cache -> tensors on ``device``: floats back to fp32."""
    import torch

    out: Embedding = {}
    for name, array in arrays.items():
        t = torch.from_numpy(np.array(array))  # copy: safetensors' arrays are read-only
        if t.is_floating_point():
            t = t.to(torch.float32)
        out[name] = t.to(device)
    return out


class EmbeddingStore:
    """What an engine uses: the memory LRU first, then the disk cache (promoting hits)."""

    def __init__(self, model_tag: str, cache_mb: float = 256, disk: DiskEmbeddingCache | None = None) -> None:
        self.model_tag = model_tag
        self.memory = EmbeddingLRU(cache_mb)
        self.disk = disk

    def get(self, key: Hashable, device: str) -> Embedding | None:
        embedding = self.memory.get(key)
        if embedding is not None:
            return embedding
        fkey = as_frame_key(key)
        if self.disk is None or fkey is None:
            return None
        arrays = self.disk.load(self.model_tag, fkey)
        if arrays is None:
            return None
        embedding = from_arrays(arrays, device)
        self.memory.put(key, embedding)
        return embedding

    def put(self, key: Hashable, embedding: Embedding) -> None:
        self.memory.put(key, embedding)
        fkey = as_frame_key(key)
        if self.disk is not None and fkey is not None:
            self.disk.save(self.model_tag, fkey, to_arrays(embedding))

    def contains(self, key: Hashable) -> bool:
        if key in self.memory:
            return True
        fkey = as_frame_key(key)
        return self.disk is not None and fkey is not None and self.disk.contains(self.model_tag, fkey)

    def move_to(self, device: str) -> None:
        """Move the in-memory embeddings (after an out-of-memory fallback to the CPU)."""
        for key in self.memory.ordered_keys():
            embedding = self.memory.get(key)
            if embedding is not None:
                self.memory.put(key, {k: v.to(device) for k, v in embedding.items()})


def _safe_name(text: str) -> str:
    """A folder name from a fingerprint or model tag (no separators, no dot-dot)."""
    cleaned = "".join(c if c.isalnum() or c in "-_.+@" else "_" for c in str(text)).strip(".")
    return cleaned[:120] or "_"


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
