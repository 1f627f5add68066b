"""Simulated-user accuracy of the classical click engine on DAVIS, against plain GrabCut, in one run.

    .venv/bin/python bench/segment_clicks.py                       # ../shared/data/davis16-mini
    .venv/bin/python bench/segment_clicks.py --davis DIR --frames 0,20,40 --max-clicks 10
    .venv/bin/python bench/segment_clicks.py --no-baseline         # ours only (plain GrabCut is slow)
    .venv/bin/python bench/segment_clicks.py --no-baseline --sample  # also resources/sample.mp4

The robot (annotator.sim.click_robot, the RITM / f-BRS protocol) clicks the interior point of
the error region farthest from its border, positive on a miss and negative on an extra,
up to --max-clicks; every prediction gets the previous result's logits as its prior. Per
sequence/frame and on the mean: IoU after 1, 3 and 5 clicks, NoC@85 / NoC@90 (clicks to reach
that IoU; the maximum when never reached), seconds per click and the one-off prepare time.

Reference: plain GrabCut (cv2.grabCut, 5 iterations, full resolution): each positive click a
sure-foreground disc, each negative a sure-background disc (radius 5 px), the previous mask as
probable foreground and everything else probable background. A frame index past the end of
a sequence (car-shadow has 40 frames) takes its last frame.

--sample also runs the robot on the bundled synthetic clip (resources/sample.mp4, its three
objects on frames 0, 30, 60 and 90 against resources/sample_gt.json) and prints its own table.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Hashable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.core.imageio import read_image, read_label_png
from annotator.engines.classical import ClassicalSegmenter
from annotator.engines.segmenter import MaskResult, Prompt
from annotator.sim.click_robot import ClickRun, run_clicks, summarize

DEFAULT_DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16-mini"
SEQUENCES = ("car-shadow", "blackswan", "bmx-trees")


class PlainGrabCut:
    """The reference: cv2.grabCut seeded by click discs, refining the previous mask."""

    name = "grabcut"
    device = "cpu"

    def __init__(self, radius: int = 5, iterations: int = 5) -> None:
        self.radius = radius
        self.iterations = iterations
        self._images: dict[Hashable, np.ndarray] = {}

    def prepare(self, image: np.ndarray, key: Hashable) -> float:
        self._images[key] = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        return 0.0

    def is_prepared(self, key: Hashable) -> bool:
        return key in self._images

    def predict(self, prompt: Prompt, key: Hashable) -> MaskResult:
        bgr = self._images[key]
        if prompt.prior is not None:
            trimap = np.where(prompt.prior > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        else:
            trimap = np.full(bgr.shape[:2], cv2.GC_PR_BGD, np.uint8)
        for (x, y), label in zip(prompt.points.tolist(), prompt.labels.tolist()):
            cv2.circle(trimap, (int(round(x)), int(round(y))), self.radius,
                       int(cv2.GC_FGD if label == 1 else cv2.GC_BGD), -1)
        with contextlib.suppress(cv2.error):  # no background sample yet: the seeds stand
            cv2.grabCut(bgr, trimap, None, np.zeros((1, 65)), np.zeros((1, 65)), self.iterations,
                        cv2.GC_INIT_WITH_MASK)
        mask = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
        return MaskResult(mask, 0.5, np.where(mask, 1.0, -1.0).astype(np.float32))


def load_cases(root: Path, frames: list[int]) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    cases = []
    for seq in SEQUENCES:
        labels = sorted((root / "Annotations" / "480p" / seq).glob("*.png"))
        if not labels:
            raise SystemExit(f"no annotations for {seq} under {root}")
        for k in frames:
            k = min(k, len(labels) - 1)
            image = read_image(root / "JPEGImages" / "480p" / seq / f"{k:05d}.jpg")
            gt = read_label_png(root / "Annotations" / "480p" / seq / f"{k:05d}.png") > 0
            cases.append((seq, k, image, gt))
    return cases


Case = tuple[str, int, np.ndarray, np.ndarray]


def load_sample_cases(frames: tuple[int, ...] = (0, 30, 60, 90)) -> list[Case]:
    """The sample clip's objects on ``frames``: (object name, frame, image, ground truth)."""
    import json

    from annotator.core import masks
    from annotator.core.video import open_video
    from annotator.resources import SAMPLE_GT, resource_path, sample_video

    video, truth = sample_video(), resource_path(SAMPLE_GT)
    if video is None or truth is None:
        raise SystemExit("resources/sample.mp4 or sample_gt.json is missing (run resources/make_sample.py)")
    objects = json.loads(truth.read_text())["objects"]
    cases = []
    with open_video(video) as source:
        for k in frames:
            image = np.ascontiguousarray(source.frame(k))
            for _, obj in sorted(objects.items()):
                gt = masks.decode(obj["masks"][k])
                if gt.any():
                    cases.append((f"sample-{obj['kind']}", k, image, gt))
    return cases


