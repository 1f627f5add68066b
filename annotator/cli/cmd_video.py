"""`annotator info` and `annotator frame`: look at a video without opening the app.

    annotator info VIDEO [--json]            path, frames, fps, width, height, duration_s, codec, rotation
    annotator frame VIDEO INDEX --out FILE   writes exactly that displayed frame (.png lossless, or .jpg)

VIDEO may be a video file, a folder of images or one image. Frame sizes and pixels are in
display orientation (rotation metadata applied).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.cli.output import message, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser("info", help="print a video's metadata",
                          description="Print a video's metadata: path, frames, fps, width, height, "
                          "duration_s, codec, rotation (display orientation).")
    info.add_argument("video", help="video file, frame folder or image")
    info.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    info.set_defaults(handler=run_info)

    frame = sub.add_parser("frame", help="write one frame as an image",
                           description="Write exactly the INDEX-th displayed frame (0-based) as an image.")
    frame.add_argument("video", help="video file, frame folder or image")
    frame.add_argument("index", type=int, help="0-based frame index, in display order")
    frame.add_argument("--out", required=True, type=Path, help="output image (.png or .jpg)")
    frame.set_defaults(handler=run_frame)


def run_info(args: argparse.Namespace) -> int:
    from annotator.core.video import open_video

    with open_video(args.video, cache_bytes=0) as video:
        info = video.info()
    if args.json:
        print_json(info)
    else:
        print_table(info)
    return 0


def run_frame(args: argparse.Namespace) -> int:
    from PIL import Image

    from annotator.core.imageio import write_image
    from annotator.core.video import open_video
    from annotator.errors import OutputError

    out: Path = args.out
    # Fail on a bad extension before decoding anything (a seek in a long video takes a while).
    if out.suffix.lower() not in Image.registered_extensions():
        raise OutputError(f"unknown image extension {out.suffix!r} (use .png or .jpg)", out)
    with open_video(args.video, cache_bytes=0) as video:
        image = video.frame(args.index)
        size = f"{video.width}x{video.height}"
    write_image(out, image)
    message(f"wrote frame {args.index} ({size}) to {out}")
    return 0
