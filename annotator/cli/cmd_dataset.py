"""`annotator export`, `annotator import`, `annotator convert`: datasets in and out of projects.

    annotator export P.annot [P2.annot ...] --format coco|ytvis|davis|mot|mots|yolo|overlay --out PATH
        [--objects 1,2] [--categories car,person] [--frames 10:50] [--stride 5] [--locked-only]
        [--reviewed-only] [--skip-empty] [--polygons --tolerance 1 --polygon-fallback rle|approx]
        [--write-frames | --no-frames] [--layout 2019|2021] [--results [--gt GT.json]]
        [--class-map NAME=ID,... --frame-base 0|1 --seqmap NAME-SPLIT] [--split train=0.8,val=0.2 --seed 0]
        [--json]
    annotator import PATH --format F --source VIDEO_OR_FRAMES --project OUT.annot [--video NAME]
        [--group-by KEY] [--json]
    annotator convert IN --from F --to G --source VIDEO_OR_FRAMES --out PATH [export options] [--json]

Progress goes to stderr; with --json, stdout holds one JSON summary. Several projects (or
--split) make one dataset: a COCO / YouTube-VIS file, one YOLO folder, or MOT / MOTS sequences
(TrackEval's layout with --seqmap). Projects are opened read-only, so exporting while the app
has the project open is fine.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.cli.output import message, print_json, print_table

EXPORT_FORMATS = ("coco", "ytvis", "davis", "mot", "mots", "yolo", "overlay")
IMPORT_FORMATS = ("coco", "ytvis", "davis", "mot", "mots", "yolo")


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="export projects to COCO, YouTube-VIS, DAVIS, MOT/MOTS, YOLO or an overlay video",
        description="Export one project, or several as one dataset (coco, ytvis, mot, mots, yolo), to PATH.")
    export.add_argument("projects", nargs="+", type=Path, metavar="PROJECT", help=".annot project file(s)")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", required=True, type=Path, metavar="PATH",
                        help="output file (coco, ytvis, overlay) or folder (davis, mot, mots, yolo)")
    _add_export_options(export)
    export.add_argument("--split", type=_split, default=None, metavar="NAME=F,...",
                        help="divide the videos, e.g. train=0.8,val=0.2 (coco/ytvis: one file each; yolo: "
                        "data.yaml sets)")
    export.add_argument("--seed", type=int, default=0, help="seed of the --split shuffle (default 0)")
    export.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    export.set_defaults(handler=run_export, parser=export)

    imp = sub.add_parser("import", help="import annotations into a new project",
                         description="Read PATH in FORMAT and make a new project over the video or frame "
                         "folder SOURCE; the masks are stored as 'imported'.")
    imp.add_argument("path", type=Path, help="annotation file or folder")
    imp.add_argument("--format", required=True, choices=IMPORT_FORMATS)
    imp.add_argument("--source", required=True, type=Path, metavar="VIDEO_OR_FRAMES")
    imp.add_argument("--project", required=True, type=Path, metavar="OUT.annot", help="new project file")
    _add_import_options(imp)
    imp.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    imp.set_defaults(handler=run_import, parser=imp)

    conv = sub.add_parser("convert", help="convert annotations from one format to another",
                          description="Import IN (format --from) over SOURCE, then export it as --to.")
    conv.add_argument("path", type=Path, metavar="IN", help="annotation file or folder")
    conv.add_argument("--from", dest="from_format", required=True, choices=IMPORT_FORMATS)
    conv.add_argument("--to", dest="to_format", required=True, choices=EXPORT_FORMATS)
    conv.add_argument("--source", required=True, type=Path, metavar="VIDEO_OR_FRAMES")
    conv.add_argument("--out", required=True, type=Path, metavar="PATH")
    _add_import_options(conv)
    _add_export_options(conv)
    conv.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    conv.set_defaults(handler=run_convert, parser=conv)


def _add_export_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selection")
    g.add_argument("--objects", type=_parsed("parse_id_list"), metavar="1,2",
                   help="object ids (default: all)")
    g.add_argument("--categories", type=_parsed("parse_name_list"), metavar="A,B",
                   help="category names (objects without one are in 'object')")
    g.add_argument("--frames", type=_parsed("parse_frame_range"), metavar="START:STOP",
                   help="frame range, 0-based, stop exclusive (e.g. 10:50, 100:)")
    g.add_argument("--stride", type=int, default=1, help="every Nth frame of the range (default 1)")
    g.add_argument("--locked-only", action="store_true", help="only masks the user locked")
    g.add_argument("--include-detected", action="store_true",
                   help="also masks found by text (annotator detect) and not yet accepted")
    g.add_argument("--reviewed-only", action="store_true", help="only masks marked reviewed")
    g.add_argument("--skip-empty", action="store_true", help="leave out frames without any mask")
    f = p.add_argument_group("format")
    f.add_argument("--polygons", action="store_true", help="COCO: polygons instead of RLE")
    f.add_argument("--polygon-fallback", choices=("rle", "approx"), default="rle",
                   help="COCO --polygons: a mask with holes stays RLE, or becomes outer contours (approx)")
    f.add_argument("--tolerance", type=float, default=1.0, metavar="PX",
                   help="polygon simplification in pixels (COCO --polygons, YOLO; default 1)")
    frames = f.add_mutually_exclusive_group()
    frames.add_argument("--write-frames", dest="write_frames", action="store_true", default=None,
                        help="also write the frames as images (default: YOLO yes, others no)")
    frames.add_argument("--no-frames", dest="write_frames", action="store_false",
                        help="do not write frames (not for YOLO, whose labels need their images)")
    f.add_argument("--jpeg-quality", type=int, default=95, metavar="Q")
    f.add_argument("--layout", choices=("project", "2019", "2021"), default="project",
                   help="YouTube-VIS categories: the project's, or the official 2019 / 2021 list")
    f.add_argument("--results", action="store_true", help="YouTube-VIS results format (with scores)")
    f.add_argument("--gt", default=None, metavar="GT.json",
                   help="YouTube-VIS --results: take video ids (by file_names) and category ids (by name) "
                   "from this ground-truth file")
    f.add_argument("--class-map", type=_parsed("parse_class_map", "benchmark"), default=None,
                   metavar="NAME=ID,...",
                   help="MOT/MOTS: class ids by category name over the benchmark's (MOTS car=1 pedestrian=2; "
                   "MOT the MOT17 classes)")
    f.add_argument("--frame-base", type=_parsed("parse_frame_base"), default=1, metavar="0|1",
                   help="MOT/MOTS: number of the first frame (default 1; KITTI-MOTS counts from 0)")
    f.add_argument("--seqmap", type=_parsed("check_seqmap_name"), default=None, metavar="NAME-SPLIT",
                   help="MOT/MOTS: TrackEval's layout, OUT/NAME-SPLIT/<seq>/gt/gt.txt and "
                   "OUT/seqmaps/NAME-SPLIT.txt")
    f.add_argument("--alpha", type=float, default=0.5, help="overlay: mask opacity (default 0.5)")
    f.add_argument("--fps", type=float, default=None, help="overlay: frame rate (default: the video's)")
    f.add_argument("--default-category", default="object", metavar="NAME",
                   help="category of objects that have none (default 'object')")


def _add_import_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", default=None, metavar="NAME",
                   help="which video of a multi-video file (its name or id)")
    p.add_argument("--group-by", default=None, metavar="KEY",
                   help="COCO: annotation key (or attributes key) naming the object; default track_id")


def _parsed(name: str, module: str = "options") -> Any:
    def parse(text: str) -> Any:
        import importlib

        try:
            return getattr(importlib.import_module(f"annotator.formats.{module}"), name)(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name.replace("parse_", "")
    return parse


def _split(text: str) -> dict[str, float]:
    return _parsed("parse_split")(text)


def _options(args: argparse.Namespace) -> Any:
    from annotator.formats import ExportOptions

    start, stop = args.frames if args.frames else (0, None)
    try:
        return ExportOptions(
            objects=args.objects, categories=args.categories, frame_start=start, frame_stop=stop,
            stride=args.stride, locked_only=args.locked_only, reviewed_only=args.reviewed_only,
            skip_empty=args.skip_empty, include_detected=args.include_detected, polygons=args.polygons,
            tolerance=args.tolerance,
            write_frames=args.write_frames, jpeg_quality=args.jpeg_quality, layout=args.layout,
            results=args.results, alpha=args.alpha, fps=args.fps, default_category=args.default_category,
            polygon_fallback=args.polygon_fallback, class_map=args.class_map, frame_base=args.frame_base,
            seqmap=args.seqmap, gt=args.gt,
        ).validate().check_format(getattr(args, "format", None) or args.to_format)
    except ValueError as exc:
        args.parser.error(str(exc))


class _Progress:
    """A tqdm bar per phase on stderr (silent when stderr is not a terminal)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._label = ""

    def __call__(self, done: int, total: int | None, label: str) -> None:
        from tqdm import tqdm

        if label != self._label or self._bar is None:
            self.close()
            self._label = label
            self._bar = tqdm(total=total, desc=label, file=sys.stderr, disable=None, leave=False)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextlib.contextmanager
