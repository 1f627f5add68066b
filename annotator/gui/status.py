"""The status bar: which engines run and why, where we are in the video, and memory.

The engine label is a link that opens the Models dialog. When the classical engine runs
because no weights are installed, it says so in plain words. Memory is read every two
seconds from /proc (no psutil); GPU memory only when torch is already loaded and CUDA is
initialised (the status bar must never be the thing that loads torch).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from annotator.app.values import current_rss_mb
from annotator.gui.icons import icon

_PRETTY = {
    "classical": "Classical", "sam-vit-b": "SAM ViT-B", "sam-vit-l": "SAM ViT-L", "sam-vit-h": "SAM ViT-H",
    "sam2.1-tiny": "SAM 2.1 tiny", "sam2.1-small": "SAM 2.1 small", "sam2.1-base-plus": "SAM 2.1 base+",
    "sam2.1-large": "SAM 2.1 large", "edgetam": "EdgeTAM",
}


def engine_text(segmenter: str, tracker: str, device: str, reason: str) -> tuple[str, str]:
    """(short label, tooltip) for the status bar."""
    seg, trk = _PRETTY.get(segmenter, segmenter), _PRETTY.get(tracker, tracker)
    where = device.upper() if device and device != "?" else "?"
    if segmenter == "?":
        return "Engines: problem — Models…", reason
    if segmenter == "classical" and tracker == "classical":
        if "installed" in reason:
            label = "Classical engines: no model weights installed — Models… to download"
        else:
            label = "Classical engines (no model)"
    elif segmenter == "classical":
        label = f"Classical clicks · {trk} tracking on {where}"
    else:
        label = f"{seg} on {where}" + ("" if trk == seg else f" · {trk} tracking")
    tip = f"Click to segment: {seg}\nTracking: {trk}\nDevice: {where}"
    if reason:
        tip += f"\n\nWhy: {reason}"
    return label, tip + "\n\nClick to open the Models dialog."


def memory_snapshot() -> dict[str, float | None]:
    """rss_mb (this process), ram_used_frac (system), gpu_used_mb / gpu_total_mb when known."""
    out: dict[str, float | None] = {"rss_mb": None, "ram_used_frac": None, "gpu_used_mb": None,
                                    "gpu_total_mb": None}
    out["rss_mb"] = current_rss_mb()
    try:
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
        if info.get("MemTotal"):
            out["ram_used_frac"] = 1 - info.get("MemAvailable", 0) / info["MemTotal"]
    except (OSError, ValueError, IndexError):
        pass  # no /proc/meminfo (macOS, Windows): the gauge shows this process only
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            free, total = torch.cuda.mem_get_info()
            out["gpu_used_mb"], out["gpu_total_mb"] = (total - free) / 2**20, total / 2**20
    except Exception:  # a broken driver must not break the status bar
        pass
    return out


class StatusBar(QStatusBar):
    models_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.engine_button = QPushButton(icon("chip"), "", objectName="link")
        self.engine_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.engine_button.clicked.connect(self.models_requested)
        self.addPermanentWidget(self.engine_button)
        self.cursor_label = QLabel()
        self.cursor_label.setMinimumWidth(90)
        self.addPermanentWidget(self.cursor_label)
        self.zoom_label = QLabel()
        self.addPermanentWidget(self.zoom_label)
        self.frame_label = QLabel()
        self.frame_label.setMinimumWidth(190)
        self.addPermanentWidget(self.frame_label)
        self.memory_bar = QProgressBar()
        self.memory_bar.setFixedWidth(150)
        self.memory_bar.setFixedHeight(16)
        self.memory_bar.setRange(0, 100)
        self.addPermanentWidget(self.memory_bar)
        self.set_frame(None, 0, 0.0)
        self._timer = QTimer(self)
        self._timer.setInterval(2000)
        self._timer.timeout.connect(self.update_memory)

    def start(self) -> None:
        self.update_memory()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def set_engines(self, segmenter: str, tracker: str, device: str, reason: str) -> None:
        label, tip = engine_text(segmenter, tracker, device, reason)
        self.engine_button.setText(" " + label)
        self.engine_button.setToolTip(tip)

    def set_frame(self, index: int | None, count: int, seconds: float) -> None:
        if index is None:
            self.frame_label.setText("")
            return
        minutes, rest = divmod(max(0.0, seconds), 60)
        self.frame_label.setText(f"Frame {index} / {max(0, count - 1)}   {int(minutes):02d}:{rest:05.2f}")

    def set_zoom(self, scale: float) -> None:
        self.zoom_label.setText(f"{scale * 100:.0f}%")

    def set_cursor(self, xy: tuple[float, float] | None) -> None:
        self.cursor_label.setText("" if xy is None else f"x {int(xy[0])}  y {int(xy[1])}")

    def update_memory(self) -> None:
        snap = memory_snapshot()
        rss, frac = snap["rss_mb"], snap["ram_used_frac"]
        parts = [] if rss is None else [f"RAM {_mb(rss)}"]
        gpu_used, gpu_total = snap["gpu_used_mb"], snap["gpu_total_mb"]
        if gpu_used is not None and gpu_total:
            parts.append(f"GPU {_mb(gpu_used)}/{_mb(gpu_total)}")
            frac = gpu_used / gpu_total  # the scarcer resource when a GPU is in use
        self.memory_bar.setFormat("  ".join(parts) or "memory ?")
        self.memory_bar.setValue(int(round(100 * (frac or 0.0))))
        total = (os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
                 if hasattr(os, "sysconf") else 0)
        tip = f"This process: {_mb(rss) if rss else '?'}"
        if frac is not None and total:
            tip += f"\nSystem memory in use: {frac * 100:.0f}% of {_mb(total)}"
        if gpu_used is not None and gpu_total:
            tip += f"\nGPU memory in use: {_mb(gpu_used)} of {_mb(gpu_total)}"
        self.memory_bar.setToolTip(tip)


def _mb(value: float) -> str:
    return f"{value / 1024:.1f} GB" if value >= 1024 else f"{value:.0f} MB"
