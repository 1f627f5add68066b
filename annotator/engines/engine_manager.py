"""The Session's engines: which segmenter and tracker run, on which device, and why.

Engines are created lazily on the engine worker (loading weights is slow and must never
block the UI), announced through the ``engine_status`` event with the reason for the
choice ("classical: no SAM weights installed ..."), and swapped when the user picks
another model. Nothing here downloads weights.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from annotator.engines.segmenter import Segmenter
from annotator.engines.tracker import FrameSource, Tracker

if TYPE_CHECKING:
    from annotator.session import Session

log = logging.getLogger(__name__)
T = TypeVar("T")


class EngineManager:
    def __init__(self, session: Session, segmenter: str = "auto", tracker: str = "auto",
                 device: str | None = None) -> None:
        self._session = session
        self.requested_segmenter = segmenter
        self.requested_tracker = tracker
        self.requested_device = device
        self._device: str | None = None
        self._segmenter: Segmenter | None = None
        self._segmenter_reason = ""
        self._lock = threading.Lock()
        self._precompute: Any = None
        self._precompute_paused: set[str] = set()  # why it is paused: "playback", "propagation"
        self._describers: Any = None

    # --- choices --------------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            from annotator.engines.factory import needs_torch, resolve_device

            task, name = ("segment", self.requested_segmenter)
            if not needs_torch(task, name):
                task, name = ("track", self.requested_tracker)
            self._device = resolve_device(task, name, self.requested_device)
        return self._device

    @property
    def lane(self) -> str:
        """All model work of one device runs on one worker thread (GPU work is serialized)."""
        return f"engine:{self.device}"

    def choose_segmenter(self) -> tuple[str, str]:
        from annotator.engines.weights import choose

        return choose("segment", self.requested_segmenter, self.device)

    def choose_tracker(self) -> tuple[str, str]:
        from annotator.engines.weights import choose

        return choose("track", self.requested_tracker, self.device)

    def set_models(self, segmenter: str | None = None, tracker: str | None = None,
                   device: str | None = None) -> None:
        """Switch engines; the next click or propagation loads the new choice."""
        with self._lock:
            if segmenter is not None:
                self.requested_segmenter = segmenter
            if tracker is not None:
                self.requested_tracker = tracker
            if device is not None:
                self.requested_device = device
                self._device = None
            self._drop_segmenter()
        self.announce()

    def status(self) -> dict[str, str]:
        """What runs now and why, without loading anything."""
        try:
            seg_name, seg_reason = self.choose_segmenter()
            trk_name, trk_reason = self.choose_tracker()
            device = self.device
        except Exception as exc:  # a bad choice is reported, not raised, in a status line
            return {"segmenter": "?", "tracker": "?", "device": "?", "reason": str(exc)}
        reason = "; ".join(r for r in (seg_reason, trk_reason) if r)
        return {"segmenter": seg_name, "tracker": trk_name, "device": device, "reason": reason}

    def announce(self) -> None:
        status = self.status()
        self._session.events.emit("engine_status", **status)

    # --- segmenter ------------------------------------------------------------------------
    def segmenter(self) -> Segmenter:
        """The active segmenter, loaded on first use (call on the engine lane)."""
        with self._lock:
            if self._segmenter is None:
                from annotator.engines.factory import create_segmenter

                self._segmenter, self._segmenter_reason = create_segmenter(
                    self.requested_segmenter, device=self.device)
            return self._segmenter

    def run_segmenter(self, call: Callable[[Segmenter], T], segmenter: Segmenter) -> T:
        """Run a segmenter call; on CUDA out-of-memory fall back to the CPU once and say so."""
        from annotator.engines.device import OomFallback

        fallback = OomFallback(
            move_to_cpu=lambda: self._move_segmenter_to_cpu(segmenter),
            notify=lambda message: self._session.events.emit("notice", message=message, level="warning"),
        )
        return fallback.run(lambda: call(self._segmenter or segmenter))

    def _move_segmenter_to_cpu(self, segmenter: Segmenter) -> None:
        to = getattr(segmenter, "to", None)
        if to is not None:
            to("cpu")
        self._device = "cpu"

    def frame_changed(self, frame: int) -> None:
        """Encode the new frame and its neighbours in the background while the user looks."""
        if self._precompute is None or self._precompute_paused:
            return
        # Cancel only acts between frames, so a click can wait behind one neighbour's encode.
        # On a CPU that is seconds with PyTorch encoders; with ONNX Runtime (EdgeTAM ~0.3 s a
        # frame) the neighbours are worth it. Precomputer keeps them within the RAM budget.
        fast = self.device != "cpu" or getattr(self._segmenter, "encoder_runtime", "") == "onnxruntime"
        self._precompute.request(frame, neighbours=2 if fast else 0)

    def pause_precompute(self, paused: bool, reason: str = "playback") -> None:
        """Stop encoding frames while ``reason`` lasts (playback, a propagation: 2 cores are
        not enough for both); when no reason is left, encode the frame the user is on."""
        if paused:
            self._precompute_paused.add(reason)
        else:
            self._precompute_paused.discard(reason)
        if self._precompute is None:
            return
        if paused:
            self._precompute.cancel()
        elif not self._precompute_paused:
            self.frame_changed(self._session.current_frame)

    def enable_precompute(self) -> None:
        """Start background encoding (the GUI turns this on; the CLI and most tests do not)."""
        if self._precompute is not None or self._session.video is None:
            return
        from annotator.engines.precompute import Precomputer

        source = self._session.video
        self._precompute = Precomputer(
            _LazySegmenter(self), self._session.workers, get_frame=source.frame,
            key_of=lambda frame: (source.fingerprint, frame), lane=self.lane,
            frame_count=source.frame_count,
        )
        self._precompute.request(self._session.current_frame, neighbours=0)

    # --- tracker ---------------------------------------------------------------------------
    def make_tracker(self, source: FrameSource) -> Tracker:
        from annotator.engines.factory import create_tracker

        tracker, _reason = create_tracker(self.requested_tracker, source, device=self.device)
        return tracker

    # --- describers (classification and captioning) ----------------------------------------
    def describers(self) -> Any:
        """The CLIP/BLIP describers (annotator.insights.Describers), made on first use."""
        with self._lock:
            if self._describers is None:
                from annotator.insights import Describers

                self._describers = Describers(self.requested_device)
            return self._describers

    def release_describers(self) -> None:
        with self._lock:
            describers, self._describers = self._describers, None
        if describers is not None:
            describers.release()

    # --- lifetime --------------------------------------------------------------------------
    def release(self) -> None:
        with self._lock:
            if self._precompute is not None:
                self._precompute.cancel()
                self._precompute = None
            self._drop_segmenter()
        self.release_describers()

    def _drop_segmenter(self) -> None:
        self._segmenter = None


class _LazySegmenter:
    """Lets the precomputer hold a segmenter that is only loaded when first needed."""

    def __init__(self, manager: EngineManager) -> None:
        self._manager = manager

    def prepare(self, image: Any, key: Any) -> float:
        return self._manager.segmenter().prepare(image, key)

    def is_prepared(self, key: Any) -> bool:
        return self._manager.segmenter().is_prepared(key)

    @property
    def store(self) -> Any:
        """The engine's embedding store, for the RAM budget (None before the engine loads)."""
        return getattr(self._manager._segmenter, "store", None)
