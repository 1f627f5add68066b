"""The batch manifest: which videos to annotate, how to start each one, and what to write.

    {
      "version": 1,
      "defaults": {"tracker": "classical", "export": ["coco", "davis"]},
      "videos": [
        {"video": "clips/a.mp4", "init": {"masks": "init/a.png", "frame": 0}},
        {"video": "clips/b.mp4", "name": "b-left",
         "init": {"prompts": [{"object": 1, "frame": 0, "points": [[120, 80]], "box": [90, 50, 160, 120]}]}},
        {"video": "clips/c.mp4", "init": {"import": "ann/c.json", "format": "coco"}}
      ]
    }

docs/batch.md is the full reference. Relative paths are relative to the manifest's folder.
Every problem is a FormatError that names the manifest and the entry
("batch.json: videos[2] ('b-left'): init.prompts[0]: 'points' must be a list of [x, y] ...").
Parsing checks the shape of the document and that the input files exist; whether a mask PNG
fits its video is checked when that video runs (a bad video fails alone, the rest go on).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.errors import FormatError

MANIFEST_VERSION = 1
TRACKERS = ("auto", "classical", "classical-fast", "sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus",
            "sam2.1-large", "edgetam")
GPU_TRACKERS = TRACKERS[3:]
SEGMENTERS = ("auto", "classical", "sam-vit-b", "sam-vit-l", "sam-vit-h", "sam2.1-tiny", "sam2.1-small",
              "sam2.1-base-plus", "sam2.1-large")
EXPORT_FORMATS = ("coco", "ytvis", "davis", "mot", "mots", "yolo", "overlay")
IMPORT_FORMATS = ("coco", "ytvis", "davis", "mot", "mots", "yolo")
DESCRIBERS = ("classify", "caption")
DEVICES = ("cuda", "mps", "cpu")
WEIGHT_KEYS = ("tracker", "segmenter", "classify", "caption")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_VIDEO_KEYS = {"video", "name", "init", "tracker", "segmenter", "device", "weights", "export", "describe",
               "resources"}
_DEFAULT_KEYS = _VIDEO_KEYS - {"video", "name", "init"}


@dataclass(frozen=True)
class MaskInit:
    """Label images (DAVIS PNG: pixel value = object id) on given frames."""

    masks: tuple[tuple[str, int], ...]  # (absolute path, frame)
    objects: dict[int, dict[str, str]] = field(default_factory=dict)  # id -> {"name", "category"}
    kind: str = "masks"


@dataclass(frozen=True)
class PromptInit:
    """Clicks and/or a box per (object, frame), turned into masks by the segmenter."""

    prompts: tuple[dict[str, Any], ...]  # {"object", "frame", "points": [[x, y, label]], "box", ...}
    objects: dict[int, dict[str, str]] = field(default_factory=dict)
    kind: str = "prompts"


@dataclass(frozen=True)
class ImportInit:
    """An annotation file or folder read through annotator.formats; its masks become anchors."""

    path: str
    format: str
    video: str | None = None  # which video of a multi-video file
    group_by: str | None = None  # COCO: the key naming the object
    lock: str | tuple[int, ...] = "all"  # frames whose imported masks are locked (anchors)
    kind: str = "import"


Init = MaskInit | PromptInit | ImportInit


@dataclass(frozen=True)
class ExportSpec:
    format: str
    options: dict[str, Any] = field(default_factory=dict)  # ExportOptions fields


@dataclass(frozen=True)
class VideoJob:
    """One manifest entry, resolved: everything a worker needs, picklable (process pool, Ray)."""

    index: int
    name: str
    video: str  # absolute path
    init: Init
    tracker: str = "auto"
    segmenter: str = "auto"
    device: str | None = None
    weights: dict[str, str] = field(default_factory=dict)  # WEIGHT_KEYS -> a local file or folder
    exports: tuple[ExportSpec, ...] = ()
    describe: dict[str, dict[str, Any]] = field(default_factory=dict)  # "classify"/"caption" -> options
    resources: dict[str, float] = field(default_factory=dict)  # Ray: num_cpus, num_gpus

    @property
    def num_gpus(self) -> float:
        """GPUs a Ray task asks for: a named model tracker off the CPU takes one unless told otherwise."""
        if "num_gpus" in self.resources:
            return float(self.resources["num_gpus"])
        return 1.0 if self.tracker in GPU_TRACKERS and self.device != "cpu" else 0.0

    @property
    def num_cpus(self) -> float:
        return float(self.resources.get("num_cpus", 1))

    def fingerprint(self) -> str:
        """Hash of the resolved entry: a finished video is redone when its entry changes."""
        doc = dataclasses.asdict(self)
        doc.pop("index")
        doc.pop("resources")  # where it runs does not change what it makes
        text = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Manifest:
    path: str
    videos: tuple[VideoJob, ...]
    out: str | None = None  # the manifest's "out" (absolute), if it names one


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest file; FormatError names the file and the entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError("manifest not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read the manifest ({exc})", path) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise FormatError(f"not valid JSON ({where}: {exc.msg})", path) from None
    return parse_manifest(doc, path)


def parse_manifest(doc: Any, path: str | Path) -> Manifest:
    path = Path(path)
    base = path.resolve().parent
    if not isinstance(doc, dict):
        raise FormatError("the manifest must be a JSON object with a 'videos' list", path)
    unknown = set(doc) - {"version", "defaults", "videos", "out", "$schema", "description"}
    if unknown:
        raise FormatError(f"unknown top-level key(s) {_names(unknown)}; "
                          "expected version, defaults, videos, out", path)
    version = doc.get("version", MANIFEST_VERSION)
    if version != MANIFEST_VERSION:
        raise FormatError(f"manifest version {version!r} is not supported (this build reads version "
                          f"{MANIFEST_VERSION})", path)
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise FormatError("'defaults' must be an object", path)
    bad = set(defaults) - _DEFAULT_KEYS
    if bad:
        raise FormatError(f"defaults: unknown key(s) {_names(bad)}; allowed: {_names(_DEFAULT_KEYS)}", path)
    videos = doc.get("videos")
    if not isinstance(videos, list) or not videos:
        raise FormatError("'videos' must be a non-empty list", path)
    out = doc.get("out")
    if out is not None and not (isinstance(out, str) and out.strip()):
        raise FormatError("'out' must be a folder path", path)
    jobs: list[VideoJob] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(videos):
        job = _parse_video(i, entry, defaults, base, path)
        if job.name in names:
            raise FormatError(f"videos[{i}]: name {job.name!r} is already used by videos[{names[job.name]}]; "
                              "give one of them a distinct 'name'", path)
        names[job.name] = i
        jobs.append(job)
    return Manifest(str(path), tuple(jobs), str(_resolve(base, out)) if out else None)


# --- one entry -------------------------------------------------------------------------------------
def _parse_video(i: int, entry: Any, defaults: dict, base: Path, path: Path) -> VideoJob:
    where = f"videos[{i}]"
    if not isinstance(entry, dict):
        raise FormatError(f"{where}: expected an object with 'video' and 'init'", path)
    label = entry.get("name") or entry.get("video")
    if isinstance(label, str):
        where = f"videos[{i}] ({label!r})"

    def fail(message: str) -> FormatError:
        return FormatError(f"{where}: {message}", path)

    bad = set(entry) - _VIDEO_KEYS
    if bad:
        raise fail(f"unknown key(s) {_names(bad)}; allowed: {_names(_VIDEO_KEYS)}")
    video = entry.get("video")
    if not isinstance(video, str) or not video.strip():
        raise fail("'video' must be the path of a video file or frame folder")
    video_path = _resolve(base, video)
    if not video_path.exists():
        raise fail(f"video {video_path} does not exist")
    name = entry.get("name", _default_name(video_path))
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise fail(f"name {name!r} must be a folder name: letters, digits, '.', '_', '+', '-' "
                   "(starting with a letter or digit)")
    merged = {**defaults, **{k: v for k, v in entry.items() if k in _DEFAULT_KEYS}}
    if "init" not in entry:
        raise fail("'init' is missing: give masks, prompts or an import to start from")
    init = _parse_init(entry["init"], base, fail)
    tracker = _choice(merged.get("tracker", "auto"), TRACKERS, "tracker", fail)
    segmenter = _choice(merged.get("segmenter", "auto"), SEGMENTERS, "segmenter", fail)
    device = merged.get("device")
    if device is not None:
        device = _choice(device, DEVICES, "device", fail)
    return VideoJob(
        index=i, name=name, video=str(video_path), init=init, tracker=tracker, segmenter=segmenter,
        device=device, weights=_parse_weights(merged.get("weights"), base, fail),
        exports=_parse_exports(merged.get("export"), fail),
        describe=_parse_describe(merged.get("describe"), fail),
        resources=_parse_resources(merged.get("resources"), fail),
    )


def _parse_init(init: Any, base: Path, fail: Callable[[str], FormatError]) -> Init:
    if not isinstance(init, dict):
        raise fail("'init' must be an object with one of: masks, prompts, import")
    kinds = [k for k in ("masks", "prompts", "import") if k in init]
    if len(kinds) != 1:
        raise fail("'init' needs exactly one of: masks, prompts, import"
                   + (f" (it has {', '.join(kinds)})" if kinds else ""))
    kind = kinds[0]
    allowed = {"masks": {"masks", "frame", "objects"}, "prompts": {"prompts", "objects"},
               "import": {"import", "format", "video", "group_by", "lock"}}[kind]
    bad = set(init) - allowed
    if bad:
        raise fail(f"init: unknown key(s) {_names(bad)} for a {kind} init; allowed: {_names(allowed)}")
    if kind == "masks":
        return MaskInit(_parse_mask_files(init, base, fail), _parse_objects(init.get("objects"), fail))
    if kind == "prompts":
        return PromptInit(_parse_prompts(init["prompts"], fail), _parse_objects(init.get("objects"), fail))
    return _parse_import(init, base, fail)


def _parse_mask_files(init: dict, base: Path,
                      fail: Callable[[str], FormatError]) -> tuple[tuple[str, int], ...]:
    masks = init["masks"]
    if isinstance(masks, str):
        frame = init.get("frame", 0)
        items: list[Any] = [{"path": masks, "frame": frame}]
    elif isinstance(masks, list) and masks:
        if "frame" in init:
            raise fail("init: 'frame' goes inside each masks item when masks is a list")
        items = masks
    else:
        raise fail("init.masks must be a PNG path or a non-empty list of {\"path\", \"frame\"}")
    out: list[tuple[str, int]] = []
    seen: set[int] = set()
    for k, item in enumerate(items):
        at = "init.masks" if isinstance(masks, str) else f"init.masks[{k}]"
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise fail(f"{at}: expected {{\"path\": PNG, \"frame\": N}}")
        frame = item.get("frame", 0)
        if not _is_int(frame) or frame < 0:
            raise fail(f"{at}: 'frame' must be an integer >= 0, got {frame!r}")
        if frame in seen:
            raise fail(f"{at}: frame {frame} is given twice")
        seen.add(frame)
        png = _resolve(base, item["path"])
        if not png.is_file():
            raise fail(f"{at}: mask image {png} does not exist")
        out.append((str(png), int(frame)))
    return tuple(out)


def _parse_prompts(prompts: Any, fail: Callable[[str], FormatError]) -> tuple[dict[str, Any], ...]:
    if not isinstance(prompts, list) or not prompts:
        raise fail("init.prompts must be a non-empty list of "
                   "{\"object\", \"frame\", \"points\" and/or \"box\"}")
    out = []
    seen: set[tuple[int, int]] = set()
    for k, item in enumerate(prompts):
        at = f"init.prompts[{k}]"
        if not isinstance(item, dict):
            raise fail(f"{at}: expected an object")
        bad = set(item) - {"object", "frame", "points", "box", "name", "category"}
        if bad:
            raise fail(f"{at}: unknown key(s) {_names(bad)}")
        oid, frame = item.get("object"), item.get("frame", 0)
        if not _is_int(oid) or not 0 < oid < 2**31:
            raise fail(f"{at}: 'object' must be a positive integer id, got {oid!r}")
        if not _is_int(frame) or frame < 0:
            raise fail(f"{at}: 'frame' must be an integer >= 0, got {frame!r}")
        if (oid, frame) in seen:
            raise fail(f"{at}: object {oid} on frame {frame} is given twice; put all its points in one item")
        seen.add((oid, frame))
        if item.get("points") is not None and not isinstance(item.get("points"), list):
            raise fail(f"{at}: 'points' must be a list of [x, y] or [x, y, label]")
        points = [_parse_point(p, f"{at}.points[{j}]", fail) for j, p in enumerate(item.get("points") or [])]
        box = item.get("box")
        if box is not None:
            if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
                raise fail(f"{at}: 'box' must be [x0, y0, x1, y1] in pixels")
            if box[2] <= box[0] or box[3] <= box[1]:
                raise fail(f"{at}: 'box' {box} is empty (x1 must exceed x0, y1 must exceed y0)")
            box = [float(v) for v in box]
        if not points and box is None:
            raise fail(f"{at}: give 'points', a 'box' or both")
        if points and not any(label == 1 for _x, _y, label in points) and box is None:
            raise fail(f"{at}: at least one positive point (label 1) or a box is needed")
        prompt: dict[str, Any] = {"object": int(oid), "frame": int(frame), "points": points, "box": box}
        for key in ("name", "category"):
            if key in item:
                if not isinstance(item[key], str) or not item[key].strip():
                    raise fail(f"{at}: '{key}' must be a non-empty string")
                prompt[key] = item[key].strip()
        out.append(prompt)
    return tuple(out)


def _parse_point(point: Any, at: str, fail: Callable[[str], FormatError]) -> tuple[float, float, int]:
    if (isinstance(point, list) and len(point) in (2, 3) and all(_is_number(v) for v in point[:2])
            and (len(point) == 2 or point[2] in (0, 1))):
        return float(point[0]), float(point[1]), int(point[2]) if len(point) == 3 else 1
    raise fail(f"{at}: a point is [x, y] (positive) or [x, y, label] with label 1 (object) or 0 "
               f"(background), got {point!r}")


def _parse_objects(objects: Any, fail: Callable[[str], FormatError]) -> dict[int, dict[str, str]]:
    """{"1": {"name": "car", "category": "vehicle"}} (keys are object ids)."""
    if objects is None:
        return {}
    if not isinstance(objects, dict):
        raise fail("init.objects must map object ids to {\"name\", \"category\"}")
    out: dict[int, dict[str, str]] = {}
    for key, value in objects.items():
        try:
            oid = int(key)
        except ValueError:
            raise fail(f"init.objects: key {key!r} is not an object id") from None
        if oid <= 0 or not isinstance(value, dict) or set(value) - {"name", "category"}:
            raise fail(f"init.objects[{key!r}]: expected a positive id mapped to {{\"name\", \"category\"}}")
        if not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise fail(f"init.objects[{key!r}]: name and category must be non-empty strings")
        out[oid] = {k: v.strip() for k, v in value.items()}
    return out


def _parse_import(init: dict, base: Path, fail: Callable[[str], FormatError]) -> ImportInit:
    source = init["import"]
    if not isinstance(source, str) or not source.strip():
        raise fail("init.import must be the path of an annotation file or folder")
    fmt = init.get("format")
    if fmt not in IMPORT_FORMATS:
        raise fail(f"init.format must be one of {', '.join(IMPORT_FORMATS)}, got {fmt!r}")
    where = _resolve(base, source)
    if not where.exists():
        raise fail(f"init.import: {where} does not exist")
    for key in ("video", "group_by"):
        if init.get(key) is not None and not isinstance(init[key], str):
            raise fail(f"init.{key} must be a string")
    if init.get("group_by") is not None and fmt != "coco":
        raise fail("init.group_by applies to COCO imports only")
    lock = init.get("lock", "all")
    if isinstance(lock, list) and all(_is_int(f) and f >= 0 for f in lock):
        lock = tuple(sorted(set(lock)))
    elif lock != "all":
        raise fail("init.lock must be \"all\" or a list of frame numbers "
                   "(their imported masks anchor the tracking)")
    return ImportInit(str(where), fmt, init.get("video"), init.get("group_by"), lock)


# --- settings ----------------------------------------------------------------------------------------
def _parse_exports(value: Any, fail: Callable[[str], FormatError]) -> tuple[ExportSpec, ...]:
    if value is None:
        raise fail(f"no 'export' given (here or in defaults); e.g. \"export\": [\"coco\"] "
                   f"(formats: {', '.join(EXPORT_FORMATS)})")
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail("'export' must be a format name or a non-empty list of them")
    specs: list[ExportSpec] = []
    for k, item in enumerate(value):
        at = f"export[{k}]"
        if isinstance(item, str):
            item = {"format": item}
        if not isinstance(item, dict) or set(item) - {"format", "options"}:
            raise fail(f"{at}: expected a format name or {{\"format\", \"options\"}}")
        fmt = item.get("format")
        if fmt not in EXPORT_FORMATS:
            raise fail(f"{at}: unknown format {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")
        if any(s.format == fmt for s in specs):
            raise fail(f"{at}: {fmt} is listed twice")
        options = item.get("options", {})
        _check_export_options(options, f"{at}.options", fail)
        specs.append(ExportSpec(fmt, dict(options)))
    return tuple(specs)


def _check_export_options(options: Any, at: str, fail: Callable[[str], FormatError]) -> None:
    from annotator.formats.options import ExportOptions

    if not isinstance(options, dict):
        raise fail(f"{at} must be an object of export options")
    known = {f.name for f in dataclasses.fields(ExportOptions)}
    bad = set(options) - known
    if bad:
        raise fail(f"{at}: unknown option(s) {_names(bad)}; options: {_names(known)}")
    try:
        export_options(options)
    except (TypeError, ValueError) as exc:
        raise fail(f"{at}: {exc}") from None


def export_options(options: dict[str, Any]) -> Any:
    """ExportOptions from a manifest's options object (lists become tuples), validated."""
    from annotator.formats.options import ExportOptions

    values = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return ExportOptions(**values).validate()


