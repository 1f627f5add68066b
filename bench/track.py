"""Benchmark: the classical tracker (fast and quality modes) against plain flow warping.

    .venv/bin/python bench/track.py                      # all three tables
    .venv/bin/python bench/track.py --tables quality     # one table: fps | quality | memory
    .venv/bin/python bench/track.py --extended           # + backward and every-2nd-frame runs
    .venv/bin/python bench/track.py --lengths 100,1000   # shorter memory table

Tables
1. fps at 480p (854x480 DAVIS frames, already decoded in memory, so decoding is not
   counted; plain warp and fast runs timed ``--runs`` times, median, default 3; quality
   mode ``--quality-runs`` times, default 1): the reference is plain flow warping in the same
   run (DIS ultrafast, the mask pulled along the backward flow); the ratio is ours / reference,
   also per sequence. Goal: fast mode >= 30 fps and well above plain warp's quality.
2. J&F per sequence (official DAVIS protocol, engines' masks scored with core/metrics.py):
   the ground-truth first-frame mask, propagated forward to the last frame, for plain
   warping, fast mode and quality mode, on every sequence of ../shared/data/davis16-mini and
   davis16-dev (bench/davis_sets.py; skipped with a message when absent; --seq picks some).
   ``--extended`` adds runs backward from the last frame and on every
   second frame (twice the motion), to show the figures are not tuned to three runs.
3. Peak RSS and retained per-frame states for 100 / 1,000 / 5,000 frames: a synthetic
   FrameSource renders each 854x480 frame on demand (a panning textured background and two
   moving objects), so the source holds O(1) memory. Each (mode, length) runs in its own
   process, so peak RSS (VmHWM) is that run's alone; "retained" is the most frame
   states the tracker held at once (its previous frame) plus the user masks it keeps (RLE).
   Goal: flat.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
SEQUENCES: list[str] = []  # filled by main() from bench/davis_sets.py (all nine by default)
ROOTS: dict[str, Path] = {}
METHODS = ["plain warp", "fast", "quality"]  # --methods picks some (plain warp is always run)


# --- DAVIS runs: fps and quality ---------------------------------------------------------------------
def load_sequence(seq: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from davis_sets import load

    return load(seq, ROOTS[seq])


def track(method: str, frames: list[np.ndarray], first: np.ndarray) -> tuple[list[np.ndarray], float]:
    """(masks for frames 1.., seconds) of one method from the first frame's mask."""
    from annotator.engines.classical_track import ClassicalTracker
    from annotator.engines.flow import plain_warp
    from annotator.engines.tracker import ListFrames

    start = time.perf_counter()
    if method == "plain warp":
        masks = list(plain_warp(frames, first))
    else:
        tracker = ClassicalTracker(ListFrames(frames), mode=method)
        tracker.add_conditioning(0, {1: first})
        masks = [u.mask for u in tracker.propagate(0, 1, {1: len(frames) - 1})]
    return masks, time.perf_counter() - start


def davis_runs(extended: bool, runs: int = 3, quality_runs: int = 1) -> list[dict[str, Any]]:
    from annotator.core.metrics import score_sequence

    variants = [("forward", 1, 1)] + ([("backward", -1, 1), ("fwd x2", 1, 2), ("bwd x2", -1, 2)]
                                      if extended else [])
    rows = []
    for seq in SEQUENCES:
        frames, gts = load_sequence(seq)
        for label, direction, stride in variants:
            f = (frames if direction == 1 else frames[::-1])[::stride]
            g = (gts if direction == 1 else gts[::-1])[::stride]
            for method in METHODS:
                masks, seconds = track(method, f, g[0])
                repeats = quality_runs if method == "quality" else runs
                if repeats > 1:  # the masks are deterministic; repeat only to time (median)
                    again = [track(method, f, g[0])[1] for _ in range(repeats - 1)]
                    seconds = float(np.median([seconds, *again]))
                score = score_sequence(g, [g[0], *masks], name=seq)
                rows.append({"sequence": seq, "variant": label, "method": method, "frames": len(f) - 1,
                             "seconds": seconds, "J&F": score.jf, "J": score.j_mean, "F": score.f_mean})
                fps = (len(f) - 1) / seconds
                print(f"  {seq:<11} {label:<8} {method:<10} J&F {score.jf:.3f}  {fps:6.1f} fps",
                      file=sys.stderr)
    return rows


