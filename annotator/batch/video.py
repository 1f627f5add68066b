"""One video of a batch, start to finish, in whatever process runs it (a pool worker, a Ray task).

    result = process_video(job, out_root)      # never raises for a bad video: the result says why

Steps, all through one Session as in the app: make a project, apply the initial masks as
locked anchors (label PNGs, prompts run through the segmenter, or an imported dataset), then
propagate from every anchor to the next one ("Propagate all": one tracker for all runs), run
the describers, export, and write ``out/<name>/result.json`` last. A result.json
that says "ok" is the only mark of a finished video (resume relies on it), so it is removed
before work starts and written atomically at the end.

The project is built in a local scratch folder and copied into the output folder when it is
complete: SQLite's WAL mode does not work on network file systems (the usual shared output
folder of a cluster), and a half-made project never appears in the output.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from annotator.batch.manifest import ImportInit, MaskInit, PromptInit, VideoJob, export_options
from annotator.core.atomic import atomic_write, ensure_dir
from annotator.errors import AnnotatorError, FormatError

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
EXPORT_DIR = "export"
RESULT_VERSION = 1


def video_folder(out_root: str | Path, job: VideoJob) -> Path:
    return Path(out_root) / job.name


def project_file(out_root: str | Path, job: VideoJob) -> Path:
    return video_folder(out_root, job) / f"{job.name}.annot"


def read_result(out_root: str | Path, job: VideoJob) -> dict[str, Any] | None:
    """The video's result.json, or None when it is missing or unreadable."""
    try:
        doc = json.loads((video_folder(out_root, job) / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def is_done(out_root: str | Path, job: VideoJob) -> bool:
    """Finished earlier with this very entry, and every output it listed is still there."""
    result = read_result(out_root, job)
    if result is None or result.get("status") != "ok" or result.get("fingerprint") != job.fingerprint():
        return False
    folder = video_folder(out_root, job)
    return all((folder / rel).exists() for rel in result.get("outputs", []))


def process_video(job: VideoJob, out_root: str, attempt: int = 1) -> dict[str, Any]:
    """Run one video; returns the result document (also written to out/<name>/result.json).

    Errors in the video or its inputs end as ``status: "failed"`` with the reason; only a
    failure to write the output folder itself propagates.
    """
    folder = ensure_dir(video_folder(out_root, job))
    (folder / RESULT_FILE).unlink(missing_ok=True)
    result: dict[str, Any] = {
        "version": RESULT_VERSION, "name": job.name, "video": job.video, "index": job.index,
        "status": "running", "attempt": attempt, "fingerprint": job.fingerprint(),
        "host": socket.gethostname(), "pid": os.getpid(), "python": platform.python_version(),
        "started": _now(), "timings": {}, "frames": {}, "objects": 0, "exports": [], "outputs": [],
        "warnings": [], "error": None,
    }
    started = time.perf_counter()
    try:
        _run(job, folder, result)
        result["status"] = "ok"
    except Exception as exc:  # one video's failure is its result, never the batch's
        result["status"] = "failed"
        result["error"] = {
            "type": type(exc).__name__,
            "message": str(exc),
            # Bad input stays bad on a second try; anything else (out of memory, a lost
            # device, a full scratch disk) may pass on another try or another node.
            "retryable": not isinstance(exc, AnnotatorError),
            "traceback": traceback.format_exc(limit=20),
        }
        log.debug("video %s failed", job.name, exc_info=True)
    result["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    result["finished"] = _now()
    with atomic_write(folder / RESULT_FILE, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, default=_json_default)
        f.write("\n")
    return result


def _run(job: VideoJob, folder: Path, result: dict[str, Any]) -> None:
    from annotator.app.session import Session

    timings = result["timings"]
    _check_describers(job)
    final_project = folder / f"{job.name}.annot"
    _clear_outputs(folder, final_project)
    scratch = Path(tempfile.mkdtemp(prefix=f"annotator-batch-{job.name}-"))
    try:
        work_project = scratch / final_project.name
        # Every step is a Session call, as in the GUI and the CLI: the initial masks, the
        # propagation, the describers and the export.
        with Session(segmenter=job.segmenter, tracker=job.tracker, device=job.device,
                     weights={"segment": job.weights.get("segmenter"),
                              "track": job.weights.get("tracker")}) as session:
            tick = time.perf_counter()
            if isinstance(job.init, ImportInit):  # the import makes the project file
                _import_init(job.init, job, work_project)
                session.open(work_project)
            else:
                session.open(job.video, project=work_project)
            timings["open_s"] = _lap(tick)
            tick = time.perf_counter()
            if isinstance(job.init, ImportInit):
                _lock_imported(session, job.init)
            elif isinstance(job.init, MaskInit):
                _mask_init(session, job.init)
            else:
                result["segmenter"] = _prompt_init(session, job.init, job)
            timings["init_s"] = _lap(tick)
            tick = time.perf_counter()
            result["propagation"] = _propagate(session, session.has_anchors(), result)
            timings["propagate_s"] = _lap(tick)
            result["frames"] = _frame_counts(session.view, session.frame_count)
            result["objects"] = len(session.objects())
            tick = time.perf_counter()
            result["describe"] = _describe(session, job)
            timings["describe_s"] = _lap(tick)
            tick = time.perf_counter()
            for spec in job.exports:
                result["exports"].append(_export(session, spec, folder, result["warnings"]))
            timings["export_s"] = _lap(tick)
        _copy_project(work_project, final_project)
        result["project"] = final_project.name
        result["outputs"] = [final_project.name] + [e["path"] for e in result["exports"]]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- initial masks (through the Session: app/seeding.py) --------------------------------------------
def _mask_init(session: Any, init: MaskInit) -> None:
    """Label PNGs: value = object id (a 0/255 mask is object 1). Every object seen in any of them
    gets a locked mask on every init frame, empty where it is absent (the image says so)."""
    from annotator.core.imageio import read_label_png

    source = session.video
    per_frame: dict[int, np.ndarray] = {}
    for png, frame in init.masks:
        if frame >= source.frame_count:
            raise FormatError(f"init frame {frame} is outside the video's 0..{source.frame_count - 1}", png)
        labels = read_label_png(png)
        if labels.shape != (source.height, source.width):
            raise FormatError(f"mask is {labels.shape[1]}x{labels.shape[0]} but the video is "
                              f"{source.width}x{source.height}", png)
        if set(np.unique(labels).tolist()) <= {0, 255}:
            labels = (labels > 0).astype(np.uint8)  # a binary 0/255 mask is object 1
        per_frame[frame] = labels
    ids = sorted({int(v) for labels in per_frame.values() for v in np.unique(labels) if v not in (0, 255)})
    if not ids:
        raise FormatError("the initial mask images hold no object (all background)", init.masks[0][0])
    session.add_objects(ids, init.objects)
    session.set_locked_masks([(oid, frame, labels == oid)
                              for frame, labels in sorted(per_frame.items()) for oid in ids])


def _prompt_init(session: Any, init: PromptInit, job: VideoJob) -> str:
    """Points and boxes through the Session's segmenter, one prediction per (object, frame) with
    all its points and its box; returns why that segmenter was chosen."""
    source = session.video
    for prompt in init.prompts:
        if prompt["frame"] >= source.frame_count:
            raise FormatError(f"prompt for object {prompt['object']} is on frame {prompt['frame']}, outside "
                              f"the video's 0..{source.frame_count - 1}", job.video)
        for x, y, _label in prompt["points"]:
            if not (0 <= x < source.width and 0 <= y < source.height):
                raise FormatError(f"point ({x:g}, {y:g}) of object {prompt['object']} is outside the "
                                  f"{source.width}x{source.height} frame", job.video)
    objects = dict(init.objects)
    for prompt in init.prompts:
        named = {k: prompt[k] for k in ("name", "category") if k in prompt}
        objects[prompt["object"]] = {**objects.get(prompt["object"], {}), **named}
    session.add_objects(sorted({p["object"] for p in init.prompts}), objects)
    for prompt in sorted(init.prompts, key=lambda p: (p["frame"], p["object"])):
        points = [(x, y, bool(label)) for x, y, label in prompt["points"]]
        box = tuple(prompt["box"]) if prompt["box"] is not None else None
        session.segment(prompt["object"], points, box, prompt["frame"]).result()
    return session.engines.segmenter_reason()


def _import_init(init: ImportInit, job: VideoJob, project_path: Path) -> None:
    from annotator.formats import import_into_project

    try:
        import_into_project(init.path, init.format, job.video, project_path, video=init.video,
                            group_by=init.group_by)
    except ValueError as exc:  # an option that does not fit the file
        raise FormatError(str(exc), init.path) from exc


def _lock_imported(session: Any, init: ImportInit) -> None:
    """The imported masks (all, or those on ``init.lock`` frames) become the tracker's anchors."""
    wanted = None if init.lock == "all" else sorted(set(init.lock))
    if not session.lock_masks(wanted):
        raise FormatError("nothing imported to start from" if wanted is None else
                          f"no imported mask on the lock frames {wanted}", init.path)


# --- propagation, describers, export ------------------------------------------------------------------
def _propagate(session: Any, anchored: bool, result: dict[str, Any]) -> dict[str, Any]:
    """Propagate all through the Session: one tracker for every run (loading a model per run
    would cost more than the tracking on short clips); ``fps`` counts the tracking only."""
    if not anchored:
        result["tracker"] = None
        return {"runs": 0, "frames_written": 0, "masks_written": 0, "fps": None}
    job = session.propagate_all()
    report = job.result()
    result["tracker"], result["tracker_reason"] = report.tracker, session.engines.tracker_reason
    runs = report.runs
    return {"runs": runs, "frames_written": report.frames_written, "masks_written": report.masks_written,
            "fps": round(report.frames_written / report.tracking_s, 2) if report.tracking_s > 0 else None}


def _check_describers(job: VideoJob) -> None:
    """Fail before any work when a describer's model is not installed (it says what to download)."""
    if not job.describe:
        return
    from annotator.engines.describe import resolve_model
    from annotator.engines.device import pick_device

    device = pick_device(job.device)
    for task, spec in job.describe.items():
        try:
            resolve_model(task, spec["model"], device, job.weights.get(task))
        except ValueError as exc:
            raise FormatError(f"describe.{task}: {exc}", job.video) from exc


def _describe(session: Any, job: VideoJob) -> dict[str, Any] | None:
    """Labels (CLIP) and captions (BLIP) into the project as insights, through the Session."""
    if not job.describe:
        return None
    from annotator.app.describe.runs import DescribePlan

    done: dict[str, Any] = {}
    for task, spec in job.describe.items():
        name = session.set_describer(task, spec["model"], job.weights.get(task))
        if task == "classify":
            plan = DescribePlan(classify=True, caption=False, labels=spec["labels"], objects=spec["objects"],
                                clip=spec["clip"], per_shot=spec["per_shot"], frames_per_track=spec["frames"],
                                top_k=spec["top_k"])
        else:
            plan = DescribePlan(classify=False, caption=True, objects=spec["objects"], clip=spec["clip"],
                                max_segment_s=float(spec["segment_seconds"]))
        report = session.describe(plan, f"Batch {task}", task).result()
        done[task] = {"model": name, **report.to_json()}
    return done


def _export(session: Any, spec: Any, folder: Path, warnings: list[str]) -> dict[str, Any]:
    from annotator.formats import get_format

    fmt = get_format(spec.format)
    out = ensure_dir(folder / EXPORT_DIR) / (spec.format + (fmt.extension if fmt.output == "file" else ""))
    options = export_options(spec.options)
    summary = session.export(spec.format, out, options).result()
    warnings.extend(f"{spec.format}: {w}" for w in summary.warnings)
    written = Path(summary.path)
    rel = written.relative_to(folder) if written.is_relative_to(folder) else out.relative_to(folder)
    return {"format": spec.format, "path": str(rel), "frames": summary.frames, "objects": summary.objects,
            "annotations": summary.annotations, "seconds": round(summary.seconds, 3)}


# --- files --------------------------------------------------------------------------------------------
def _clear_outputs(folder: Path, project: Path) -> None:
    """What an earlier, unfinished attempt left: the project and the exports are remade whole."""
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(project) + suffix).unlink(missing_ok=True)
    shutil.rmtree(folder / EXPORT_DIR, ignore_errors=True)


def _copy_project(src: Path, dst: Path) -> None:
    """Copy the closed project (and a WAL SQLite left unmerged) into place, atomically."""
    wal = Path(str(src) + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        with atomic_write(Path(str(dst) + "-wal")) as f, wal.open("rb") as g:
            shutil.copyfileobj(g, f)
    with atomic_write(dst) as f, src.open("rb") as g:
        shutil.copyfileobj(g, f, 1 << 20)


def _frame_counts(project: Any, frame_count: int) -> dict[str, int]:
    annotated: set[int] = set()
    locked = tracked = 0
    for rec in project.iter_masks():
        if rec.area > 0:
            annotated.add(rec.frame)
        locked += bool(rec.locked)
        tracked += rec.source == "tracked"
    return {"total": frame_count, "annotated": len(annotated), "locked_masks": locked,
            "tracked_masks": tracked}


def _lap(tick: float) -> float:
    return round(time.perf_counter() - tick, 3)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
