"""Benchmark: store, then read back, F frames x N objects of 1080p masks through the project store.

    .venv/bin/python bench/mask_store.py                # 10,000 frames x 10 objects (takes minutes)
    .venv/bin/python bench/mask_store.py --frames 500   # a quick look

It starts from raw bool masks, so RLE encoding and decoding count. The masks are moving, turning
shapes of varied size drawn with OpenCV (ellipses, rotated boxes, stars, two-lobed blobs, rings),
some leaving the frame or vanishing for a while; not noise, which no real mask looks like.

- *pycocotools alone* (the reference): encode every mask (Fortran uint8) and decode it back.
- *store write*: what a propagation does: core.masks.encode, then one ``write_tracked_many``
  commit per frame (WAL, synchronous=FULL), all inside one history step.
- *store read*: what an export does: a read-only open, ``iter_masks()`` over everything, and
  core.masks.decode of each mask to a bool array.

Goals (issue 2): store write + read at most 1.30x pycocotools alone; the file under 200 MB.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as coco_mask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.core import masks as rle_ops
from annotator.core.memory import peak_rss_mb
from annotator.core.project import Project, VideoRef

# pycocotools 2.0.x + numpy 2 warn on every decode; the warning is not what we measure.
warnings.filterwarnings("ignore", category=DeprecationWarning)


@dataclass(frozen=True)
class Shape:
    kind: str  # ellipse | box | star | blob | ring
    rx: int
    ry: int
    path: tuple[float, float, float, float, float, float]  # cx0, cy0, ax, ay, fx, fy (relative units)
    spin: float  # degrees per frame
    gone: float  # vanishes when sin(phase) > gone (1.1: never)


def make_shapes(n: int, width: int, height: int, seed: int) -> list[Shape]:
    rng = np.random.default_rng(seed)
    kinds = ["ellipse", "box", "star", "blob", "ring"]
    shapes = []
    for i in range(n):
        r = int(rng.uniform(0.04, 0.28) * height)  # from a far pedestrian to a close car
        shapes.append(Shape(
            kind=kinds[i % len(kinds)], rx=r, ry=int(r * rng.uniform(0.5, 1.2)),
            path=(rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.45), rng.uniform(0.1, 0.4),
                  rng.uniform(0.002, 0.01), rng.uniform(0.002, 0.01)),
            spin=float(rng.uniform(-1.0, 1.0)), gone=1.1 if i % 4 else 0.93))
    return shapes


def draw(canvas: np.ndarray, shape: Shape, t: int) -> np.ndarray:
    """Draw ``shape`` at frame ``t`` into ``canvas`` (uint8, reused) and return it as a bool view."""
    h, w = canvas.shape
    canvas.fill(0)
    cx0, cy0, ax, ay, fx, fy = shape.path
    if math.sin(t * fx * 0.7 + cx0 * 10) > shape.gone:
        return canvas.view(bool)  # out of view for a while: an empty mask
    cx = int((cx0 + ax * math.sin(t * fx)) * w)  # may leave the frame: clipped masks
    cy = int((cy0 + ay * math.sin(t * fy + 1.0)) * h)
    angle = shape.spin * t
    rx, ry = shape.rx, shape.ry
    if shape.kind == "ellipse":
        cv2.ellipse(canvas, (cx, cy), (rx, ry), angle, 0, 360, 1, -1)
    elif shape.kind == "box":
        pts = cv2.boxPoints(((cx, cy), (2 * rx, 2 * ry), angle))
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    elif shape.kind == "star":
        a = np.deg2rad(angle) + np.arange(12) * math.pi / 6
        radius = np.where(np.arange(12) % 2 == 0, rx, rx * 0.5)
        pts = np.stack([cx + radius * np.cos(a), cy + radius * np.sin(a)], axis=1)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    elif shape.kind == "blob":
        dx = int(0.6 * rx * math.cos(math.radians(angle * 2)))
        cv2.ellipse(canvas, (cx - dx, cy), (rx // 2 + 5, ry), angle, 0, 360, 1, -1)
        cv2.ellipse(canvas, (cx + dx, cy + ry // 3), (rx // 2, ry // 2 + 5), -angle, 0, 360, 1, -1)
    else:  # ring: a mask with a hole
        cv2.ellipse(canvas, (cx, cy), (rx, ry), angle, 0, 360, 1, -1)
        cv2.ellipse(canvas, (cx, cy), (rx // 2, ry // 2), angle, 0, 360, 0, -1)
    return canvas.view(bool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the project (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the project file")
    args = ap.parse_args()
    F, N, W, H = args.frames, args.objects, args.width, args.height

    workdir = Path(tempfile.mkdtemp(prefix="mask_store_", dir=args.dir))
    path = workdir / "bench.annot"
    shapes = make_shapes(N, W, H, args.seed)
    canvases = [np.zeros((H, W), np.uint8) for _ in range(N)]
    print(f"mask store: {F} frames x {N} objects at {W}x{H} ({F * N} masks) -> {path}", file=sys.stderr)

    ref_enc = store_write = 0.0
    total_rle_bytes = 0
    with Project.create(path, VideoRef(str(workdir / "bench.mp4"), "bench", F, W, H, 30.0)) as project:
        oids = [project.add_object().id for _ in range(N)]
        step = project.begin_step("Propagate")
        start = time.perf_counter()
        for t in range(F):
            masks = [draw(canvases[k], shapes[k], t) for k in range(N)]

            # reference: pycocotools alone encodes the same masks (its decode is timed while reading)
            t0 = time.perf_counter()
            rles = [coco_mask.encode(np.asfortranarray(m.view(np.uint8))) for m in masks]
            ref_enc += time.perf_counter() - t0
            total_rle_bytes += sum(len(r["counts"]) for r in rles)

            # the store, as a propagation writes: encode, one commit per frame, one undo step
            t3 = time.perf_counter()
            encoded = [rle_ops.encode(m) for m in masks]
            items = [(oid, t, rle, 0.9) for oid, rle in zip(oids, encoded)]
            wrote = project.write_tracked_many(items, step=step)
            store_write += time.perf_counter() - t3
            assert all(wrote)
            if t and t % 500 == 0:
                rate = t / (time.perf_counter() - start)
                print(f"  wrote {t}/{F} frames ({rate:.1f} frames/s, eta {(F - t) / rate:.0f} s)",
                      file=sys.stderr)
        t4 = time.perf_counter()
        step.close()
    store_write += time.perf_counter() - t4  # closing checkpoints the WAL into the file: part of writing

    size = path.stat().st_size + sum(p.stat().st_size for p in workdir.glob("bench.annot-*"))
    conn = sqlite3.connect(path)
    history_rows = conn.execute("SELECT COUNT(*) FROM history_changes").fetchone()[0]
    conn.close()

    t6 = time.perf_counter()
    reader = Project.open(path, readonly=True)
    open_s = time.perf_counter() - t6
    count = 0
    store_read = ref_dec = 0.0
    masks_iter = reader.iter_masks()
    while True:
        # Paired timing: the store's read and pycocotools' decode of the same RLE, side by side,
        # so both see the same load on a shared machine.
        t7 = time.perf_counter()
        rec = next(masks_iter, None)
        if rec is None:
            store_read += time.perf_counter() - t7
            break
        mask = rle_ops.decode(rec.rle)
        store_read += time.perf_counter() - t7
        as_coco = {"size": rec.rle["size"], "counts": rec.rle["counts"].encode("ascii")}
        t8 = time.perf_counter()
        coco_mask.decode(as_coco).view(bool)
        ref_dec += time.perf_counter() - t8
        count += 1
        if rec.frame in (0, F - 1):  # spot-check the round trip against the source masks
            source = draw(np.zeros((H, W), np.uint8), shapes[oids.index(rec.object_id)], rec.frame)
            assert np.array_equal(mask, source)
    reader.close()
    assert count == F * N, (count, F * N)

    ref = ref_enc + ref_dec
    store = store_write + store_read
    rows = [
        ("pycocotools encode", ref_enc), ("pycocotools decode", ref_dec), ("pycocotools alone", ref),
        ("store write (encode + commit/frame)", store_write),
        ("store read (iter_masks + decode)", store_read),
        ("store total", store),
    ]
    print(f"\nmask store benchmark: {F} frames x {N} objects, {W}x{H}, {F * N} masks")
    print(f"{'':38s} {'seconds':>9s} {'ms/mask':>8s}")
    for name, secs in rows:
        print(f"{name:38s} {secs:9.1f} {1000 * secs / (F * N):8.3f}")
    print(f"{'ratio store / pycocotools':38s} {store / ref:9.2f}   (goal <= 1.30)")
    print(f"{'open read-only (incl. quick_check)':38s} {open_s:9.2f}")
    print(f"{'file size':38s} {size / 1e6:9.1f} MB (goal < 200 MB; "
          f"RLE counts alone {total_rle_bytes / 1e6:.1f} MB)")
    print(f"{'history entries (one step)':38s} {history_rows:9d}")
    print(f"{'peak RSS':38s} {peak_rss_mb():9.0f} MB")
    if args.keep:
        print(f"kept {path}")
    else:
        for p in workdir.iterdir():
            p.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
