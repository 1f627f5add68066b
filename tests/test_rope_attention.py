"""SAM 2.1's memory attention with its attention products in ONNX Runtime
(engines/rope_attention.py) against transformers' own module, on a tiny random config."""

from __future__ import annotations

import pytest
import torch

from annotator.engines.image_encoder import runtime_versions
from tests.attention_helpers import assert_grad_goes_to_the_original

pytestmark = pytest.mark.skipif(runtime_versions() is None, reason="onnxruntime, onnx or onnxscript missing")


@pytest.fixture(scope="module")
def stock_module() -> torch.nn.Module:
    from transformers import Sam2VideoConfig, Sam2VideoModel

    from tests.tiny_sam2_video import IMAGE_SIZE, _common

    fields = {**_common(IMAGE_SIZE), "memory_attention_num_layers": 2}  # the loop over layers too
    torch.manual_seed(0)
    config = Sam2VideoConfig(**fields, memory_attention_feed_forward_hidden_size=64)
    return Sam2VideoModel(config).eval().memory_attention


def _inputs(frames: int, pointers: int, tokens: int = 16, seed: int = 1) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    keys = frames * tokens + pointers
    return (torch.randn(tokens, 1, 128, generator=generator), torch.randn(keys, 1, 64, generator=generator),
            torch.randn(tokens, 1, 128, generator=generator), torch.randn(keys, 1, 64, generator=generator),
            pointers)


@pytest.mark.parametrize(("frames", "pointers"), [(1, 0), (1, 4), (3, 16), (7, 64)])
def test_equals_the_stock_module_for_every_memory_count(stock_module, frames: int, pointers: int) -> None:
    from annotator.engines.rope_attention import AttentionCore, FastSam2MemoryAttention

    fast = FastSam2MemoryAttention(stock_module, AttentionCore(threads=1, chunk=5))  # several chunks
    args = _inputs(frames, pointers)
    with torch.inference_mode():
        expected, got = stock_module(*args), fast(*args)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5 * expected.abs().max().item()


def test_inputs_it_was_not_built_for_go_to_the_original(stock_module) -> None:
    from annotator.engines.rope_attention import AttentionCore, FastSam2MemoryAttention

    fast = FastSam2MemoryAttention(stock_module, AttentionCore(threads=1))
    assert_grad_goes_to_the_original(fast, stock_module, _inputs(2, 4))


def test_attach_picks_it_for_sam21_only(tmp_path) -> None:
    from annotator.engines import memory_attention, rope_attention
    from tests.tiny_sam2_video import tiny_edgetam_video, tiny_sam2_video

    sam2 = tiny_sam2_video()
    assert memory_attention.attach(sam2, tmp_path) == "onnxruntime"
    assert isinstance(sam2.memory_attention, rope_attention.FastSam2MemoryAttention)
    assert not list((tmp_path / "onnx").glob("memory-attention-*"))  # nothing exported for it
    assert not rope_attention.supported(tiny_edgetam_video().memory_attention)
