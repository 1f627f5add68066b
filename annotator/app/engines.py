"""The Session's engines: which segmenter, tracker and describers run, on which device, and why.

Engines are created lazily on the engine worker (loading weights is slow and must never
block the UI), announced through the ``report`` callback (``engine_status`` with the reason
for the choice, "classical: no SAM weights installed ...", and ``notice``), and swapped when
the user picks another model. The manager knows nothing of the Session: it is given the
workers, the callback and a ``view`` callable (the video on screen and its frame) for the
background encoder. Nothing here downloads weights.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from annotator.app.events import EngineStatus, JobFinished, JobProgress, JobStarted, Notice
from annotator.core.jobs import Workers
from annotator.engines.segmenter import Segmenter
from annotator.engines.tracker import FrameSource, Tracker
from annotator.errors import AnnotatorError, WeightsMissingError

if TYPE_CHECKING:
    from annotator.core.video_source import VideoSource

Report = Callable[[object], None]  # report(event): an EngineStatus or a Notice (app/events.py)
View = Callable[[], "tuple[VideoSource | None, int]"]  # the video on screen and its current frame

log = logging.getLogger(__name__)
T = TypeVar("T")


class EngineManager:
    def __init__(self, workers: Workers, report: Report, view: View, segmenter: str = "auto",
                 tracker: str = "auto", device: str | None = None,
                 weights: dict[str, str | Path] | None = None) -> None:
        self._workers = workers
        self._report = report
        self._view = view
        self.requested_segmenter = segmenter
        self.requested_tracker = tracker
        self.requested_device = device
        self.weights = dict(weights or {})  # task ("segment", "track") -> local weights file or folder
        self._device: str | None = None
        self._segmenter: Segmenter | None = None
        self._segmenter_reason = ""
        self.tracker_reason = ""  # why the last tracker made is the one it is
        self._lock = threading.Lock()
        self._precompute: Any = None
        self._precompute_reader: Any = None  # the precompute's own decoder (a clone of the video)
        self._precompute_paused: set[str] = set()  # why it is paused: "playback", "propagation"
        self._describers: Describers | None = None
        self._remove_runner: Callable[[], None] | None = None  # preparation steps as jobs

    # --- choices --------------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            from annotator.engines.factory import needs_torch, resolve_device

            task, name = ("segment", self.requested_segmenter)
            if not needs_torch(task, name, self.weights.get(task)):
                task, name = ("track", self.requested_tracker)
            self._device = resolve_device(task, name, self.requested_device, self.weights.get(task))
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
        if device is not None:  # the describers follow the device too (loaded again on next use)
            self.release_describers()
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
        self._report(EngineStatus(**status))

    # --- segmenter ------------------------------------------------------------------------
    def segmenter(self) -> Segmenter:
        """The active segmenter, loaded on first use (call on the engine lane)."""
        self._show_preparation()
        with self._lock:
            if self._segmenter is None:
                from annotator.engines.factory import create_segmenter

                self._segmenter, self._segmenter_reason = create_segmenter(
                    self.requested_segmenter, device=self.device, weights=self.weights.get("segment"))
            return self._segmenter

    def segmenter_reason(self) -> str:
        """Why the loaded segmenter was chosen ("" before it is loaded)."""
        return self._segmenter_reason

    def run_segmenter(self, call: Callable[[Segmenter], T], segmenter: Segmenter) -> T:
        """Run a segmenter call; on CUDA out-of-memory fall back to the CPU once and say so."""
        from annotator.engines.device import OomFallback

        fallback = OomFallback(
            move_to_cpu=lambda: self._move_segmenter_to_cpu(segmenter),
            notify=lambda message: self._report(Notice(message, "warning")),
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
            self.frame_changed(self._view()[1])

    def enable_precompute(self) -> None:
        """Start background encoding (the GUI turns this on; the CLI and most tests do not)."""
        source, frame = self._view()
        if self._precompute is not None or source is None:
            return
        from annotator.engines.precompute import Precomputer

        # Its own decoder: decoding a neighbour (a backward one seeks and decodes a whole
        # keyframe interval) must not hold the lock the UI's next frame waits on.
        reader = source.clone()
        self._precompute_reader = reader
        self._precompute = Precomputer(
            _LazySegmenter(self), self._workers, get_frame=reader.frame,
            key_of=lambda frame: (source.fingerprint, frame), lane=self.lane,
            frame_count=source.frame_count,
        )
        self._precompute.request(frame, neighbours=0)

    # --- tracker ---------------------------------------------------------------------------
    def make_tracker(self, source: FrameSource) -> Tracker:
        from annotator.engines.factory import create_tracker

        self._show_preparation()
        tracker, self.tracker_reason = create_tracker(self.requested_tracker, source, device=self.device,
                                                      weights=self.weights.get("track"))
        return tracker

    # --- one-off preparation (the first use of some weights exports them to ONNX) ---------------
    def _show_preparation(self) -> None:
        """Run the engines' slow one-off steps as jobs of kind "prepare" (engines/preparation.py)."""
        if self._remove_runner is None:
            from annotator.engines import preparation

            self._remove_runner = preparation.install(self._run_preparation)

    def _run_preparation(self, message: str, work: Callable[[], T]) -> T:
        """``work()`` as a Job on the calling thread (the engine lane), announced like the
        Session's jobs, so the GUI shows "Preparing the fast CPU path for EdgeTAM (once)"."""
        from annotator.core.jobs import Job

        outcome: list[tuple[bool, Any]] = []

        def step(ctx: Any) -> None:
            ctx.report(0, None, f"{message}…")
            began = time.monotonic()
            try:
                outcome.append((True, work()))
            except BaseException as exc:  # the engine falls back (and says why); the job just ends
                outcome.append((False, exc))
                ctx.report(1, 1, f"{message}: failed after {time.monotonic() - began:.0f} s")
                return
            ctx.report(1, 1, f"{message}: done in {time.monotonic() - began:.0f} s")

        job = Job(message, step)
        self._report(JobStarted(job, "prepare"))
        job.on_progress(lambda j, p: self._report(
            JobProgress(j, p.done, p.total, p.frame, p.message, p.rate)))
        job.on_done(lambda j: self._report(JobFinished(j, "prepare")))
        job.run()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    # --- describers (classification and captioning) ----------------------------------------
    def describers(self) -> Describers:
        """The CLIP/BLIP describers, made on first use, on the requested device."""
        with self._lock:
            if self._describers is None:
                self._describers = Describers(self.requested_device)
            return self._describers

    def release_describers(self) -> None:
        with self._lock:
            describers, self._describers = self._describers, None
        if describers is not None:
            describers.release()

    # --- lifetime --------------------------------------------------------------------------
    def release(self) -> None:
        if self._remove_runner is not None:
            self._remove_runner()
            self._remove_runner = None
        with self._lock:
            if self._precompute is not None:
                self._precompute.cancel()
                self._precompute = None
            if self._precompute_reader is not None:
                # Closed under the job's feet is fine: a closed source raises, and the job ends.
                self._precompute_reader.close()
                self._precompute_reader = None
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

