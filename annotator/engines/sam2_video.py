"""SAM 2.1 and EdgeTAM video tracking through transformers: streamed frames, bounded memory,
corrections that stick.

``Sam2VideoTracker`` implements the Tracker protocol (engines/tracker.py) over transformers'
``Sam2VideoModel`` / ``EdgeTamVideoModel`` and ``Sam2VideoProcessor``. Frames are pulled from
the FrameSource one at a time and streamed into inference sessions (``init_video_session``
with no video; ``model(inference_session=..., frame=..., frame_idx=...)``); the video is never
loaded as a whole.

What the model reads back (transformers 5.24, ``modeling_sam2_video.py``; the EdgeTAM file
is the same in these parts), for frame ``t`` that is not an initial conditioning frame:

- Mask memories (``_gather_memory_frame_outputs``): every conditioning output of the object
  (``max_cond_frame_num`` is -1, so ``_select_closest_cond_frames`` keeps all of them, before
  and after ``t``), plus the tracked outputs at ``t-1 .. t-(num_maskmem-1)`` (``t+1 ..`` when
  tracking in reverse). The temporal stride is 1 ("we only support stride = 1"). Keys read:
  ``maskmem_features``, ``maskmem_pos_enc``. Missing frames are skipped.
- Object pointers (``_get_object_pointers``): the conditioning outputs at or before ``t`` (at
  or after ``t`` in reverse: in eval mode only past conditioning frames give pointers), plus
  the tracked outputs at ``t-1 .. t-(max_object_pointers_in_encoder-1)``. Key read:
  ``object_pointer``. With ``frame=`` passed (streaming), the pointer count is the config
  value; without it, it is ``min(num_frames, 16)`` where ``num_frames`` is the number of
  frames *in the session*, so streaming is what keeps results independent of pruning.
- ``forward`` on a frame that already has a conditioning output and no new input returns the
  stored ``pred_masks`` / ``object_score_logits`` (kept for conditioning outputs).
- New input on a frame is stored as a conditioning output only when the frame is not in
  ``frames_tracked_per_obj``; otherwise it becomes a tracked output that later runs forget.
  That is the "corrections do not stick" failure (facebookresearch/sam2 #546, #719, #731; the
  sam2 fix is ``add_all_frames_to_correct_as_cond``). We drop the frame's tracked state before
  adding the mask, so every user mask is a conditioning frame.
- ``high_res_masks`` (SAM 2) is read only by the memory encoder within the same call.

So the window of tracked outputs a frame can read is
``max((num_maskmem - 1) * stride, max_object_pointers_in_encoder - 1)``: 15 frames for
SAM 2.1 and EdgeTAM (7 mask memories, 16 pointers). sam2_memory.py keeps every conditioning
output and that window, and evicts everything else (processed frames, cached features,
older tracked outputs, high-resolution logits, mask inputs already consumed).

Design choices:

- **One session per object** sharing the image encoder: each frame is encoded once and its
  features go into the cache of every object tracked in this run. The stock ``forward``
  runs every object of a session on every frame (and fails on an object with no
  conditioning frame), so one shared session would compute objects that reached their stop
  or are not part of this run. SAM 2 batches the memory encoder over a session's objects;
  that small batching is what this gives up.
- **Each run starts fresh**: the tracked outputs of earlier runs are forgotten, so a run
  reads only the conditioning frames and its own frames. The result depends only on the
  conditioning, the start and the direction (and equals stock ``propagate_in_video_iterator``
  on a fresh session); the sam2 demo instead also reads tracked outputs left by earlier runs.
- **Confidence** = P(the verdict is right) x mask stability: for a present object,
  sigmoid(object score) x stability (IoU of the low-resolution logits above +1 and above -1,
  SAM's stability score); for an absent one, 1 - sigmoid(object score). The video forward
  does not return the IoU prediction, so the stability score stands in for it.
- bf16 autocast on CUDA (``device.autocast``), fp32 elsewhere; weights stay fp32. The
  autocast context never spans a ``yield``, so it does not leak into the caller.

tests/test_sam2_video.py checks parity with ``propagate_in_video_iterator`` and that pruned
and unpruned sessions give the same logits.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.engines import sam2_memory as mem
from annotator.engines.snapshots import check_config, quiet_transformers
from annotator.engines.tracker import FrameSource, TrackUpdate
from annotator.errors import FormatError, FrameIndexError

if TYPE_CHECKING:
    import torch

    from annotator.engines.shared_features import SharedFeatures

SAM2_VIDEO_MODELS = ("sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large", "edgetam")
_MODEL_TYPES = {"sam2": ("sam2_video", "sam2"), "edgetam": ("edgetam_video", "edgetam")}
_MEMORY_MODULES = ("memory_attention.", "memory_encoder.")


@dataclass
class FrameLogits:
    """Raw model output for one (frame, object): what parity tests and benchmarks compare."""

    frame: int
    object_id: int
    logits: torch.Tensor  # (h, w) low-resolution mask logits (image_size / 4), float32, CPU
    object_score: float  # presence logit: > 0 means the model sees the object


class Sam2VideoTracker:
    """The Tracker protocol over a SAM 2 / EdgeTAM video model (see the module docstring).

    ``prune=False`` keeps every output like the stock session does (for tests and benchmarks).
    ``precision``: None (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32".
    ``encoder``: "auto" (ONNX Runtime on a CPU when installed), "onnx" or "pytorch"; None reads
    ANNOTATOR_ENCODER (engines/image_encoder.py). ``weights_dir``: where the ONNX export is
    cached (beside the weights); None uses the user cache folder.
    """

    def __init__(
        self,
        source: FrameSource,
        model: Any,
        processor: Any,
        name: str = "sam2.1",
        device: str | None = None,
        *,
        prune: bool = True,
        precision: str | None = None,
        encoder: str | None = None,
        weights_dir: Path | None = None,
    ) -> None:
        if precision not in (None, "bf16", "fp32"):
            raise ValueError(f"precision must be None, 'bf16' or 'fp32', not {precision!r}")
        self.source = source
        self.name = name
        self.device = device or "cpu"
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.prune = prune
        self.precision = precision
        self.window = mem.memory_window(model.config)
        self._sessions: dict[int, Any] = {}  # object id -> its inference session
        self._pending: dict[int, dict[int, np.ndarray]] = {}  # frame -> {oid: mask}, not yet encoded
        self._conditioned: dict[int, set[int]] = {}  # oid -> its conditioning frames (pending included)
        self._shared: dict[tuple, Any] = {}  # one copy of the memory positional encoding per shape
        self._frame_shape: tuple[int, int] | None = None
        self._run = 0  # bumped by every run that starts: an older, still open run then ends
        self._lock = threading.RLock()
        # The image encoder (ONNX Runtime on a CPU when installed) and the frames it encoded,
        # shared with a click engine on the same weights (engines/shared_features.py).
        self._encoder_choice = encoder
        self._weights_dir = weights_dir
        self._features: SharedFeatures | None = None
        self._positions: list[torch.Tensor] | None = None
        self.memory_runtime = "pytorch"  # "onnxruntime" once memory attention runs there

    # --- Tracker protocol --------------------------------------------------------------------
    def add_conditioning(self, frame: int, masks: dict[int, np.ndarray]) -> None:
        """User masks on ``frame`` become conditioning frames (an empty mask: absent here).

        Cheap: the frame is encoded when the next propagation starts.
        """
        self._check_frame(frame)
        shape = self._video_shape(frame)
        checked: dict[int, np.ndarray] = {}
        for oid, mask in masks.items():
            mask = np.asarray(mask)
            if mask.shape != shape:
                raise ValueError(f"{self.name}: the mask for object {oid} on frame {frame} is "
                                 f"{mask.shape[::-1]} (w, h); the video is {shape[1]}x{shape[0]}")
            checked[int(oid)] = mask.astype(bool, copy=True)
        with self._lock:
            self._pending.setdefault(frame, {}).update(checked)
            for oid in checked:
                self._conditioned.setdefault(oid, set()).add(frame)

    def propagate(self, start: int, direction: int, stops: dict[int, int]) -> Iterator[TrackUpdate]:
        """Yield a TrackUpdate per (frame, object) after ``start`` up to each object's stop.

        Every object in ``stops`` whose stop lies beyond ``start`` must have a conditioning
        mask on ``start``. Closing the generator ends the run; nothing is left half-done.
        Starting another run ends this one at its next frame (the sessions are shared).
        """
        active = self._plan(start, direction, stops)
        return self._updates(start, direction, active)

    def propagate_logits(self, start: int, direction: int, stops: dict[int, int]) -> Iterator[FrameLogits]:
        """Like ``propagate`` but yields the raw low-resolution logits and presence scores."""
        active = self._plan(start, direction, stops)
        return self._logits(start, direction, active)

    def reset(self) -> None:
        """Forget every conditioning frame and all session state."""
        with self._lock:
            self._sessions.clear()
            self._pending.clear()
            self._conditioned.clear()
            self._shared.clear()

    # --- introspection -------------------------------------------------------------------------
    def retained_counts(self) -> dict[str, int]:
        """How many frame states the sessions hold now (the memory bound tests and benches check)."""
        with self._lock:
            return mem.retained_counts(list(self._sessions.values()))

    @property
    def object_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._conditioned)

    def conditioning_frames(self, object_id: int) -> list[int]:
        with self._lock:
            return sorted(self._conditioned.get(object_id, ()))

    # --- propagation ---------------------------------------------------------------------------
    def _plan(self, start: int, direction: int, stops: dict[int, int]) -> dict[int, int]:
        if direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1, not {direction!r}")
        self._check_frame(start)
        last = self.source.frame_count - 1
        active: dict[int, int] = {}
        for oid, stop in stops.items():
            stop = min(max(int(stop), 0), last)
            if (stop - start) * direction > 0:
                active[int(oid)] = stop
        with self._lock:
            missing = sorted(oid for oid in active if start not in self._conditioned.get(oid, ()))
        if missing:
            raise ValueError(f"{self.name}: objects {missing} have no conditioning mask on frame {start}; "
                             "propagation starts from a frame where each object was given")
        return active

    def _updates(self, start: int, direction: int, active: dict[int, int]) -> Iterator[TrackUpdate]:
        with contextlib.closing(self._frames(start, direction, active)) as frames:
            for frame, size, outputs in frames:
                masks = self._masks_at_size([logits for logits, _ in outputs.values()], size)
                for (oid, (logits, score)), mask in zip(outputs.items(), masks):
                    yield TrackUpdate(frame, oid, mask, confidence(logits, score))

    def _logits(self, start: int, direction: int, active: dict[int, int]) -> Iterator[FrameLogits]:
        with contextlib.closing(self._frames(start, direction, active)) as frames:
            for frame, _size, outputs in frames:
                for oid, (logits, score) in outputs.items():
                    yield FrameLogits(frame, oid, logits[0, 0].float().cpu(), score)

    def _frames(
        self, start: int, direction: int, active: dict[int, int]
    ) -> Iterator[tuple[int, tuple[int, int], dict[int, tuple[torch.Tensor, float]]]]:
        """Per frame after ``start``: (frame, (h, w), {oid: (low-res logits (1,1,h,w), score)})."""
        with self._lock:
            self._run += 1
            run = self._run
            for session in self._sessions.values():
                mem.begin_run(session)
            self._encode_pending()
        frame = start
        while True:
            frame += direction
            active = {oid: stop for oid, stop in active.items() if (stop - frame) * direction >= 0}
            if not active:
                return
            rgb = self.source.frame(frame)
            with self._lock:
                if run != self._run:
                    return
                outputs, size = self._track_frame(frame, rgb, sorted(active), direction)
            yield frame, size, outputs  # outside every torch context: nothing leaks to the caller

    def _track_frame(
        self, frame: int, rgb: np.ndarray, oids: list[int], direction: int
    ) -> tuple[dict[int, tuple[torch.Tensor, float]], tuple[int, int]]:
        import torch

        outputs: dict[int, tuple[torch.Tensor, float]] = {}
        with torch.inference_mode(), self._autocast():
            features, pixel_values = self._vision_features(frame, rgb)
            size = (int(rgb.shape[0]), int(rgb.shape[1]))
            for oid in oids:
                session = self._sessions[oid]
                session.cache.cache_vision_features(frame, features)
                out = self.model(inference_session=session, frame=pixel_values, frame_idx=frame,
                                 reverse=direction < 0)
                if self.prune:
                    mem.prune(session, frame, direction, self.window, self._shared)
                outputs[oid] = (out.pred_masks[:1].float(), float(out.object_score_logits.flatten()[0]))
        return outputs, size

    def _encode_pending(self) -> None:
        """Compute the conditioning output of every user mask added since the last run."""
        import torch

        pending, self._pending = self._pending, {}
        for frame in sorted(pending):
            rgb = self.source.frame(frame)
            with torch.inference_mode(), self._autocast():
                features, pixel_values = self._vision_features(frame, rgb)
                for oid, mask in sorted(pending[frame].items()):
                    session = self._session(oid)
                    obj_idx = session.obj_id_to_idx(oid)
                    mem.forget_tracked_frame(session, obj_idx, frame)
                    self.processor.add_inputs_to_inference_session(
                        inference_session=session, frame_idx=frame, obj_ids=oid, input_masks=mask)
                    session.cache.cache_vision_features(frame, features)
                    self.model(inference_session=session, frame=pixel_values, frame_idx=frame)
                    if self.prune:
                        mem.slim_conditioning(session, obj_idx, frame, self._shared)
                        mem.drop_frame_pixels(session)

    # --- model plumbing ------------------------------------------------------------------------
    def _session(self, oid: int) -> Any:
        import torch

        session = self._sessions.get(oid)
        if session is None:
            session = self.processor.init_video_session(inference_device=self.device, dtype=torch.float32)
            self._sessions[oid] = session
        return session

    def _preprocess(self, rgb: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"{self.name}: frames must be HxWx3 RGB, got shape {rgb.shape}")
        if not rgb.flags.writeable:
            rgb = rgb.copy()  # frames from the decoder cache are read-only; torch warns on those
        inputs = self.processor(images=rgb, device=self.device, return_tensors="pt")
        return inputs.pixel_values[0].to(self.device), (int(rgb.shape[0]), int(rgb.shape[1]))

    def _vision_features(self, frame: int, rgb: np.ndarray) -> tuple[dict[str, Any], torch.Tensor]:
        """What the model's ``_prepare_vision_features`` computes and caches for a frame, and the
        frame tensor to stream (a placeholder when the features came from the shared cache: the
        model reads the pixels only to encode them)."""
        import torch

        self.prepare_runtime()
        assert self._features is not None
        fingerprint = getattr(self.source, "fingerprint", None)
        key = (str(fingerprint), int(frame)) if fingerprint is not None else None
        levels = self._features.get(key)
        if levels is None:
            pixel_values, _ = self._preprocess(rgb)
            levels = self._features.encode(key, pixel_values.unsqueeze(0))
        else:
            pixel_values = torch.zeros(3, 1, 1, device=self.device)
        if any(p.shape[0] != t.shape[-2] * t.shape[-1] for p, t in zip(self._positions, levels, strict=True)):
            self._positions = self._positions_for(levels)  # another stride: SAM 3's ViT (patch 14)
        features = {"vision_feats": [_flatten(t) for t in levels], "vision_pos_embeds": self._positions}
        return features, pixel_values

    def _positions_for(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """The neck's positional encodings at the sizes the encoder really gave (the shared
        encoder assumes SAM 2's strides 4, 8 and 16)."""
        import torch

        neck = self.model.vision_encoder.neck
        channels = int(self.model.config.vision_config.fpn_hidden_size)
        device = self._positions[0].device if self._positions else torch.device(self.device)
        return [_flatten(neck.position_encoding((1, channels, int(t.shape[-2]), int(t.shape[-1])), device,
                                                torch.float32)) for t in levels]

    def prepare_runtime(self) -> None:
        """Set up the image encoder and, where it runs in ONNX Runtime, memory attention too
        (engines/memory_attention.py). The first use of some weights exports them (tens of
        seconds, then cached on disk); the first frame does this when nobody called it before."""
        if self._features is not None:
            return
        from annotator.engines import memory_attention
        from annotator.engines.shared_features import shared_features

        size = int(self.model.config.image_size)
        features = shared_features(self.model, size, self._weights_dir, self._encoder_choice)
        self._positions = [_flatten(p) for p in features.encoder.positions]
        if features.encoder.runtime == "onnxruntime":
            self.memory_runtime = memory_attention.attach(self.model, self._weights_dir)
        self._features = features

    @property
    def encoder_runtime(self) -> str:
        """How the image encoder runs ("onnxruntime", "pytorch"; "" before the first frame)."""
        return self._features.encoder.runtime if self._features is not None else ""

    def _masks_at_size(self, logits: list[torch.Tensor], size: tuple[int, int]) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            stacked = torch.cat(logits, dim=0).float()
            full = self.processor.post_process_masks([stacked], original_sizes=[list(size)], binarize=True)[0]
            return list(full[:, 0].cpu().numpy())

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        if self.precision == "bf16":
            import torch

            return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)
        from annotator.engines.device import autocast

        return autocast(self.device)

    def _check_frame(self, frame: int) -> None:
        count = self.source.frame_count
        if not 0 <= frame < count:
            raise FrameIndexError(f"frame {frame} is outside 0..{count - 1}")

    def _video_shape(self, frame: int) -> tuple[int, int]:
        if self._frame_shape is None:
            rgb = self.source.frame(frame)
            self._frame_shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        return self._frame_shape


