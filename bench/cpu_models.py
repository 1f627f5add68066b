"""Benchmark: EdgeTAM and SAM 2.1-T on a CPU, our fast path against stock transformers, same run.

    .venv/bin/python bench/cpu_models.py                  # both models, 12 tracked frames each
    .venv/bin/python bench/cpu_models.py --quick --json   # 10 frames, one JSON object on stdout
    .venv/bin/python bench/cpu_models.py --models edgetam --frames 16 --encoder pytorch
    .venv/bin/python bench/cpu_models.py --models sam21_tiny --frames 8 --rss-side ours  # one side's peak RSS

Both sides use the same real-size random weights (speed does not depend on weight values):
EdgeTAM with its real backbone (timm RepViT-M1, checked) and SAM 2.1 Hiera-T, 1024-px input,
854x480 synthetic frames, one object conditioned with a mask on frame 0.

- *stock*: transformers' documented streaming loop (notes/verified-snippets.md): per frame
  the processor, ``model(inference_session=..., frame=...)`` and ``post_process_masks``.
- *ours*: ``Sam2VideoTracker`` (pruned session, image encoder in ONNX Runtime when installed,
  else tuned PyTorch; engines/image_encoder.py), plus the same ``post_process_masks``.

The two sides are interleaved frame by frame, so machine load (2 cores shared by several
people) hits both alike; ratios are stock / ours. Per-stage times come from forward hooks on
each model's own modules (bench/cpu_stages.py). "steady" averages the frames after the 8th,
when the memory bank is full. Wall time and process CPU time are both given; CPU time is the
steadier of the two on a loaded machine.

Clicks (EdgeTAM): *stock* is ``Sam2Processor`` + ``EdgeTamModel(pixel_values, input_points)``
+ ``post_process_masks`` on an unvisited frame, and ``EdgeTamModel(image_embeddings=...)`` on
an encoded one; *ours* is the EdgeTAM click engine (``Sam2ImageSegmenter``): ``prepare`` +
``predict`` on an unvisited frame, ``predict`` on an encoded one, and a click on a frame the
tracker already encoded (shared features: no encode).

Parity (goal): binarised low-res masks IoU >= 0.999 and max |Δlogit| / max |logit| <= 1e-3 on
every tracked frame, masks not empty. Goals for speed (issue 15): EdgeTAM tracking >= 2x stock,
SAM 2.1-T >= 1.4x, a click on an encoded frame <= 100 ms, the first EdgeTAM click on an
unvisited frame <= 0.8 s.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_stages import STAGES, StageTimer, Timed, build_video_model, parity, rendered_frames, stock_stream

from annotator.engines.tracker import ListFrames

WIDTH, HEIGHT, IMAGE_SIZE = 854, 480, 1024
FINGERPRINT = "bench-cpu-models"  # so encoded frames are shared by clicks and tracking
LABELS = {"edgetam": "EdgeTAM (RepViT-M1)", "sam21_tiny": "SAM 2.1 Hiera-T"}


# --- tracking ------------------------------------------------------------------------------------
def track(kind: str, count: int, encoder: str) -> dict[str, Any]:
    import torch

    from annotator.engines.sam2_video import Sam2VideoTracker, video_processor_for
    from annotator.engines.shared_features import shared_features

    stock_model = build_video_model("edgetam" if kind == "edgetam" else "sam2", IMAGE_SIZE)
    our_model = copy.deepcopy(stock_model)
    processor = video_processor_for(IMAGE_SIZE)
    frames, mask = rendered_frames(count + 1, WIDTH, HEIGHT)
    source = ListFrames(frames, fingerprint=FINGERPRINT)

    began = time.perf_counter()
    tracker = Sam2VideoTracker(source, our_model, processor, kind, "cpu", encoder=encoder)
    tracker.prepare_runtime()  # the one-off exports (or their cache), not counted per frame
    features = shared_features(our_model, IMAGE_SIZE, None, encoder)
    setup_s = time.perf_counter() - began
    tracker.add_conditioning(0, {1: mask})

    ours_t, stock_t = StageTimer().attach(our_model), StageTimer().attach(stock_model)
    levels = features.encoder.levels
    features.encoder.levels = lambda px: _timed(ours_t, "image_encoder", levels, px)
    preprocess = tracker._preprocess
    tracker._preprocess = lambda rgb: _timed(ours_t, "preprocess", preprocess, rgb)

    # Frame 0: stock encodes it and stores the mask; ours does the same for its conditioning
    # frame (what the first step of a run does). Neither is counted as a tracked frame.
    stock_iter = stock_stream(stock_model, processor, frames, mask, stock_t)
    next(stock_iter)
    stock_t.frames.clear()
    with torch.inference_mode():
        tracker._encode_pending()
    ours_t.current.clear()
    ours_iter = tracker.propagate_logits(0, 1, {1: count})
    ours_logits, stock_logits, cpu = [], [], {"ours": [], "stock": []}
    for _ in range(count):
        c, began = time.process_time(), time.perf_counter()
        result = next(ours_iter)
        with Timed(ours_t, "postprocess"):
            tracker._masks_at_size([result.logits[None, None]], (HEIGHT, WIDTH))
        ours_t.end_frame((time.perf_counter() - began) * 1000.0)
        cpu["ours"].append((time.process_time() - c) * 1000.0)
        ours_logits.append(result.logits)
        c = time.process_time()
        stock_logits.append(next(stock_iter)[1][0, 0])
        cpu["stock"].append((time.process_time() - c) * 1000.0)
    ours_iter.close()
    stock_iter.close()
    out = {
        "model": kind, "frames": count, "encoder_runtime": tracker.encoder_runtime,
        "memory_attention_runtime": tracker.memory_runtime,
        "encoder_reason": features.encoder.reason, "setup_s": setup_s,
        "ours": {"all": ours_t.mean(), "steady": ours_t.mean(8), "cpu_ms": float(np.mean(cpu["ours"]))},
        "stock": {"all": stock_t.mean(), "steady": stock_t.mean(8), "cpu_ms": float(np.mean(cpu["stock"]))},
        "paired_ratio_median": float(np.median([s["total"] / o["total"]
                                                for s, o in zip(stock_t.frames, ours_t.frames)])),
        "parity": parity(ours_logits, stock_logits),
        "retained": tracker.retained_counts(),
    }
    out["speedup"] = out["stock"]["all"]["total"] / out["ours"]["all"]["total"]
    out["speedup_cpu"] = out["stock"]["cpu_ms"] / out["ours"]["cpu_ms"]
    out["clicks"] = clicks(kind, our_model, stock_model, frames, encoder)
    return out


def one_side(kind: str, side: str, count: int, encoder: str) -> dict[str, Any]:
    """Track ``count`` frames with one side only, so this process's peak RSS is that side's."""
    import torch

    from annotator.core.memory import peak_rss_mb
    from annotator.engines.sam2_video import Sam2VideoTracker, video_processor_for

    model = build_video_model("edgetam" if kind == "edgetam" else "sam2", IMAGE_SIZE)
    processor = video_processor_for(IMAGE_SIZE)
    frames, mask = rendered_frames(count + 1, WIDTH, HEIGHT)
    if side == "stock":
        for _ in stock_stream(model, processor, frames, mask):
            pass
    else:
        tracker = Sam2VideoTracker(ListFrames(frames, fingerprint=FINGERPRINT), model, processor, kind, "cpu",
                                   encoder=encoder)
        tracker.add_conditioning(0, {1: mask})
        with torch.inference_mode():
            for result in tracker.propagate_logits(0, 1, {1: count}):
                tracker._masks_at_size([result.logits[None, None]], (HEIGHT, WIDTH))
    return {"model": kind, "side": side, "frames": count, "peak_rss_mb": peak_rss_mb()}


def _timed(timer: StageTimer, stage: str, fn: Any, *args: Any) -> Any:
    with Timed(timer, stage):
        return fn(*args)


# --- clicks --------------------------------------------------------------------------------------
def clicks(kind: str, video_model: Any, stock_video: Any, frames: list[np.ndarray],
           encoder: str) -> dict[str, Any]:
    """Click latency: ours (the click engine) against stock EdgeTamModel / Sam2Model, same
    weights. ``ours_decoder`` is the prompt encoder + mask decoder part of ours' encoded click."""
    import torch
    from transformers import EdgeTamModel, Sam2Model

    from annotator.engines.model_configs import backbone_name, edgetam_image_config, sam21_image_config
    from annotator.engines.sam2_image import Sam2ImageSegmenter, _default_processor
    from annotator.engines.segmenter import Prompt

    def image_model(video: Any) -> Any:
        if kind == "edgetam":
            model = EdgeTamModel(edgetam_image_config(video.config)).eval()
        else:
            model = Sam2Model(sam21_image_config(video.config)).eval()
        missing = model.load_state_dict(video.state_dict(), strict=False).missing_keys
        assert not missing and backbone_name(model) == backbone_name(video), missing
        return model

    processor = _default_processor(IMAGE_SIZE)
    ours_model = image_model(video_model)
    ours = Sam2ImageSegmenter(ours_model, processor, kind, "cpu", encoder=encoder)
    decoder_timer = StageTimer().attach(ours_model)
    stock = image_model(stock_video)
    point = [[WIDTH * 0.4, HEIGHT * 0.45]]
    unvisited = np.ascontiguousarray(frames[-1][::-1])  # a frame nobody has encoded
    rows: dict[str, list[float]] = {"ours_first": [], "stock_first": [], "ours_encoded": [],
                                    "stock_encoded": [], "ours_tracked_frame": []}
    for rep in range(2):
        image = np.ascontiguousarray(np.roll(unvisited, 37 * (rep + 1), axis=1))
        began, cpu = time.perf_counter(), time.process_time()
        ours.prepare(image, ("unvisited", rep))
        result = ours.predict(Prompt(point, [1]), ("unvisited", rep))
        _record(rows, "ours_first", began, cpu)
        began, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            inputs = processor(images=image, input_points=[[point]], input_labels=[[[1]]],
                               return_tensors="pt")
            out = stock(**inputs)
            processor.post_process_masks(out.pred_masks, inputs["original_sizes"])
        _record(rows, "stock_first", began, cpu)
        with torch.inference_mode():
            embeddings = stock.get_image_embeddings(inputs["pixel_values"])
        # The same refining click on both sides: a second (negative) point and the first mask.
        points = [point[0], [WIDTH * 0.6, HEIGHT * 0.5]]
        for _ in range(3):
            decoder_timer.current.clear()
            began, cpu = time.perf_counter(), time.process_time()
            ours.predict(Prompt(points, [1, 0], prior=result.logits), ("unvisited", rep))
            _record(rows, "ours_encoded", began, cpu)
            rows.setdefault("ours_decoder", []).append(decoder_timer.current.get("mask_decoder", 0.0))
            began, cpu = time.perf_counter(), time.process_time()
            with torch.inference_mode():
                sparse_inputs = processor(images=image, input_points=[[points]], input_labels=[[[1, 0]]],
                                          return_tensors="pt")
                out = stock(image_embeddings=embeddings, input_points=sparse_inputs["input_points"],
                            input_labels=sparse_inputs["input_labels"],
                            input_masks=torch.from_numpy(result.logits)[None], multimask_output=False)
                processor.post_process_masks(out.pred_masks, sparse_inputs["original_sizes"])
            _record(rows, "stock_encoded", began, cpu)
    # A frame the tracker went through: the click engine finds its encoding in the shared cache.
    key, encoded = (FINGERPRINT, 1), ours.features.encoded
    began, cpu = time.perf_counter(), time.process_time()
    ours.prepare(frames[1], key)
    ours.predict(Prompt(point, [1]), key)
    _record(rows, "ours_tracked_frame", began, cpu)
    decoder_timer.detach()
    summary = {name: float(np.median(values)) for name, values in rows.items()}
    summary["tracked_frame_encoded_again"] = ours.features.encoded != encoded
    return summary


