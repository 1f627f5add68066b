"""A mask overlay video (H.264 mp4 through PyAV) for review and sharing.

Each exported frame is the source frame with every selected object's mask blended in its colour
(``options.alpha``, default 0.5) and outlined (2 px), plus the object's name at the top-left of
its box. The frame rate is the video's (or ``options.fps``); with a stride, the video plays the
kept frames at that rate. Odd frame sizes are padded by one black pixel (yuv420p needs even
sizes). The file is written beside the target under a temp name and renamed when complete.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from annotator.core import masks as rle_ops
from annotator.core.atomic import atomic_path
from annotator.errors import OutputError
from annotator.formats.common import (
    ExportSummary,
    ProgressFn,
    Reporter,
    check_output_file,
    locate_source,
    protected_paths,
)
from annotator.formats.options import ExportOptions
from annotator.formats.selection import CategoryTable, opened_projects, prepare_videos


def export_overlay(project: Any, out: str | Path, options: ExportOptions | None = None,
                   progress: ProgressFn | None = None, cancel: Any = None) -> ExportSummary:
    import av

    from annotator.core.video import open_video

    started = time.perf_counter()
    options = (options or ExportOptions()).validate()
    reporter = Reporter(progress, cancel)
    if Path(out).suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise OutputError("the overlay video needs an .mp4 (or .mov / .mkv) name", out)
    with opened_projects([project]) as projects:
        out = check_output_file(out, protected_paths(projects))
        categories = CategoryTable.build(projects, options)
        video = prepare_videos(projects, options, categories)[0]
        plan = video.plan
        if not plan.frames:
            raise OutputError("nothing to write: the selection has no frames", out)
        colours = {o.id: _rgb(o.color) for o in plan.objects}
        names = {o.id: o.name for o in plan.objects}
        fps = options.fps or float(video.project.video.fps) or 25.0
        width, height = plan.width + plan.width % 2, plan.height + plan.height % 2
        summary = ExportSummary("overlay", str(out), videos=1, frames=len(plan.frames),
                                objects=len(plan.objects_with_content()))
        with open_video(locate_source(video.project), cache_bytes=32 * 2**20) as source, \
                atomic_path(out) as tmp:
            try:
                container = av.open(str(tmp), "w", format=_container_format(out))
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"cannot write the video ({exc})", out) from exc
            with container:
                rate = Fraction(fps).limit_denominator(1001)
                stream = container.add_stream("libx264", rate=rate,
                                              options={"preset": "veryfast", "crf": "20"})
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                canvas = np.zeros((height, width, 3), np.uint8)
                for done, (frame, recs) in enumerate(plan.iter_frames(), start=1):
                    canvas[:plan.height, :plan.width] = _draw(source.frame(frame), recs, colours, names,
                                                             options.alpha)
                    summary.annotations += len(recs)
                    for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                        container.mux(packet)
                    reporter(done, len(plan.frames), "frames")
                for packet in stream.encode():
                    container.mux(packet)
        summary.files = [str(out)]
        summary.extra["fps"] = round(fps, 6)
    summary.seconds = time.perf_counter() - started
    return summary


def _container_format(out: Path) -> str:
    return {".mov": "mov", ".mkv": "matroska"}.get(out.suffix.lower(), "mp4")


def _rgb(color: str) -> tuple[int, int, int]:
    try:
        return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    except (ValueError, TypeError):
        return 255, 0, 0


def _draw(rgb: np.ndarray, recs: list, colours: dict, names: dict, alpha: float) -> np.ndarray:
    image = rgb.astype(np.float32)
    outlines = []
    for rec in recs:
        mask = rle_ops.decode(rec.rle)
        colour = np.array(colours[rec.object_id], np.float32)
        image[mask] = image[mask] * (1 - alpha) + colour * alpha
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        outlines.append((contours, colours[rec.object_id], names[rec.object_id], rec.bbox))
    out = np.clip(image, 0, 255).astype(np.uint8)
    for contours, colour, name, bbox in outlines:
        cv2.drawContours(out, contours, -1, colour, 2)
        x, y = int(bbox[0]), max(int(bbox[1]) - 4, 10)
        cv2.putText(out, str(name), (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(out, str(name), (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return out
