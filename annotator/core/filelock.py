"""The one-writer lock of a project: an exclusive, non-blocking lock on ``<project>.lock``.

On POSIX it is ``flock``: the kernel drops it when the process dies (even on SIGKILL), so a
crash never leaves a stale lock, and a second open in the same process conflicts too (flock
locks belong to the open file, not the process). On Windows it is ``msvcrt.locking``, which
the OS also releases with the process. The file holds "pid host" so the refusal can say who.
Release removes the file (a killed process leaves it behind, unlocked, and the next opener takes
it over); openers check after locking that the path still names the file they locked.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from annotator.errors import ProjectError, ProjectLockedError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(project_path: str | Path) -> Path:
    project_path = Path(project_path)
    return project_path.with_name(project_path.name + ".lock")


class WriterLock:
    """Held while a project is open for writing; ``release()`` (or process death) frees it."""

    def __init__(self, project_path: str | Path) -> None:
        self.project_path = Path(project_path)
        self.path = lock_path(project_path)
        self._fd: int | None = None
        for _ in range(20):
            fd = self._open()
            try:
                _lock(fd)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise ProjectLockedError(f"project is open elsewhere ({holder})", self.project_path) from None
            if _same_file(fd, self.path):
                self._fd = fd
                break
            os.close(fd)  # the holder released and removed it between our open and lock: again
        else:  # pragma: no cover - only under a storm of opens and closes
            raise ProjectLockedError("project is being opened and closed elsewhere; try again",
                                     self.project_path)
        # Only the holder writes its name, after it has the lock.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProjectError(f"cannot write here ({exc.strerror or exc})", self.project_path) from exc

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Remove the file while still holding the lock: whoever opened it meanwhile sees, once it
        # gets the lock, that the path no longer names its file, and starts over (see __init__).
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if len(text) >= 2:
        return f"pid {text[0]} on {text[1]}"
    if len(text) == 1:
        return f"pid {text[0]}"
    return "another process"
