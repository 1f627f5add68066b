"""Render the bundled sample video and its ground truth (deterministic).

    .venv/bin/python resources/make_sample.py [--out-dir resources]

Writes ``sample.mp4`` (640x360, 25 fps, 100 frames, H.264 yuv420p, a keyframe every 2 s) and
``sample_gt.json``: per object, per frame, the COCO RLE of the object's *visible* mask
(``annotator.core.masks`` format, str counts), plus the video's size, rate and length.
Three textured objects move over a panning textured background; the rectangle (object 2)
passes in front of the ellipse (object 1) around the middle of the clip, so object 1's mask
shrinks there: the occlusion trackers must survive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from annotator.core import masks as rle
from annotator.core.atomic import atomic_write
from annotator.sim.synthetic import default_shapes, render_scene

WIDTH, HEIGHT, FPS, FRAMES, SEED = 640, 360, 25, 100, 0
KEYFRAME_INTERVAL = 2 * FPS
# x264 is deterministic for fixed settings; one thread keeps it so across machines' core counts.
X264_OPTIONS = {
    "preset": "medium",
    "crf": "23",
    "x264-params": f"keyint={KEYFRAME_INTERVAL}:min-keyint={KEYFRAME_INTERVAL}:scenecut=0:threads=1",
}


def make_sample(out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path, gt_path = out_dir / "sample.mp4", out_dir / "sample_gt.json"
    shapes = default_shapes(WIDTH, HEIGHT)
    per_object: dict[int, list[dict]] = {s.object_id: [] for s in shapes}
    fd, tmp = tempfile.mkstemp(prefix=".sample.", suffix=".mp4", dir=out_dir)
    os.close(fd)
    try:
        with av.open(tmp, "w", format="mp4", options={"movflags": "faststart"}) as container:
            # No creation time in the header: the file's bytes depend on nothing but the code.
            container.metadata.clear()
            stream = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            stream.codec_context.gop_size = KEYFRAME_INTERVAL
            scene = render_scene(FRAMES, WIDTH, HEIGHT, seed=SEED, shapes=shapes)
            for i, (image, visible) in enumerate(scene):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
                for object_id, mask in visible.items():
                    per_object[object_id].append(rle.encode(mask))
            container.mux(stream.encode())
        os.replace(tmp, video_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    gt = {
        "video": video_path.name,
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "frame_count": FRAMES,
        "seed": SEED,
        "objects": {
            str(s.object_id): {"kind": s.kind, "color": list(s.color), "masks": per_object[s.object_id]}
            for s in shapes
        },
    }
    with atomic_write(gt_path, "w", encoding="utf-8") as f:
        json.dump(gt, f, separators=(",", ":"))
        f.write("\n")
    for path in (video_path, gt_path):
        path.chmod(0o644)  # temp files are created private; these are shared resources
    return video_path, gt_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent,
                        help="where to write sample.mp4 and sample_gt.json (default: resources/)")
    args = parser.parse_args(argv)
    video_path, gt_path = make_sample(args.out_dir)
    areas = {oid: [rle.area(m) for m in obj["masks"]]
             for oid, obj in json.loads(gt_path.read_text())["objects"].items()}
    print(f"wrote {video_path} ({video_path.stat().st_size / 1e6:.2f} MB) and {gt_path}", file=sys.stderr)
    for oid, series in areas.items():
        print(f"  object {oid}: visible area {min(series)}..{max(series)} px "
              f"(mean {np.mean(series):.0f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
