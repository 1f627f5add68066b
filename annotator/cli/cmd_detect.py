"""`annotator detect`: find every instance of some phrases with SAM 3, on one frame or tracked
through the video, as new objects in a project.

    annotator detect VIDEO_OR_PROJECT --text "camel, person" [--frame K | --track [--span A:B]] [--project P]
        [--threshold 0.5] [--image-size 560] [--model sam3] [--weights DIR] [--device cuda] [--json]

Each instance becomes a new object whose category is its phrase, with ``detected`` masks (not
locked; left out of exports unless ``export --include-detected``). An instance overlapping an
existing object's mask at IoU >= 0.5 is reported, not added. The whole find is one undo step.
SAM 3 is a GPU model: ``auto`` never picks it on a CPU, and on a CPU ``--track`` prints a time
estimate measured on the first frame (Ctrl+C cancels; what was found so far is kept and
reported, with ``cancelled`` true and exit status 130). With
--json stdout holds one document: model, text, objects [{id, category, score, frames}],
not_added, frames_done, cancelled. It drives a headless Session (``session.text``), as the Find
tab does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from annotator.cli.output import message, print_json, wait_for


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
    from annotator.app.project_files import PROJECT_SUFFIX, default_project_path
    from annotator.app.session import Session

    parser: argparse.ArgumentParser = args._parser
    phrases = _phrases(parser, args.text)
    if not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold must be in 0..1")
    box = _box(parser, args.box) if args.box else None
    if box is not None and (args.track or len(phrases) != 1):
        parser.error("--box goes with one --frame and one category in --text")
    span = _span(parser, args.span) if args.span else None
    if span is not None and not args.track:
        parser.error("--span goes with --track")
    source = Path(args.source)
    if source.suffix == PROJECT_SUFFIX and not source.is_file():
        parser.error(f"no project at {source}")
    if source.suffix == PROJECT_SUFFIX and args.project is not None and Path(args.project) != source:
        parser.error("SOURCE is a project: leave out --project, or give the same path")

    # No clicks here: the classical click engines never load torch; SAM 3 runs on --device.
    with Session(segmenter="classical", tracker="classical", device=args.device) as session:
        session.text.configure(weights=args.weights, image_size=args.image_size)
        try:
            name, why = session.text.detector_choice(args.model)
        except ValueError as exc:
            parser.error(str(exc))
        target = Path(args.project) if args.project else default_project_path(source)
        made = source.suffix != PROJECT_SUFFIX and not target.exists()
        view = session.open(source, project=args.project)
        if made:
            message(f"made the project {view.path}")
        count = view.frame_count
        message(f"detect: {name} on {session.text.device} ({why})")
        if args.track:
            first, last = span if span else (0, count - 1)
            if not 0 <= first <= last < count:
                parser.error(f"--span {first}:{last} is outside 0..{count - 1}")
            report = _track(session, phrases, args.threshold, first, last)
        else:
            frame = 0 if args.frame is None else args.frame
            if not 0 <= frame < count:
                parser.error(f"--frame {frame} is outside 0..{count - 1}")
            if box is not None:
                job = session.text.find_like(box, frame, category=phrases[0], threshold=args.threshold)
            else:
                job = session.text.find(", ".join(phrases), frame, threshold=args.threshold)
            report = wait_for(job, "detecting")
            message(f"frame {frame}: {job.progress.message}")
    for skipped in report.overlaps:
        message(f"not added: a '{skipped.phrase}' ({skipped.score:.2f}) on frame {skipped.frame} overlaps "
                f"object {skipped.object_id} (IoU {skipped.iou:.2f})")
    status = 130 if report.cancelled else 0  # 130: ended by Ctrl+C
    if args.json:
        print_json(report.to_json())
        return status
    for obj in report.objects:
        print(f"object {obj.id}: {obj.category} {obj.score:.2f} on {len(obj.frames)} frame(s)")
    if not report.objects:
        print("nothing found")
    return status


def _phrases(parser: argparse.ArgumentParser, text: str) -> list[str]:
    from annotator.engines.sam3 import parse_phrases

    try:
        return parse_phrases(text)
    except ValueError as exc:
        parser.error(str(exc))


def _box(parser: argparse.ArgumentParser, text: str) -> tuple[float, float, float, float]:
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        parser.error(f"--box {text!r}: expected X0,Y0,X1,Y1 with X1 > X0 and Y1 > Y0")
    return box[0], box[1], box[2], box[3]


def _span(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in text.split(":"))
    except ValueError:
        parser.error(f"--span {text!r}: expected A:B, e.g. 0:99")
    return first, last


def _track(session: Any, phrases: list[str], threshold: float, first: int, last: int) -> Any:
    """The Session's track Job, waited for; on a CPU the time estimate after the first frame."""
    on_cpu = session.text.device == "cpu"

    def estimate(per_frame: float, total: int) -> None:
        if on_cpu and total > 1:
            message(f"first frame took {per_frame:.1f} s on the CPU: about {per_frame * total / 60:.1f} min "
                    f"for {total} frames (Ctrl+C cancels and keeps what was found)")

    # The video model reads its own detection threshold; --threshold filters what is kept.
    job = session.text.track(", ".join(phrases), first, last, threshold=threshold, estimate=estimate)
    try:
        return wait_for(job, "tracking", "cancelled; the objects found so far are kept in the project "
                                         "(one undo step)")
    except KeyboardInterrupt:
        # wait_for has cancelled the job and waited for it: its report (cancelled set) still says
        # what was found, so --json prints it and the exit status says it was interrupted.
        if job.done() and job.returned is not None:
            return job.returned
        raise  # stopped before it had anything to report
