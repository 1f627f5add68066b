"""The describing steps: zero-shot labels and captions for object tracks and the clip, written
into the Project store as insights. Each step takes ``(ctx, project, source, engine, ...)``;
annotator/app/describe/runs.py combines them into runs and Jobs; the insight kinds are in kinds.py.

What is written (``project.add_insight(kind, payload, object_id, frame_start, frame_end, model)``;
frame ranges are half-open, like every range in the store; every payload carries ``device``
and ``seconds``, the compute time per item, and the row its ``created`` time):

- ``labels`` (per object): ``labels`` = the top-k ``[{label, score}]`` (softmax over the
  vocabulary), ``frames`` (the frames whose crops were averaged), ``vocabulary``,
  ``templates`` (the number of prompt templates), ``accepted`` (the label the user took as the
  object's category, else null). Range: first to last sampled frame.
- ``scene_labels`` (no object): the same for whole frames; ``scope`` is ``clip`` (the whole
  video) or ``shot`` (one shot, ``shot`` = its index).
- ``caption`` (per object): ``text``, ``frame`` (its best crop: large, confident, not cut off
  by the frame border), ``edited``.
- ``frame_caption`` (no object): ``text``, ``frame``, ``time_s``, ``edited`` (keyframes).
- ``segment_caption`` (no object): the clip description, one per timed segment: ``text``,
  ``keyframe``, ``start_s``, ``end_s``, ``segment`` (its index), ``shot``, ``edited``. Segments
  are the shots (core/shots.py), long shots cut into parts of at most ``max_segment_s``.
- ``shots`` (no object): ``cuts`` (first frames of shots 2..n), ``frame_count``: reused by
  later runs so the video is decoded for cuts once.

A new result replaces the previous one of the same kind for the same object (or scope), in
the caller's undo step (``step``), except captions the user edited: an edited object or frame
caption is not redone, and an edited segment keeps its text when the new run gives a segment
with the same range. Objects are written as soon as they are done, so a cancelled run keeps
what it finished.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.app.describe.kinds import (
    FRAME_CAPTION,
    OBJECT_CAPTION,
    OBJECT_LABELS,
    SCENE_LABELS,
    SEGMENT_CAPTION,
    SHOTS,
)
from annotator.core import masks as rle_ops
from annotator.core.jobs import JobContext
from annotator.core.project import Project, StepHandle
from annotator.core.shots import CutParams, Shot, ShotDetector, shots_from_cuts, split_long
from annotator.engines.crops import masked_crop, spread, touches_border

if TYPE_CHECKING:
    from annotator.core.video_source import VideoSource
    from annotator.engines.describe import BlipCaptioner, ClipClassifier, LabelScore



@dataclass
class DescribeReport:
    """What a run did (the CLI prints it; ``to_json`` is its --json document)."""

    device: str = "cpu"
    classify_model: str | None = None
    caption_model: str | None = None
    object_labels: dict[int, list[LabelScore]] = field(default_factory=dict)
    clip_labels: list[LabelScore] = field(default_factory=list)
    shot_labels: list[tuple[Shot, list[LabelScore]]] = field(default_factory=list)
    object_captions: dict[int, str] = field(default_factory=dict)
    frame_captions: dict[int, str] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)
    shots: list[Shot] = field(default_factory=list)
    skipped_objects: list[int] = field(default_factory=list)  # no mask anywhere, or deleted meanwhile
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        def ranked(items: list[LabelScore]) -> list[dict[str, Any]]:
            return [s.to_json() for s in items]

        return {
            "device": self.device,
            "classify_model": self.classify_model,
            "caption_model": self.caption_model,
            "objects": {str(oid): self._object_json(oid)
                        for oid in sorted(set(self.object_labels) | set(self.object_captions))},
            "clip_labels": ranked(self.clip_labels),
            "shot_labels": [{"frame_start": s.start, "frame_end": s.stop, "labels": ranked(r)}
                            for s, r in self.shot_labels],
            "segments": self.segments,
            "frame_captions": {str(k): v for k, v in sorted(self.frame_captions.items())},
            "shots": [[s.start, s.stop] for s in self.shots],
            "skipped_objects": self.skipped_objects,
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
        }

    def _object_json(self, oid: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if oid in self.object_labels:
            out["labels"] = [s.to_json() for s in self.object_labels[oid]]
        if oid in self.object_captions:
            out["caption"] = self.object_captions[oid]
        return out



# --- frame choice ------------------------------------------------------------------------------------
def track_frames(project: Project, oid: int, count: int) -> list[int]:
    """Up to ``count`` frames spread over the object's track, skipping frames where it is a
    sliver (under a quarter of its largest area: mostly hidden, a poor view of it)."""
    rows = [(frame, area) for frame, _score, _locked, _source, area in project.track_summary(oid) if area > 0]
    if not rows:
        return []
    floor = 0.25 * max(area for _, area in rows)
    return spread([frame for frame, area in rows if area >= floor], count)


def best_frame(project: Project, oid: int, candidates: int = 5) -> int | None:
    """The frame with the object's best view: large and confident (user-locked masks count as
    sure), preferring one where it is not cut off by the frame border."""
    rows = [(area * (1.0 if locked or score is None else float(score)) * (1.1 if locked else 1.0), frame)
            for frame, score, locked, _source, area in project.track_summary(oid) if area > 0]
    if not rows:
        return None
    rows.sort(reverse=True)
    video = project.video
    for _value, frame in rows[:candidates]:
        record = project.mask(oid, frame)
        if record is not None and not touches_border(record.bbox, video.width, video.height):
            return frame
    return rows[0][1]


# --- classification --------------------------------------------------------------------------------
def classify_tracks(ctx: JobContext, project: Project, source: VideoSource, classifier: ClipClassifier,
                    labels: Sequence[str], object_ids: Sequence[int] | None = None, *,
                    frames_per_track: int = 8, top_k: int = 5, pad: float = 0.15, dim: float = 0.6,
                    step: StepHandle | None = None,
                    report: DescribeReport | None = None) -> dict[int, list[LabelScore]]:
    """Label each object from the mean embedding of its masked crops on up to
    ``frames_per_track`` frames. Frames are decoded once, in order, for all objects together;
    an object's result is stored as soon as its last crop is embedded."""
    labels = checked_labels(labels)
    report = report if report is not None else DescribeReport()
    ids = object_ids_of(project, object_ids)
    wanted: dict[int, list[int]] = {}
    frames_of: dict[int, list[int]] = {}
    for oid in ids:
        frames = track_frames(project, oid, frames_per_track)
        if not frames:
            report.skipped_objects.append(oid)
            continue
        frames_of[oid] = frames
        for frame in frames:
            wanted.setdefault(frame, []).append(oid)
    classifier.embed_labels(labels)  # once, before the crops (and cached for the next run)
    remaining = {oid: len(frames) for oid, frames in frames_of.items()}
    embeddings: dict[int, list[np.ndarray]] = {oid: [] for oid in frames_of}
    seconds_of = {oid: 0.0 for oid in frames_of}
    total = sum(remaining.values())
    results: dict[int, list[LabelScore]] = {}
    batch: list[tuple[int, np.ndarray]] = []
    done = 0

    def flush() -> None:
        nonlocal done
        if batch:
            t0 = time.perf_counter()
            vectors = classifier.embed_images([crop for _, crop in batch])
            share = (time.perf_counter() - t0) / len(batch)
            for (oid, _crop), vector in zip(batch, vectors):
                embeddings[oid].append(vector)
                seconds_of[oid] += share
                remaining[oid] -= 1
            done += len(batch)
            batch.clear()
        for oid in [o for o in embeddings if remaining[o] == 0]:
            vectors_of = embeddings.pop(oid)
            if not vectors_of:  # every mask of it went away during the run
                report.skipped_objects.append(oid)
                continue
            ranked = _store_object_labels(project, classifier, oid, vectors_of, frames_of[oid], labels, top_k,
                                          seconds_of[oid], step)
            if ranked is None:
                report.skipped_objects.append(oid)
                continue
            results[oid] = report.object_labels[oid] = ranked
        ctx.report(done, total, "classifying objects")

    ctx.report(0, total, "classifying objects")
    for frame in sorted(wanted):
        ctx.check_cancelled()
        image = source.frame(frame)
        for oid in wanted[frame]:
            record = project.mask(oid, frame)
            crop = None if record is None else masked_crop(image, rle_ops.decode(record.rle), pad, dim)
            if crop is None:  # the mask went away meanwhile (an edit during the run)
                remaining[oid] -= 1
                total -= 1
                frames_of[oid].remove(frame)
                continue
            batch.append((oid, crop))
        if len(batch) >= classifier.batch_size:
            flush()
    flush()
    return results