# Describer options (annotator.app.describe.runs.DescribePlan underneath): key -> (check, default, what).
_DESCRIBE_KEYS: dict[str, dict[str, tuple[Callable[[Any], bool], Any, str]]] = {
    "classify": {
        "labels": (lambda v: _is_list_of_names(v, 2), None, "a list of at least two label names"),
        "model": (lambda v: isinstance(v, str), "auto", "a CLIP model name (clip-vit-b-32 ...) or auto"),
        "frames": (lambda v: _is_int(v) and v >= 1, 8, "an integer >= 1 (views averaged per object track)"),
        "top_k": (lambda v: _is_int(v) and v >= 1, 5, "an integer >= 1 (labels kept per object)"),
        "objects": (lambda v: isinstance(v, bool), True, "true or false (label each object track)"),
        "clip": (lambda v: isinstance(v, bool), True, "true or false (label the whole clip)"),
        "per_shot": (lambda v: isinstance(v, bool), False, "true or false (label every shot too)"),
    },
    "caption": {
        "model": (lambda v: isinstance(v, str), "auto", "a BLIP model name (blip-base ...) or auto"),
        "objects": (lambda v: isinstance(v, bool), True, "true or false (caption each object)"),
        "clip": (lambda v: isinstance(v, bool), True, "true or false (describe the clip as timed segments)"),
        "segment_seconds": (lambda v: _is_number(v) and v > 0, 10.0, "a number > 0 (longest clip segment)"),
    },
}
_DESCRIBE_FAMILY = {"classify": "clip", "caption": "blip"}


