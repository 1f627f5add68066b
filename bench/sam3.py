"""SAM 3 on this machine: per-frame time and peak RSS with the real-size model (random weights,
transformers' default configs: the facebook/sam3 shapes, about 840 M parameters), at the trained
input size 1008 and at 560.

    .venv/bin/python bench/sam3.py                       # CPU, 1008 and 560, 3 streamed frames each
    .venv/bin/python bench/sam3.py --sizes 560 --frames 2
    .venv/bin/python bench/sam3.py --device cuda --frames 20   # a GPU (bf16 autocast in ours)
    .venv/bin/python bench/sam3.py --detector-only             # the image detector alone (less memory)

Each image size runs in its own subprocess, so each peak RSS is its own (ru_maxrss of the child).
Per size:
- detect: one phrase on one 640x360 frame through Sam3Detector (engines/sam3.py: the image
  encoder once, then the decoder per phrase);
- stream (stock): transformers' streaming loop (processor -> Sam3VideoModel(frame=...) ->
  postprocess_outputs), seconds per frame after the first;
- stream (ours): Sam3TextTracker (engines/sam3_video.py: the same loop, pruned session) on the
  same frames, seconds per frame after the first.
The detection thresholds are lowered (0.2) and the tracker capped at 3 objects, so the random
model tracks something: a frame then costs the encoder, the detector and 3 tracked objects.
Ratio: stock / ours seconds per frame (1.0: the pruning costs nothing; memory is what it saves,
see tests/test_sam3.py). On 2 shared cores keep --frames tiny: one 1008 px frame takes minutes.
Memory: on the 23 GB development box the video run at 560 px was killed by the kernel's OOM
killer at 12.5 GB resident (other work was using ~9 GB); --detector-only measures the image path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
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


def child(size: int, frames_count: int, device: str) -> dict:
    import torch
    from transformers import (
        Sam2VideoVideoProcessor,
        Sam3ImageProcessor,
        Sam3Processor,
        Sam3VideoConfig,
        Sam3VideoModel,
        Sam3VideoProcessor,
    )

    from annotator.engines.sam3 import Sam3Detector
    from annotator.engines.sam3_video import Sam3TextTracker
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

    detector = Sam3Detector(model.detector_model, Sam3Processor(image_processor=Sam3ImageProcessor(size=side),
                                                                tokenizer=tokenizer, target_size=size),
                            device=device, threshold=0.2)
    detector.detect(frames[0], "a red car")  # warm-up
    start = time.perf_counter()
    detector.detect(frames[0], "a red car")
    detect_s = time.perf_counter() - start

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

    stock_s = per_frame(stock())
    tracker = Sam3TextTracker(ListFrames(frames), model, video_processor, device=device)
    ours_s = per_frame(tracker.track("a red car"))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "params_m": params, "build_s": built, "detect_s": detect_s, "stock_s": stock_s,
            "ours_s": ours_s, "peak_rss_mb": rss_mb, "frames": frames_count,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="1008,560")
    parser.add_argument("--frames", type=int, default=3, help="frames streamed per size (default 3)")
    parser.add_argument("--detector-only", action="store_true",
                        help="the image detector only (Sam3Model): per-frame encode/decode time and peak RSS")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.detector_only:
            print(json.dumps(detector_child(args.child, args.device)))
        else:
            print(json.dumps(child(args.child, max(args.frames, 2), args.device)))
        return 0
    rows, failed = [], []
    for size in (int(s) for s in args.sizes.split(",") if s):
        command = [sys.executable, __file__, "--child", str(size), "--frames", str(args.frames),
                   "--device", args.device] + (["--detector-only"] if args.detector_only else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:  # e.g. killed for memory: report it, keep the other sizes' rows
            print(f"size {size} failed (exit {done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
            failed.append(size)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
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
    print("| image size | model build s | detect 1 phrase s | stream stock s/frame | stream ours s/frame "
          "| ratio (stock / ours) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['build_s']:.1f} | {r['detect_s']:.2f} | {r['stock_s']:.2f} "
              f"| {r['ours_s']:.2f} | {r['stock_s'] / r['ours_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
