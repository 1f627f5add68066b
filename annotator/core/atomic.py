"""Atomic outputs: a temp file (or folder) beside the target, then a rename.

Either the whole new file or folder appears or nothing does; a crash or an error never leaves a
half-written export or image behind. ``atomic_write`` gives an open file, ``atomic_path`` a temp
path for writers that open the file themselves (PyAV), ``atomic_dir`` a temp folder that
replaces the target folder whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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
    fd, tmp = _temp_file_beside(path, f".{path.name}.", ".tmp")
    with _replace_on_success(tmp, path), os.fdopen(fd, mode, encoding=encoding) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temp *path* beside ``target`` for writers that open files themselves (PyAV); renamed
    into place on success, removed on failure. It keeps ``suffix`` (default: the target's), so a
    writer that picks the container by extension sees the right one."""
    target = Path(target)
    fd, tmp = _temp_file_beside(target, f".{target.stem}.", suffix or target.suffix)
    os.close(fd)
    with _replace_on_success(tmp, target):
        yield Path(tmp)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield an empty temp folder beside ``target``; on success it replaces ``target`` whole.

    An existing ``target`` folder is moved aside first and removed only once the new one is in
    place (put back if that rename fails). Whether it may be replaced at all is the caller's
    decision (formats.common.atomic_folder checks it holds only what an earlier export wrote).
    """
    target = Path(target)
    parent = ensure_dir(target.parent if str(target.parent) else Path("."))
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", target) from exc
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write ({exc.strerror or exc})", target) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _temp_file_beside(path: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """``mkstemp`` in ``path``'s folder; OutputError naming ``path`` when that cannot be done."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"folder {directory} does not exist or is not a folder", path)
    try:
        return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", path) from exc


@contextlib.contextmanager
def _replace_on_success(tmp: str, path: Path) -> Iterator[None]:
    """After the block, give ``tmp`` the usual permissions and rename it onto ``path``; on any
    failure remove ``tmp`` (an OSError becomes an OutputError naming ``path``)."""
    try:
        yield
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
