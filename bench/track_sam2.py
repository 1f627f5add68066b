"""Benchmark: our streaming, memory-bounded SAM 2.1 tracker against transformers' stock loop.

    .venv/bin/python bench/track_sam2.py --threads 1      # CPU: Hiera-T at 128 px, 100 and 1,000 frames
    .venv/bin/python bench/track_sam2.py --frames 100     # a quick look
    .venv/bin/python bench/track_sam2.py --gpu            # lent GPU: Hiera-B+ at 1024, 854x480, 100/2,000

Both sides use the same random weights (weights do not change the compute) and one object
conditioned with a mask on frame 0, tracked forward to the last frame.

- *ours*: ``Sam2VideoTracker`` pulls each frame from a FrameSource, preprocesses it, tracks,
  and prunes the session to the conditioning frames plus a 15-frame window.
- *stock*: transformers' documented path: every frame preprocessed into the session first
  (``add_new_frame``, what ``init_video_session(video=...)`` does), the mask added, then
  ``propagate_in_video_iterator``. Its fps is given with and without that loading step;
  the ratio ours/stock uses the end-to-end figure (both sides then preprocess every frame).

Each (side, length) runs in its own process so peak RSS (VmHWM) and peak VRAM
(``torch.cuda.max_memory_allocated``) belong to that run alone. "Retained" counts the frame
states the session holds at the end: stored outputs (conditioning + tracked) and frame
tensors. Frames come from a pool of 48 synthetic frames played back and forth, so the source
itself holds O(1) memory. On CPU the tracker uses bf16 nowhere; on CUDA both sides run
under the same bf16 autocast (annotator.engines.device.autocast).

Goal (issue 4): flat memory for ours (the 1,000-frame peak about the 100-frame one); on the
GPU an fps ratio >= 1.0 and flat peak VRAM.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POOL = 48


# --- model and frames ------------------------------------------------------------------------------
def build_model(arch: str, image_size: int, seed: int = 0) -> Any:
    """A random-weight ``Sam2VideoModel``: "tiny" (Hiera-T, the Sam2VideoConfig defaults) or
    "base-plus" (Hiera-B+), resized to ``image_size`` (a multiple of 64)."""
    import torch
    from transformers import Sam2VideoConfig, Sam2VideoModel

    s = image_size
    backbone: dict[str, Any] = {"model_type": "sam2_hiera_det_model", "image_size": [s, s]}
    channels = [768, 384, 192, 96]
    if arch == "base-plus":
        backbone.update(hidden_size=112, num_attention_heads=2, blocks_per_stage=[2, 3, 16, 3],
                        embed_dim_per_stage=[112, 224, 448, 896], num_attention_heads_per_stage=[2, 4, 8, 16],
                        global_attention_blocks=[12, 16, 20],
                        window_positional_embedding_background_size=[14, 14])
        channels = [896, 448, 224, 112]
    elif arch != "tiny":
        raise ValueError(f"unknown arch {arch!r}")
    vision = {"model_type": "sam2_vision_model", "backbone_config": backbone,
              "backbone_channel_list": channels,
              "backbone_feature_sizes": [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]]}
    config = Sam2VideoConfig(vision_config=vision, prompt_encoder_config={"image_size": s}, image_size=s,
                             memory_attention_rope_feat_sizes=[s // 16, s // 16])
    torch.manual_seed(seed)
    return Sam2VideoModel(config).eval()


class PooledFrames:
    """A FrameSource of ``count`` frames cycling back and forth through a few rendered ones."""

    def __init__(self, count: int, width: int, height: int) -> None:
        from annotator.sim.synthetic import render_scene

        pairs = list(render_scene(num_frames=POOL, width=width, height=height, seed=0))
        self.pool = [np.ascontiguousarray(f) for f, _ in pairs]
        self.first_mask = pairs[0][1][1]
        self.count = count

    @property
    def frame_count(self) -> int:
        return self.count

    def frame(self, index: int) -> np.ndarray:
        cycle = index % (2 * POOL - 2)
        return self.pool[cycle if cycle < POOL else 2 * POOL - 2 - cycle]


# --- one measured run (a child process) ----------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from annotator.core.memory import peak_rss_mb
    from annotator.engines.device import autocast
    from annotator.engines.sam2_video import Sam2VideoTracker, video_processor_for

    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.gpu else "cpu"
    model = build_model(args.arch, args.image_size).to(device)
    processor = video_processor_for(args.image_size)
    width, height = args.size
    source = PooledFrames(args.frames, width, height)
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = rss_mb()
    load_s = 0.0
    start, start_cpu = time.perf_counter(), time.process_time()
    if args.side == "ours":
        tracker = Sam2VideoTracker(source, model, processor, "bench", device)
        tracker.add_conditioning(0, {1: source.first_mask})
        done = sum(1 for _ in tracker.propagate(0, 1, {1: args.frames - 1}))
        retained = tracker.retained_counts()
    else:
        session = processor.init_video_session(inference_device=device, dtype=torch.float32)
        for index in range(args.frames):
            pixels = processor(images=source.frame(index), device=device, return_tensors="pt").pixel_values[0]
            session.add_new_frame(pixels, index)
        if cuda:
            torch.cuda.synchronize()
        load_s = time.perf_counter() - start
        processor.add_inputs_to_inference_session(inference_session=session, frame_idx=0, obj_ids=1,
                                                  input_masks=source.first_mask)
        done = 0
        with autocast(device):
            for out in model.propagate_in_video_iterator(session, start_frame_idx=0):
                # What a caller must do with each frame anyway: the full-size mask on the host.
                full = processor.post_process_masks([out.pred_masks.float()], [[height, width]])
                full[0].cpu()
                done += 1
        done -= 1  # the conditioning frame itself, which ours does not report
        outputs = session.output_dict_per_obj[0]
        retained = {"conditioning_outputs": len(outputs["cond_frame_outputs"]),
                    "tracked_outputs": len(outputs["non_cond_frame_outputs"]),
                    "processed_frames": len(session.processed_frames or {})}
    if cuda:
        torch.cuda.synchronize()
    total_s, cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    return {
        "side": args.side, "frames": args.frames, "tracked": done, "load_s": load_s, "total_s": total_s,
        "fps": done / total_s, "fps_propagate": done / max(total_s - load_s, 1e-9),
        "cpu_ms_per_frame": 1000 * cpu_s / max(done, 1),
        "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
        "peak_vram_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "retained": retained,
    }


# --- the parent: run the children, print tables -----------------------------------------------------
def spawn(args: argparse.Namespace, side: str, frames: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", side, "--frames", str(frames), "--arch", args.arch,
           "--image-size", str(args.image_size), "--size", f"{args.size[0]}x{args.size[1]}",
           "--threads", str(args.threads)] + (["--gpu"] if args.gpu else [])
    print(f"  running {side} x {frames} frames ...", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"side": side, "frames": frames, "skipped": f"over the {args.timeout} s limit"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"side": side, "frames": frames, "skipped": f"exit {proc.returncode}: {tail[:120]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_retained(r: dict[str, int]) -> str:
    return (f"{r.get('conditioning_outputs', 0)}+{r.get('tracked_outputs', 0)} outputs, "
            f"{r.get('processed_frames', 0)} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="the lent-GPU run: Hiera-B+ at 1024, 854x480")
    parser.add_argument("--frames", type=int, nargs="+", help="clip lengths (CPU: 100 1000; GPU: 100 2000)")
    parser.add_argument("--arch", choices=("tiny", "base-plus"))
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")), help="frame WxH")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-stock", action="store_true", help="only ours")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--child", choices=("ours", "stock"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.arch = args.arch or ("base-plus" if args.gpu else "tiny")
    args.image_size = args.image_size or (1024 if args.gpu else 128)
    args.size = args.size or ((854, 480) if args.gpu else (320, 180))
    args.frames = args.frames or ([100, 2000] if args.gpu else [100, 1000])
    if args.child:
        args.side, args.frames = args.child, args.frames[0]
        print(json.dumps(run_child(args)))
        return

    device = "cuda" if args.gpu else f"cpu ({args.threads or os.cpu_count()} threads)"
    print(f"SAM 2.1 {args.arch} layout, random weights, image_size {args.image_size}, "
          f"frames {args.size[0]}x{args.size[1]}, {device}")
    rows = []
    for frames in args.frames:
        for side in ("ours",) + (() if args.no_stock else ("stock",)):
            rows.append(spawn(args, side, frames))
    header = (f"{'side':6} {'frames':>6} {'fps':>7} {'fps prop.':>9} {'CPU ms/frame':>12} "
              f"{'peak RSS MB':>11} {'RSS growth':>10} ")
    header += f"{'peak VRAM MB':>12} " if args.gpu else ""
    print(header + "retained at the end")
    for r in rows:
        if "skipped" in r:
            print(f"{r['side']:6} {r['frames']:>6} skipped: {r['skipped']}")
            continue
        line = (f"{r['side']:6} {r['frames']:>6} {r['fps']:>7.2f} {r['fps_propagate']:>9.2f} "
                f"{r['cpu_ms_per_frame']:>12.0f} {r['peak_rss_mb']:>11.0f} "
                f"{r['peak_rss_mb'] - r['rss_before_mb']:>10.0f} ")
        line += f"{r['peak_vram_mb']:>12.0f} " if args.gpu else ""
        print(line + fmt_retained(r["retained"]))
    print()
    by = {(r["side"], r["frames"]): r for r in rows if "skipped" not in r}
    for frames in args.frames:
        ours, stock = by.get(("ours", frames)), by.get(("stock", frames))
        if ours and stock:
            vram = (f", peak VRAM {ours['peak_vram_mb']:.0f} vs {stock['peak_vram_mb']:.0f} MB"
                    if args.gpu else "")
            print(f"{frames:>6} frames: fps ratio ours/stock {ours['fps'] / stock['fps']:.2f} "
                  f"(vs stock propagation alone {ours['fps'] / stock['fps_propagate']:.2f}; "
                  f"by CPU time {stock['cpu_ms_per_frame'] / ours['cpu_ms_per_frame']:.2f}), "
                  f"peak RSS {ours['peak_rss_mb']:.0f} vs {stock['peak_rss_mb']:.0f} MB{vram}")
    ours_runs = [by[("ours", f)] for f in args.frames if ("ours", f) in by]
    if len(ours_runs) >= 2:
        a, b = ours_runs[0], ours_runs[-1]
        key = "peak_vram_mb" if args.gpu else "peak_rss_mb"
        print(f"ours, {a['frames']} -> {b['frames']} frames: peak {key.split('_')[1].upper()} "
              f"{a[key]:.0f} -> {b[key]:.0f} MB ({b[key] / a[key]:.2f}x)")


if __name__ == "__main__":
    main()
