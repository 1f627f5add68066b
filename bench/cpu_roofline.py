"""How close EdgeTAM's tracked frame runs to this CPU's float32 limit, stock and ours, and the
best speed-up that limit allows (issue 15 asks 2x stock).

    .venv/bin/python bench/cpu_roofline.py            # ~1 min; run it on a quiet machine

1. The machine's float32 GEMM rate, 2 threads, in PyTorch (MKL) and ONNX Runtime (MLAS).
2. Multiply-adds of the two large stages with real-size random weights: the image encoder
   (``torch.utils.flop_counter``) and memory attention with a full bank (7 memories, 16
   pointers; the flop counter sees its linears, the attention products are counted here, stock
   and after our exact reductions in engines/edgetam_attention.py).
3. Milliseconds of those stages, stock and ours, interleaved, and the GMAC/s that makes.
4. The bound: (our multiply-adds) / (GEMM rate) + the measured decoder and memory encoder,
   against stock's frame.

Timings on a loaded machine are meaningless here: stock PyTorch suffers more from contention.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_stages import build_video_model

FRAMES, POINTER_TOKENS, QUERIES, DIM = 7, 64, 4096, 256
DECODER_MS, MEMORY_ENCODER_MS = 56.0, 104.0  # ours, quiet (bench/cpu_models.py, notes stop 12)


def gemm_rates() -> dict[str, float]:
    import torch
    from onnx import TensorProto, helper

    from annotator.engines.rope_attention import small_session

    m, k, n = 4096, 1024, 4096
    a, b = torch.randn(m, k), torch.randn(k, n)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [k, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [m, n])])
    session = small_session(graph, torch.get_num_threads())
    feed = {"a": a.numpy(), "b": b.numpy()}
    return {"pytorch": m * k * n / _median_s(lambda: a @ b) / 1e9,
            "onnxruntime": m * k * n / _median_s(lambda: session.run(None, feed)) / 1e9}


def _median_s(fn: Any, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def attention_macs(model: Any, reduced: bool) -> float:
    """GMAC of memory attention's products with a full bank; ``reduced``: after
    engines/edgetam_attention.py (values at 64 dims, position-free keys at 65)."""
    config = model.config
    per_frame = int(config.perceiver_resampler_num_latents) + int(config.perceiver_resampler_num_latents_2d)
    keys = FRAMES * per_frame + POINTER_TOKENS
    plain_keys = FRAMES * int(config.perceiver_resampler_num_latents) + POINTER_TOKENS
    self_attention = 2 * QUERIES * QUERIES * DIM
    if reduced:
        cross = QUERIES * ((keys - plain_keys) * DIM + plain_keys * 65 + keys * 64)
    else:
        cross = 2 * QUERIES * keys * DIM
    return int(config.memory_attention_num_layers) * (self_attention + cross) / 1e9


def main() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from annotator.engines import edgetam_attention
    from annotator.engines.image_encoder import ImageEncoder

    rates = gemm_rates()
    model = build_video_model("edgetam")
    pixels = torch.randn(1, 3, 1024, 1024)
    memory = torch.randn(FRAMES * 512 + POINTER_TOKENS, 1, 64)
    features = torch.randn(QUERIES, 1, DIM)
    kwargs = {"num_object_pointer_tokens": POINTER_TOKENS, "num_spatial_memory_tokens": FRAMES}
    stock_attention = model.memory_attention
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model.get_image_features(pixels)
        encoder_gmac = counter.get_total_flops() / 2e9
        with FlopCounterMode(display=False) as counter:
            stock_attention(features, memory, features, memory, **kwargs)
        linears_gmac = counter.get_total_flops() / 2e9
        encoder = ImageEncoder(model, 1024)
        edgetam_attention.attach(model)
        ours_attention = model.memory_attention
        timings = {
            "image encoder": (_median_s(lambda: model.get_image_features(pixels), 3),
                              _median_s(lambda: encoder.levels(pixels), 3)),
            "memory attention (full bank)": (
                _median_s(lambda: stock_attention(features, memory, features, memory, **kwargs), 3),
                _median_s(lambda: ours_attention(features, memory, features, memory, **kwargs), 3)),
        }
    macs = {"image encoder": (encoder_gmac, encoder_gmac),
            "memory attention (full bank)": (linears_gmac + attention_macs(model, False),
                                             linears_gmac + attention_macs(model, True))}
    rate = max(rates.values())
    print(f"float32 GEMM 4096x1024x4096, {torch.get_num_threads()} threads: "
          f"PyTorch {rates['pytorch']:.1f} GMAC/s, ONNX Runtime {rates['onnxruntime']:.1f} GMAC/s")
    print(f"{'EdgeTAM stage':30s} {'GMAC stock/ours':>16s} {'ms stock/ours':>14s} "
          f"{'GMAC/s stock/ours':>18s} {'ms at the GEMM rate':>20s}")
    floor_ms = DECODER_MS + MEMORY_ENCODER_MS
    stock_ms = DECODER_MS + MEMORY_ENCODER_MS
    for stage, (stock_s, ours_s) in timings.items():
        stock_g, ours_g = macs[stage]
        floor_ms += 1000 * ours_g / rate
        stock_ms += 1000 * stock_s
        print(f"{stage:30s} {stock_g:7.1f} /{ours_g:6.1f} {1000 * stock_s:6.0f} /{1000 * ours_s:5.0f}"
              f" {stock_g / stock_s:8.1f} /{ours_g / ours_s:7.1f} {1000 * ours_g / rate:20.0f}")
    others = f"decoder {DECODER_MS:.0f} ms, memory encoder {MEMORY_ENCODER_MS:.0f} ms"
    print(f"frame with a full bank (+ {others}): stock {stock_ms:.0f} ms, "
          f"ours at best {floor_ms:.0f} ms -> at most {stock_ms / floor_ms:.2f}x stock")


if __name__ == "__main__":
    main()
