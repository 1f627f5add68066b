"""Helpers every format shares: progress and cancel, frame naming, atomic outputs, a streaming
JSON writer, reading input files, matching file names to frames, and building a new project.

Output safety: a file output is written through ``core.atomic.atomic_write`` (temp + rename);
a folder output (DAVIS, MOT, YOLO) is written into a hidden temp folder beside the target and
renamed into place at the end (``atomic_folder``: the checks of what it may replace, around
``core.atomic.atomic_dir``). On any error, nothing new is left behind.
An import builds its project under a hidden temp name and renames it at the end
(``ProjectBuilder``), so a bad file never leaves a half-filled project.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from annotator.core.atomic import atomic_dir, ensure_dir
from annotator.errors import CancelledError, FormatError, OutputError

ProgressFn = Callable[[int, "int | None", str], None]
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


# --- progress and cancel ---------------------------------------------------------------------------
class Reporter:
    """Wraps the optional ``progress(done, total, message)`` callback and the cancel token.

    ``cancel`` may be a ``threading.Event`` or a ``core.jobs.JobContext`` (anything with
    ``is_set()`` or ``cancelled``). Progress calls are rate-limited so a 10,000-frame export does
    not flood a GUI with signals; the last one of a phase always goes through.
    """

    def __init__(self, progress: ProgressFn | None = None, cancel: Any = None,
                 interval_s: float = 0.1) -> None:
        self._progress = progress
        self._cancel = cancel
        self._interval = interval_s
        self._last = 0.0

    def cancelled(self) -> bool:
        token = self._cancel
        if token is None:
            return False
        if isinstance(token, threading.Event) or hasattr(token, "is_set"):
            return bool(token.is_set())
        return bool(getattr(token, "cancelled", False))

    def check(self) -> None:
        if self.cancelled():
            raise CancelledError("export/import cancelled")

    def __call__(self, done: int, total: int | None, message: str, force: bool = False) -> None:
        self.check()
        if self._progress is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._interval or (total is not None and done >= total):
            self._last = now
            self._progress(done, total, message)


# --- results --------------------------------------------------------------------------------------
class _Summary:
    """``to_json`` for the summaries below (dataclasses with a ``seconds`` field)."""

    seconds: float

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)  # type: ignore[call-overload]
        doc["seconds"] = round(self.seconds, 3)
        return doc


@dataclass
class ExportSummary(_Summary):
    format: str
    path: str
    videos: int = 0
    frames: int = 0
    annotations: int = 0
    objects: int = 0
    categories: int = 0
    seconds: float = 0.0
    polygons: int | None = None  # masks written as polygons (polygon exports only)
    worst_polygon_iou: float | None = None  # the lowest IoU of a polygon's fill with its mask
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportSummary(_Summary):
    format: str
    path: str
    project: str
    frames: int = 0
    masks: int = 0
    objects: int = 0
    categories: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


# --- frame naming ---------------------------------------------------------------------------------
def video_stem(path: str | Path) -> str:
    """A video's name in output folders and file lists: a frame folder's name, a video file's stem."""
    path = Path(path)
    return path.name if path.is_dir() else path.stem


class FrameNames:
    """File names of a project's frames, following the CLI contract.

    A video file's frames are named by the zero-padded index (5 digits, more from 100,000
    frames on) + ``.jpg``; a frame folder's frames keep their own file names. When the folder
    has changed (or is missing) since the project was made, the padded index is used.
    """

    def __init__(self, video_path: str | Path, frame_count: int) -> None:
        path = Path(video_path)
        self.frame_count = int(frame_count)
        self.video_stem = video_stem(path)
        self._files: list[str] | None = None
        if path.is_dir():
            from annotator.core.video_images import list_images

            files = [p.name for p in list_images(path)]
            if len(files) == self.frame_count:
                self._files = files
        self._width = 5 if self.frame_count < 100_000 else max(6, len(str(self.frame_count - 1)))

    def stem(self, index: int) -> str:
        if self._files is not None:
            return Path(self._files[index]).stem
        return f"{index:0{self._width}d}"

    def image_name(self, index: int, ext: str = ".jpg") -> str:
        """The frame's image file name: the folder's own name, else ``stem + ext``."""
        if self._files is not None:
            return self._files[index]
        return self.stem(index) + ext


