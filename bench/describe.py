"""Describer throughput: object crops per second (CLIP) and captions per second (BLIP), ours
against plain transformers usage, in one run.

    .venv/bin/python bench/describe.py                   # CPU: tiny models, then full-size B/32 + BLIP-base
    .venv/bin/python bench/describe.py --sizes tiny      # the tiny models only (seconds)
    .venv/bin/python bench/describe.py --device cuda     # a GPU: more items, bf16 autocast in ours

Models have random weights (speed does not depend on their values): "tiny" are the test models
(tests/tiny_describe.py, 32 px, hidden 32); "full" are transformers' default CLIPConfig (the
openai/clip-vit-base-patch32 shapes: ViT-B/32 at 224 px, 151 M params) and BlipConfig (the
Salesforce/blip-image-captioning-base shapes: ViT-B/16 at 384 px with a BERT-base decoder,
224 M params), with their default image processors.

Stages, all on the same synthetic 640x360 frames and object masks:
- crops: masked_crop (engines/crops.py) alone, no model;
- embed crops: the reference embeds the crops one at a time (CLIPProcessor + get_image_features
  per crop, the model-card recipe); ours is ClipClassifier.embed_images (batches of 32; bf16
  autocast on CUDA);
- captions: the reference calls processor + generate per crop; ours is BlipCaptioner.caption
  (batches of 8); both greedy, 20 new tokens;
- shots: core/shots.py signatures + distances per frame (no model).
Rates are items per second: the best of ``--repeat`` timed runs after one warm-up (the least
disturbed run on a shared machine), reference and ours alternating so a change in load hits
both. The ratio is ours / reference (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def rate(fn: Callable[[], object], items: int, device: str, repeat: int) -> float:
    """Items per second: the best of ``repeat`` runs after one warm-up run."""
    return rates(None, fn, items, device, repeat)[1]


def rates(reference: Callable[[], object] | None, ours: Callable[[], object], items: int, device: str,
          repeat: int) -> tuple[float | None, float]:
    """(reference, ours) items per second. The two run alternately, after one warm-up each, so a
    change in machine load hits both alike; the best of ``repeat`` runs is kept."""
    fns = [f for f in (reference, ours) if f is not None]
    for fn in fns:
        fn()
        sync(device)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            sync(device)
            best[k] = min(best[k], time.perf_counter() - start)
    out = [items / b for b in best]
    return (out[0], out[1]) if reference is not None else (None, out[0])


def scene(count: int) -> tuple[list[np.ndarray], list[tuple[int, np.ndarray]]]:
    """Frames and (frame index, object mask) pairs from the synthetic scene, 3 objects a frame."""
    from annotator.sim.synthetic import render_scene

    frames, masks = [], []
    for i, (frame, objects) in enumerate(render_scene(count, 640, 360, seed=3)):
        frames.append(frame)
        masks.extend((i, m) for m in objects.values() if m.any())
    return frames, masks


def build(size: str) -> tuple[Any, Any, Any, Any]:
    """(CLIP model, CLIP processor, BLIP model, BLIP processor) with random weights."""
    import torch
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
    )

    from tests.tiny_describe import bert_tokenizer, build_blip, build_clip, clip_tokenizer

    if size == "tiny":
        import tempfile

        from annotator.engines.describe import load_snapshot

        folder = Path(tempfile.mkdtemp(prefix="bench-describe-"))
        clip, clip_proc = load_snapshot(build_clip(folder / "clip"), "classify")
        blip, blip_proc = load_snapshot(build_blip(folder / "blip"), "caption")
        return clip, clip_proc, blip, blip_proc
    torch.manual_seed(0)
    # transformers' defaults are the base checkpoints' shapes; the tokenizers are the tiny real
    # ones (their ids fit the full vocabularies; speed does not depend on the vocabulary used).
    clip = CLIPModel(CLIPConfig())
    clip_proc = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=clip_tokenizer())
    blip = BlipForConditionalGeneration(BlipConfig())
    blip_proc = BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=bert_tokenizer())
    return clip.eval(), clip_proc, blip.eval(), blip_proc


def bench_size(size: str, device: str, repeat: int, counts: dict[str, int]) -> list[dict[str, Any]]:
    import torch

    from annotator.core.shots import ShotDetector
    from annotator.engines.crops import masked_crop
    from annotator.engines.describe import BlipCaptioner, ClipClassifier

    clip, clip_proc, blip, blip_proc = build(size)
    params = {"clip": sum(p.numel() for p in clip.parameters()) / 1e6,
              "blip": sum(p.numel() for p in blip.parameters()) / 1e6}
    frames, masks = scene(max(8, counts["crops"] // 3 + 1))
    pairs = masks[:counts["crops"]]
    rows: list[dict[str, Any]] = []

    def row(stage: str, items: int, reference: float | None, ours: float, note: str) -> None:
        rows.append({"size": size, "stage": stage, "items": items, "reference": reference, "ours": ours,
                     "note": note})

    crops = [masked_crop(frames[i], m) for i, m in pairs]
    crop_rate = rate(lambda: [masked_crop(frames[i], m) for i, m in pairs], len(pairs), "cpu", repeat)
    row("crops (masked_crop)", len(pairs), None, crop_rate, "numpy + OpenCV")

    classifier = ClipClassifier(clip, clip_proc, f"clip-{size}", device, batch_size=32)
    ref_clip = clip.to(device)

    def reference_embed() -> None:
        with torch.inference_mode():
            for crop in crops:
                inputs = clip_proc(images=crop, return_tensors="pt").to(device)
                ref_clip.get_image_features(**inputs)

    n = len(crops)
    measured = rates(reference_embed, lambda: classifier.embed_images(crops), n, device, repeat)
    row("embed crops (CLIP)", n, *measured, f"{params['clip']:.2f} M params")

    captions = crops[:counts["captions"]]
    captioner = BlipCaptioner(blip, blip_proc, f"blip-{size}", device, batch_size=8, max_new_tokens=20,
                              num_beams=1)
    ref_blip = blip.to(device)

    def reference_caption() -> None:
        with torch.inference_mode():
            for crop in captions:
                inputs = blip_proc(images=crop, return_tensors="pt").to(device)
                ids = ref_blip.generate(**inputs, max_new_tokens=20, num_beams=1)
                blip_proc.decode(ids[0], skip_special_tokens=True)

    m = len(captions)
    measured = rates(reference_caption, lambda: captioner.caption(captions), m, device, repeat)
    row("captions (BLIP)", m, *measured, f"{params['blip']:.2f} M params, 20 tokens")

    if size == "tiny":  # no model involved: measure once
        def shots() -> None:
            detector = ShotDetector()
            for frame in frames:
                detector.add(frame)

        row("shot detection", len(frames), None, rate(shots, len(frames), "cpu", repeat), "640x360 frames")
    return rows


def print_table(rows: list[dict[str, Any]], device: str) -> None:
    import torch

    from annotator.engines.device import device_label

    print(f"\ndevice: {device_label(device)}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"| {'models':<6} | {'stage':<20} | {'items':>5} | {'reference /s':>12} | {'ours /s':>9} | "
          f"{'ratio':>6} | note")
    print(f"|{'-' * 8}|{'-' * 22}|{'-' * 7}|{'-' * 14}|{'-' * 11}|{'-' * 8}|{'-' * 28}")
    for r in rows:
        ref = f"{r['reference']:>12.1f}" if r["reference"] else f"{'-':>12}"
        ratio = f"{r['ours'] / r['reference']:>6.2f}" if r["reference"] else f"{'-':>6}"
        print(f"| {r['size']:<6} | {r['stage']:<20} | {r['items']:>5} | {ref} | {r['ours']:>9.1f} | "
              f"{ratio} | {r['note']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--sizes", default="tiny,full", help="tiny, full or both (default tiny,full)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per measurement (best kept)")
    args = parser.parse_args(argv)
    from annotator.engines.describe import quiet_transformers
    from annotator.engines.device import pick_device

    device = pick_device(args.device)
    gpu = device.startswith("cuda")
    rows: list[dict[str, Any]] = []
    with quiet_transformers():
        for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
            if size not in ("tiny", "full"):
                parser.error(f"unknown size {size!r}; use tiny and/or full")
            if size == "tiny":
                counts = {"crops": 256, "captions": 32}
            else:
                counts = {"crops": 256, "captions": 32} if gpu else {"crops": 16, "captions": 4}
            started = time.perf_counter()
            rows += bench_size(size, device, args.repeat, counts)
            print(f"{size}: measured in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print_table(rows, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