def _record(rows: dict[str, list[float]], name: str, began: float, cpu: float) -> None:
    """Wall ms under ``name``, process CPU ms under ``name_cpu`` (steadier on a loaded machine)."""
    rows.setdefault(name, []).append((time.perf_counter() - began) * 1000.0)
    rows.setdefault(f"{name}_cpu", []).append((time.process_time() - cpu) * 1000.0)


# --- report --------------------------------------------------------------------------------------
def print_report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(f"\n{LABELS[r['model']]}: {r['frames']} tracked frames, 1024 px, {WIDTH}x{HEIGHT}; "
              f"our encoder: {r['encoder_reason']}; memory attention: {r['memory_attention_runtime']} "
              f"(setup {r['setup_s']:.1f} s)")
        print(f"{'ms per frame':18} {'stock':>9} {'ours':>9} {'ratio':>7}   {'steady stock':>12} "
              f"{'steady ours':>11} {'ratio':>7}")
        for stage in (*STAGES, "other", "total"):
            s, o = r["stock"]["all"][stage], r["ours"]["all"][stage]
            ss, os_ = r["stock"]["steady"][stage], r["ours"]["steady"][stage]
            print(f"{stage:18} {s:>9.0f} {o:>9.0f} {_ratio(s, o):>7} {ss:>14.0f} {os_:>11.0f} "
                  f"{_ratio(ss, os_):>7}")
        print(f"{'CPU ms per frame':18} {r['stock']['cpu_ms']:>9.0f} {r['ours']['cpu_ms']:>9.0f} "
              f"{_ratio(r['stock']['cpu_ms'], r['ours']['cpu_ms']):>7}")
        p = r["parity"]
        print(f"tracking speedup {r['speedup']:.2f}x wall (median of paired frames "
              f"{r['paired_ratio_median']:.2f}x), {r['speedup_cpu']:.2f}x CPU time; parity: max rel. logit "
              f"diff {p['max_rel_logit_diff']:.2e}, min IoU {p['min_mask_iou']:.4f}, smallest mask "
              f"{p['min_mask_pixels']} px; retained {r['retained']}")
        c = r.get("clicks")
        if c:
            print(f"{LABELS[r['model']]} click ms: unvisited frame stock {c['stock_first']:.0f} / ours "
                  f"{c['ours_first']:.0f} ({_ratio(c['stock_first'], c['ours_first'])}); encoded frame "
                  f"stock {c['stock_encoded']:.0f} / ours {c['ours_encoded']:.0f} "
                  f"({_ratio(c['stock_encoded'], c['ours_encoded'])}); "
                  f"a frame the tracker encoded: ours {c['ours_tracked_frame']:.0f} (encoded again: "
                  f"{c['tracked_frame_encoded_again']})")
            print(f"  (process CPU ms: unvisited stock {c['stock_first_cpu']:.0f} / ours "
                  f"{c['ours_first_cpu']:.0f}; "
                  f"encoded stock {c['stock_encoded_cpu']:.0f} / ours {c['ours_encoded_cpu']:.0f}; "
                  f"of ours' encoded click, prompt encoder + mask decoder {c['ours_decoder']:.0f} ms wall)")


