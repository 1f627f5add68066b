"""Compute device choice (cuda, then mps, then cpu), mixed precision, and the out-of-memory
fallback to the CPU.

torch is imported inside the functions: importing this module costs nothing, and code paths
that never touch a model (``annotator info``) never load torch.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from annotator.errors import DeviceError

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_VAR = "ANNOTATOR_DEVICE"
KINDS = ("cuda", "mps", "cpu")


def pick_device(requested: str | None = None) -> str:
    """The device to run models on: ``requested`` (the --device flag), else $ANNOTATOR_DEVICE,
    else the best available (cuda, then mps, then cpu).

    "auto" means the same as nothing. "cuda:N" picks one GPU. Asking for a device that is
    not available raises DeviceError with the reason.
    """
    source = "--device"
    choice = (requested or "").strip().lower()
    if not choice:
        choice = os.environ.get(ENV_VAR, "").strip().lower()
        source = ENV_VAR
    if choice in ("", "auto"):
        if _cuda_reason() is None:
            return "cuda"
        if _mps_reason() is None:
            return "mps"
        return "cpu"
    kind, _, index = choice.partition(":")
    if kind not in KINDS or (index and (kind != "cuda" or not index.isdigit())):
        raise DeviceError(f"{source}={choice}: unknown device; use cuda, cuda:N, mps, cpu or auto")
    if kind == "cpu":
        return "cpu"
    reason = _cuda_reason() if kind == "cuda" else _mps_reason()
    if reason is not None:
        raise DeviceError(f"{source}={choice}: {kind.upper()} is not available ({reason})")
    if index:
        import torch

        count = torch.cuda.device_count()
        if int(index) >= count:
            raise DeviceError(f"{source}={choice}: there is no GPU {index} (this machine has {count})")
    return choice


def device_label(device: str) -> str:
    """A human name for the status bar and ``models status``: "CUDA (NVIDIA H200)", "CPU (2 threads)"."""
    import torch

    kind = device.split(":")[0]
    if kind == "cuda":
        index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        return f"CUDA ({torch.cuda.get_device_name(index)})"
    if kind == "mps":
        return "MPS (Apple GPU)"
    return f"CPU ({torch.get_num_threads()} threads)"


def autocast(device: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA GPUs that support it (Ampere and newer), full precision elsewhere.

    Older GPUs get fp32 rather than fp16: SAM's attention overflows in fp16.
    """
    if device.split(":")[0] != "cuda":
        return contextlib.nullcontext()
    import torch

    if not torch.cuda.is_bf16_supported():
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a GPU out-of-memory error (CUDA, or the MPS allocator's)."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(exc, RuntimeError):
        text = str(exc)
        return "CUDA out of memory" in text or "MPS backend out of memory" in text
    return False


def free_memory(device: str) -> None:
    """Give cached GPU memory back after an out-of-memory error or when an engine is dropped."""
    gc.collect()
    kind = device.split(":")[0]
    if kind == "cpu":
        return
    import torch

    if kind == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif kind == "mps" and hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.empty_cache()


class OomFallback:
    """Run an engine call; on GPU out-of-memory free memory, move the engine to the CPU, tell
    the user, and retry the call once there.

    ``move_to_cpu`` moves the engine (its weights and caches); ``notify`` gets one message for
    the user. The call must build its tensors from the caller's own inputs (the prompts) each
    time it runs, so a retry starts from untouched inputs. A second failure propagates.

        fallback = OomFallback(move_to_cpu=lambda: engine.to("cpu"), notify=status_bar.show,
                               device=engine.device, what="sam-vit-h")
        result = fallback.run(engine.predict, prompt, key)
    """

    def __init__(
        self,
        move_to_cpu: Callable[[], None],
        notify: Callable[[str], None] | None = None,
        device: str | None = None,
        what: str = "the model",
    ) -> None:
        self.move_to_cpu = move_to_cpu
        self.notify = notify
        self.device = device  # None: unknown; a GPU out-of-memory error then says it was a GPU
        self.what = what
        self.fell_back = False

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        failed_on: str | None = None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if self.device == "cpu" or self.fell_back or not is_out_of_memory(exc):
                raise
            failed_on = self.device or ("mps" if "MPS" in str(exc) else "cuda")
            log.warning("%s ran out of memory on %s: %s", self.what, failed_on, exc)
        # Outside the except block: the traceback no longer pins the GPU tensors of the failed
        # call, so freeing memory can actually release them.
        free_memory(failed_on)
        self.move_to_cpu()
        self.device = "cpu"
        self.fell_back = True
        if self.notify is not None:
            self.notify(f"{self.what} ran out of GPU memory; it continues on the CPU (slower). "
                        "Your prompts are kept.")
        return fn(*args, **kwargs)


# --- availability ------------------------------------------------------------------------------
def _cuda_reason() -> str | None:
    """None when CUDA can be used, else why not."""
    import torch

    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return "this PyTorch build has no CUDA support"
    if not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None and visible.strip() in ("", "-1"):
            return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
        return "no NVIDIA GPU or driver found"
    return None


def _mps_reason() -> str | None:
    import torch

    backend = getattr(torch.backends, "mps", None)
    if backend is None or not backend.is_built():
        return "this PyTorch build has no MPS support (Apple silicon Macs only)"
    if not backend.is_available():
        return "needs macOS 12.3 or newer on an Apple GPU"
    return None
