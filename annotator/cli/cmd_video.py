"""`annotator info` and `annotator frame`: look at a video without opening the app."""

from __future__ import annotations

import argparse

from annotator.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser("info", help="print a video's metadata")
    info.add_argument("video", help="video file, frame folder or image")
    info.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    info.set_defaults(handler=run_info)

    frame = sub.add_parser("frame", help="write one frame as an image")
    frame.add_argument("video")
    frame.add_argument("index", type=int, help="0-based frame index, in display order")
    frame.add_argument("--out", required=True, help="output image (.png or .jpg)")
    frame.set_defaults(handler=run_frame)


def run_info(args: argparse.Namespace) -> int:
    from annotator.core.video import open_video

    with open_video(args.video) as video:
        info = video.info()
    if args.json:
        print_json(info)
    else:
        print_table(info)
    return 0


def run_frame(args: argparse.Namespace) -> int:
    from annotator.core.imageio import write_image
    from annotator.core.video import open_video

    with open_video(args.video) as video:
        image = video.frame(args.index)
    write_image(args.out, image)
    return 0
