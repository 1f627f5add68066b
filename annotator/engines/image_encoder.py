"""The SAM 2.1 / EdgeTAM image encoder on a CPU: ONNX Runtime when it is there, PyTorch otherwise.

The image encoder is the largest single cost of a click on an unvisited frame and of every
tracked frame. Measured on the 2-core CPU (bench/cpu_models.py, /work/notes/issue15.md),
ONNX Runtime's CPU execution provider runs the same graph several times faster than eager
PyTorch, with the same outputs to float rounding. So on a CPU:

- the encoder (backbone + FPN neck + the mask decoder's two high-resolution projections,
  i.e. what ``get_image_embeddings`` / ``get_image_features`` compute) is exported once per
  weights, with a fixed input shape, through transformers' ``OnnxExporter`` (the dynamo
  exporter; needs ``onnx`` and ``onnxscript``);
- the export is cached on disk beside the weights (``<snapshot>/onnx/``) or, when that
  folder cannot be written or the model has no folder, under the user cache folder; the file
  name holds the sha256 of the encoder's weights, the input size and the ONNX Runtime and
  torch versions, so new weights or a new runtime never read a stale graph;
- when onnxruntime/onnx/onnxscript are missing, the export fails, or the graph cannot be
  loaded, the encoder runs in PyTorch and ``reason`` says why (the engines log it).

The PyTorch path is tuned too: RepViT's training-time branches are fused (timm's
``reparameterize_model``: conv+BN folding, exact to float rounding) and the backbone runs
channels-last. ``ANNOTATOR_ENCODER=pytorch`` forces PyTorch, ``=onnx`` makes a failed export
an error instead of a fallback.

The positional encodings of the three levels depend only on their shapes: computed once.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator import paths
from annotator.engines import preparation, run_control
from annotator.engines.weights_hash import weights_sha256

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ENV = "ANNOTATOR_ENCODER"  # "auto" (default), "onnx" or "pytorch"
_EXPORT_LOCK = threading.Lock()  # one export at a time (it takes tens of seconds and GBs)


def _levels_module(model: Any) -> Any:
    """An nn.Module: pixel_values (1, 3, S, S) -> the three FPN levels, finest first, with the
    mask decoder's projections of levels 0 and 1 applied (``get_image_embeddings``' output)."""
    import torch

    class EncoderLevels(torch.nn.Module):
        def __init__(self, vision_encoder: Any, conv_s0: Any, conv_s1: Any) -> None:
            super().__init__()
            self.vision_encoder, self.conv_s0, self.conv_s1 = vision_encoder, conv_s0, conv_s1

        def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            levels = self.vision_encoder(pixel_values, return_dict=True).fpn_hidden_states
            return self.conv_s0(levels[0]), self.conv_s1(levels[1]), levels[2]

    return EncoderLevels(model.vision_encoder, model.mask_decoder.conv_s0, model.mask_decoder.conv_s1).eval()


def runtime_versions() -> str | None:
    """"ort<version>-torch<version>" when onnxruntime, onnx and onnxscript import, else None."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
        import torch
    except ImportError:
        return None
    return f"ort{onnxruntime.__version__}-torch{torch.__version__.split('+')[0]}"


