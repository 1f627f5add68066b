"""Test-wide setup: no network for model hubs, offscreen Qt, user dirs kept out of the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Read at import time by huggingface_hub, so set them before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

REPO = Path(__file__).resolve().parents[1]
DAVIS_DIR = Path(os.environ.get("ANNOTATOR_DAVIS_DIR", REPO.parent / "shared" / "data" / "davis16-mini"))
SAMPLE_VIDEO = REPO / "resources" / "sample.mp4"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets empty model/cache/data dirs, so nothing on this machine leaks in."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(base / "models"))
    monkeypatch.setenv("ANNOTATOR_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(base / "data"))
    monkeypatch.delenv("ANNOTATOR_DEVICE", raising=False)
    # The ONNX export of an image encoder takes seconds per model: the tests that check the
    # ONNX Runtime path ask for it by name (tests/test_image_encoder.py).
    monkeypatch.setenv("ANNOTATOR_ENCODER", "pytorch")
    yield
    from annotator.engines import shared_features

    shared_features.clear()  # encoders and encoded frames never carry over to the next test


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models: intra-op threads cost far more than they save on a busy 2-core box (15x
    measured); a module asks for it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def davis_dir() -> Path:
    """The shared DAVIS-2016 mini set; skips when this checkout has no ../shared data."""
    if not (DAVIS_DIR / "JPEGImages" / "480p").is_dir():
        pytest.skip(f"DAVIS data not found at {DAVIS_DIR} (set ANNOTATOR_DAVIS_DIR)")
    return DAVIS_DIR


@pytest.fixture
def sample_video() -> Path:
    if not SAMPLE_VIDEO.exists():
        pytest.skip("resources/sample.mp4 missing; run `make sample`")
    return SAMPLE_VIDEO
