"""`annotator segment`: one mask from clicks and/or a box on one frame, without the app.

    annotator segment video.mp4 --frame 12 --point 320,200 --point 400,260,0 --out mask.png --json

SOURCE is a video, an image or a frame folder. The mask is written as a 0/255 PNG at the
source's resolution (atomically). stdout gets model, score, area, bbox (COCO [x, y, w, h]),
encode_ms and decode_ms: a table, or one JSON document with --json. Which engine runs, and
why, goes to stderr when it was chosen automatically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.cli.output import message, print_json, print_table
from annotator.engines.factory import SEGMENT_CHOICES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="segment one object on one frame from clicks and/or a box",
        description="Segment one object on one frame of a video, image or frame folder from "
        "clicks (--point) and/or a box (--box), and write the mask as a 0/255 PNG.",
    )
    p.add_argument("source", help="video file, image, or folder of frames")
    p.add_argument("--frame", type=int, default=0, help="0-based frame index (default 0)")
    p.add_argument("--point", action="append", type=_point, default=[], metavar="X,Y[,LABEL]",
                   help="a click in pixels; LABEL 1 = object (default), 0 = not object; repeat it")
    p.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="a box around the object, in pixels")
    p.add_argument("--model", default="auto", choices=SEGMENT_CHOICES, metavar="NAME",
                   help=f"segmentation model: {', '.join(SEGMENT_CHOICES)} (default auto: the best "
                   "installed model, else classical)")
    p.add_argument("--weights", help="a local checkpoint file or model folder instead of the installed one")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: $ANNOTATOR_DEVICE, else the best)")
    p.add_argument("--out", required=True, help="output mask PNG (0 background, 255 object)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(handler=run_segment, _parser=p)


def run_segment(args: argparse.Namespace) -> int:
    from annotator.app.session import Session
    from annotator.errors import OutputError

    parser: argparse.ArgumentParser = args._parser
    if not args.point and args.box is None:
        parser.error("give at least one --point or a --box")
    out = Path(args.out)
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise OutputError(f"folder {out.parent} does not exist", out)  # before minutes of encoding

    # A Session over a throw-away store: nothing is written beside the source, no project lock.
    weights = {"segment": args.weights} if args.weights else None
    with Session(segmenter=args.model, tracker="classical", device=args.device, weights=weights) as session:
        session.open_temporary(args.source)
        if not 0 <= args.frame < session.frame_count:
            parser.error(f"--frame {args.frame} is outside 0..{session.frame_count - 1}")
        width, height = session.video.width, session.video.height  # type: ignore[union-attr]
        for x, y, _ in args.point:
            if not (0 <= x < width and 0 <= y < height):
                parser.error(f"--point {x:g},{y:g} is outside the {width}x{height} frame")
        if args.box is not None:
            x0, y0, x1, y1 = args.box
            if x1 <= x0 or y1 <= y0:
                parser.error("--box needs X0 < X1 and Y0 < Y1")
        obj = session.add_object()
        points = [(x, y, label == 1) for x, y, label in args.point]
        result = session.segment(obj.id, points, args.box, frame=args.frame).result()
        name, why = session.segmenter_choice()
    if args.model in ("auto", "classical"):
        message(f"segment: using {why}")
    _write_mask(out, result.mask)

    report = _report(name, result.score, result.mask, result.timings.get("encode_ms", 0.0),
                     result.timings.get("decode_ms", 0.0))
    if args.json:
        print_json(report)
    else:
        print_table(report)
    return 0


def _report(model: str, score: float, mask: object, encode_ms: float, decode_ms: float) -> dict[str, object]:
    from annotator.core import masks as rle_ops

    rle = rle_ops.encode(mask)  # type: ignore[arg-type]
    return {
        "model": model,
        "score": round(float(score), 4),
        "area": rle_ops.area(rle),
        "bbox": [int(round(v)) for v in rle_ops.bbox(rle)],  # COCO [x, y, w, h]
        "encode_ms": round(float(encode_ms), 1),
        "decode_ms": round(float(decode_ms), 1),
    }


def _write_mask(path: Path, mask: object) -> None:
    import numpy as np
    from PIL import Image

    from annotator.core.atomic import atomic_write

    pixels = np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8)
    with atomic_write(path) as f:
        Image.fromarray(pixels).save(f, format="PNG")  # 2-D uint8: mode "L"


def _numbers(text: str, count: tuple[int, ...], what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in count:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {what}")
    return values


def _point(text: str) -> tuple[float, float, int]:
    values = _numbers(text, (2, 3), "X,Y or X,Y,LABEL")
    label = int(values[2]) if len(values) == 3 else 1
    if len(values) == 3 and values[2] not in (0.0, 1.0):
        raise argparse.ArgumentTypeError(f"{text!r}: LABEL must be 1 (object) or 0 (not object)")
    return values[0], values[1], label


def _box(text: str) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = _numbers(text, (4,), "X0,Y0,X1,Y1")
    return x0, y0, x1, y1