class FrameMatcher:
    """Maps a file name from an annotation file to a frame index of the given source.

    Tries, in order: the exact file name of a folder frame, the stem (``00042`` or the folder
    file's stem), then a number in the stem (``frame_42`` -> 42) when the source has no names.
    """

    def __init__(self, source: Any) -> None:
        self.frame_count = int(source.frame_count)
        self._source_name = Path(source.path).name
        self._by_name: dict[str, int] = {}
        self._by_stem: dict[str, int] = {}
        named = source.source_name(0) is not None if self.frame_count else False
        for i in range(self.frame_count):
            if named:
                name = source.source_name(i)
                self._by_name[name] = i
                self._by_stem.setdefault(Path(name).stem, i)
            else:
                self._by_stem[source.frame_stem(i)] = i
        self._numeric = not named

    def index(self, file_name: str) -> int | None:
        base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
        if base in self._by_name:
            return self._by_name[base]
        stem = Path(base).stem
        if stem in self._by_stem:
            return self._by_stem[stem]
        digits = "".join(ch if "0" <= ch <= "9" else " " for ch in stem).split()
        if digits and (self._numeric or not self._by_name):
            value = int(digits[-1])
            if 0 <= value < self.frame_count:
                return value
        return None

    def file_frame(self, file: Path) -> int:
        """The frame a per-frame file (mask PNG, label txt) names; FormatError naming the file if none."""
        frame = self.index(file.name)
        if frame is None:
            raise FormatError(f"{file.name} names no frame of {self._source_name} "
                              f"({self.frame_count} frames)", file)
        return frame


# --- atomic outputs -------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_folder(target: str | Path, ours: Callable[[Path], bool] | None = None,
                  protected: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield an empty temp folder beside ``target``; on success it replaces ``target`` whole.

    An existing ``target`` is replaced only when it is empty or ``ours(entry)`` holds for every
    entry in it (what an earlier export of the same kind wrote): a mistyped ``--out`` must never
    wipe a folder of the user's own files. Nor may the target hold a ``protected`` path (the
    project, its video).
    """
    target = Path(target)
    ensure_dir(target.parent if str(target.parent) else Path("."))
    if target.exists() and not target.is_dir():
        raise OutputError("exists and is not a folder", target)
    resolved = target.resolve()
    for path in protected:
        p = Path(path).resolve()
        if p == resolved or resolved in p.parents:
            raise OutputError(f"would replace {p}, which the export reads; choose another folder", target)
    if target.is_dir():
        foreign = [e.name for e in target.iterdir() if ours is None or not ours(e)]
        if foreign:
            raise OutputError(f"exists and holds other files ({', '.join(sorted(foreign)[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}); choose a new or empty folder", target)
    with atomic_dir(target) as tmp:
        yield tmp


@contextlib.contextmanager
def frame_image_folders(videos: list[Any], root: Path, options: Any, reporter: Reporter,
                        protected: Iterable[str | Path] = ()) -> Iterator[list[Path]]:
    """When ``options`` want frames (not by default), write every video's frames into
    ``root/<video name>/``, each an ``atomic_folder``: they all appear when the ``with`` block
    succeeds and none does on failure. Yields those folders (none when no frames are written)."""
    targets = [root / v.name for v in videos] if options.wants_frames(False) else []
    with contextlib.ExitStack() as stack:
        folders = [stack.enter_context(atomic_folder(t, is_image_file, protected)) for t in targets]
        for video, folder in zip(videos, folders):
            write_frame_images(video.project, video.plan.frames, folder, video.names.image_name,
                               options.jpeg_quality, reporter, f"frames of {video.name}")
        yield targets


def is_image_file(entry: Path) -> bool:
    from annotator.core.imageio import IMAGE_EXTENSIONS

    return entry.is_file() and entry.suffix.lower() in IMAGE_EXTENSIONS


def check_output_file(path: str | Path, protected: Iterable[str | Path] = ()) -> Path:
    """Fail early (before any work) when a file output cannot be written, or would replace a
    ``protected`` file (the project or its video: ``--out clip.mp4`` must not destroy the source)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError("is a folder; give a file name", path)
    for other in protected:
        if Path(other).resolve() == path.resolve():
            raise OutputError("is an input of this export (the project or its video); choose another name",
                              path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"folder {parent} does not exist", path)
    if not os.access(parent, os.W_OK):
        raise OutputError(f"folder {parent} is not writable", path)
    return path


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


