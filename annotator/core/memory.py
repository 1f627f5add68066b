"""Process memory figures for the CLI's --json output, the status bar and the benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark, in MB.

    /proc's VmHWM starts afresh at exec. ru_maxrss does not: Linux carries the parent's high
    water mark over into a child it forked, so a small child of a big test process would
    report the parent's peak.
    """
    value = _proc_status_kb("VmHWM")
    if value is not None:
        return value / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB elsewhere


def current_rss_mb() -> float | None:
    value = _proc_status_kb("VmRSS")
    return None if value is None else value / 1024


def peak_vram_mb() -> float:
    """Peak CUDA memory allocated by torch in this process; 0 when torch or CUDA is not in use."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return 0.0
    return torch.cuda.max_memory_allocated() / 2**20


def _proc_status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
