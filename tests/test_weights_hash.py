"""The weights' sha256 that names the ONNX exports (engines/weights_hash.py) is remembered:
in memory while the tensors are unchanged, on disk per snapshot while its files are."""

from __future__ import annotations

import gc
import json
import os

import pytest
import torch

from annotator.engines import weights_hash


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real hashing runs."""
    calls: list[int] = []
    real = weights_hash._hash
    monkeypatch.setattr(weights_hash, "_hash", lambda state: (calls.append(1), real(state))[1])
    return calls


def _module(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))


def test_in_memory_until_the_weights_change(hashes) -> None:
    module = _module(0)
    first = weights_hash.weights_sha256(module)
    assert weights_hash.weights_sha256(module) == first and len(hashes) == 1
    with torch.no_grad():
        module[0].bias += 1.0  # an in-place write bumps the tensor's version
    changed = weights_hash.weights_sha256(module)
    assert changed != first and len(hashes) == 2


def test_other_weights_in_the_same_memory_hash_again(hashes) -> None:
    first = weights_hash.weights_sha256(_module(0))
    gc.collect()  # the allocator may give the next module the same addresses
    assert weights_hash.weights_sha256(_module(1)) != first
    assert len(hashes) == 2


def test_on_disk_per_snapshot_until_its_files_change(hashes, tmp_path) -> None:
    snapshot = tmp_path / "edgetam"
    snapshot.mkdir()
    (snapshot / "model.safetensors").write_bytes(b"weights")
    module = _module(0)
    sha = weights_hash.weights_sha256(module, snapshot, "image-encoder")
    memo = snapshot / "onnx" / "sha256-memo.json"
    assert list(json.loads(memo.read_text()).values()) == [sha]
    weights_hash._memory.clear()  # a new process
    assert weights_hash.weights_sha256(_module(0), snapshot, "image-encoder") == sha and len(hashes) == 1
    weights_hash._memory.clear()
    stat = (snapshot / "model.safetensors").stat()
    os.utime(snapshot / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert weights_hash.weights_sha256(_module(0), snapshot, "image-encoder") == sha and len(hashes) == 2
    assert len(json.loads(memo.read_text())) == 2  # a new entry for the new file state


def test_no_weight_files_no_disk_memo(hashes, tmp_path) -> None:
    weights_hash.weights_sha256(_module(0), tmp_path, "image-encoder")
    assert not (tmp_path / "onnx").exists()
