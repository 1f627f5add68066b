"""Atomic file writes: a temp file in the target folder, then a rename.

Either the whole new file appears or nothing does; a crash or an error never leaves a
half-written export or image behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from annotator.errors import OutputError

# mkstemp creates 0600 files; outputs should get the usual permissions (0666 minus umask).
# Reading the umask means setting it, so do it once, at import.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """``with atomic_write(p, "w", encoding="utf-8") as f: f.write(...)``; OutputError on failure."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"folder {directory} does not exist or is not a folder", path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", path) from exc
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise OutputError(f"cannot write ({exc.strerror or exc})", path) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise


def ensure_dir(path: str | Path) -> Path:
    """Create an output folder (and parents), or raise OutputError naming it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder ({exc.strerror or exc})", path) from exc
    if not path.is_dir():
        raise OutputError("exists and is not a folder", path)
    return path


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