def _ratio(stock: float, ours: float) -> str:
    return f"{stock / ours:.2f}x" if ours > 0.5 else "-"


def summary(results: list[dict[str, Any]], peak_mb: float) -> dict[str, Any]:
    by = {r["model"]: r for r in results}
    edgetam = by.get("edgetam", {})
    clicks_ = edgetam.get("clicks", {})
    sam21_clicks = by.get("sam21_tiny", {}).get("clicks", {})
    return {
        "tracking_speedup_edgetam": edgetam.get("speedup"),
        "tracking_speedup_sam21_tiny": by.get("sam21_tiny", {}).get("speedup"),
        "tracking_speedup_cpu_edgetam": edgetam.get("speedup_cpu"),
        "tracking_speedup_cpu_sam21_tiny": by.get("sam21_tiny", {}).get("speedup_cpu"),
        "click_ms_encoded_edgetam": clicks_.get("ours_encoded"),
        "first_click_ms_edgetam": clicks_.get("ours_first"),
        "stock_click_ms_encoded_edgetam": clicks_.get("stock_encoded"),
        "stock_first_click_ms_edgetam": clicks_.get("stock_first"),
        "click_ms_tracked_frame_edgetam": clicks_.get("ours_tracked_frame"),
        "tracked_frame_encoded_again": clicks_.get("tracked_frame_encoded_again"),
        "click_cpu_ms_encoded_edgetam": clicks_.get("ours_encoded_cpu"),
        "first_click_cpu_ms_edgetam": clicks_.get("ours_first_cpu"),
        "stock_click_cpu_ms_encoded_edgetam": clicks_.get("stock_encoded_cpu"),
        "stock_first_click_cpu_ms_edgetam": clicks_.get("stock_first_cpu"),
        "click_ms_encoded_sam21_tiny": sam21_clicks.get("ours_encoded"),
        "stock_click_ms_encoded_sam21_tiny": sam21_clicks.get("stock_encoded"),
        "click_cpu_ms_encoded_sam21_tiny": sam21_clicks.get("ours_encoded_cpu"),
        "first_click_ms_sam21_tiny": sam21_clicks.get("ours_first"),
        "stock_first_click_ms_sam21_tiny": sam21_clicks.get("stock_first"),
        "click_decoder_ms": {r["model"]: r.get("clicks", {}).get("ours_decoder") for r in results},
        "memory_attention_runtime": {r["model"]: r.get("memory_attention_runtime") for r in results},
        "max_rel_logit_diff": max(r["parity"]["max_rel_logit_diff"] for r in results),
        "min_mask_iou": min(r["parity"]["min_mask_iou"] for r in results),
        "min_mask_pixels": min(r["parity"]["min_mask_pixels"] for r in results),
        "frames": {r["model"]: r["frames"] for r in results},
        "encoder_runtime": {r["model"]: r["encoder_runtime"] for r in results},
        "ms_per_frame": {r["model"]: {"stock": r["stock"]["all"]["total"], "ours": r["ours"]["all"]["total"]}
                         for r in results},
        "peak_rss_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 tracked frames per model")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the summary) on stdout")
    parser.add_argument("--frames", type=int, help="tracked frames per model (default 12, quick 10)")
    parser.add_argument("--models", nargs="+", choices=("edgetam", "sam21_tiny"),
                        default=["edgetam", "sam21_tiny"])
    parser.add_argument("--encoder", choices=("auto", "onnx", "pytorch"), default="auto",
                        help="how our image encoder runs (default: ONNX Runtime when installed)")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    parser.add_argument("--rss-side", choices=("ours", "stock"),
                        help="track with this side only and print its peak RSS (one model, one process)")
    args = parser.parse_args()
    import torch

    from annotator.core.memory import peak_rss_mb

    torch.set_num_threads(args.threads)
    count = args.frames or (10 if args.quick else 12)
    if args.rss_side:
        print(json.dumps([one_side(kind, args.rss_side, count, args.encoder) for kind in args.models[:1]][0]))
        return
    results = []
    for kind in args.models:
        print(f"{kind}: {count} frames ...", file=sys.stderr, flush=True)
        results.append(track(kind, count, args.encoder))
    report = summary(results, peak_rss_mb())
    if args.json:
        print(json.dumps(report))
        with contextlib.redirect_stdout(sys.stderr):  # the tables too, without a second run
            print_report(results)
        return
    print_report(results)
    print(f"\npeak RSS of the whole run (both sides, both models): {report['peak_rss_mb']:.0f} MB")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