def _flatten(levels: torch.Tensor) -> torch.Tensor:
    """NCHW -> (HW, N, C), the layout of the video model's cached vision features."""
    return levels.flatten(2).permute(2, 0, 1)


def confidence(logits: torch.Tensor, object_score: float) -> float:
    """P(the present/absent verdict is right) x mask stability, in 0..1 (see the module docstring)."""
    presence = _sigmoid(object_score)
    if object_score <= 0:
        return 1.0 - presence
    above_low = int((logits > -1.0).sum())
    stability = int((logits > 1.0).sum()) / above_low if above_low else 0.0
    return presence * stability


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# --- loading -----------------------------------------------------------------------------------
def load_sam2_video(
    name: str,
    source: FrameSource,
    weights: str | Path | None = None,
    device: str | None = None,
    **options: Any,
) -> Sam2VideoTracker:
    """A tracker for ``name`` (sam2.1-tiny/-small/-base-plus/-large, edgetam) over ``source``.

    ``weights`` is a Hugging Face snapshot folder (else the installed one); ``device`` as for
    ``--device``. ``options`` go to Sam2VideoTracker (``prune``, ``precision``, ``encoder``).
    """
    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device

    if name not in SAM2_VIDEO_MODELS:
        raise ValueError(f"unknown video model {name!r}; expected one of {', '.join(SAM2_VIDEO_MODELS)}")
    folder = Path(registry.require(name, weights))
    model, processor = load_video_snapshot(folder, family="edgetam" if name == "edgetam" else "sam2")
    options.setdefault("weights_dir", folder)
    return Sam2VideoTracker(source, model, processor, name, pick_device(device), **options)


