"""Device choice, autocast, out-of-memory detection and the one-retry CPU fallback.

There is no GPU here, so the fallback is driven by a real ``torch.cuda.OutOfMemoryError``
raised from a fake device call: the one place a simulated failure stands in for hardware.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.engines.device import (
    OomFallback,
    autocast,
    device_label,
    free_memory,
    is_out_of_memory,
    pick_device,
)
from annotator.errors import DeviceError

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = torch.backends.mps.is_available()


def test_auto_picks_the_best_available():
    expected = "cuda" if HAS_CUDA else "mps" if HAS_MPS else "cpu"
    assert pick_device() == expected
    assert pick_device("auto") == expected


def test_flag_then_env(monkeypatch):
    assert pick_device("cpu") == "cpu"
    assert pick_device(" CPU ") == "cpu"
    monkeypatch.setenv("ANNOTATOR_DEVICE", "cpu")
    assert pick_device() == "cpu"
    monkeypatch.setenv("ANNOTATOR_DEVICE", "tpu")
    assert pick_device("cpu") == "cpu"  # the flag wins over the env var
    with pytest.raises(DeviceError, match="ANNOTATOR_DEVICE=tpu: unknown device"):
        pick_device()


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_unavailable_cuda_says_why(monkeypatch):
    with pytest.raises(DeviceError, match=r"--device=cuda: CUDA is not available \(.+\)"):
        pick_device("cuda")
    monkeypatch.setenv("ANNOTATOR_DEVICE", "cuda:0")
    with pytest.raises(DeviceError, match="ANNOTATOR_DEVICE=cuda:0"):
        pick_device()


@pytest.mark.skipif(HAS_MPS, reason="this machine has MPS")
def test_unavailable_mps_says_why():
    with pytest.raises(DeviceError, match="MPS is not available"):
        pick_device("mps")


@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
def test_cuda_index_out_of_range():
    with pytest.raises(DeviceError, match="there is no GPU 99"):
        pick_device("cuda:99")
    assert device_label("cuda").startswith("CUDA (")


def test_bad_device_strings():
    for bad in ("gpu", "cpu:1", "cuda:x", "mps:0"):
        with pytest.raises(DeviceError, match="unknown device"):
            pick_device(bad)


def test_cpu_label_and_autocast():
    assert device_label("cpu") == f"CPU ({torch.get_num_threads()} threads)"
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    free_memory("cpu")


@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
def test_cuda_autocast_is_bf16():
    with autocast("cuda"):
        out = torch.ones(8, 8, device="cuda") @ torch.ones(8, 8, device="cuda")
    assert out.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)


def test_out_of_memory_detection():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(MemoryError())
    assert not is_out_of_memory(ValueError("CUDA out of memory"))


class FakeEngine:
    """Runs on "cuda" until moved; the GPU path raises a real CUDA out-of-memory error."""

    def __init__(self, oom_on_cpu: bool = False) -> None:
        self.device = "cuda"
        self.oom_on_cpu = oom_on_cpu
        self.calls: list[str] = []

    def to(self, device: str) -> None:
        self.device = device

    def predict(self, points: np.ndarray) -> torch.Tensor:
        self.calls.append(self.device)
        if self.device == "cuda" or self.oom_on_cpu:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        return torch.as_tensor(points, device=self.device).sum(dim=0)


def test_oom_moves_to_cpu_tells_the_user_and_retries_once():
    engine = FakeEngine()
    notices: list[str] = []
    points = np.array([[10.0, 20.0], [30.0, 40.0]], np.float32)
    before = points.copy()
    fallback = OomFallback(move_to_cpu=lambda: engine.to("cpu"), notify=notices.append,
                           device=engine.device, what="sam-vit-h")
    result = fallback.run(engine.predict, points)
    assert engine.calls == ["cuda", "cpu"]
    assert result.tolist() == [40.0, 60.0] and result.device.type == "cpu"
    assert fallback.device == "cpu" and fallback.fell_back
    assert len(notices) == 1 and "sam-vit-h" in notices[0] and "CPU" in notices[0]
    np.testing.assert_array_equal(points, before)  # the prompts are untouched
    fallback.run(engine.predict, points)  # later calls go straight to the CPU
    assert engine.calls == ["cuda", "cpu", "cpu"] and len(notices) == 1


def test_second_oom_on_cpu_propagates():
    engine = FakeEngine(oom_on_cpu=True)
    notices: list[str] = []
    fallback = OomFallback(move_to_cpu=lambda: engine.to("cpu"), notify=notices.append)  # device unknown
    with pytest.raises(torch.cuda.OutOfMemoryError):
        fallback.run(engine.predict, np.zeros((1, 2), np.float32))
    assert engine.calls == ["cuda", "cpu"]
    assert len(notices) == 1


def test_other_errors_and_cpu_runs_are_not_retried():
    moved: list[bool] = []

    def broken() -> None:
        raise ValueError("bad prompt")

    with pytest.raises(ValueError, match="bad prompt"):
        OomFallback(move_to_cpu=lambda: moved.append(True)).run(broken)

    def oom() -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        OomFallback(move_to_cpu=lambda: moved.append(True), device="cpu").run(oom)
    assert moved == []


@pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")
def test_real_cuda_out_of_memory_falls_back():
    state = {"device": "cuda"}

    def call() -> float:
        if state["device"] == "cuda":
            torch.empty(1 << 45, dtype=torch.uint8, device="cuda")  # 32 TiB: a real allocator failure
        return float(torch.ones(3, device=state["device"]).sum())

    notices: list[str] = []
    fallback = OomFallback(move_to_cpu=lambda: state.update(device="cpu"), notify=notices.append,
                           device="cuda")
    assert fallback.run(call) == 3.0
    assert state["device"] == "cpu" and len(notices) == 1
