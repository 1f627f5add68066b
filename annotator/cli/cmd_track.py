"""`annotator track`: carry an initial mask through a video headless, writing DAVIS PNGs.

    annotator track clip.mp4 --init first.png [--init-frame K] [--tracker classical]
                   [--direction forward|backward|both] [--range START:STOP] --out masks/ [--json]

The initial PNG is binary (one object) or a palette/label image whose values are object
ids. One palette PNG per frame goes into DIR, named after the source frame (00000.jpg
becomes 00000.png; a video file's frames are numbered). Frames are written as they are
tracked, so memory stays flat on long videos. ``--range START:STOP`` (half-open, 0-based) keeps
the tracking inside those frames: the initial frame must lie in it, and PNGs of frames outside it
(from an earlier run into the same DIR) are left untouched.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from annotator.cli.output import message, print_json, wait_for
from annotator.core.memory import peak_rss_mb, peak_vram_mb


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
    p.add_argument("--range", dest="frame_range", type=_frame_range, default=None, metavar="START:STOP",
                   help="track only inside these frames (0-based, STOP exclusive, e.g. 100:200 or 100:)")
    p.add_argument("--out", required=True, help="output folder for one PNG per frame")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(handler=run_track, parser=p)


def _frame_range(text: str) -> tuple[int, int | None]:
    from annotator.formats.options import parse_frame_range

    if ":" not in text:
        raise argparse.ArgumentTypeError(f"bad frame range {text!r} (START:STOP, stop exclusive)")
    try:
        return parse_frame_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_track(args: argparse.Namespace) -> int:
    from annotator.app.events import MasksChanged
    from annotator.app.propagation import BACKWARD, FORWARD, check_range, range_end
    from annotator.app.session import Session
    from annotator.app.values import decode_mask
    from annotator.core.atomic import ensure_dir
    from annotator.core.imageio import read_label_png, write_label_png
    from annotator.errors import FormatError

    out = ensure_dir(args.out)
    # A Session over a throw-away store: nothing is written beside the video, no project lock.
    weights = {"track": args.weights} if args.weights else None
    with Session(segmenter="classical", tracker=args.tracker, device=args.device, weights=weights) as session:
        view = session.open_temporary(args.source)
        source = session.video
        assert source is not None
        if not 0 <= args.init_frame < source.frame_count:
            raise FormatError(f"--init-frame {args.init_frame} is outside 0..{source.frame_count - 1}",
                              args.source)
        try:
            check_range(source.frame_count, args.init_frame, args.frame_range)
        except ValueError as exc:
            args.parser.error(f"--range: {exc}")
        labels = read_label_png(args.init)
        if labels.shape != (source.height, source.width):
            raise FormatError(f"mask is {labels.shape[1]}x{labels.shape[0]} but the video is "
                              f"{source.width}x{source.height}", args.init)
        if set(np.unique(labels).tolist()) <= {0, 255}:
            labels = (labels > 0).astype(np.uint8)  # a binary 0/255 mask is object 1
        ids = [int(v) for v in np.unique(labels) if v not in (0, 255)]
        if not ids:
            raise FormatError("the initial mask is empty", args.init)
        label_of = {}  # store object id -> the label value it has in the PNGs
        for value in ids:
            label_of[session.add_object().id] = value
            session.set_mask(next(reversed(label_of)), labels == value, frame=args.init_frame)

        def write(frame: int) -> None:
            """One palette PNG per frame; where masks overlap the higher label keeps the pixel
            (as in the DAVIS export)."""
            frame_labels = np.zeros(labels.shape, np.uint8)
            for record in sorted(view.masks_on_frame(frame), key=lambda r: label_of[r.object_id]):
                frame_labels[decode_mask(record)] = label_of[record.object_id]
            write_label_png(out / f"{source.frame_stem(frame)}.png", frame_labels)

        written = {args.init_frame}
        write(args.init_frame)

        def on_masks(event: MasksChanged) -> None:  # on the engine worker, as each frame commits
            for frame in event.frames or ():
                if frame not in written:
                    written.add(frame)
                    write(frame)

        session.events.connect(MasksChanged, on_masks)
        directions = {"forward": [FORWARD], "backward": [BACKWARD],
                      "both": [FORWARD, BACKWARD]}[args.direction]
        ends = [range_end(source.frame_count, d, args.frame_range) for d in directions]
        started = time.perf_counter()
        tracker = session.engine_status()["tracker"]
        if any(end != args.init_frame for end in ends):  # else nothing to carry: the init frame only
            report = wait_for(session.propagate(args.direction, start=args.init_frame,
                                                frame_range=args.frame_range), "tracking")
            tracker = report.tracker or tracker
        elapsed = time.perf_counter() - started
    message(f"tracker: {tracker}")
    tracked = len(written) - 1
    summary = {
        "tracker": tracker,
        "frames": len(written),
        "fps": round(tracked / elapsed, 3) if elapsed > 0 else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_vram_mb": round(peak_vram_mb(), 1),
    }
    if args.json:
        print_json(summary)
    else:
        message(f"{len(written)} frames -> {out} ({summary['fps']} fps, "
                f"peak RSS {summary['peak_rss_mb']} MB)")
    return 0