# --- streaming JSON -------------------------------------------------------------------------------
class JsonOut:
    """Writes one JSON object piece by piece, so arrays of any length stream from iterators.

    ``field(key, value)`` writes a member; ``array(key, items)`` writes a member whose value is an
    array. Each item is an already-serialized JSON text (``str``), an iterator of text chunks that
    together make one item (so one huge item, e.g. a YouTube-VIS track over 10,000 frames, is never
    held whole), or a plain value. Output is compact, like the released COCO files.
    """

    def __init__(self, f: IO[str]) -> None:
        self._f = f
        self._members = 0
        f.write("{")

    def field(self, key: str, value: Any) -> None:
        self._key(key)
        self._f.write(dumps(value))

    def array(self, key: str, items: Iterable[Any]) -> int:
        self._key(key)
        write = self._f.write
        write("[")
        count = 0
        for item in items:
            if count:
                write(",")
            write_item(write, item)
            count += 1
        write("]")
        return count

    def close(self) -> None:
        self._f.write("}\n")

    def _key(self, key: str) -> None:
        if self._members:
            self._f.write(",")
        self._f.write(json.dumps(key) + ":")
        self._members += 1


def write_item(write: Callable[[str], Any], item: Any) -> None:
    """Write one array item: a JSON text, an iterator of text chunks, or a plain value."""
    if isinstance(item, str):
        write(item)
    elif isinstance(item, Iterator):
        for chunk in item:
            write(chunk)
    else:
        write(dumps(item))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def info_block(description: str) -> dict[str, Any]:
    """The ``info`` member of a COCO-style file."""
    from annotator import __version__

    return {"description": description, "version": "1.0", "year": time.gmtime().tm_year,
            "contributor": f"Annotator {__version__}",
            "date_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def rle_json(rle: dict) -> str:
    """Fast JSON text of a compressed RLE: counts chars are '0'..'o', where only '\\' needs escaping."""
    h, w = rle["size"]
    return f'{{"size":[{int(h)},{int(w)}],"counts":"{rle["counts"].replace(chr(92), chr(92) * 2)}"}}'


# --- reading inputs -------------------------------------------------------------------------------
def load_json(path: str | Path) -> Any:
    """Parse a JSON file; FormatError naming the file (and the line) when it cannot be read."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise FormatError("file not found", path) from exc
    except IsADirectoryError as exc:
        raise FormatError("is a folder, expected a JSON file", path) from exc
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror or exc})", path) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})", path) from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path) from exc
    except RecursionError as exc:
        raise FormatError("not valid JSON (nested too deeply)", path) from exc
    except ValueError as exc:
        raise FormatError(f"not valid JSON ({exc})", path) from exc


def read_text_lines(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise FormatError("file not found", path) from exc
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror or exc})", path) from exc
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})", path) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def open_source(path: str | Path) -> Any:
    """Open the video or frame folder an import refers to (VideoOpenError if it cannot)."""
    from annotator.core.video import open_video

    return open_video(path, cache_bytes=64 * 2**20)


def protected_paths(projects: Iterable[Any]) -> list[Path]:
    """Files an export must never overwrite: the projects and their videos / frame folders."""
    out = []
    for project in projects:
        out.append(Path(project.path))
        out.append(Path(project.video.path))
    return out


def locate_source(project: Any) -> Path:
    """The project's video file or frame folder (``Project.locate_video`` looks for files only)."""
    stored = Path(project.video.path)
    if stored.is_dir():
        return stored
    return project.locate_video()


def video_ref(source: Any) -> Any:
    from annotator.core.project import VideoRef

    return VideoRef(path=str(Path(source.path).resolve()), fingerprint=source.fingerprint,
                    frame_count=int(source.frame_count), width=int(source.width), height=int(source.height),
                    fps=float(source.fps), codec=source.codec or "", rotation=int(source.rotation))


# --- building an imported project -----------------------------------------------------------------
class ProjectBuilder:
    """Fills a new project for an import; it appears at ``path`` only if everything succeeded.

    Masks are buffered and written with ``set_masks(record_history=False)`` in batches (one
    transaction each); the undo history is cleared at the end (an import is not an edit).
    """

    BATCH = 2000

    def __init__(self, path: str | Path, source: Any) -> None:
        from annotator.core.project import Project
        from annotator.errors import ProjectError

        self.path = Path(path)
        if self.path.exists():
            raise OutputError("already exists; choose a new project file", self.path)
        if not self.path.parent.is_dir():
            raise OutputError(f"folder {self.path.parent} does not exist", self.path)
        self._tmp = self.path.with_name(f".{self.path.name}.importing-{os.getpid()}")
        self._cleanup_tmp()
        try:
            self.project = Project.create(self._tmp, video_ref(source))
        except ProjectError as exc:
            raise OutputError(exc.reason, self.path) from exc
        self.height, self.width = int(source.height), int(source.width)
        self.frame_count = int(source.frame_count)
        self._pending: list[tuple] = []
        self._categories: dict[str, int] = {}
        self.masks = 0
        self.frames: set[int] = set()

    @property
    def category_count(self) -> int:
        return len(self._categories)

    def category(self, name: str) -> int:
        name = str(name).strip() or "object"
        if name not in self._categories:
            self._categories[name] = self.project.ensure_category(name).id
        return self._categories[name]

    def add_object(self, object_id: int | None, name: str | None = None, category: str | None = None,
                   color: str | None = None, attributes: dict | None = None) -> int:
        category_id = self.category(category) if category else None
        if not (isinstance(color, str) and _COLOR.match(color)):
            color = None  # a file's odd colour string is not worth failing an import for
        name = name.strip()[:200] if isinstance(name, str) and name.strip() else None
        info = self.project.add_object(name=name, category_id=category_id, color=color,
                                       attributes=attributes if isinstance(attributes, dict) else None,
                                       object_id=object_id)
        return info.id

    def add_mask(self, object_id: int, frame: int, rle: dict, score: float | None = None) -> None:
        self._pending.append((object_id, frame, rle, "imported", score, False))
        self.frames.add(frame)
        if len(self._pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.masks += self.project.set_masks(self._pending, record_history=False)
            self._pending = []

    def finish(self) -> None:
        self.flush()
        self.project.clear_history()
        self.project.close()
        for suffix in ("-wal", "-shm"):  # leftovers of a deleted project must not be replayed
            _unlink(self.path.with_name(self.path.name + suffix))
        wal = self._tmp.with_name(self._tmp.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:  # not checkpointed: keep it with the file
            os.replace(wal, self.path.with_name(self.path.name + "-wal"))
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise OutputError(f"cannot write ({exc.strerror or exc})", self.path) from exc
        finally:
            self._cleanup_tmp()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.project.close()
        self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
            _unlink(self._tmp.with_name(self._tmp.name + suffix))

    def __enter__(self) -> ProjectBuilder:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()


# --- frame images ---------------------------------------------------------------------------------
def write_frame_images(project: Any, frames: list[int], folder: Path, name_of: Callable[[int], str],
                       quality: int, reporter: Reporter, label: str = "frames") -> int:
    """Decode the project's frames (in order, streaming) and write each to ``folder/name_of(i)``.

    The image format follows the name's extension (JPEG by default; a frame folder's PNGs stay PNG).
    """
    from annotator.core.imageio import write_image
    from annotator.core.video import open_video

    if not frames:
        return 0
    with open_video(locate_source(project), cache_bytes=32 * 2**20) as video:
        if (video.width, video.height) != (project.video.width, project.video.height):
            raise FormatError(f"the video is {video.width}x{video.height} but the project was made for "
                              f"{project.video.width}x{project.video.height}", video.path)
        done = 0
        for index in frames:  # ascending: a video decodes on without seeking
            write_image(folder / name_of(index), video.frame(index), quality=quality)
            done += 1
            reporter(done, len(frames), label)
    return done
