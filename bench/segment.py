"""Click-to-segment speed: our engines against the reference implementations, in one run.

    .venv/bin/python bench/segment.py                       # CPU: SAM vit_b + SAM 2.1 tiny, fp32
    .venv/bin/python bench/segment.py --device cuda --sam vit_b,vit_h --precision fp32,bf16

For each model, on the same random weights and the same 854x480 frame:
- encode: SamPredictor.set_image / (Sam2Processor + Sam2Model.get_image_embeddings) against
  our prepare();
- click: the first click (multimask, best of three) with the embedding cached, up to a
  full-resolution boolean mask in host memory;
- refine: the second click (single mask with the previous logits as the prior);
- 5 clicks: one click and four refinements, the embedding cached;
- encode + 5 clicks: what the first object on a new frame costs.
Times are in ms: the minimum of the timed runs by default (on a shared machine it is the least
disturbed one), with reference and ours alternating. The ratio is ours / reference. The goal
for clicks is ours <= the reference + 5 ms. Weights are random (speed does not depend on
their values).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLICKS = [((300, 200), 1), ((500, 300), 0), ((350, 260), 1), ((420, 150), 0), ((250, 330), 1)]
STAT: Callable[[list[float]], float] = min  # the least disturbed sample; --stat median for medians
CLOCK: Callable[[], float] = time.perf_counter  # --clock cpu: process CPU time (busy shared machines)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed_pair(reference: Callable[[], object], ours: Callable[[], object], device: str,
               repeat: int) -> tuple[float, float]:
    """(reference ms, ours ms): the two are run alternately, after one warm-up call each, so
    a change in machine load hits both alike. STAT (min by default) of ``repeat`` samples."""
    samples: tuple[list[float], list[float]] = ([], [])
    for fn in (reference, ours):
        fn()
        sync(device)
    for _ in range(repeat):
        for fn, out in ((reference, samples[0]), (ours, samples[1])):
            start = CLOCK()
            fn()
            sync(device)
            out.append((CLOCK() - start) * 1000.0)
    return STAT(samples[0]), STAT(samples[1])


@contextlib.contextmanager
def precision(device: str, mode: str) -> Iterator[None]:
    """bf16: both sides under CUDA autocast. fp32: our engine's autocast switched off too."""
    import torch

    import annotator.engines.device as device_module

    original = device_module.autocast
    if mode == "fp32":
        device_module.autocast = lambda d: contextlib.nullcontext()  # type: ignore[assignment]
        context: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        device_module.autocast = lambda d: torch.autocast("cuda", dtype=torch.bfloat16)  # type: ignore[assignment]
        context = torch.autocast("cuda", dtype=torch.bfloat16)
    try:
        with context:
            yield
    finally:
        device_module.autocast = original


# --- SAM ---------------------------------------------------------------------------------------
def bench_sam(arch: str, image: np.ndarray, device: str, mode: str, repeat: int,
              encode_repeat: int) -> list[dict]:
    import torch
    from segment_anything import SamPredictor, sam_model_registry

    from annotator.engines.sam import SamSegmenter
    from annotator.engines.segmenter import Prompt

    torch.manual_seed(0)
    model = sam_model_registry[arch](checkpoint=None).to(device).eval()
    predictor = SamPredictor(model)
    engine = SamSegmenter(model, f"sam-{arch.replace('_', '-')}", device)
    rows = []
    with precision(device, mode):
        def upstream_encode() -> None:
            predictor.set_image(image)

        counter = iter(range(10**9))

        def our_encode() -> None:
            engine.prepare(image, ("bench", next(counter)))  # a new key each time: a real encode

        rows.append(row(f"sam {arch}", mode, "encode",
                        *timed_pair(upstream_encode, our_encode, device, encode_repeat)))
        engine.prepare(image, "frame")

        def upstream_click(i: int, logits: np.ndarray | None) -> np.ndarray:
            """Click i (with clicks 0..i as points) as an app on SamPredictor would do it."""
            points = np.array([c for c, _ in CLICKS[: i + 1]], np.float32)
            labels = np.array([lab for _, lab in CLICKS[: i + 1]])
            masks, scores, low = predictor.predict(point_coords=points, point_labels=labels,
                                                   mask_input=logits, multimask_output=logits is None)
            best = int(np.argmax(scores))
            assert masks[best].shape == image.shape[:2]
            return low[best : best + 1]

        def our_click(i: int, logits: np.ndarray | None) -> np.ndarray:
            points = [c for c, _ in CLICKS[: i + 1]]
            labels = [lab for _, lab in CLICKS[: i + 1]]
            result = engine.predict(Prompt(points, labels, prior=logits), "frame")
            assert result.mask.shape == image.shape[:2]
            return result.logits

        rows += click_rows(f"sam {arch}", mode, device, repeat, upstream_click, our_click, rows[0])
    free(device)
    return rows


