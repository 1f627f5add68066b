"""Checks shared by the tests of the fast memory attentions (rope_attention, edgetam_attention)."""

from __future__ import annotations

import torch


def assert_grad_goes_to_the_original(fast: torch.nn.Module, original: torch.nn.Module, args: tuple) -> None:
    """Without gradients the fast module answers itself; with them (ONNX Runtime has no
    autograd) it hands the call to ``original``, whose answer it returns unchanged."""
    calls = []
    handle = original.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.no_grad():  # gradients off but not inference mode: still handled by the fast path
            fast(*args)
        assert calls == []
        with torch.enable_grad():
            assert torch.equal(fast(*args), original(*args))
        assert len(calls) == 2
    finally:
        handle.remove()
