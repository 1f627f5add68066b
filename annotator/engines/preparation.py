"""Slow one-off steps inside an engine, shown to the user by whoever runs the engine.

The first use of some weights on a CPU exports parts of the model to ONNX (engines/image_encoder.py,
engines/memory_attention.py): tens of seconds to a minute and a half on a 2-core laptop, then
cached on disk. The engines know nothing of the app, so the step goes through ``run``: without a
runner it just runs; the app installs one (``install``) that runs it as a Job of kind "prepare"
on the same thread (the engine lane, never the UI thread), so the GUI shows it like any job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Runner = Callable[[str, Callable[[], Any]], Any]  # runner(message, work) -> work()

_runners: list[Runner] = []
_lock = threading.Lock()


def install(runner: Runner) -> Callable[[], None]:
    """Run preparation steps through ``runner`` (the newest installed wins); returns the remover."""
    with _lock:
        _runners.append(runner)

    def remove() -> None:
        with _lock:
            if runner in _runners:
                _runners.remove(runner)

    return remove


def run(model: str, part: str, work: Callable[[], T]) -> T:
    """``work()`` announced as "Preparing the fast CPU path for <model> (once): <part>"
    (``model``: ``model_label(the model)``)."""
    with _lock:
        runner = _runners[-1] if _runners else None
    if runner is None:
        return work()
    return runner(f"Preparing the fast CPU path for {model} (once): {part}", work)


def model_label(model: Any) -> str:
    """The model's family as users know it, from its config ("EdgeTAM", "SAM 2.1", "SAM 3")."""
    model_type = str(getattr(getattr(model, "config", None), "model_type", "") or "")
    for prefix, label in (("edgetam", "EdgeTAM"), ("sam3", "SAM 3"), ("sam2", "SAM 2.1")):
        if model_type.startswith(prefix):
            return label
    return model_type or type(model).__name__