def fps_table(rows: list[dict[str, Any]]) -> str:
    fwd = [r for r in rows if r["variant"] == "forward"]
    fps = {m: sum(r["frames"] for r in fwd if r["method"] == m) / sum(r["seconds"] for r in fwd
                                                                       if r["method"] == m)
           for m in METHODS}
    lines = ["Table 1. Tracker speed at 854x480 (DAVIS frames in memory, 1 object, "
             f"{sum(r['frames'] for r in fwd if r['method'] == 'fast')} frames)",
             f"{'method':<12} {'fps':>7} {'ms/frame':>9} {'vs plain warp':>14}"]
    for m in METHODS:
        lines.append(f"{m:<12} {fps[m]:7.1f} {1000 / fps[m]:9.1f} {fps[m] / fps['plain warp']:13.2f}x")
    if "fast" in fps:
        lines.append(f"goal: fast >= 30 fps -> {'met' if fps['fast'] >= 30 else 'NOT met'}")
    lines.append("per sequence, fps (ratio to plain warp):")
    for seq in SEQUENCES:
        ref = _seq_fps(fwd, seq, "plain warp")
        lines.append(f"  {seq:<15} plain warp {ref:6.1f}  " + "  ".join(
            f"{m} {_seq_fps(fwd, seq, m):6.1f} ({_seq_fps(fwd, seq, m) / ref:.2f}x)" for m in METHODS[1:]))
    return "\n".join(lines)


def _seq_fps(rows: list[dict[str, Any]], seq: str, method: str) -> float:
    r = next(r for r in rows if r["sequence"] == seq and r["method"] == method)
    return r["frames"] / r["seconds"]


def quality_table(rows: list[dict[str, Any]]) -> str:
    lines = ["Table 2. J&F (J / F), GT mask on the first frame, propagated to the end (DAVIS protocol)"]
    header = f"{'sequence':<11} {'run':<8} " + " ".join(f"{m:>20}" for m in METHODS)
    lines.append(header)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for variant in variants:
        for seq in SEQUENCES:
            cells = []
            for m in METHODS:
                r = next(r for r in rows
                         if r["sequence"] == seq and r["variant"] == variant and r["method"] == m)
                cells.append(f"{r['J&F']:.3f} ({r['J']:.3f}/{r['F']:.3f})")
            lines.append(f"{seq:<11} {variant:<8} " + " ".join(f"{c:>20}" for c in cells))
        means = []
        for m in METHODS:
            sel = [r for r in rows if r["variant"] == variant and r["method"] == m]
            means.append(f"{np.mean([r['J&F'] for r in sel]):.3f} ({np.mean([r['J'] for r in sel]):.3f}/"
                         f"{np.mean([r['F'] for r in sel]):.3f})")
        lines.append(f"{'mean':<11} {variant:<8} " + " ".join(f"{c:>20}" for c in means))
    if len(variants) > 1:
        overall = [f"{np.mean([r['J&F'] for r in rows if r['method'] == m]):.3f}" for m in METHODS]
        lines.append(f"{'mean, all':<11} {len(variants) * len(SEQUENCES):<8} "
                     + " ".join(f"{c:>20}" for c in overall))
    return "\n".join(lines)