def evaluate(engine: object, cases: list, max_clicks: int) -> list[ClickRun]:
    runs = []
    for seq, k, image, gt in cases:
        runs.append(run_clicks(engine, image, gt, (seq, k), max_clicks=max_clicks, name=f"{seq}/{k:05d}"))
        print(f"  {engine.name}: {runs[-1].name} done", file=sys.stderr, flush=True)
    return runs


def print_table(title: str, runs: list[ClickRun], max_clicks: int) -> None:
    width = max([18] + [len(r.name) for r in runs])
    print(f"\n{title}")
    print(f"{'sequence/frame':{width}s} {'IoU@1':>6s} {'IoU@3':>6s} {'IoU@5':>6s} {'NoC85':>6s} "
          f"{'NoC90':>6s} {'s/click':>8s} {'prep s':>7s}")
    for r in runs:
        print(f"{r.name:{width}s} {r.iou_at(1):6.3f} {r.iou_at(3):6.3f} {r.iou_at(5):6.3f} "
              f"{r.noc(0.85, max_clicks):6d} {r.noc(0.90, max_clicks):6d} "
              f"{np.mean(r.predict_s):8.3f} {r.prepare_s:7.3f}")
    s = summarize(runs, max_clicks=max_clicks)
    print(f"{'mean':{width}s} {s.iou_at[1]:6.3f} {s.iou_at[3]:6.3f} {s.iou_at[5]:6.3f} {s.noc[85]:6.2f} "
          f"{s.noc[90]:6.2f} {s.mean_predict_s:8.3f} {s.mean_prepare_s:7.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--davis", type=Path, default=DEFAULT_DAVIS)
    ap.add_argument("--frames", default="0,20,40")
    ap.add_argument("--max-clicks", type=int, default=10)
    ap.add_argument("--no-baseline", action="store_true", help="skip plain GrabCut (about 1 s a click)")
    ap.add_argument("--sample", action="store_true", help="also run on resources/sample.mp4 (own table)")
    args = ap.parse_args()
    frames = [int(v) for v in args.frames.split(",")]
    cases = load_cases(args.davis, frames)
    t0 = time.perf_counter()
    ours = evaluate(ClassicalSegmenter(), cases, args.max_clicks)
    ours_s = time.perf_counter() - t0
    print_table(f"classical (ours), {len(cases)} frames, up to {args.max_clicks} clicks, {ours_s:.0f} s",
                ours, args.max_clicks)
    if args.sample:
        sample = load_sample_cases()
        print_table(f"classical (ours) on resources/sample.mp4, {len(sample)} objects x frames",
                    evaluate(ClassicalSegmenter(), sample, args.max_clicks), args.max_clicks)
    if args.no_baseline:
        return
    t0 = time.perf_counter()
    ref = evaluate(PlainGrabCut(), cases, args.max_clicks)
    ref_s = time.perf_counter() - t0
    print_table(f"plain GrabCut (reference), {ref_s:.0f} s", ref, args.max_clicks)
    a, b = summarize(ours, max_clicks=args.max_clicks), summarize(ref, max_clicks=args.max_clicks)
    print("\nours vs plain GrabCut (ratio = ours / reference; NoC and time: lower is better)")
    for label, x, y in (("mIoU@1", a.iou_at[1], b.iou_at[1]), ("mIoU@3", a.iou_at[3], b.iou_at[3]),
                        ("mIoU@5", a.iou_at[5], b.iou_at[5]), ("NoC@85", a.noc[85], b.noc[85]),
                        ("NoC@90", a.noc[90], b.noc[90]),
                        ("s/click", a.mean_predict_s, b.mean_predict_s)):
        print(f"  {label:8s} ours {x:7.3f}  grabcut {y:7.3f}  ratio {x / y if y else float('nan'):6.2f}")


if __name__ == "__main__":
    main()