def classify_scenes(ctx: JobContext, project: Project, source: VideoSource, classifier: ClipClassifier,
                    labels: Sequence[str], shots: Sequence[Shot] | None = None, *, frames_per_clip: int = 8,
                    frames_per_shot: int = 3, top_k: int = 5, clip: bool = True,
                    step: StepHandle | None = None,
                    report: DescribeReport | None = None) -> list[tuple[Shot, list[LabelScore]]]:
    """Label the whole clip (``clip``) and each of ``shots`` from whole frames: the mean
    embedding of frames spread over each range. Returns [(range, labels)], the clip first."""
    labels = checked_labels(labels)
    report = report if report is not None else DescribeReport()
    count = source.frame_count
    scopes: list[tuple[Shot, int | None, list[int]]] = []  # (range, shot index or None, frames)
    if clip:
        scopes.append((Shot(0, count), None, spread(range(count), frames_per_clip)))
    for k, shot in enumerate(shots or ()):
        scopes.append((shot, k, spread(range(shot.start, shot.stop), frames_per_shot)))
    frames = sorted({f for _, _, fs in scopes for f in fs})
    classifier.embed_labels(labels)
    t0 = time.perf_counter()
    vectors: dict[int, np.ndarray] = {}
    for chunk, images in _frame_batches(ctx, source, frames, classifier.batch_size, "classifying the clip"):
        for frame, vector in zip(chunk, classifier.embed_images(images)):
            vectors[frame] = vector
    seconds = (time.perf_counter() - t0) / max(1, len(scopes))
    from annotator.engines.describe import mean_embedding

    replaced = {"clip"} if clip else set()
    replaced |= {"shot"} if shots else set()
    _replace(project, SCENE_LABELS, None, step, lambda ins: ins.payload.get("scope") in replaced)
    out = []
    for rng, shot_index, scope_frames in scopes:
        ranked = classifier.rank(mean_embedding(np.stack([vectors[f] for f in scope_frames])), labels, top_k)
        payload = _label_payload(ranked, scope_frames, labels, classifier, seconds)
        payload.update({"scope": "clip" if shot_index is None else "shot"})
        if shot_index is not None:
            payload["shot"] = shot_index
        project.add_insight(SCENE_LABELS, payload, frame_start=rng.start, frame_end=rng.stop,
                            model=classifier.name, step=step)
        out.append((rng, ranked))
        if shot_index is None:
            report.clip_labels = ranked
        else:
            report.shot_labels.append((rng, ranked))
    return out