# --- SAM 2.1 through transformers --------------------------------------------------------------
def bench_sam2(image: np.ndarray, device: str, mode: str, repeat: int, encode_repeat: int) -> list[dict]:
    import torch
    from transformers import Sam2Config, Sam2ImageProcessor, Sam2Model, Sam2Processor

    from annotator.engines.sam2_image import Sam2ImageSegmenter
    from annotator.engines.segmenter import Prompt

    torch.manual_seed(0)
    model = Sam2Model(Sam2Config()).to(device).eval()  # the default config is the Hiera-T layout
    processor = Sam2Processor(image_processor=Sam2ImageProcessor())
    engine = Sam2ImageSegmenter(model, processor, "sam2.1-tiny", device)
    original_sizes = [list(image.shape[:2])]
    state: dict[str, object] = {}
    rows = []
    with precision(device, mode), torch.inference_mode():
        def reference_encode() -> None:
            pixel_values = processor(images=image, return_tensors="pt")["pixel_values"].to(device)
            state["embeddings"] = model.get_image_embeddings(pixel_values)

        counter = iter(range(10**9))

        def our_encode() -> None:
            engine.prepare(image, ("bench", next(counter)))

        rows.append(row("sam2.1 tiny", mode, "encode",
                        *timed_pair(reference_encode, our_encode, device, encode_repeat)))
        engine.prepare(image, "frame")

        def reference_click(i: int, logits: torch.Tensor | None) -> torch.Tensor:
            """Click i through Sam2Processor -> Sam2Model(image_embeddings=...) -> post_process_masks."""
            points = [[[[float(v) for v in c] for c, _ in CLICKS[: i + 1]]]]
            labels = [[[lab for _, lab in CLICKS[: i + 1]]]]
            inputs = processor(original_sizes=original_sizes, input_points=points, input_labels=labels,
                               return_tensors="pt").to(device)
            inputs.pop("original_sizes")
            out = model(image_embeddings=state["embeddings"], input_masks=logits,
                        multimask_output=logits is None, **inputs)
            masks = processor.post_process_masks(out.pred_masks.cpu(), original_sizes)[0][0]
            best = int(torch.argmax(out.iou_scores[0, 0]))
            assert masks[best].numpy().shape == image.shape[:2]
            return out.pred_masks[0, :, best : best + 1]

        def our_click(i: int, logits: np.ndarray | None) -> np.ndarray:
            points = [c for c, _ in CLICKS[: i + 1]]
            labels = [lab for _, lab in CLICKS[: i + 1]]
            result = engine.predict(Prompt(points, labels, prior=logits), "frame")
            assert result.mask.shape == image.shape[:2]
            return result.logits

        rows += click_rows("sam2.1 tiny", mode, device, repeat, reference_click, our_click, rows[0])
    free(device)
    return rows