# --- memory: a synthetic source rendered on demand -----------------------------------------------------
class RenderedSource:
    """854x480 frames made on request: a panning textured background and two textured ellipses
    on smooth periodic paths (the same frame for the same index, nothing cached)."""

    def __init__(self, frame_count: int, width: int = 854, height: int = 480, seed: int = 0) -> None:
        import cv2

        self.frame_count = frame_count
        self.width, self.height = width, height
        rng = np.random.default_rng(seed)
        self._margin = 120
        noise = rng.normal(0, 1, ((height + 2 * self._margin) // 16, (width + 2 * self._margin) // 16, 3))
        big = cv2.resize(noise.astype(np.float32), (width + 2 * self._margin, height + 2 * self._margin),
                         interpolation=cv2.INTER_CUBIC)
        self._background = np.clip(120 + 40 * big, 0, 255).astype(np.uint8)
        self._objects = []
        # Luminance differs from the grey background: DIS sees luminance only.
        for colour, radius, phase in (((250, 170, 120), (70, 50), 0.0), ((30, 50, 120), (55, 55), 2.0)):
            tex = rng.normal(0, 1, (2 * radius[1] + 1, 2 * radius[0] + 1, 1)).astype(np.float32)
            tex = cv2.GaussianBlur(tex, (0, 0), 2.0)
            tex = np.clip(np.asarray(colour, np.float32) + 60 * tex.reshape(tex.shape[0], tex.shape[1], 1),
                          0, 255).astype(np.uint8)
            self._objects.append((tex, radius, phase))

    def _centre(self, index: int, phase: float) -> tuple[int, int]:
        a = 2 * math.pi * index / 150 + phase
        return (int(self.width * (0.5 + 0.3 * math.sin(a))),
                int(self.height * (0.5 + 0.25 * math.sin(2 * a))))

    def masks(self, index: int) -> dict[int, np.ndarray]:
        import cv2

        out = {}
        for oid, (_tex, radius, phase) in enumerate(self._objects, start=1):
            m = np.zeros((self.height, self.width), np.uint8)
            cv2.ellipse(m, self._centre(index, phase), radius, 0, 0, 360, 1, -1)
            out[oid] = m.astype(bool)
        return out

    def frame(self, index: int) -> np.ndarray:
        a = 2 * math.pi * index / 400
        ox = int(self._margin * (1 + 0.8 * math.sin(a)))
        oy = int(self._margin * (1 + 0.5 * math.sin(2 * a)))
        img = self._background[oy:oy + self.height, ox:ox + self.width].copy()
        for mask, (tex, radius, phase) in zip(self.masks(index).values(), self._objects):
            cx, cy = self._centre(index, phase)
            y0, x0 = cy - radius[1], cx - radius[0]
            region = mask[y0:y0 + tex.shape[0], x0:x0 + tex.shape[1]]
            patch = tex[:region.shape[0], :region.shape[1]]
            img[y0:y0 + tex.shape[0], x0:x0 + tex.shape[1]][region] = patch[region]
        return img


def peak_rss_mb() -> float:
    from annotator.core.memory import peak_rss_mb as peak

    return peak()


def memory_child(mode: str, frames: int) -> None:
    """One measured run (in its own process): prints a JSON line."""
    from annotator.engines.classical_track import ClassicalTracker

    source = RenderedSource(frames)
    tracker = ClassicalTracker(source, mode=mode)
    tracker.add_conditioning(0, source.masks(0))
    rss_start = peak_rss_mb()
    retained = 0
    start = time.perf_counter()
    ious = []
    for u in tracker.propagate(0, 1, {1: frames - 1, 2: frames - 1}):
        retained = max(retained, tracker.retained_frames)
        if u.frame % 50 == 0:
            gt = source.masks(u.frame)[u.object_id]
            ious.append(float((gt & u.mask).sum() / max(1, (gt | u.mask).sum())))
    seconds = time.perf_counter() - start
    print(json.dumps({"mode": mode, "frames": frames, "seconds": seconds,
                      "peak_rss_mb": peak_rss_mb(),
                      "rss_before_mb": rss_start, "retained": retained,
                      "user_masks": len(tracker.conditioning_frames()),
                      "iou_sampled": float(np.mean(ious)) if ious else float("nan")}))


def memory_table(lengths: list[int], modes: list[str]) -> str:
    rows = []
    for mode in modes:
        for n in lengths:
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(n)], capture_output=True,
                                 text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"  memory {mode:<8} {n:>6} frames: {row['peak_rss_mb']:.0f} MB, "
                  f"{n / row['seconds']:.1f} fps", file=sys.stderr)
    lines = ["Table 3. Memory over video length (854x480 frames rendered on demand, 2 objects; "
             "fps includes rendering)",
             f"{'mode':<8} {'frames':>7} {'fps':>6} {'peak RSS MB':>12} {'before run':>11} "
             f"{'retained frames':>16} {'user masks':>11} {'IoU (sampled)':>14}"]
    for r in rows:
        lines.append(f"{r['mode']:<8} {r['frames']:>7} {r['frames'] / r['seconds']:6.1f} "
                     f"{r['peak_rss_mb']:12.0f} {r['rss_before_mb']:11.0f} {r['retained']:>16} "
                     f"{r['user_masks']:>11} {r['iou_sampled']:14.3f}")
    for mode in modes:
        sel = [r for r in rows if r["mode"] == mode]
        if len(sel) > 1:
            growth = sel[-1]["peak_rss_mb"] - sel[0]["peak_rss_mb"]
            flat = "flat" if abs(growth) < 0.1 * sel[0]["peak_rss_mb"] else "NOT flat"
            lines.append(f"{mode}: peak RSS {sel[0]['frames']} -> {sel[-1]['frames']} frames: "
                         f"{growth:+.0f} MB ({flat})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", default="fps,quality,memory")
    parser.add_argument("--extended", action="store_true", help="also backward and every-2nd-frame runs")
    parser.add_argument("--seq", help="comma-separated sequence names (default: all nine)")
    parser.add_argument("--runs", type=int, default=3,
                        help="time plain warp and fast runs this many times (median)")
    parser.add_argument("--quality-runs", type=int, default=1, help="the same for quality mode (slow)")
    parser.add_argument("--methods", default="fast,quality", help="trackers to run beside plain warp")
    parser.add_argument("--dump", help="also write the DAVIS rows (J&F, seconds) to this JSON file")
    parser.add_argument("--lengths", default="100,1000,5000")
    parser.add_argument("--modes", default="fast,quality")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child[0], int(args.child[1]))
        return 0
    tables = set(args.tables.split(","))
    if tables & {"fps", "quality"}:
        from davis_sets import roots, sequences

        if roots():
            found = sequences(args.seq)
            SEQUENCES[:] = [name for name, _ in found]
            METHODS[:] = ["plain warp", *(m for m in ("fast", "quality") if m in args.methods.split(","))]
            ROOTS.update(dict(found))
            rows = davis_runs(args.extended, args.runs, args.quality_runs)
            if args.dump:
                Path(args.dump).write_text(json.dumps(rows, indent=1))
            if "fps" in tables:
                print(fps_table(rows) + "\n", flush=True)
            if "quality" in tables:
                print(quality_table(rows) + "\n", flush=True)
        else:
            print("Tables 1-2 skipped: no DAVIS data (set ANNOTATOR_DAVIS_DIRS)\n",
                  flush=True)
    if "memory" in tables:
        print(memory_table([int(x) for x in args.lengths.split(",")], args.modes.split(",")), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
