"""`annotator track`: carry an initial mask through a video headless, writing DAVIS PNGs.

    annotator track clip.mp4 --init first.png [--init-frame K] [--tracker classical]
                   [--direction forward|backward|both] --out masks/ [--json]

The initial PNG is binary (one object) or a palette/label image whose values are object
ids. One palette PNG per frame goes into DIR, named after the source frame (00000.jpg
becomes 00000.png; a video file's frames are numbered). Frames are written as they are
tracked, so memory stays flat on long videos.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from annotator.cli.output import message, print_json, progress_bar
from annotator.core.memory import peak_rss_mb, peak_vram_mb

if TYPE_CHECKING:
    from annotator.core.video_source import VideoSource
    from annotator.engines.tracker import Tracker


def register(sub: argparse._SubParsersAction) -> None:
    from annotator.engines.factory import TRACK_CHOICES

    p = sub.add_parser("track", help="propagate an initial mask through a video, writing DAVIS PNGs")
    p.add_argument("source", help="video file or frame folder")
    p.add_argument("--init", required=True, help="initial mask PNG (binary, or label values = object ids)")
    p.add_argument("--init-frame", type=int, default=0, help="frame the initial mask belongs to (default 0)")
    p.add_argument("--tracker", default="auto", choices=TRACK_CHOICES, help="tracker (default: auto)")
    p.add_argument("--weights", help="local weights folder for a named SAM 2.1 / EdgeTAM tracker")
    p.add_argument("--device", help="cuda, mps or cpu (default: ANNOTATOR_DEVICE, else the best available)")
    p.add_argument("--direction", default="forward", choices=("forward", "backward", "both"))
    p.add_argument("--out", required=True, help="output folder for one PNG per frame")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(handler=run_track)


def run_track(args: argparse.Namespace) -> int:
    from annotator.core.atomic import ensure_dir
    from annotator.core.imageio import read_label_png, write_label_png
    from annotator.core.video import open_video
    from annotator.engines.factory import create_tracker
    from annotator.errors import FormatError

    out = ensure_dir(args.out)
    with open_video(args.source) as source:
        if not 0 <= args.init_frame < source.frame_count:
            raise FormatError(f"--init-frame {args.init_frame} is outside 0..{source.frame_count - 1}",
                              args.source)
        labels = read_label_png(args.init)
        if labels.shape != (source.height, source.width):
            raise FormatError(f"mask is {labels.shape[1]}x{labels.shape[0]} but the video is "
                              f"{source.width}x{source.height}", args.init)
        if set(np.unique(labels).tolist()) <= {0, 255}:
            labels = (labels > 0).astype(np.uint8)  # a binary 0/255 mask is object 1
        ids = [int(v) for v in np.unique(labels) if v not in (0, 255)]
        if not ids:
            raise FormatError("the initial mask is empty", args.init)
        masks = {oid: labels == oid for oid in ids}

        tracker, why = create_tracker(args.tracker, source, device=args.device, weights=args.weights)
        message(f"tracker: {why}")
        write_label_png(out / f"{source.frame_stem(args.init_frame)}.png", labels)
        directions = {"forward": [1], "backward": [-1], "both": [1, -1]}[args.direction]
        started = time.perf_counter()
        written = 1
        for direction in directions:
            last = source.frame_count - 1 if direction == 1 else 0
            if last == args.init_frame:
                continue
            tracker.reset()
            tracker.add_conditioning(args.init_frame, masks)
            written += _run(tracker, source, args.init_frame, direction, {oid: last for oid in ids}, out)
        elapsed = time.perf_counter() - started
    tracked = written - 1
    summary = {
        "tracker": tracker.name,
        "frames": written,
        "fps": round(tracked / elapsed, 3) if elapsed > 0 else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_vram_mb": round(peak_vram_mb(), 1),
    }
    if args.json:
        print_json(summary)
    else:
        message(f"{written} frames -> {out} ({summary['fps']} fps, peak RSS {summary['peak_rss_mb']} MB)")
    return 0


def _run(tracker: Tracker, source: VideoSource, start: int, direction: int, stops: dict[int, int],
         out: Path) -> int:
    """Write each frame's label map as soon as all its objects are in; returns frames written."""
    from annotator.core.imageio import write_label_png

    frame_labels: np.ndarray | None = None
    current = start
    written = 0
    updates = tracker.propagate(start, direction, stops)
    bar = progress_bar(abs(next(iter(stops.values())) - start), "tracking")
    try:
        for update in updates:
            if update.frame != current and frame_labels is not None:
                write_label_png(out / f"{source.frame_stem(current)}.png", frame_labels)
                written += 1
                bar.update(1)
                frame_labels = None
            if frame_labels is None:
                current, frame_labels = update.frame, np.zeros(update.mask.shape, np.uint8)
            # Where masks overlap, the higher id keeps the pixel (as in the DAVIS export).
            frame_labels[update.mask & (frame_labels < update.object_id)] = update.object_id
        if frame_labels is not None:
            write_label_png(out / f"{source.frame_stem(current)}.png", frame_labels)
            written += 1
    finally:
        updates.close()  # type: ignore[attr-defined]
        bar.close()
    return written