# --- captions --------------------------------------------------------------------------------------
def caption_tracks(ctx: JobContext, project: Project, source: VideoSource, captioner: BlipCaptioner,
                   object_ids: Sequence[int] | None = None, *, pad: float = 0.15, dim: float = 0.6,
                   overwrite_edited: bool = False, step: StepHandle | None = None,
                   report: DescribeReport | None = None) -> dict[int, str]:
    """One caption per object, on the masked crop of its best frame (``best_frame``). Objects
    whose caption the user edited keep it unless ``overwrite_edited``."""
    report = report if report is not None else DescribeReport()
    picks: list[tuple[int, int]] = []  # (frame, oid)
    for oid in object_ids_of(project, object_ids):
        if not overwrite_edited and _edited(project.insights(kind=OBJECT_CAPTION, object_id=oid)):
            continue
        frame = best_frame(project, oid)
        if frame is None:
            if oid not in report.skipped_objects:
                report.skipped_objects.append(oid)
            continue
        picks.append((frame, oid))
    picks.sort()
    results: dict[int, str] = {}
    ctx.report(0, len(picks), "captioning objects")
    for chunk_start in range(0, len(picks), captioner.batch_size):
        chunk = []
        for frame, oid in picks[chunk_start:chunk_start + captioner.batch_size]:
            ctx.check_cancelled()
            record = project.mask(oid, frame)
            crop = None if record is None else masked_crop(source.frame(frame), rle_ops.decode(record.rle),
                                                           pad, dim)
            if crop is not None:
                chunk.append((frame, oid, crop))
        t0 = time.perf_counter()
        texts = captioner.caption([crop for _, _, crop in chunk])
        seconds = (time.perf_counter() - t0) / max(1, len(chunk))
        for (frame, oid, _crop), text in zip(chunk, texts):
            payload = {"text": text, "frame": frame, "edited": False, **_run_info(captioner, seconds)}
            if _put_object_insight(project, OBJECT_CAPTION, oid, payload, frame, frame + 1, captioner.name,
                                   step):
                results[oid] = report.object_captions[oid] = text
        ctx.report(min(len(picks), chunk_start + captioner.batch_size), len(picks), "captioning objects")
    return results