class ImageEncoder:
    """``levels(pixel_values)`` -> [level0, level1, level2] (NCHW) and ``positions`` (the three
    constant positional encodings, NCHW). ``runtime`` is "onnxruntime" or "pytorch"."""

    def __init__(self, model: Any, image_size: int, *, weights_dir: Path | None = None,
                 prefer: str | None = None, threads: int | None = None,
                 sha256: str | None = None) -> None:
        import torch

        self.image_size = int(image_size)
        self.device = str(next(model.parameters()).device)
        self._torch_levels = _levels_module(model)
        self._session: Any = None
        self._background: Any = None  # the one-thread session for encode-ahead, made on first use
        self._background_lock = threading.Lock()
        self._threads = threads or torch.get_num_threads()
        self.sha256 = sha256 or ""
        self.label = preparation.model_label(model)  # "EdgeTAM", "SAM 2.1": what the user sees
        self.path: Path | None = None
        self.runtime = "pytorch"
        prefer = (prefer or os.environ.get(ENV) or "auto").lower()
        if prefer not in ("auto", "onnx", "pytorch"):
            raise ValueError(f"{ENV} must be auto, onnx or pytorch, not {prefer!r}")
        if prefer == "pytorch":
            self.reason = f"PyTorch ({ENV}=pytorch)"
        elif self.device != "cpu":
            self.reason = f"PyTorch on {self.device} (ONNX Runtime is used on the CPU only)"
        else:
            self.reason = self._try_onnx(weights_dir, strict=prefer == "onnx")
        if self._session is None:
            self._tune_pytorch()
        self.positions = self._positions(model)

    # --- public -------------------------------------------------------------------------------
    def levels(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        import torch

        if self._session is not None:
            feed = {self._input_name: pixel_values.detach().cpu().float().contiguous().numpy()}
            session = self._background_session() if run_control.in_background() else self._session
            return [torch.from_numpy(array) for array in session.run(self._output_names, feed)]
        with torch.inference_mode():
            x = pixel_values.contiguous(memory_format=torch.channels_last)
            return [t.contiguous() for t in self._torch_levels(x)]

    # --- ONNX Runtime -------------------------------------------------------------------------
    def _try_onnx(self, weights_dir: Path | None, strict: bool) -> str:
        versions = runtime_versions()
        if versions is None:
            message = "PyTorch (onnxruntime, onnx or onnxscript is not installed)"
            if strict:
                raise RuntimeError(message)
            return message
        try:
            self.sha256 = self.sha256 or weights_sha256(self._torch_levels, weights_dir, "image-encoder")
            name = f"image-encoder-{self.sha256[:16]}-{self.image_size}px-{versions}"
            levels, size = self._torch_levels, self.image_size
            self.path = _cached_export_with(lambda out: _export(levels, size, out), name, weights_dir,
                                            (self.label, "image encoder"))
            self._session = self._load_session(self.path)
        except Exception as exc:  # export and runtime failures of any kind: fall back, say why
            if strict:
                raise
            log.warning("image encoder: ONNX export or load failed, using PyTorch: %s", exc)
            self._session = None
            return f"PyTorch (the ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
        self.runtime = "onnxruntime"
        return f"ONNX Runtime ({versions.split('-')[0][3:]}, CPU) from {self.path}"

    def _background_session(self) -> Any:
        """A one-thread session of the same graph for background work (engines/run_control.py),
        made on first use; the main session when this encoder has one thread anyway."""
        if self._threads <= 1 or self.path is None:
            return self._session
        with self._background_lock:
            if self._background is None:
                self._background = _load_ort_session(self.path, 1, outputs=3)
            return self._background

    def _load_session(self, path: Path) -> Any:
        session = _load_ort_session(path, self._threads, outputs=3)
        self._input_name = session.get_inputs()[0].name
        self._output_names = [o.name for o in session.get_outputs()]
        return session

    # --- PyTorch ------------------------------------------------------------------------------
    def _tune_pytorch(self) -> None:
        import torch

        levels = self._torch_levels
        if getattr(levels.vision_encoder.backbone, "timm_model", None) is not None:
            with contextlib.suppress(ImportError):
                from timm.utils.model import reparameterize_model

                levels = copy.deepcopy(levels)  # fusing replaces modules: never in the caller's model
                backbone = levels.vision_encoder.backbone
                backbone.timm_model = reparameterize_model(backbone.timm_model, inplace=True)
        # Only the convolution weights change layout; the model computes the same values.
        self._torch_levels = levels.to(memory_format=torch.channels_last)

    def _positions(self, model: Any) -> list[torch.Tensor]:
        import torch

        neck = model.vision_encoder.neck
        channels = int(model.config.vision_config.fpn_hidden_size)
        sizes = [self.image_size // 4, self.image_size // 8, self.image_size // 16]
        with torch.inference_mode():
            return [neck.position_encoding((1, channels, s, s), torch.device(self.device), torch.float32)
                    for s in sizes]


def _load_ort_session(path: Path, threads: int, outputs: int) -> Any:
    """An ONNX Runtime CPU session for ``path``, checked to have ``outputs`` outputs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Busy-waiting worker threads would steal the cores PyTorch needs between calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if len(names) != outputs:
        raise RuntimeError(f"{path}: expected {outputs} outputs, found {names}")
    return session


def _cached_export_with(export: Callable[[Path], None], name: str, weights_dir: Path | None,
                        label: tuple[str, str] = ("", "")) -> Path:
    """The exported graph ``<dir>/<name>/model.onnx``; ``export(folder)`` writes it on the first
    call, announced as a preparation step (engines/preparation.py) for ``label`` = (model, part).
    ``<dir>`` is ``<weights_dir>/onnx`` when writable, else the user cache folder."""
    candidates = [Path(weights_dir) / "onnx"] if weights_dir is not None else []
    candidates.append(paths.cache_dir() / "onnx")
    for folder in candidates:
        found = folder / name / "model.onnx"
        if found.is_file():
            return found
    with _EXPORT_LOCK:
        for folder in candidates:
            found = folder / name / "model.onnx"
            if found.is_file():
                return found
        last_error: Exception | None = None
        for folder in candidates:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder))
            except OSError as exc:  # read-only snapshot folder: try the cache folder
                last_error = exc
                continue
            try:
                log.info("exporting to ONNX (once for these weights): %s", folder / name)
                preparation.run(label[0] or "the model", label[1] or name, lambda s=staging: export(s))
                if not (staging / "model.onnx").is_file():
                    raise RuntimeError(f"the export wrote no model.onnx in {staging}")
                os.replace(staging, folder / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return folder / name / "model.onnx"
        raise OSError(f"no writable folder for the ONNX export ({last_error})")


def _export(levels: Any, image_size: int, out: Path) -> None:
    """transformers' OnnxExporter (the dynamo exporter with transformers' patches), one fixed shape."""
    import torch
    from transformers.exporters import OnnxConfig, OnnxExporter

    from annotator.engines.snapshots import quiet_transformers

    sample = {"pixel_values": torch.zeros(1, 3, image_size, image_size)}
    with quiet_transformers(), torch.inference_mode(False), torch.no_grad():
        exported = OnnxExporter().export(levels, sample, OnnxConfig(ort_fusions="cpu"))
        exported.save_pretrained(out)
