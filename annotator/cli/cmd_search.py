"""`annotator search`: find frames by a phrase, or frames like one of the project's objects.

    annotator search clip.mp4.annot "a red car" [--top K] [--json] [--model clip-vit-b-32]
    annotator search clip.mp4.annot --like 3 [--top K] [--json]

The first search of a video builds its index (frames at about 2 a second, and crops of each
object's masks) in the user cache folder; later searches only add what is missing. Progress
goes to stderr; with --json stdout holds one document: query, model, hits [{frame, time_s,
score, object_id or null}] best first, and segments [{start, stop, start_s, stop_s, score}].
The phrase encoding time and the query time are reported on stderr. It opens the project
read-only in a headless Session and runs the Session's search Job, as the Find tab does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator.cli.output import message, print_json, wait_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="find frames by a phrase, or frames like an object (CLIP / SigLIP 2)",
        description="Rank a project's frames (and its objects' crops) against a phrase or against one "
        "object's crops, and list the time segments where neighbouring frames score high. The index is "
        "built on first use and kept in the user cache folder.",
    )
    p.add_argument("project", help="a .annot project (or a video: its project is used)")
    p.add_argument("query", nargs="?", help='what to look for, e.g. "a red car"')
    p.add_argument("--like", type=int, metavar="OBJECT_ID", help="find frames like this object instead")
    p.add_argument("--top", type=int, default=10, metavar="K", help="hits to list (default 10)")
    p.add_argument("--per-second", type=float, default=2.0, metavar="N",
                   help="frames indexed per second of video (default 2)")
    p.add_argument("--model", default="auto", metavar="NAME",
                   help="clip-vit-b-32, clip-vit-b-16, clip-vit-l-14 or siglip2-base (default auto)")
    p.add_argument("--weights", metavar="DIR", help="a local snapshot folder instead of the installed model")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: $ANNOTATOR_DEVICE, else the best)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(handler=run_search_command, _parser=p)


def run_search_command(args: argparse.Namespace) -> int:
    from annotator.app.project_files import PROJECT_SUFFIX, default_project_path
    from annotator.app.session import Session

    parser: argparse.ArgumentParser = args._parser
    if (args.query is None) == (args.like is None):
        parser.error('give a phrase ("a red car") or --like OBJECT_ID, one of the two')
    if args.top < 1:
        parser.error("--top must be at least 1")
    if args.per_second <= 0:
        parser.error("--per-second must be positive")
    path = Path(args.project)
    project_path = path if path.suffix == PROJECT_SUFFIX else default_project_path(path)
    if not project_path.is_file():
        parser.error(f"no project at {project_path}: open the video in the app first")
    with Session(segmenter="classical", tracker="classical", device=args.device) as session:
        session.text.configure(search_model=args.model, search_weights=args.weights)
        try:
            name, _why = session.text.search_choice()
        except ValueError as exc:
            parser.error(str(exc))
        view = session.open(project_path, readonly=True)
        if args.like is not None and args.like not in {o.id for o in view.objects()}:
            parser.error(f"no object {args.like} in the project")
        message(f"search: {name} on {session.text.device}")
        job = session.text.search(args.query, like=args.like, top=args.top, per_second=args.per_second)
        try:
            result = wait_for(job, "indexing", "cancelled; what was indexed is kept for the next search")
        except ValueError as exc:  # e.g. --like an object with no masks to crop
            message(f"search: {exc}")
            return 1
    if result.indexed.get("frames") or result.indexed.get("crops"):
        message(f"indexed {result.indexed['frames']} frames and {result.indexed['crops']} object crops")
    if result.encode_ms is not None:
        message(f"phrase encoded in {result.encode_ms:.0f} ms")
    message(f"query answered in {result.query_ms:.0f} ms (once the phrase is encoded)")
    if args.json:
        print_json(result.to_json())
        return 0
    out = sys.stdout
    for hit in result.hits:
        what = "frame" if hit.object_id is None else f"object {hit.object_id}"
        print(f"{hit.frame:>7}  {hit.time_s:8.2f}s  {hit.score:6.3f}  {what}", file=out)
    for seg in result.segments[:5]:
        span = f"{seg.start_s:.2f}s-{seg.stop_s:.2f}s (frames {seg.start}-{seg.stop})"
        print(f"segment {span}  {seg.score:.3f}", file=out)
    return 0