def caption_frames(ctx: JobContext, project: Project, source: VideoSource, captioner: BlipCaptioner,
                   frames: Iterable[int], *, overwrite_edited: bool = False, step: StepHandle | None = None,
                   report: DescribeReport | None = None) -> dict[int, str]:
    """A caption for each of ``frames`` (keyframes), stored as ``frame_caption``; frames whose
    caption the user edited keep it unless ``overwrite_edited``."""
    report = report if report is not None else DescribeReport()
    frames = sorted({int(f) for f in frames})
    for frame in frames:
        if not 0 <= frame < source.frame_count:
            raise ValueError(f"frame {frame} is outside 0..{source.frame_count - 1}")
    if not overwrite_edited:
        kept = {i.frame_start for i in project.insights(kind=FRAME_CAPTION) if i.payload.get("edited")}
        frames = [f for f in frames if f not in kept]
    results: dict[int, str] = {}
    for chunk, images in _frame_batches(ctx, source, frames, captioner.batch_size, "captioning frames"):
        t0 = time.perf_counter()
        texts = captioner.caption(images)
        seconds = (time.perf_counter() - t0) / max(1, len(chunk))
        for frame, text in zip(chunk, texts):
            _replace(project, FRAME_CAPTION, None, step, lambda ins, f=frame: ins.frame_start == f)
            project.add_insight(FRAME_CAPTION, {"text": text, "frame": frame, "time_s": _time(source, frame),
                                                "edited": False, **_run_info(captioner, seconds)},
                                frame_start=frame, frame_end=frame + 1, model=captioner.name, step=step)
            results[frame] = report.frame_captions[frame] = text
    return results


def find_shots(ctx: JobContext, project: Project, source: VideoSource, params: CutParams | None = None, *,
               reuse: bool = True, step: StepHandle | None = None) -> list[Shot]:
    """The video's shots: from the stored ``shots`` insight when it fits, else by decoding
    every frame once (core/shots.py) and storing the cuts."""
    count = source.frame_count
    if reuse and params is None:
        for ins in project.insights(kind=SHOTS):
            if ins.payload.get("frame_count") == count and isinstance(ins.payload.get("cuts"), list):
                return shots_from_cuts(ins.payload["cuts"], count)
    detector = ShotDetector(params)
    t0 = time.perf_counter()
    ctx.report(0, count, "finding shot changes")
    for i, image in source.frames():
        ctx.check_cancelled()
        detector.add(image)
        if i % 16 == 15:
            ctx.report(i + 1, count, "finding shot changes")
    cuts = detector.cuts()
    _replace(project, SHOTS, None, step)
    p = detector.params
    seconds = round(time.perf_counter() - t0, 3)
    project.add_insight(SHOTS, {"cuts": cuts, "frame_count": count, "seconds": seconds,
                                "params": {"min_score": p.min_score, "ratio": p.ratio, "window": p.window,
                                           "min_shot": p.min_shot}},
                        frame_start=0, frame_end=count, model="shot-detector", step=step)
    return shots_from_cuts(cuts, count)


def describe_segments(ctx: JobContext, project: Project, source: VideoSource, captioner: BlipCaptioner,
                      shots: Sequence[Shot] | None = None, *, max_segment_s: float = 10.0,
                      step: StepHandle | None = None,
                      report: DescribeReport | None = None) -> list[dict[str, Any]]:
    """The clip description: the video split at shot changes (long shots cut into parts of at
    most ``max_segment_s``), each part captioned on its middle frame with its time range.
    All segments are written together (a half-written description would read wrong)."""
    report = report if report is not None else DescribeReport()
    if shots is None:
        shots = find_shots(ctx, project, source, step=step)
    report.shots = list(shots)
    max_len = int(round(max_segment_s * source.fps)) if max_segment_s > 0 else 0
    segments: list[tuple[Shot, int]] = []  # (range, shot index)
    for k, shot in enumerate(shots):
        segments.extend((part, k) for part in split_long([shot], max_len))
    keyframes = [seg.middle for seg, _ in segments]
    texts: list[str] = []
    t0 = time.perf_counter()
    for _chunk, images in _frame_batches(ctx, source, keyframes, captioner.batch_size, "describing the clip"):
        texts.extend(captioner.caption(images))
    seconds = (time.perf_counter() - t0) / max(1, len(segments))
    # The user's edits survive a new run where a segment keeps its exact range.
    edited = {(i.frame_start, i.frame_end): i.payload["text"] for i in project.insights(kind=SEGMENT_CAPTION)
              if i.object_id is None and i.payload.get("edited") and isinstance(i.payload.get("text"), str)}
    _replace(project, SEGMENT_CAPTION, None, step)
    out = []
    for index, ((seg, shot_index), frame, text) in enumerate(zip(segments, keyframes, texts)):
        payload = {"text": text, "keyframe": frame, "start_s": _time(source, seg.start),
                   "end_s": _time(source, seg.stop), "segment": index, "shot": shot_index, "edited": False,
                   **_run_info(captioner, seconds)}
        if (seg.start, seg.stop) in edited:
            payload.update({"text": edited[(seg.start, seg.stop)], "edited": True, "original": text})
        project.add_insight(SEGMENT_CAPTION, payload, frame_start=seg.start, frame_end=seg.stop,
                            model=captioner.name, step=step)
        out.append({"frame_start": seg.start, "frame_end": seg.stop, **payload})
    report.segments = out
    return out


