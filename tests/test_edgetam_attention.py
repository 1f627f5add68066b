"""EdgeTAM's memory attention with its attention products in ONNX Runtime and its
position-free keys scored at 65 dimensions (engines/edgetam_attention.py), against
transformers' own module, on a tiny random config."""

from __future__ import annotations

import pytest
import torch

from annotator.engines.image_encoder import runtime_versions
from tests.attention_helpers import assert_grad_goes_to_the_original

pytestmark = pytest.mark.skipif(runtime_versions() is None, reason="onnxruntime, onnx or onnxscript missing")

LATENTS = 32  # per memory frame in tests/tiny_sam2_video.tiny_edgetam_video: 16 global + 16 on a grid


@pytest.fixture(scope="module")
def stock_module() -> torch.nn.Module:
    from tests.tiny_sam2_video import tiny_edgetam_video

    return tiny_edgetam_video().memory_attention


def _inputs(frames: int, pointers: int, tokens: int = 16, seed: int = 1) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    keys = frames * LATENTS + pointers
    return (torch.randn(tokens, 1, 128, generator=generator), torch.randn(keys, 1, 64, generator=generator),
            torch.randn(tokens, 1, 128, generator=generator), torch.randn(keys, 1, 64, generator=generator),
            pointers, frames)


def _fast(stock_module: torch.nn.Module, chunk: int = 512) -> torch.nn.Module:
    from annotator.engines.edgetam_attention import FastEdgeTamMemoryAttention
    from annotator.engines.rope_attention import AttentionCore

    split = AttentionCore(1, chunk, split=True)
    return FastEdgeTamMemoryAttention(stock_module, AttentionCore(1, chunk), split)


@pytest.mark.parametrize(("frames", "pointers"), [(1, 0), (1, 4), (3, 16), (7, 64)])
def test_equals_the_stock_module_for_every_memory_count(stock_module, frames: int, pointers: int) -> None:
    fast = _fast(stock_module, chunk=5)  # several query chunks
    args = _inputs(frames, pointers)
    with torch.inference_mode():
        expected, got = stock_module(*args), fast(*args)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5 * expected.abs().max().item()


def test_the_global_latents_and_pointers_change_the_output(stock_module) -> None:
    """The keys scored at 65 dimensions are really scored: changing only them moves the result."""
    fast = _fast(stock_module)
    args = list(_inputs(3, 8))
    with torch.inference_mode():
        before = fast(*args)
        memory = args[1].clone()
        memory[:16] += 1.0  # the first frame's global latents (no RoPE)
        memory[-8:] -= 1.0  # the pointers
        args[1] = memory
        after, expected = fast(*args), stock_module(*args)
    assert (after - before).abs().max().item() > 1e-3
    assert (after - expected).abs().max().item() <= 1e-5 * expected.abs().max().item()


def test_inputs_it_was_not_built_for_go_to_the_original(stock_module) -> None:
    fast = _fast(stock_module)
    assert_grad_goes_to_the_original(fast, stock_module, _inputs(2, 4))


def test_attach_uses_it_for_edgetam_with_nothing_exported(tmp_path) -> None:
    from annotator.engines import edgetam_attention, memory_attention
    from tests.tiny_sam2_video import tiny_edgetam_video

    model = tiny_edgetam_video()
    assert memory_attention.attach(model, tmp_path) == "onnxruntime"
    assert isinstance(model.memory_attention, edgetam_attention.FastEdgeTamMemoryAttention)
    assert not list((tmp_path / "onnx").glob("memory-attention-*"))
