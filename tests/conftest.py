"""Test-wide setup: no network for model hubs, offscreen Qt, user dirs kept out of the run."""

from __future__ import annotations

import os
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
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets empty model/cache/data dirs, so nothing on this machine leaks in."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(base / "models"))
    monkeypatch.setenv("ANNOTATOR_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(base / "data"))
    monkeypatch.delenv("ANNOTATOR_DEVICE", raising=False)


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
