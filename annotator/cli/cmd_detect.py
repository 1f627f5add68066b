"""`annotator detect`: find every instance of some phrases with SAM 3, on one frame or tracked
through the video, as new objects in a project.

    annotator detect VIDEO_OR_PROJECT --text "camel, person" [--frame K | --track [--span A:B]] [--project P]
        [--threshold 0.5] [--image-size 560] [--model sam3] [--weights DIR] [--device cuda] [--json]

Each instance becomes a new object whose category is its phrase, with ``detected`` masks (not
locked; left out of exports unless ``export --include-detected``). An instance overlapping an
existing object's mask at IoU >= 0.5 is reported, not added. The whole find is one undo step.
SAM 3 is a GPU model: ``auto`` never picks it on a CPU, and on a CPU ``--track`` prints a time
estimate measured on the first frame (Ctrl+C cancels; what was found so far is kept). With
--json stdout holds one document: model, text, objects [{id, category, score, frames}],
not_added, frames_done, cancelled.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from annotator.cli.output import message, print_json, progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="find every instance of some phrases (SAM 3) as new objects",
        description="Find every instance of one or several comma-separated phrases with SAM 3, on one frame "
        "(--frame) or tracked through the video (--track), and add them to a project as new objects with "
        "'detected' masks. The whole find is one undo step.",
    )
    p.add_argument("source", help="a video, frame folder or .annot project")
    p.add_argument("--text", required=True, help='the phrases, comma separated: "camel, person"; with '
                   "--box, the category of what is found")
    p.add_argument("--box", metavar="X0,Y0,X1,Y1",
                   help="an example box on --frame: find every instance like it (\"more like this\")")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--frame", type=int, default=None, metavar="K", help="detect on frame K (default 0)")
    where.add_argument("--track", action="store_true", help="track the phrases through the whole video")
    p.add_argument("--span", metavar="A:B", help="with --track: only frames A..B (inclusive; default all)")
    p.add_argument("--project", metavar="P", help="the project to add to (default: SOURCE's own project)")
    p.add_argument("--threshold", type=float, default=0.5, help="lowest instance score kept (default 0.5)")
    p.add_argument("--image-size", type=int, choices=(1008, 560), default=None,
                   help="SAM 3 input size: 1008 (trained) or 560 (faster, may be less accurate)")
    p.add_argument("--model", default="auto", metavar="NAME", help="sam3 (auto never picks it on a CPU)")
    p.add_argument("--weights", metavar="DIR", help="a local SAM 3 snapshot folder instead of the installed")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: $ANNOTATOR_DEVICE, else the best)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(handler=run_detect_command, _parser=p)


def run_detect_command(args: argparse.Namespace) -> int:
    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device
    from annotator.engines.sam3 import parse_phrases

    parser: argparse.ArgumentParser = args._parser
    try:
        phrases = parse_phrases(args.text)
    except ValueError as exc:
        parser.error(str(exc))
    if not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold must be in 0..1")
    box = _box(parser, args.box) if args.box else None
    if box is not None and (args.track or len(phrases) != 1):
        parser.error("--box goes with one --frame and one category in --text")
    span = _span(parser, args.span) if args.span else None
    if span is not None and not args.track:
        parser.error("--span goes with --track")
    device = pick_device(args.device)
    name, why = registry.choose("detect", args.model, device, args.weights)
    project, source = _open(parser, Path(args.source), args.project)
    text = ", ".join(phrases)
    try:
        frame = 0 if args.frame is None else args.frame
        if not args.track and not 0 <= frame < source.frame_count:
            parser.error(f"--frame {frame} is outside 0..{source.frame_count - 1}")
        message(f"detect: {name} on {device} ({why})")
        if args.track:
            first, last = span if span else (0, source.frame_count - 1)
            if not 0 <= first <= last < source.frame_count:
                parser.error(f"--span {first}:{last} is outside 0..{source.frame_count - 1}")
            report = _track(project, source, phrases, text, args, device, first, last)
        else:
            report = _detect(project, source, phrases, text, frame, args, device, box)
    finally:
        source.close()
        project.close()
    for skipped in report.overlaps:
        message(f"not added: a '{skipped.phrase}' ({skipped.score:.2f}) on frame {skipped.frame} overlaps "
                f"object {skipped.object_id} (IoU {skipped.iou:.2f})")
    if args.json:
        print_json(report.to_json())
        return 0
    for obj in report.objects:
        print(f"object {obj.id}: {obj.category} {obj.score:.2f} on {len(obj.frames)} frame(s)")
    if not report.objects:
        print("nothing found")
    return 0


def _box(parser: argparse.ArgumentParser, text: str) -> list[float]:
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        parser.error(f"--box {text!r}: expected X0,Y0,X1,Y1 with X1 > X0 and Y1 > Y0")
    return box


def _detect(project: Any, source: Any, phrases: list[str], text: str, frame: int, args: argparse.Namespace,
            device: str, box: list[float] | None = None) -> Any:
    from annotator.app.finding import add_detections
    from annotator.engines.sam3 import load_sam3_detector

    detector = load_sam3_detector(args.weights, device, args.image_size, threshold=args.threshold)
    if box is not None:
        found = detector.detect_like(source.frame(frame), [box], phrase=phrases[0])
        text = f"like {phrases[0]}"
    else:
        found = detector.detect(source.frame(frame), phrases)
    seconds = sum(found.timings.values()) / 1000
    message(f"frame {frame}: {len(found.instances)} instance(s) in {seconds:.1f} s")
    return add_detections(project, frame, found.instances, detector.name, text)


def _span(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in text.split(":"))
    except ValueError:
        parser.error(f"--span {text!r}: expected A:B, e.g. 0:99")
    return first, last


def _track(project: Any, source: Any, phrases: list[str], text: str, args: argparse.Namespace,
           device: str, first: int, last: int) -> Any:
    from annotator.app.finding import add_tracks
    from annotator.engines.sam3_video import load_sam3_text_tracker

    tracker = load_sam3_text_tracker(source, args.weights, device, args.image_size)
    # The video model reads its own detection threshold; the CLI's --threshold filters what is kept.
    total = last - first + 1
    bar = progress_bar(total, "tracking")
    started = time.perf_counter()

    def progress(done: int, _total: int) -> None:
        if done == 1 and device == "cpu" and total > 1:
            per_frame = time.perf_counter() - started
            message(f"first frame took {per_frame:.1f} s on the CPU: about {per_frame * total / 60:.1f} min "
                    f"for {total} frames (Ctrl+C cancels and keeps what was found)")
        bar.update(1)

    def kept(tracks: Any) -> Any:
        for frame, instances in tracks:
            yield frame, [i for i in instances if i.score >= args.threshold]

    try:
        return add_tracks(project, kept(tracker.track(phrases, first, last)), tracker.name, text, total,
                          progress)
    except KeyboardInterrupt:
        message("cancelled; the objects found so far are kept in the project (one undo step)")
        raise
    finally:
        bar.close()


def _open(parser: argparse.ArgumentParser, source_path: Path, project_arg: str | None) -> tuple[Any, Any]:
    """(project to write, its video): SOURCE's own project, or --project (made when missing)."""
    from annotator.app.session import PROJECT_SUFFIX, default_project_path, video_ref
    from annotator.core.project import Project
    from annotator.core.video import open_video

    if source_path.suffix == PROJECT_SUFFIX:
        if project_arg is not None and Path(project_arg) != source_path:
            parser.error("SOURCE is a project: leave out --project, or give the same path")
        if not source_path.is_file():
            parser.error(f"no project at {source_path}")
        project = Project.open(source_path)
        try:
            return project, open_video(project.locate_video())
        except BaseException:
            project.close()
            raise
    source = open_video(source_path)
    try:
        target = Path(project_arg) if project_arg else default_project_path(source_path)
        if target.exists():
            project = Project.open(target)
            if project.video.fingerprint != source.fingerprint:
                project.close()
                parser.error(f"{target} belongs to another video ({project.video.path})")
        else:
            project = Project.create(target, video_ref(source))
            message(f"made the project {target}")
        return project, source
    except BaseException:
        source.close()
        raise
