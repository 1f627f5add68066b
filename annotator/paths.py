"""Where Annotator keeps user files: model weights, caches and fallback project files.

Each location can be overridden by an environment variable, which the tests use to keep
the user's real directories out of every run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

APP_NAME = "annotator"


def models_dir() -> Path:
    """Downloaded weights. ``ANNOTATOR_MODELS_DIR`` points at a folder of local files instead."""
    return _env_or("ANNOTATOR_MODELS_DIR", lambda: Path(platformdirs.user_cache_dir(APP_NAME)) / "models")


def cache_dir() -> Path:
    """Disposable caches (frame indexes, embeddings)."""
    return _env_or("ANNOTATOR_CACHE_DIR", lambda: Path(platformdirs.user_cache_dir(APP_NAME)))


def data_dir() -> Path:
    """Project files for videos that sit in read-only folders."""
    return _env_or("ANNOTATOR_DATA_DIR", lambda: Path(platformdirs.user_data_dir(APP_NAME)))


def _env_or(var: str, default: Callable[[], Path]) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default()
