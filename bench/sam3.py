"""SAM 3 on this machine: per-frame time and peak RSS with the real-size model (random weights,
transformers' default configs: the facebook/sam3 shapes, about 840 M parameters), at the trained
input size 1008 and at 560.

    .venv/bin/python bench/sam3.py                       # CPU, 1008 and 560, 3 streamed frames each
    .venv/bin/python bench/sam3.py --sizes 560 --frames 2
    .venv/bin/python bench/sam3.py --device cuda --frames 20   # a GPU (bf16 autocast in ours)
    .venv/bin/python bench/sam3.py --detector-only             # the image detector alone (less memory)

Each image size runs in its own subprocess, one after the other (never two full-size models at
once), under a watchdog: the parent samples the child's resident memory and kills it above
--limit-mb (default 12000), reporting that as the figure. Per size (video mode):
- stream (stock): transformers' streaming loop (processor -> Sam3VideoModel(frame=...) ->
  postprocess_outputs), seconds per frame after the first;
- stream (ours): Sam3TextTracker (engines/sam3_video.py: the same loop, pruned session) on the
  same frames, seconds per frame after the first;
- peak RSS of each loop on its own (Linux: the high-water mark is reset between the phases),
  and of the whole child. The model itself is ~3.4 GB of float32 weights.
The detection thresholds are lowered (0.2) and the tracker capped at 3 objects, so the random
model tracks something: a frame then costs the encoder, the detector (all 200 queries pass the
low threshold) and 3 tracked objects. Ratio: stock / ours seconds per frame (1.0: the pruning
costs nothing; memory over many frames is what it saves, see tests/test_sam3.py). On 2 shared
cores keep --frames tiny: one 1008 px frame takes minutes.

Memory: transformers' ``mask_iou`` makes N*N*H*W temporaries for N detections (about 9 bytes an
element: ~9 GB at 560 px with 200 detections, ~30 GB at 1008): the first run of this bench was
OOM-killed at 12.5 GB.
engines/sam3_video.install_mask_iou swaps in an exact matrix-product IoU; both loops here run
with it (--stock-iou leaves transformers' own, to see the difference under the watchdog).
--detector-only measures the image path (Sam3Model + Sam3Detector) instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def detector_child(size: int, device: str) -> dict:
    """The image path only (Sam3Model + Sam3Detector): far less memory than the video model."""
    import torch
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor

    from annotator.engines.sam3 import Sam3Detector
    from annotator.sim.synthetic import render_scene
    from tests.tiny_describe import clip_tokenizer

    started = time.perf_counter()
    config = Sam3Config()
    config.image_size = size
    torch.manual_seed(0)
    model = Sam3Model(config).eval()
    built = time.perf_counter() - started
    side = {"height": size, "width": size}
    processor = Sam3Processor(image_processor=Sam3ImageProcessor(size=side), tokenizer=clip_tokenizer(),
                              target_size=size)
    detector = Sam3Detector(model, processor, device=device, threshold=0.5)
    frame = next(render_scene(1, 640, 360, seed=3))[0]
    detector.detect(frame, "a red car")  # warm-up
    times = []
    for phrases in ("a red car", "a red car, a person"):
        found = detector.detect(frame, phrases)
        times.append(found.timings)
    return {"size": size, "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "build_s": built,
            "encode_s": times[0]["encode_ms"] / 1000, "decode_1_s": times[0]["decode_ms"] / 1000,
            "decode_2_s": times[1]["decode_ms"] / 1000,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": torch.get_num_threads()}


def reset_peak() -> None:
    """Start a new resident-memory high-water mark (Linux; elsewhere the peaks are cumulative)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    """Resident-memory high-water mark since the last reset_peak (Linux), else since the start."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(size: int, frames_count: int, device: str, stock_iou: bool = False) -> dict:
    import torch
    from transformers import (
        Sam2VideoVideoProcessor,
        Sam3ImageProcessor,
        Sam3VideoConfig,
        Sam3VideoModel,
        Sam3VideoProcessor,
    )

    from annotator.engines.sam3_video import Sam3TextTracker, install_mask_iou
    from annotator.engines.tracker import ListFrames
    from annotator.sim.synthetic import render_scene
    from tests.tiny_describe import clip_tokenizer

    started = time.perf_counter()
    config = Sam3VideoConfig(score_threshold_detection=0.2, new_det_thresh=0.2, max_num_objects=3)
    config.image_size = size
    config.low_res_mask_size = 4 * size // 14  # as engines/sam3.load_sam3_parts sets it
    torch.manual_seed(0)
    model = Sam3VideoModel(config).eval()
    built = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters()) / 1e6
    side = {"height": size, "width": size}
    tokenizer = clip_tokenizer()  # a real CLIP BPE; its ids fit the full vocabulary
    video_processor = Sam3VideoProcessor(image_processor=Sam3ImageProcessor(size=side),
                                         video_processor=Sam2VideoVideoProcessor(size=side),
                                         tokenizer=tokenizer, target_size=size)
    frames = [f for f, _ in render_scene(frames_count, 640, 360, seed=3)]
    if not stock_iou:
        install_mask_iou()
    model_mb = peak_mb()

    def per_frame(run) -> float:
        stamps = []
        for _ in run:
            stamps.append(time.perf_counter())
        return (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)

    def stock():
        session = video_processor.init_video_session(inference_device=device, processing_device="cpu",
                                                     video_storage_device="cpu")
        video_processor.add_text_prompt(inference_session=session, text="a red car")
        for frame in frames:
            inputs = video_processor(images=frame, device=device, return_tensors="pt")
            with torch.inference_mode():
                out = model(inference_session=session, frame=inputs.pixel_values[0].to(device))
            yield video_processor.postprocess_outputs(session, out, original_sizes=inputs.original_sizes)

    reset_peak()
    stock_s = per_frame(stock())
    stock_mb = peak_mb()
    if stock_iou:  # Sam3TextTracker would install the blocked IoU: measure the stock loop only
        return {"size": size, "params_m": params, "build_s": built, "stock_s": stock_s,
                "ours_s": float("nan"), "model_mb": model_mb, "stock_mb": stock_mb, "ours_mb": float("nan"),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "frames": frames_count, "threads": torch.get_num_threads()}
    reset_peak()
    tracker = Sam3TextTracker(ListFrames(frames), model, video_processor, device=device)
    ours_s = per_frame(tracker.track("a red car"))
    ours_mb = peak_mb()
    return {"size": size, "params_m": params, "build_s": built, "stock_s": stock_s, "ours_s": ours_s,
            "model_mb": model_mb, "stock_mb": stock_mb, "ours_mb": ours_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "frames": frames_count,
            "threads": torch.get_num_threads()}


def run_guarded(command: list[str], limit_mb: float) -> tuple[int, str, str, float]:
    """Run the child; kill it when its resident memory passes limit_mb. (exit code, stdout,
    stderr, the highest RSS sampled in MB)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    highest = [0.0]
    killed = threading.Event()

    def watch() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                rss = next(int(line.split()[1]) / 1024 for line in status.read_text().splitlines()
                           if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                rss = 0.0
            highest[0] = max(highest[0], rss)
            if rss > limit_mb:
                killed.set()
                proc.kill()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    if killed.is_set():
        err += f"\nkilled by the watchdog at {highest[0]:.0f} MB resident (limit {limit_mb:.0f} MB)"
    return proc.returncode, out, err, highest[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="1008,560")
    parser.add_argument("--frames", type=int, default=3, help="frames streamed per size (default 3)")
    parser.add_argument("--detector-only", action="store_true",
                        help="the image detector only (Sam3Model): per-frame encode/decode time and peak RSS")
    parser.add_argument("--limit-mb", type=float, default=12000,
                        help="kill a size's child above this resident memory (default 12000)")
    parser.add_argument("--stock-iou", action="store_true",
                        help="keep transformers' own mask_iou (measures the stock loop only)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.detector_only:
            print(json.dumps(detector_child(args.child, args.device)))
        else:
            print(json.dumps(child(args.child, max(args.frames, 2), args.device, args.stock_iou)))
        return 0
    rows, failed = [], []
    for size in (int(s) for s in args.sizes.split(",") if s):
        command = [sys.executable, __file__, "--child", str(size), "--frames", str(args.frames),
                   "--device", args.device] + (["--detector-only"] if args.detector_only else []) \
            + (["--stock-iou"] if args.stock_iou else [])
        code, out, err, highest = run_guarded(command, args.limit_mb)
        if code != 0:  # e.g. killed for memory: report it, keep the other sizes' rows
            print(f"size {size} failed (exit {code}, highest RSS sampled {highest:.0f} MB):\n{err[-2000:]}",
                  file=sys.stderr)
            failed.append((size, highest))
            continue
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"size {size}: {rows[-1]}", file=sys.stderr)  # each size as soon as it is measured
    if args.detector_only:
        print(f"device: {args.device}, torch threads: {rows[0]['threads'] if rows else '?'}, "
              f"{rows[0]['params_m'] if rows else 0:.0f} M parameters (Sam3Model, random weights)")
        print("| image size | model build s | encode s/frame | decode 1 phrase s | decode 2 phrases s "
              "| peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['size']} | {r['build_s']:.1f} | {r['encode_s']:.2f} | {r['decode_1_s']:.2f} "
                  f"| {r['decode_2_s']:.2f} | {r['peak_rss_mb']:.0f} |")
        return 1 if failed else 0
    print(f"device: {args.device}, torch threads: {rows[0]['threads'] if rows else '?'}, "
          f"{rows[0]['params_m'] if rows else 0:.0f} M parameters (random weights)")
    print(f"mask IoU: {'transformers (broadcast)' if args.stock_iou else 'blocked (ours) in both loops'}, "
          f"{rows[0]['frames'] if rows else args.frames} frames per loop")
    print("| image size | model build s | RSS after build MB | stream stock s/frame | stream ours s/frame "
          "| ratio (stock / ours) | peak RSS stock loop MB | peak RSS ours MB | peak RSS child MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['build_s']:.1f} | {r['model_mb']:.0f} | {r['stock_s']:.2f} "
              f"| {r['ours_s']:.2f} | {r['stock_s'] / r['ours_s']:.2f} | {r['stock_mb']:.0f} "
              f"| {r['ours_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    for size, highest in failed:
        print(f"| {size} | killed at {highest:.0f} MB resident (limit {args.limit_mb:.0f}) | | | | | | | |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