def load_video_snapshot(folder: Path, family: str = "sam2") -> tuple[Any, Any]:
    """The video model and ``Sam2VideoProcessor`` from a snapshot folder; errors name the folder.

    ``family`` is "sam2" (``Sam2VideoModel``) or "edgetam" (``EdgeTamVideoModel``; the real
    EdgeTAM backbone is a timm RepViT, so it needs the ``timm`` package). A snapshot without
    the memory weights (an image-only checkpoint) is refused: it would track with random memory.
    """
    from transformers import EdgeTamVideoModel, Sam2VideoModel

    folder = Path(folder)
    accepted = _MODEL_TYPES[family]
    check_config(folder, accepted, accepted[0],
                 "SAM 2.1 and EdgeTAM installs are Hugging Face snapshot folders")
    model_cls = EdgeTamVideoModel if family == "edgetam" else Sam2VideoModel
    with quiet_transformers():
        try:
            model, info = model_cls.from_pretrained(folder, output_loading_info=True)
        except ImportError as exc:  # EdgeTAM's RepViT backbone comes from timm
            raise FormatError(f"cannot build the model ({str(exc).splitlines()[0]}); EdgeTAM needs the "
                              "timm package: pip install timm", folder) from exc
        except (OSError, ValueError, RuntimeError) as exc:
            raise FormatError(f"cannot load the video model ({str(exc).splitlines()[0]})", folder) from exc
        if family == "edgetam":
            from annotator.engines.model_configs import REPVIT, backbone_name

            if backbone_name(model) != REPVIT:  # transformers' defaults build a Hiera or a ResNet-50
                raise FormatError(f"the EdgeTAM backbone is {backbone_name(model)}, not {REPVIT}: "
                                  "config.json does not describe EdgeTAM", folder)
        missing = [k for k in info.get("missing_keys", ()) if k.startswith(_MEMORY_MODULES)]
        if missing:
            raise FormatError(f"the snapshot has no video memory weights ({len(missing)} missing, e.g. "
                              f"{missing[0]}); it is an image-only checkpoint", folder)
        processor = _load_processor(folder, model)
    return model.eval(), processor


def video_processor_for(image_size: int) -> Any:
    """The ``Sam2VideoProcessor`` every SAM 2 / EdgeTAM model uses, for a square input size."""
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor, Sam2VideoVideoProcessor

    side = {"height": int(image_size), "width": int(image_size)}
    return Sam2VideoProcessor(image_processor=Sam2ImageProcessor(size=side),
                              video_processor=Sam2VideoVideoProcessor(size=side), target_size=int(image_size))


def _load_processor(folder: Path, model: Any) -> Any:
    from transformers import Sam2VideoProcessor

    try:
        return Sam2VideoProcessor.from_pretrained(folder)
    except (OSError, ValueError, TypeError):
        # Weights without a processor config: ImageNet mean/std and a square resize to the
        # model's input size are what every SAM 2 / EdgeTAM processor does.
        return video_processor_for(model.config.image_size)