def _parse_describe(value: Any, fail: Callable[[str], FormatError]) -> dict[str, dict[str, Any]]:
    """{"classify": {"labels": [...], ...}, "caption": {...}} with every option filled in."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail("'describe' must be an object with classify and/or caption")
    bad = set(value) - set(DESCRIBERS)
    if bad:
        raise fail(f"describe: unknown describer(s) {_names(bad)}; describers: {', '.join(DESCRIBERS)}")
    out: dict[str, dict[str, Any]] = {}
    for kind, spec in value.items():
        if spec is True:
            spec = {}
        if not isinstance(spec, dict):
            raise fail(f"describe.{kind} must be an object (or true)")
        keys = _DESCRIBE_KEYS[kind]
        bad = set(spec) - set(keys)
        if bad:
            raise fail(f"describe.{kind}: unknown key(s) {_names(bad)}; allowed: {_names(keys)}")
        filled: dict[str, Any] = {}
        for key, (check, default, what) in keys.items():
            if key not in spec:
                if default is None:
                    raise fail(f"describe.{kind}.{key} is missing: {what}")
                filled[key] = default
            elif not check(spec[key]):
                raise fail(f"describe.{kind}.{key} must be {what}")
            else:
                filled[key] = spec[key]
        _check_describer_model(kind, filled["model"], fail)
        if kind == "classify":
            filled["labels"] = [x.strip() for x in filled["labels"]]
        if not (filled["objects"] or filled["clip"] or filled.get("per_shot")):
            raise fail(f"describe.{kind}: objects and clip are both false: nothing to do")
        out[kind] = filled
    return out


def _check_describer_model(kind: str, model: str, fail: Callable[[str], FormatError]) -> None:
    if model == "auto":
        return
    from annotator.engines.weights import REGISTRY

    family = _DESCRIBE_FAMILY[kind]
    usable = [name for name, spec in REGISTRY.items() if spec.family == family]
    if model not in usable:
        raise fail(f"describe.{kind}.model {model!r} cannot {kind}; models that can: {', '.join(usable)}")


def _parse_weights(value: Any, base: Path, fail: Callable[[str], FormatError]) -> dict[str, str]:
    """{"tracker": PATH, "segmenter": PATH, "classify": PATH, "caption": PATH}: local weights
    (a file or snapshot folder, like --weights) for the engines that run."""
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - set(WEIGHT_KEYS):
        raise fail("'weights' must map engines to local weights: "
                   + ", ".join(f'"{k}": PATH' for k in WEIGHT_KEYS) + " (any may be left out)")
    out = {}
    for key, where in value.items():
        if not isinstance(where, str):
            raise fail(f"weights.{key} must be a path")
        resolved = _resolve(base, where)
        if not resolved.exists():
            raise fail(f"weights.{key}: {resolved} does not exist")
        out[key] = str(resolved)
    return out


def _parse_resources(value: Any, fail: Callable[[str], FormatError]) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - {"num_cpus", "num_gpus"}:
        raise fail("'resources' must be {\"num_cpus\": N, \"num_gpus\": N} (Ray task resources)")
    for key, number in value.items():
        if not _is_number(number) or number < 0:
            raise fail(f"resources.{key} must be a number >= 0")
    return {k: float(v) for k, v in value.items()}


# --- small helpers ------------------------------------------------------------------------------------
def _choice(value: Any, choices: tuple[str, ...], what: str, fail: Callable[[str], FormatError]) -> str:
    if value not in choices:
        raise fail(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
    return value


def _default_name(video: Path) -> str:
    """The video's stem (a frame folder's name), made safe for a folder name."""
    stem = video.name if video.is_dir() else video.stem
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", stem).strip("._") or "video"
    return safe[:128] if safe[0].isalnum() else f"v{safe}"[:128]


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_list_of_names(value: Any, at_least: int) -> bool:
    return (isinstance(value, list) and len(value) >= at_least
            and all(isinstance(x, str) and x.strip() for x in value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _names(keys: Any) -> str:
    return ", ".join(sorted(str(k) for k in keys))
