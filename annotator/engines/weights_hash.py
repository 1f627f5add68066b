"""The sha256 of a module's weights (what names the ONNX exports), remembered.

Hashing a model part reads every byte of its weights: tens of milliseconds for EdgeTAM's
encoder, several hundred for Hiera-T's, seconds for the large SAM 2.1s, each time a tracker or
a click engine is built. Two memos avoid it:

- **in memory**, per parameter tensor set: valid while the same tensors are alive and
  unchanged (their ``_version`` counters, which every in-place write bumps, ``load_state_dict``
  included);
- **on disk, per snapshot**: ``<snapshot>/onnx/sha256-memo.json`` (or the user cache folder when
  the snapshot is read-only), keyed by the part, the snapshot's weight files (names, sizes,
  modification times), the module's layout (names, dtypes, shapes) and the transformers
  version. Changed files, another layout or another loader version hash again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from annotator import paths

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_MEMO_NAME = "sha256-memo.json"
_memory: dict[int, tuple[Any, tuple, str]] = {}  # id(first tensor) -> (weakref, stamp, sha)
_lock = threading.Lock()


def weights_sha256(module: Any, snapshot: Path | None = None, part: str = "") -> str:
    """sha256 over ``module``'s parameters and buffers (names, dtypes, shapes, bytes).
    ``snapshot`` (the folder the weights were loaded from) and ``part`` enable the disk memo."""
    state = module.state_dict(keep_vars=True)  # the live tensors: stable identities and versions
    stamp = tuple((name, t.data_ptr(), t._version) for name, t in state.items())
    first = next(iter(state.values()), None)
    with _lock:
        entry = _memory.get(id(first))
    if entry is not None and entry[0]() is first and entry[1] == stamp:
        return entry[2]
    key = _disk_key(snapshot, part, state) if snapshot is not None and part else None
    sha = _read_memo(snapshot, key) if key is not None else None
    if sha is None:
        sha = _hash(state)
        if key is not None:
            _write_memo(snapshot, key, sha)
    if first is not None:
        identity = id(first)
        with _lock:
            _memory[identity] = (weakref.ref(first, lambda _r, i=identity: _forget(i)), stamp, sha)
    return sha


def _forget(identity: int) -> None:
    with _lock:
        _memory.pop(identity, None)


def _hash(state: dict[str, Any]) -> str:
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _disk_key(snapshot: Path, part: str, state: dict[str, Any]) -> str | None:
    """What the memo entry depends on, hashed; None when the folder holds no weight files."""
    import transformers

    try:
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(snapshot).iterdir()
                       if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    except OSError:
        return None
    if not files:
        return None
    layout = [(name, str(t.dtype), tuple(t.shape)) for name, t in sorted(state.items())]
    text = json.dumps([str(Path(snapshot).resolve()), part, files, layout, transformers.__version__])
    return hashlib.sha256(text.encode()).hexdigest()


def _memo_files(snapshot: Path) -> list[Path]:
    return [Path(snapshot) / "onnx" / _MEMO_NAME, paths.cache_dir() / "onnx" / _MEMO_NAME]


def _read_memo(snapshot: Path, key: str) -> str | None:
    for path in _memo_files(snapshot):
        with contextlib.suppress(OSError, ValueError):
            found = json.loads(path.read_text()).get(key)
            if isinstance(found, str) and len(found) == 64:
                return found
    return None


def _write_memo(snapshot: Path, key: str, sha: str) -> None:
    """Add the entry atomically to the first memo file that can be written (a lost race
    only costs a hash next time)."""
    for path in _memo_files(snapshot):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                memo = json.loads(path.read_text())
            except (OSError, ValueError):
                memo = {}
            memo = memo if isinstance(memo, dict) else {}
            memo[key] = sha
            fd, tmp = tempfile.mkstemp(prefix=".memo-", dir=path.parent)
            with os.fdopen(fd, "w") as out:
                json.dump(memo, out)
            os.replace(tmp, path)
            return
        except OSError:
            continue
