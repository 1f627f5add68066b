"""Download model files: single files over HTTP(S) with urllib, and Hugging Face snapshots.

Single files stream into ``<file>.part`` next to the target, resume with a Range request,
are checked against their sha256 *before* the atomic rename, and can be cancelled (the
``.part`` stays for a later resume). Every network wait has a timeout, so a machine with no
network gets a clear :class:`DownloadError` within seconds that says how to place the file by
hand. Hugging Face repos go through ``huggingface_hub.snapshot_download`` with a progress
bridge, and every file is checked against the Hub's own hashes (the LFS sha256, or the git
blob id for small files), because huggingface_hub 2.4 does not hash what it downloads.

Nothing here knows the registry: ``weights.py`` decides what goes where.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import http.client
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from annotator import __version__
from annotator.errors import CancelledError, DownloadError

try:  # POSIX: one download per file at a time (GUI and CLI may both try)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ProgressFn = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None)

CHUNK = 1 << 20  # the most one read returns
PROGRESS_STEP = 256 << 10  # report progress every 256 KiB: smooth, and cheap for a GUI callback
DEFAULT_TIMEOUT = 10.0  # seconds for connect, DNS and each read; "no network" shows up this fast
USER_AGENT = f"annotator/{__version__}"


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


# --- single files over HTTP(S) ------------------------------------------------------------------
def fetch_url(
    url: str,
    target: str | Path,
    *,
    sha256: str = "",
    size: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 3,
) -> str:
    """Download ``url`` to ``target`` and return the file's sha256 (hex).

    ``sha256`` (when given) and ``size`` (when given) are checked before the rename; a
    mismatch deletes the download. ``retries`` resumes automatically after a dropped
    connection, as long as the previous attempt made progress.
    """
    target = Path(target)
    _ensure_writable_dir(target.parent)
    part = target.with_name(target.name + ".part")
    with _exclusive(part, target):
        attempt = 0
        while True:
            before = _size_or_zero(part)
            try:
                _fetch_once(url, part, target, size, progress, cancel, timeout)
                break
            except DownloadError as exc:
                grew = _size_or_zero(part) > before
                if not (getattr(exc, "retryable", False) and grew and attempt < retries):
                    raise
                attempt += 1
        digest = _sha256_file(part, cancel)
        if sha256 and digest != sha256.lower():
            _unlink_quietly(part)
            raise DownloadError(
                f"sha256 mismatch for {url}: expected {sha256.lower()}, got {digest}; "
                "the download was deleted (a damaged transfer or a changed file on the server)",
                target,
            )
        actual = part.stat().st_size
        if size is not None and actual != size:
            _unlink_quietly(part)
            raise DownloadError(f"size mismatch for {url}: expected {size} bytes, got {actual}", target)
        try:
            os.replace(part, target)
        except OSError as exc:
            raise DownloadError(f"cannot move the download into place ({_why(exc)})", target) from exc
    return digest


class _Retryable(DownloadError):
    """A transfer that broke after it made progress: the .part is kept and may be resumed."""

    retryable = True


def _fetch_once(
    url: str,
    part: Path,
    target: Path,
    size: int | None,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
    timeout: float,
) -> None:
    offset = _size_or_zero(part)
    if size is not None and offset > size:  # not our file, or a changed one: start over
        _unlink_quietly(part)
        offset = 0
    if size is not None and offset == size:
        return  # a complete .part from an earlier run; only the checks are left
    _check_cancel(cancel, part)
    _resolve_host(url, timeout, target, _by_hand(url, target))
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the .part already holds the whole file, or is not a
            # prefix of it. The sha256/size checks after this tell which.
            return
        raise DownloadError(f"HTTP {exc.code} {exc.reason} from {url}", target) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(_offline_message(url, exc, _by_hand(url, target)), target) from exc
    with response:
        status = response.status
        start = _range_start(response) if status == 206 else 0
        if status == 206 and start != offset:
            # A server that answers with another range than asked: trust nothing, restart.
            response.close()
            _unlink_quietly(part)
            return _fetch_once(url, part, target, size, progress, cancel, timeout)
        if status != 206:
            offset = 0  # the server ignored Range (200): rewrite the file from the start
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else size
        mode = "ab" if offset else "wb"
        done = reported = offset
        try:
            with open(part, mode) as out:
                if progress:
                    progress(done, total)
                while True:
                    _check_cancel(cancel, part)
                    # read1: whatever has arrived (up to CHUNK), so cancel answers at once even
                    # on a slow line.
                    chunk = response.read1(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress and (done - reported >= PROGRESS_STEP or done == total):
                        progress(done, total)
                        reported = done
                if progress and reported != done:
                    progress(done, total)
                out.flush()
                os.fsync(out.fileno())
        except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
            raise _Retryable(
                f"connection lost after {done} of {total or '?'} bytes from {url} ({exc}); "
                "the partial file is kept: run the download again to resume",
                target,
            ) from exc
        except OSError as exc:
            raise DownloadError(f"cannot write the download ({_why(exc)})", part) from exc
    if total is not None and done != total:
        raise _Retryable(
            f"connection closed after {done} of {total} bytes from {url}; "
            "the partial file is kept: run the download again to resume",
            target,
        )


def _range_start(response: Any) -> int:
    """First byte of a 206 answer, from ``Content-Range: bytes START-END/TOTAL``."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _resolve_host(url: str, timeout: float, target: Path, by_hand: str) -> None:
    """Look the host up with a hard deadline: a resolver that cannot reach its server can block
    for 30 s or more inside getaddrinfo, and the socket timeout does not cover it."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname
    if not host:
        raise DownloadError(f"not a download URL: {url}", target)
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, parsed.port or (443 if parsed.scheme == "https" else 80))
            outcome.append(None)
        except BaseException as exc:  # reported to the caller below
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name=f"dns:{host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise DownloadError(_offline_message(url, f"name lookup of {host} timed out", by_hand), target)
    if outcome[0] is not None:
        raise DownloadError(_offline_message(url, outcome[0], by_hand), target)


def _offline_message(url: str, cause: object, by_hand: str) -> str:
    reason = getattr(cause, "reason", cause)
    return f"cannot reach {url} ({reason}). No network? {by_hand}"


def _by_hand(url: str, target: Path) -> str:
    return f"To install by hand, download {url} on another machine and save it as {target}"


# --- Hugging Face snapshots --------------------------------------------------------------------
def fetch_hf_snapshot(
    repo_id: str,
    revision: str,
    allow_patterns: tuple[str, ...],
    target: str | Path,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    manifest_name: str = "manifest.json",
    manifest_extra: dict[str, Any] | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    """Download the files of ``repo_id@revision`` that match ``allow_patterns`` into ``target``.

    The files land in ``<target>.partial`` (huggingface_hub resumes there) and the folder is
    renamed to ``target`` only after every file matched the Hub's hash. The manifest (commit,
    per-file size and sha256, plus ``manifest_extra``) is written into the folder before the
    rename, and returned. ``endpoint`` defaults to huggingface_hub's (``HF_ENDPOINT``).
    """
    target = Path(target)
    _ensure_writable_dir(target.parent)
    staging = target.with_name(target.name + ".partial")
    hand = _hf_hand_instructions(repo_id, revision, allow_patterns, target)
    with _exclusive(staging, target):
        try:
            from huggingface_hub import HfApi, constants, snapshot_download
        except ImportError as exc:  # a dependency of the app, so only a broken install lands here
            raise DownloadError(f"huggingface_hub is not importable ({exc}). {hand}", target) from exc
        if constants.is_offline_mode():
            raise DownloadError(f"the Hugging Face Hub is switched off (HF_HUB_OFFLINE=1). {hand}", target)
        endpoint = endpoint or constants.ENDPOINT
        _resolve_host(endpoint, timeout, target, hand)
        _check_cancel(cancel, staging)
        try:
            api = HfApi(endpoint=endpoint)
            info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=timeout)
        except Exception as exc:  # httpx / hub errors: all mean "cannot get it from here"
            reason = f"cannot reach the Hugging Face Hub for {repo_id} ({exc}). {hand}"
            raise DownloadError(reason, target) from exc
        siblings = info.siblings or []
        files = {s.rfilename: s for s in siblings if _matches(s.rfilename, allow_patterns)}
        if "*.safetensors" in allow_patterns and not any(f.endswith(".safetensors") for f in files):
            # An older repo without safetensors: take its PyTorch weights instead.
            files.update({s.rfilename: s for s in siblings if _matches(s.rfilename, ("pytorch_model*.bin",))})
        if not files:
            raise DownloadError(f"{repo_id}@{revision} has no files matching {list(allow_patterns)}", target)
        total = sum(s.size or 0 for s in files.values()) or None
        try:
            snapshot_download(
                repo_id,
                revision=info.sha,  # the commit we listed, even if the branch moves meanwhile
                allow_patterns=list(files),
                local_dir=staging,
                endpoint=endpoint,
                etag_timeout=timeout,
                tqdm_class=_tqdm_bridge(progress, cancel, total, staging),
            )
        except CancelledError:
            raise
        except OSError as exc:
            raise DownloadError(f"cannot write the download ({_why(exc)})", staging) from exc
        except Exception as exc:
            raise DownloadError(f"download of {repo_id} failed ({exc}). {hand}", target) from exc
        manifest_files = {}
        for name, sibling in files.items():
            _check_cancel(cancel, staging)
            manifest_files[name] = _check_hf_file(staging / name, sibling, repo_id)
        _remove_tree(staging / ".cache")  # huggingface_hub's resume bookkeeping
        manifest = {**(manifest_extra or {}), "hf_repo": repo_id, "revision": revision,
                    "commit": info.sha, "files": manifest_files}
        _write_json(staging / manifest_name, manifest)
        if target.exists():
            _remove_tree(target)
        try:
            os.replace(staging, target)
        except OSError as exc:
            raise DownloadError(f"cannot move the download into place ({_why(exc)})", target) from exc
    return manifest


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    import json

    from annotator.core.atomic import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def _check_hf_file(path: Path, sibling: Any, repo_id: str) -> dict[str, Any]:
    """Hash one downloaded file and compare it with what the Hub lists for it."""
    if not path.is_file():
        raise DownloadError(f"{repo_id}: {sibling.rfilename} is missing after the download", path)
    digest = _sha256_file(path)
    lfs = getattr(sibling, "lfs", None)
    if lfs is not None and lfs.sha256 and digest != lfs.sha256:
        _unlink_quietly(path)
        raise DownloadError(
            f"sha256 mismatch for {repo_id}/{sibling.rfilename}: expected {lfs.sha256}, got {digest}; "
            "the file was deleted",
            path,
        )
    if lfs is None and sibling.blob_id and _git_blob_id(path) != sibling.blob_id:
        _unlink_quietly(path)
        raise DownloadError(f"{repo_id}/{sibling.rfilename} does not match the Hub's blob id", path)
    return {"size": path.stat().st_size, "sha256": digest}


def _git_blob_id(path: Path) -> str:
    """git's id for a small (non-LFS) file: sha1 over ``blob <size>\\0`` + the content."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tqdm_bridge(
    progress: ProgressFn | None, cancel: CancelToken | None, total: int | None, where: Path
) -> type:
    """A tqdm class for snapshot_download: it draws nothing, forwards the aggregated byte count
    to ``progress`` and raises CancelledError from inside the download threads on cancel."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    lock = threading.Lock()
    state = {"done": 0}

    class _Bridge(hf_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # The byte bar is the one named "huggingface_hub.snapshot_download"; the others
            # (files fetched, transfer) would count twice.
            self._forward = kwargs.get("name") == "huggingface_hub.snapshot_download"
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            _check_cancel(cancel, where)
            if self._forward and n:
                with lock:
                    state["done"] += int(n)
                    done = state["done"]
                if progress:
                    progress(done, total)
            return None

    return _Bridge


def _hf_hand_instructions(repo_id: str, revision: str, patterns: tuple[str, ...], target: Path) -> str:
    return (
        f"To install by hand, download the files matching {', '.join(patterns)} from "
        f"https://huggingface.co/{repo_id}/tree/{revision} into the folder {target}"
    )


# --- shared helpers ---------------------------------------------------------------------------
def sha256_file(path: str | Path, cancel: CancelToken | None = None) -> str:
    return _sha256_file(Path(path), cancel)


def _sha256_file(path: Path, cancel: CancelToken | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK * 4):
            digest.update(chunk)
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"cancelled while checking {path}")
    return digest.hexdigest()


def _ensure_writable_dir(directory: Path) -> None:
    """Create the models folder, or say plainly that it cannot be written and how to move it."""
    hint = "set ANNOTATOR_MODELS_DIR to a writable folder"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the models folder ({_why(exc)}); {hint}", directory) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DownloadError(f"the models folder is not writable; {hint}", directory)


@contextlib.contextmanager
def _exclusive(part: Path, target: Path) -> Iterator[None]:
    """Hold ``<part>.lock`` so a second download of the same file (GUI and CLI at once) fails
    fast instead of writing into the same .part."""
    lock_path = part.with_name(part.name + ".lock")
    while True:
        try:
            handle: IO[bytes] = open(lock_path, "ab")  # noqa: SIM115 - held across the yield
        except OSError as exc:
            raise DownloadError(f"cannot write in the models folder ({_why(exc)})", lock_path.parent) from exc
        if fcntl is None:
            break
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise DownloadError("another download of this model is already running", target) from exc
        # The holder before us may have removed the lock file after we opened it: only a lock on
        # the file that is still at lock_path counts.
        with contextlib.suppress(OSError):
            if os.fstat(handle.fileno()).st_ino == os.stat(lock_path).st_ino:
                break
        handle.close()
    try:
        yield
    finally:
        _unlink_quietly(lock_path)  # while still holding the lock
        handle.close()


def _check_cancel(cancel: CancelToken | None, part: Path) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"download cancelled; the partial download is kept in {part} for a later resume")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