# --- store helpers -----------------------------------------------------------------------------------
def checked_labels(labels: Sequence[str]) -> list[str]:
    labels = list(dict.fromkeys(s.strip() for s in labels if s and s.strip()))
    if not labels:
        raise ValueError("no labels to score against: add categories to the project or type some labels")
    return labels


def object_ids_of(project: Project, object_ids: Sequence[int] | None) -> list[int]:
    known = [o.id for o in project.objects()]
    if object_ids is None:
        return known
    missing = sorted(set(object_ids) - set(known))
    if missing:
        raise KeyError(f"no object(s) {', '.join(map(str, missing))}")
    return [oid for oid in known if oid in set(object_ids)]


def _frame_batches(ctx: JobContext, source: VideoSource, frames: Sequence[int], batch_size: int,
                   what: str) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """``frames`` as whole images in batches of ``batch_size``: a cancel check before each decode,
    progress reported once the caller has handled each batch."""
    frames = list(frames)
    ctx.report(0, len(frames), what)
    for start in range(0, len(frames), batch_size):
        chunk = frames[start:start + batch_size]
        images = []
        for frame in chunk:
            ctx.check_cancelled()
            images.append(source.frame(frame))
        yield chunk, images
        ctx.report(start + len(chunk), len(frames), what)


def _run_info(engine: Any, seconds: float) -> dict[str, Any]:
    return {"device": engine.device, "seconds": round(float(seconds), 4)}


def _label_payload(ranked: list[LabelScore], frames: list[int], labels: list[str], classifier: ClipClassifier,
                   seconds: float) -> dict[str, Any]:
    return {"labels": [s.to_json() for s in ranked], "frames": list(frames), "vocabulary": list(labels),
            "templates": len(classifier.templates), "accepted": None, **_run_info(classifier, seconds)}


def _store_object_labels(project: Project, classifier: ClipClassifier, oid: int, vectors: list[np.ndarray],
                         frames: list[int], labels: list[str], top_k: int, seconds: float,
                         step: StepHandle | None) -> list[LabelScore] | None:
    from annotator.engines.describe import mean_embedding

    ranked = classifier.rank(mean_embedding(np.stack(vectors)), labels, top_k)
    payload = _label_payload(ranked, frames, labels, classifier, seconds)
    if not _put_object_insight(project, OBJECT_LABELS, oid, payload, min(frames), max(frames) + 1,
                               classifier.name, step):
        return None
    return ranked


def _put_object_insight(project: Project, kind: str, oid: int, payload: dict[str, Any], frame_start: int,
                        frame_end: int, model: str, step: StepHandle | None) -> bool:
    """Replace the object's insight of ``kind``; False when the user deleted the object meanwhile."""
    try:
        _replace(project, kind, oid, step)
        project.add_insight(kind, payload, object_id=oid, frame_start=frame_start, frame_end=frame_end,
                            model=model, step=step)
    except KeyError:  # add_insight: "no object N"
        return False
    return True


def _replace(project: Project, kind: str, object_id: int | None, step: StepHandle | None,
             match: Any = None) -> None:
    """Delete the older insights a new result supersedes (same kind, same object or scope)."""
    for ins in project.insights(kind=kind, object_id=object_id):
        if object_id is None and ins.object_id is not None:
            continue
        if match is None or match(ins):
            project.delete_insight(ins.id, step=step)


def _edited(insights: Iterable[Any]) -> bool:
    return any(i.payload.get("edited") for i in insights)


def _time(source: VideoSource, frame: int) -> float:
    if frame >= source.frame_count:
        return round(float(source.duration_s), 4)
    return round(float(source.timestamp(frame)), 4)