# --- describers ---------------------------------------------------------------------------------------
TASK_WORDS = {"classify": "Classification", "caption": "Captioning"}


@dataclass(frozen=True)
class ModelStatus:
    """Whether a describer can run: ``model`` is the one that would (None: none installed)."""

    task: str
    model: str | None
    message: str  # what runs and why, or which model is missing and how to get it
    missing: str | None = None  # the model to download when none is installed

    @property
    def ready(self) -> bool:
        return self.model is not None

    @property
    def command(self) -> str | None:
        return f"annotator models download {self.missing}" if self.missing else None


class Describers:
    """The describers of one Session: the model per task (``auto``: the best installed for the
    device), loaded on first use on the engine lane and kept until ``release``."""

    def __init__(self, device: str | None = None) -> None:
        self.requested_device = device
        self.models: dict[str, str] = {"classify": "auto", "caption": "auto"}
        self.weights: dict[str, str | Path | None] = {"classify": None, "caption": None}
        self.options: dict[str, dict[str, Any]] = {"classify": {}, "caption": {}}
        self._device: str | None = None
        self._engines: dict[str, tuple[tuple, Any]] = {}
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        if self._device is None:
            from annotator.engines.device import pick_device

            self._device = pick_device(self.requested_device)
        return self._device

    @property
    def lane(self) -> str:
        return f"engine:{self.device}"

    def set_model(self, task: str, name: str = "auto", weights: str | Path | None = None,
                  **options: Any) -> None:
        """Pick the model for a task; the next run loads it."""
        self._check_task(task)
        with self._lock:
            self.models[task], self.weights[task], self.options[task] = name or "auto", weights, options
            self._engines.pop(task, None)

    def resolve(self, task: str) -> tuple[str, str]:
        """(model name, why); WeightsMissingError when it is not installed."""
        from annotator.engines.describe import resolve_model

        self._check_task(task)
        return resolve_model(task, self.models[task], self._device_for_choice(), self.weights[task])

    def status(self, task: str) -> ModelStatus:
        """What would run for ``task``, or which model is missing and how to get it. Cheap: never
        loads a model, and never imports torch when nothing imported it yet."""
        try:
            name, why = self.resolve(task)
        except WeightsMissingError as exc:
            what = TASK_WORDS[task]
            return ModelStatus(task, None, f"{what} needs the model '{exc.model}', which is not installed. "
                               f"Get it with: annotator models download {exc.model}", exc.model)
        except (ValueError, AnnotatorError) as exc:
            return ModelStatus(task, None, f"{TASK_WORDS[task]}: {exc}")
        return ModelStatus(task, name, f"{name}: {why}")

    def get(self, task: str) -> Any:
        """The loaded engine (ClipClassifier / BlipCaptioner); loads it on first use. Call it on the lane."""
        from annotator.engines.describe import load_captioner, load_classifier

        name, _why = self.resolve(task)
        key = (name, str(self.weights[task]), self.device, tuple(sorted(self.options[task].items())))
        with self._lock:
            cached = self._engines.get(task)
            if cached is not None and cached[0] == key:
                return cached[1]
        loader = load_classifier if task == "classify" else load_captioner
        engine = loader(name, self.weights[task], self.device, **self.options[task])
        with self._lock:
            self._engines[task] = (key, engine)
        return engine

    def release(self) -> None:
        with self._lock:
            engines = [engine for _key, engine in self._engines.values()]
            self._engines.clear()
        if engines:
            from annotator.engines.device import free_memory

            del engines
            free_memory(self.device)

    def _device_for_choice(self) -> str:
        import sys

        if self._device is not None or "torch" in sys.modules:
            return self.device
        # Without torch loaded, choose by the requested device (the preference order only) rather
        # than spend seconds importing torch to show a status line.
        return (self.requested_device or "cpu").split(":")[0]

    @staticmethod
    def _check_task(task: str) -> None:
        if task not in TASK_WORDS:
            raise ValueError(f"unknown describer task {task!r}; expected classify or caption")
