"""DAVIS label PNGs: export (DAVIS-2017 palette) and import (2016 grayscale and 2017 palette).

Export writes ``OUT/<video-stem>/<frame-stem>.png`` for every exported frame (``00000.png``, or
the frame folder's own stems): single-channel indexed PNGs with the DAVIS palette, pixel value =
object index. Object ids are remapped to 1..N (N <= 255) in object-id order over the objects that
have a mask in the export; ``OUT/<video-stem>/ids.json`` keeps the mapping
``{"objects": {"1": {"object_id", "name", "category"}}}`` so an import restores the ids. Where
masks overlap, the object later in that order wins the pixel (a label map has one id per pixel).
This is the layout ``annotator eval`` and the official davis2017-evaluation read (one folder per
sequence), so the folder can be scored against ground truth directly.

Import takes the sequence folder (PNG files), or a folder that holds it (picked by the source's
name, or the only one). DAVIS-2016 masks are 8-bit grayscale with 0/255 (one object): 255 becomes
object 1. DAVIS-2017 masks are palette PNGs whose value is the object id; 255 means "void" and is
not imported. Each PNG's stem must name a frame of the source, and its size must match it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.atomic import atomic_write
from annotator.core.imageio import write_label_png
from annotator.errors import FormatError, OutputError
from annotator.formats.common import (
    ExportSummary,
    FrameMatcher,
    ImportSummary,
    ProgressFn,
    ProjectBuilder,
    Reporter,
    atomic_folder,
    load_json,
    open_source,
    protected_paths,
    video_stem,
)
from annotator.formats.importing import str_or_none, valid_id
from annotator.formats.options import ExportOptions
from annotator.formats.selection import CategoryTable, opened_projects, prepare_videos

IDS_FILE = "ids.json"
VOID = 255


def export_davis(project: Any, out: str | Path, options: ExportOptions | None = None,
                 progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    """Write ``out/<video-stem>/*.png`` (+ ids.json) for one project."""
    started = time.perf_counter()
    options = (options or ExportOptions()).validate()
    reporter = Reporter(progress, cancel)
    with opened_projects([project]) as projects:
        categories = CategoryTable.build(projects, options)
        video = prepare_videos(projects, options, categories)[0]
        plan = video.plan
        objects = plan.objects_with_content()
        if len(objects) > 254:
            raise OutputError(f"{len(objects)} objects do not fit a DAVIS label PNG (at most 254 besides "
                              "void)", out)
        index_of = {obj.id: k for k, obj in enumerate(objects, start=1)}
        target = Path(out) / video.name
        summary = ExportSummary("davis", str(target), videos=1, objects=len(objects),
                                categories=len({plan.category_of[o.id] for o in objects}))
        labels = np.zeros((plan.height, plan.width), np.uint8)
        with atomic_folder(target, _ours, protected_paths(projects)) as tmp:
            ids = {"format": "annotator-davis-ids", "video": video.name,
                   "categories": categories.names(),
                   "objects": {str(k): {"object_id": obj.id, "name": obj.name,
                                        "category": plan.category_name_of[obj.id]}
                               for obj, k in ((o, index_of[o.id]) for o in objects)}}
            with atomic_write(tmp / IDS_FILE, "w", encoding="utf-8") as f:
                json.dump(ids, f, indent=1)
            for done, (frame, masks) in enumerate(plan.iter_frames(), start=1):
                labels[:] = 0
                for rec in masks:  # (frame, object) order: later objects paint over earlier ones
                    labels[rle_ops.decode(rec.rle)] = index_of[rec.object_id]
                    summary.annotations += 1
                write_label_png(tmp / f"{video.names.stem(frame)}.png", labels)
                reporter(done, len(plan.frames), "frames")
        summary.frames = len(plan.frames)
        summary.files = [str(target)]
    summary.seconds = time.perf_counter() - started
    return summary


def import_davis(path: str | Path, source: str | Path, project_path: str | Path, *, video: str | None = None,
                 progress: ProgressFn | None = None, cancel: Any = None) -> ImportSummary:
    """Import a folder of DAVIS PNG masks into a new project over ``source``."""
    started = time.perf_counter()
    reporter = Reporter(progress, cancel)
    with open_source(source) as src:
        folder = _sequence_folder(Path(path), video or video_stem(src.path))
        files = sorted(folder.glob("*.png"))
        if not files:
            raise FormatError("no PNG masks in this folder", folder)
        mapping, categories = _read_ids(folder / IDS_FILE)
        matcher = FrameMatcher(src)
        summary = ImportSummary("davis", str(folder), str(project_path))
        frames_of: list[tuple[Path, int]] = []
        taken: dict[int, Path] = {}
        for file in files:
            frame = matcher.file_frame(file)
            if frame in taken:
                raise FormatError(f"{file.name} and {taken[frame].name} both name frame {frame}", file)
            taken[frame] = file
            frames_of.append((file, frame))
        with ProjectBuilder(project_path, src) as builder:
            for name in categories:  # the exported category order, so ids come back the same
                builder.category(name)
            created: dict[int, int] = {}
            for done, (file, frame) in enumerate(frames_of, start=1):
                labels = _read_labels(file, src.height, src.width)
                ids = [int(v) for v in np.unique(labels) if v not in (0, VOID)]
                for value in ids:
                    if value not in created:
                        info = mapping.get(value, {})
                        created[value] = builder.add_object(info.get("object_id", value), info.get("name"),
                                                            info.get("category"))
                if ids:
                    stack = np.stack([labels == v for v in ids])
                    for value, rle in zip(ids, rle_ops.encode_many(stack)):
                        builder.add_mask(created[value], frame, rle)
                reporter(done, len(frames_of), "masks")
            builder.flush()
            summary.frames, summary.masks, summary.objects = len(frames_of), builder.masks, len(created)
            summary.categories = builder.category_count
    summary.seconds = time.perf_counter() - started
    return summary


def _ours(entry: Path) -> bool:
    """What a DAVIS export writes into its sequence folder."""
    return entry.is_file() and (entry.suffix.lower() == ".png" or entry.name == IDS_FILE)


def _sequence_folder(path: Path, name: str) -> Path:
    if not path.exists():
        raise FormatError("folder not found", path)
    if not path.is_dir():
        raise FormatError("expected a folder of PNG masks", path)
    if any(path.glob("*.png")):
        return path
    for candidate in (path / name, path / "Annotations" / "480p" / name, path / "Annotations" / name):
        if candidate.is_dir():
            return candidate
    subfolders = [p for p in path.iterdir() if p.is_dir() and any(p.glob("*.png"))]
    if len(subfolders) == 1:
        return subfolders[0]
    if not subfolders:
        raise FormatError("no PNG masks here (nor in a sequence folder below)", path)
    raise FormatError(f"holds {len(subfolders)} sequences and none is named {name!r}; give the sequence "
                      "folder or --video NAME", path)


def _read_ids(path: Path) -> tuple[dict[int, dict], list[str]]:
    """(index -> {object_id, name, category}, category names) from our ids.json (absent: ids stay)."""
    if not path.exists():
        return {}, []
    doc = load_json(path)
    objects = doc.get("objects") if isinstance(doc, dict) else None
    if not isinstance(objects, dict):
        raise FormatError("expected {\"objects\": {index: {object_id, name, category}}}", path)
    out: dict[int, dict] = {}
    used: set[int] = set()
    for key, info in objects.items():
        if not (key.isascii() and key.isdigit() and 0 < int(key) < VOID) or not isinstance(info, dict):
            raise FormatError(f"objects[{key!r}]: expected an index 1..254 with an object", path)
        oid = info.get("object_id")
        if not valid_id(oid) or oid in used:
            raise FormatError(f"objects[{key!r}]: object_id must be a unique positive integer", path)
        used.add(oid)
        out[int(key)] = {"object_id": oid, "name": str_or_none(info.get("name")),
                         "category": str_or_none(info.get("category"))}
    names = doc.get("categories", [])
    categories = [n for n in names if isinstance(n, str) and n.strip()] if isinstance(names, list) else []
    return out, categories


def _read_labels(path: Path, height: int, width: int) -> np.ndarray:
    """Object ids of one mask PNG: a 2016 grayscale 0/255 mask gives 0/1; palette values are ids."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            mode = img.mode
            if (img.width, img.height) != (width, height):
                raise FormatError(f"mask is {img.width}x{img.height} but the source is {width}x{height}",
                                  path)
            if mode in ("P", "L"):
                labels = np.array(img, dtype=np.uint8)
            elif mode == "1":
                labels = np.array(img).astype(np.uint8)
            elif mode in ("RGB", "RGBA"):
                labels = (np.array(img.convert("RGB")).max(axis=2) > 0).astype(np.uint8)
            else:
                raise FormatError(f"unsupported mask image mode {mode!r} (expected palette or grayscale)",
                                  path)
    except FormatError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise FormatError(f"not a readable PNG ({exc})", path) from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, EOFError, zlib.error ... on damaged files
        raise FormatError(f"not a readable PNG ({type(exc).__name__}: {exc})", path) from exc
    if mode == "L":
        values = np.unique(labels)
        if np.all(np.isin(values, (0, 255))):  # DAVIS 2016: one object, 255 = foreground
            return (labels == 255).astype(np.uint8)
    return labels