# --- table -------------------------------------------------------------------------------------
def click_rows(model: str, mode: str, device: str, repeat: int, reference: Callable[[int, object], object],
               ours: Callable[[int, object], object], encode: dict) -> list[dict]:
    """``reference(i, prior)`` / ``ours(i, prior)`` run click i of CLICKS (points 0..i) and
    return the logits to pass as the next prior."""
    first_ref, first_ours = reference(0, None), ours(0, None)

    def five(click: Callable[[int, object], object]) -> None:
        logits = None
        for i in range(5):
            logits = click(i, logits)

    one = timed_pair(lambda: reference(0, None), lambda: ours(0, None), device, repeat)
    refine = timed_pair(lambda: reference(1, first_ref), lambda: ours(1, first_ours), device, repeat)
    all_five = timed_pair(lambda: five(reference), lambda: five(ours), device, max(3, repeat // 4))
    return [
        row(model, mode, "click", *one),
        row(model, mode, "refine (2nd click)", *refine),
        row(model, mode, "5 clicks", *all_five),
        row(model, mode, "encode + 5 clicks", encode["reference_ms"] + all_five[0],
            encode["ours_ms"] + all_five[1]),
    ]


def row(model: str, mode: str, stage: str, reference_ms: float, ours_ms: float) -> dict:
    return {"model": model, "precision": mode, "stage": stage, "reference_ms": reference_ms,
            "ours_ms": ours_ms, "ratio": ours_ms / reference_ms if reference_ms else float("nan")}


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    print(f"| {'model':<12} | {'prec':<4} | {'stage':<19} | {'reference ms':>12} | {'ours ms':>9} | "
          f"{'ours/ref':>8} | {'ours-ref ms':>11} |")
    print(f"|{'-' * 14}|{'-' * 6}|{'-' * 21}|{'-' * 14}|{'-' * 11}|{'-' * 10}|{'-' * 13}|")
    for r in rows:
        print(f"| {r['model']:<12} | {r['precision']:<4} | {r['stage']:<19} | {r['reference_ms']:>12.1f} | "
              f"{r['ours_ms']:>9.1f} | {r['ratio']:>8.2f} | {r['ours_ms'] - r['reference_ms']:>+11.1f} |")
    clicks = [r for r in rows if r["stage"] in ("click", "refine (2nd click)")]
    worst = max(clicks, key=lambda r: r["ours_ms"] - r["reference_ms"])
    verdict = "met" if worst["ours_ms"] <= worst["reference_ms"] + 5.0 else "NOT met"
    print(f"\ngoal (every click: ours <= reference + 5 ms): {verdict}; worst: {worst['model']} "
          f"{worst['precision']} {worst['stage']} {worst['ours_ms'] - worst['reference_ms']:+.1f} ms")


def free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sam", default="vit_b",
                        help="comma-separated SAM variants (vit_b,vit_l,vit_h); '' skips SAM")
    parser.add_argument("--no-sam2", action="store_true", help="skip the SAM 2.1 tiny rows")
    parser.add_argument("--precision", default="fp32", help="fp32 and/or bf16 (CUDA only), comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="timed repeats of each click measurement")
    parser.add_argument("--encode-repeat", type=int, default=1, help="timed repeats of each encode")
    parser.add_argument("--size", default="854x480", help="frame WIDTHxHEIGHT")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU time, steadier when other jobs share the cores "
                        "(use with --threads 1, where CPU time is the work done)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument("--stat", choices=("min", "median"), default="min",
                        help="summary of the timed samples (min resists other load on the machine)")
    args = parser.parse_args(argv)

    import torch

    global STAT, CLOCK
    STAT = min if args.stat == "min" else statistics.median
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)

    from tests.tiny_models import textured_image

    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    width, height = (int(v) for v in args.size.split("x"))
    image = textured_image(height, width, seed=1)
    modes = [m for m in args.precision.split(",") if m]
    if not args.device.startswith("cuda"):
        modes = ["fp32"]
    rows: list[dict] = []
    for mode in modes:
        for arch in [a for a in args.sam.split(",") if a]:
            rows += bench_sam(arch, image, args.device, mode, args.repeat, args.encode_repeat)
        if not args.no_sam2:
            rows += bench_sam2(image, args.device, mode, args.repeat, args.encode_repeat)
    on_gpu = args.device.startswith("cuda")
    where = torch.cuda.get_device_name(0) if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    load = f", load average {load_at_start:.1f} -> {os.getloadavg()[0]:.1f}" if load_at_start >= 0 else ""
    print_table(rows, f"click-to-segment, {width}x{height} frame, {where}{load}, torch {torch.__version__}; "
                      f"{args.stat} of the timed runs, {args.clock} clock; reference = SamPredictor / "
                      f"transformers Sam2 pipeline\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