def _session() -> Iterator[Any]:
    """A headless Session for one command. A failed job is reported here (a usage error or the
    error line), so the Session's own log line about it would say it twice: it is dropped."""
    from annotator.app.session import Session

    logger = logging.getLogger("annotator.app.session")
    quiet = logging.Filter("annotator.app.session.quiet")  # matches no record: drops them all
    logger.addFilter(quiet)
    try:
        with Session(segmenter="classical", tracker="classical") as session:
            yield session
    finally:
        logger.removeFilter(quiet)


def _run(args: argparse.Namespace, start: Any) -> Any:
    """Start a Session job, show its progress by phase and return its result; Ctrl+C cancels it."""
    bar = _Progress()
    job = start()
    try:
        while not job.wait(0.1):
            progress = job.progress
            bar(progress.done, progress.total, progress.message)
        return job.result()
    except ValueError as exc:  # a selection that does not fit the project (unknown object, category ...)
        args.parser.error(str(exc))
    except KeyboardInterrupt:
        job.cancel()
        job.wait(30)
        raise
    finally:
        bar.close()


def run_export(args: argparse.Namespace) -> int:
    from annotator.formats import get_format

    options = _options(args)
    spec = get_format(args.format)
    if (len(args.projects) > 1 or args.split) and not spec.multi_video:
        args.parser.error(f"--format {args.format} holds one video; several projects or --split need "
                          "coco, ytvis, mot, mots or yolo")
    with _session() as session:
        # Read-only and without the video: the GUI may hold the writer lock, the video may be gone.
        session.open(args.projects[0], readonly=True, need_video=False)
        summary = _run(args, lambda: session.export(args.format, args.out, options,
                                                    with_projects=args.projects[1:], split=args.split,
                                                    seed=args.seed, make_folder=False))
    _report(args, summary.to_json(),
            f"wrote {summary.annotations} annotation(s) on {summary.frames} frame(s) to {summary.path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    with _session() as session:
        summary = _run(args, lambda: session.import_annotations(
            args.path, args.format, args.source, args.project, video=args.video, group_by=args.group_by))
    _report(args, summary.to_json(),
            f"imported {summary.masks} mask(s) of {summary.objects} object(s) into {summary.project}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    options = _options(args)
    with tempfile.TemporaryDirectory(prefix="annotator-convert-") as tmp, _session() as session:
        project = Path(tmp) / "converted.annot"
        imported = _run(args, lambda: session.import_annotations(
            args.path, args.from_format, args.source, project, video=args.video, group_by=args.group_by))
        session.open(project, readonly=True, need_video=False)
        exported = _run(args, lambda: session.export(args.to_format, args.out, options, make_folder=False))
    doc = {"import": imported.to_json(), "export": exported.to_json()}
    doc["import"]["project"] = None  # the temporary project is gone
    _report(args, doc, f"converted {imported.masks} mask(s) from {args.from_format} to {args.to_format}: "
            f"{exported.path}")
    return 0


def _report(args: argparse.Namespace, doc: dict, line: str) -> None:
    for warning in _warnings(doc):
        message(f"warning: {warning}")
    if args.json:
        print_json(doc)
        return
    message(line)
    flat = doc if "import" not in doc else {**{f"import.{k}": v for k, v in doc["import"].items()},
                                            **{f"export.{k}": v for k, v in doc["export"].items()}}
    print_table({k: v for k, v in flat.items() if not isinstance(v, (list, dict)) and v is not None})


def _warnings(doc: dict) -> list[str]:
    if "import" in doc:
        return list(doc["import"].get("warnings", [])) + list(doc["export"].get("warnings", []))
    return list(doc.get("warnings", []))
