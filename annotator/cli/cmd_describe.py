"""`annotator describe`: zero-shot labels and captions for a project's objects and its clip.

    annotator describe clip.mp4.annot [--classify --labels dog,cat] [--caption] [--json]
                      [--device cuda] [--model-classify clip-vit-b-32] [--model-caption blip-base]
                      [--weights-classify DIR] [--weights-caption DIR] [--objects 1,3]

With neither --classify nor --caption it does both. Labels are scored against the project's
categories plus ``--labels``. Results are stored in the project as insights (one undo step)
and printed: a short report, or one JSON document with --json. PROJECT may also be a video or
frame folder: its project (``VIDEO.annot``) is opened, or made. A missing model stops the
command before any work, with the ``annotator models download NAME`` line for each one
missing. Ctrl+C cancels; what was finished stays in the project.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from annotator.cli.output import message, print_json, progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "describe",
        help="zero-shot labels (CLIP) and captions (BLIP) for a project's objects and clip",
        description="Classify a project's object tracks and its clip against the project's categories "
        "plus --labels (CLIP), and caption each object and the clip as timed segments split at shot "
        "changes (BLIP). Results are stored in the project as insights.",
    )
    p.add_argument("project", help="a .annot project (or a video / frame folder: its project is used)")
    p.add_argument("--classify", action="store_true", help="zero-shot labels for objects and the clip")
    p.add_argument("--labels", default="", metavar="A,B,C",
                   help="labels to score besides the project's categories (comma separated)")
    p.add_argument("--caption", action="store_true", help="captions for objects and the clip's segments")
    p.add_argument("--objects", default=None, metavar="ID,ID", help="only these object ids (default: all)")
    p.add_argument("--no-clip", action="store_true", help="objects only: no clip labels or clip description")
    p.add_argument("--per-shot", action="store_true", help="also label every shot of the clip")
    p.add_argument("--frames", type=int, default=8, metavar="N", help="views per object track (default 8)")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="labels kept per object (default 5)")
    p.add_argument("--segment-seconds", type=float, default=10.0, metavar="S",
                   help="longest clip-description segment; longer shots are cut (default 10)")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: $ANNOTATOR_DEVICE, else the best)")
    p.add_argument("--model-classify", default="auto", metavar="NAME",
                   help="CLIP model: clip-vit-b-32, clip-vit-b-16, clip-vit-l-14 "
                   "(default auto: the best installed)")
    p.add_argument("--model-caption", default="auto", metavar="NAME",
                   help="BLIP model: blip-base, blip-large (default auto: the best installed)")
    p.add_argument("--weights-classify", metavar="DIR",
                   help="a local CLIP snapshot folder instead of the installed model")
    p.add_argument("--weights-caption", metavar="DIR",
                   help="a local BLIP snapshot folder instead of the installed model")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(handler=run_describe_command, _parser=p)


def run_describe_command(args: argparse.Namespace) -> int:
    from annotator.app.describe.runs import DescribePlan, parse_labels
    from annotator.app.project_files import PROJECT_SUFFIX, default_project_path
    from annotator.app.session import Session
    from annotator.errors import WeightsMissingError

    parser: argparse.ArgumentParser = args._parser
    classify = args.classify or bool(args.labels) or not args.caption
    caption = args.caption or not (args.classify or args.labels)
    if args.frames < 1 or args.top_k < 1:
        parser.error("--frames and --top-k must be at least 1")
    object_ids = _ids(parser, args.objects)
    path = Path(args.project)

    # No clicks or tracking here: the classical engines never load torch or weights.
    with Session(segmenter="classical", tracker="classical", device=args.device) as session:
        # Every missing model is named before anything is loaded or written.
        wanted = [("classify", args.model_classify, args.weights_classify)] if classify else []
        wanted += [("caption", args.model_caption, args.weights_caption)] if caption else []
        missing: list[WeightsMissingError] = []
        for task, name, weights in wanted:
            try:
                session.set_describer(task, name, weights)
            except WeightsMissingError as exc:
                missing.append(exc)
            except ValueError as exc:
                parser.error(str(exc))
        if len(missing) == 1:
            raise missing[0]
        if missing:
            raise WeightsMissingError(",".join(e.model for e in missing), "; ".join(str(e) for e in missing))

        is_project = path.suffix == PROJECT_SUFFIX and path.is_file()
        made = not is_project and not default_project_path(path).exists()
        view = session.open(path)
        if made:
            message(f"made the project {view.path}")
        plan = DescribePlan(classify=classify, caption=caption, labels=parse_labels(args.labels),
                            object_ids=object_ids, clip=not args.no_clip, per_shot=args.per_shot and classify,
                            frames_per_track=args.frames, top_k=args.top_k,
                            max_segment_s=args.segment_seconds)
        if classify and not view.vocabulary(plan.labels):
            parser.error("nothing to classify against: the project has no categories; give --labels a,b,c")
        unknown = sorted(set(object_ids or ()) - {o.id for o in view.objects()})
        if unknown:
            parser.error(f"no object(s) {', '.join(map(str, unknown))} in the project")
        for task in (t for t, _name, _weights in wanted):
            name, _why = session.resolve_describer(task)
            message(f"{task}: {name} on {session.describer_device()}")
        report = _run(session.describe(plan, "Describe (command line)"))
        project_path = view.path
    if args.json:
        print_json({"project": str(project_path), **report.to_json()})
    else:
        _print_report(report)
    return 0


def _ids(parser: argparse.ArgumentParser, text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--objects {text!r}: expected object ids like 1,3")
    if not ids:
        parser.error("--objects needs at least one id")
    return ids


def _run(job: Any) -> Any:
    """Wait for the Session's describe job with a progress bar on stderr; Ctrl+C cancels and
    keeps what is done."""
    from annotator.errors import CancelledError

    bar = progress_bar(None, "describing")
    last = ""
    try:
        while not job.wait(0.1):
            p = job.progress
            if p.message != last:
                bar.set_description(p.message)
                bar.reset(total=p.total)
                last = p.message
            bar.n = p.done
            bar.refresh()
        return job.result()
    except KeyboardInterrupt:
        job.cancel()
        job.wait(30)
        message("cancelled; the results finished so far are kept in the project")
        raise
    except CancelledError:
        raise
    finally:
        bar.close()


def _print_report(report: Any) -> None:
    out = sys.stdout
    for oid in sorted(set(report.object_labels) | set(report.object_captions)):
        line = f"object {oid}:"
        if oid in report.object_labels:
            line += " " + ", ".join(f"{s.label} {s.score:.2f}" for s in report.object_labels[oid])
        if oid in report.object_captions:
            line += f" | {report.object_captions[oid]}"
        print(line, file=out)
    if report.clip_labels:
        print("clip: " + ", ".join(f"{s.label} {s.score:.2f}" for s in report.clip_labels), file=out)
    for seg in report.segments:
        print(f"[{seg['start_s']:.2f}-{seg['end_s']:.2f} s] {seg['text']}", file=out)
    if report.skipped_objects:
        message(f"skipped objects with no mask: {', '.join(map(str, report.skipped_objects))}")
