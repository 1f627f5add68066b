"""Export speed and memory: N frames x 10 objects at 1080p to COCO and YouTube-VIS, and back.

    .venv/bin/python bench/export.py                 # N = 1,000 and 10,000
    .venv/bin/python bench/export.py --frames 2000   # one size

The input project is built fast and honestly: 10 objects (ellipses and boxes of 90..330 px)
move over the frame; each object's mask is drawn at 60 poses and encoded once, and frame t uses
pose t mod 60 at its own position along the path (so masks differ from frame to frame, as a real
track's do). Rows go in with ``set_masks(record_history=False)``. The source is a folder of
N hard links to one black 1080p JPEG (the import needs a source with N frames of that size).

Every measured step runs in its own subprocess, so "peak RSS" is that step's own high-water
mark (VmHWM of the child), not the builder's. The reference in the same run is what most
tools do: build the whole COCO dict in memory and ``json.dump`` it ("naive"); the ratio column
is ours / naive. Flat memory means: the RSS of our exports barely moves from 1,000 to 10,000
frames, while the naive one grows with the frames.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT, OBJECTS, POSES = 1920, 1080, 10, 60


def build(folder: Path, frames: int) -> Path:
    from PIL import Image

    from annotator.core import masks as rle_ops
    from annotator.core.project import Project, VideoRef

    source = folder / "frames"
    source.mkdir(parents=True)
    Image.new("RGB", (WIDTH, HEIGHT)).save(folder / "black.jpg", quality=90)
    for i in range(frames):
        os.link(folder / "black.jpg", source / f"{i:05d}.jpg")
    ref = VideoRef(path=str(source), fingerprint=f"bench-{frames}", frame_count=frames, width=WIDTH,
                   height=HEIGHT, fps=30.0, codec="jpeg")
    rng = np.random.default_rng(0)
    poses = []  # per object: POSES RLEs of the shape at the origin-centred pose, plus its path
    for oid in range(1, OBJECTS + 1):
        rx, ry = int(rng.integers(45, 165)), int(rng.integers(45, 165))
        per = []
        for k in range(POSES):
            m = np.zeros((HEIGHT, WIDTH), np.uint8)
            cx = int(200 + (WIDTH - 400) * (0.5 + 0.45 * np.sin(2 * np.pi * (k / POSES + oid / OBJECTS))))
            cy = int(150 + (HEIGHT - 300) * (0.5 + 0.45 * np.cos(2 * np.pi * (k / POSES) * 2 + oid)))
            if oid % 2:
                cv2.ellipse(m, (cx, cy), (rx, ry), 6.0 * k, 0, 360, 1, -1)
            else:
                box = cv2.boxPoints(((cx, cy), (2 * rx, 2 * ry), 6.0 * k))
                cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
            per.append(rle_ops.encode(m.astype(bool)))
        poses.append(per)
    path = folder / "bench.annot"
    with Project.create(path, ref) as project:
        for oid in range(1, OBJECTS + 1):
            cat = project.ensure_category(("car", "person", "bike")[oid % 3]).id
            project.add_object(f"object {oid}", category_id=cat, object_id=oid)
        batch = []
        for t in range(frames):
            for oid in range(1, OBJECTS + 1):
                batch.append((oid, t, poses[oid - 1][(t * 7 + oid) % POSES], "tracked", 0.9, False))
            if len(batch) >= 20000:
                project.set_masks(batch, record_history=False)
                batch = []
        project.set_masks(batch, record_history=False)
    return path


def step(kind: str, folder: str) -> None:
    """One measured step (in a child process): prints seconds and the peak RSS in MB."""
    folder_p = Path(folder)
    project = folder_p / "bench.annot"
    started = time.perf_counter()
    if kind == "export-coco":
        from annotator.formats.coco import export_coco
        export_coco(project, folder_p / "coco.json")
    elif kind == "export-ytvis":
        from annotator.formats.ytvis import export_ytvis
        export_ytvis(project, folder_p / "ytvis.json")
    elif kind == "import-coco":
        from annotator.formats.coco import import_coco
        import_coco(folder_p / "coco.json", folder_p / "frames", folder_p / "from-coco.annot")
    elif kind == "import-ytvis":
        from annotator.formats.ytvis import import_ytvis
        import_ytvis(folder_p / "ytvis.json", folder_p / "frames", folder_p / "from-ytvis.annot")
    elif kind == "naive-coco":
        naive_coco(project, folder_p / "naive.json")
    elif kind == "pycocotools-load":
        import contextlib
        import io

        from pycocotools.coco import COCO
        with contextlib.redirect_stdout(io.StringIO()):
            COCO(str(folder_p / "coco.json"))
    elif kind == "baseline":
        from annotator.core.project import Project
        from annotator.formats import coco  # noqa: F401 - what every step imports
        Project.open(project, readonly=True).close()
    seconds = time.perf_counter() - started
    from annotator.core.memory import peak_rss_mb

    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))


def naive_coco(project_path: Path, out: Path) -> None:
    """The usual way: every annotation in one dict, then json.dump."""
    from annotator.core.project import Project

    with Project.open(project_path, readonly=True) as project:
        ref = project.video
        doc = {"images": [{"id": i + 1, "file_name": f"bench/{i:05d}.png", "width": ref.width,
                           "height": ref.height} for i in range(ref.frame_count)],
               "categories": [{"id": c.id, "name": c.name} for c in project.categories()],
               "annotations": []}
        category = {o.id: o.category_id for o in project.objects()}
        for k, rec in enumerate(project.iter_masks(), start=1):
            doc["annotations"].append({
                "id": k, "image_id": rec.frame + 1, "category_id": category[rec.object_id],
                "segmentation": rec.rle, "area": rec.area, "bbox": rec.bbox, "iscrowd": 0,
                "track_id": rec.object_id})
    with open(out, "w") as f:
        json.dump(doc, f)


def measure(kind: str, folder: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--step", kind, str(folder)], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(frames: int, keep: bool) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        build(folder, frames)
        print(f"built {frames} frames x {OBJECTS} objects at {WIDTH}x{HEIGHT} in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        base = measure("baseline", folder)
        for kind in ("export-coco", "naive-coco", "export-ytvis", "import-coco", "import-ytvis",
                     "pycocotools-load"):
            r = measure(kind, folder)
            size = {"export-coco": "coco.json", "naive-coco": "naive.json",
                    "export-ytvis": "ytvis.json"}.get(kind)
            r.update(kind=kind, frames=frames, baseline_mb=base["peak_rss_mb"],
                     file_mb=(folder / size).stat().st_size / 2**20 if size else None)
            rows.append(r)
            print(f"  {kind:<17} {r['seconds']:7.2f} s  {r['peak_rss_mb']:7.0f} MB", file=sys.stderr)
        if keep:
            print(f"kept nothing: {folder} is removed (use a smaller --frames to inspect)", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    naive = {(r["frames"]): r for r in rows if r["kind"] == "naive-coco"}
    lines = [f"{'step':<17} {'frames':>7} {'seconds':>8} {'peak RSS MB':>12} {'over baseline':>14} "
             f"{'file MB':>8} {'vs naive (s / MB)':>18}", "-" * 92]
    for r in rows:
        ratio = ""
        if r["kind"] == "export-coco":
            n = naive[r["frames"]]
            ratio = f"{r['seconds'] / n['seconds']:.2f} / {r['peak_rss_mb'] / n['peak_rss_mb']:.2f}"
        file_mb = f"{r['file_mb']:.1f}" if r["file_mb"] is not None else ""
        lines.append(f"{r['kind']:<17} {r['frames']:>7} {r['seconds']:>8.2f} {r['peak_rss_mb']:>12.0f} "
                     f"{r['peak_rss_mb'] - r['baseline_mb']:>14.0f} {file_mb:>8} {ratio:>18}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--step", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(*args.step)
        return
    rows = []
    for frames in args.frames:
        rows += run(frames, args.keep)
    print(table(rows))
    print(f"\n{OBJECTS} objects per frame at {WIDTH}x{HEIGHT}; baseline = a child that imports the exporter "
          "and opens the project (RSS before any work).")


if __name__ == "__main__":
    main()
