"""The memory side of SAM 2.1 / EdgeTAM tracking in ONNX Runtime on a CPU: memory attention,
the memory encoder and EdgeTAM's perceiver.

After the image encoder, memory attention is the largest cost of a tracked frame, and most of
it is the attention products. For the two models we ship, engines/rope_attention.py (SAM 2.1)
and engines/edgetam_attention.py (EdgeTAM) keep transformers' layers and run just those
products in ONNX Runtime, with exact algebra that removes work: nothing to export on first use,
and on a quiet machine as fast as the exported graph or faster (/work/notes/closing-s13.md).

A memory attention neither of them knows is exported whole. Its input grows until the memory
bank is full (1..7 memory frames, 1..16 object pointers), so the graph is exported once with
those two counts as dynamic dimensions: the memory is passed as its spatial part
(``tokens_per_frame * frames`` rows) and its pointer part (``pointers`` rows), and one graph
serves every count. The export is cached like the image encoder's (engines/image_encoder.py):
beside the weights, keyed by the weights' sha256 and the runtime versions; anything that fails
leaves the module in PyTorch. ``OnnxMemoryAttention`` calls that graph and falls back to the
original module for inputs the graph was not built for.

The memory encoder and the perceiver always see the same shapes (one frame's features and its
1024-px mask), so they are exported with fixed shapes (``OnnxFixedShape``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from annotator.engines.image_encoder import (
    _cached_export_with,
    _load_ort_session,
    runtime_versions,
    weights_sha256,
)
from annotator.engines.preparation import model_label

log = logging.getLogger(__name__)


class OnnxMemoryAttention(torch.nn.Module):
    """Drop-in for ``model.memory_attention`` that runs the exported graph."""

    def __init__(self, original: torch.nn.Module, session: Any, per_frame: int, edgetam: bool) -> None:
        super().__init__()
        self.original = original
        self._session = session
        self._names = [i.name for i in session.get_inputs()]
        self._per_frame = per_frame
        self._edgetam = edgetam

    def forward(
        self,
        current_vision_features: torch.Tensor,
        memory: torch.Tensor,
        current_vision_position_embeddings: torch.Tensor | None = None,
        memory_posision_embeddings: torch.Tensor | None = None,
        num_object_pointer_tokens: int = 0,
        num_spatial_memory_tokens: int | None = None,
    ) -> torch.Tensor:
        spatial = int(memory.shape[0]) - int(num_object_pointer_tokens)
        frames = spatial // self._per_frame
        usable = (
            current_vision_position_embeddings is not None and memory_posision_embeddings is not None
            and memory.shape[1] == 1 and current_vision_features.shape[1] == 1
            and num_object_pointer_tokens > 0 and frames > 0 and spatial == frames * self._per_frame
            and (not self._edgetam or num_spatial_memory_tokens == frames)
        )
        if not usable:
            kwargs = {"num_spatial_memory_tokens": num_spatial_memory_tokens} if self._edgetam else {}
            return self.original(current_vision_features, memory, current_vision_position_embeddings,
                                 memory_posision_embeddings, num_object_pointer_tokens, **kwargs)
        arrays = [current_vision_features, memory[:spatial], memory[spatial:],
                  current_vision_position_embeddings, memory_posision_embeddings[:spatial],
                  memory_posision_embeddings[spatial:]]
        if self._edgetam:
            arrays.append(torch.zeros(frames))
        feed = {name: t.detach().float().contiguous().numpy() for name, t in zip(self._names, arrays)}
        return torch.from_numpy(self._session.run(None, feed)[0])


class _Split(torch.nn.Module):
    """The exported form: memory in two parts, the counts read from the input shapes."""

    def __init__(self, module: torch.nn.Module, edgetam: bool) -> None:
        super().__init__()
        self.module, self.edgetam = module, edgetam

    def forward(self, cvf: torch.Tensor, mem_s: torch.Tensor, mem_p: torch.Tensor, cvpe: torch.Tensor,
                mpe_s: torch.Tensor, mpe_p: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        # EdgeTAM needs the memory-frame count; ``frames`` carries it as its length.
        kwargs = {"num_spatial_memory_tokens": frames.shape[0]} if frames is not None else {}
        return self.module(current_vision_features=cvf, memory=torch.cat([mem_s, mem_p]),
                           current_vision_position_embeddings=cvpe,
                           memory_posision_embeddings=torch.cat([mpe_s, mpe_p]),
                           num_object_pointer_tokens=mem_p.shape[0], **kwargs)


class OnnxFixedShape(torch.nn.Module):
    """Drop-in for a module called with fixed-shape tensors (the memory encoder, EdgeTAM's
    perceiver): runs the exported graph for those shapes, the original module otherwise."""

    def __init__(self, original: torch.nn.Module, session: Any, shapes: list[tuple[int, ...]]) -> None:
        super().__init__()
        self.original = original
        self._session = session
        self._names = [i.name for i in session.get_inputs()]
        self._shapes = shapes

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if [tuple(t.shape) for t in inputs] != self._shapes or any(t.dtype != torch.float32 for t in inputs):
            return self.original(*inputs)
        feed = {name: t.detach().contiguous().numpy() for name, t in zip(self._names, inputs)}
        return tuple(torch.from_numpy(a) for a in self._session.run(None, feed))


def tokens_per_memory_frame(config: Any) -> int:
    """Rows one memory frame adds: EdgeTAM's perceiver latents, else SAM 2's feature map."""
    latents = getattr(config, "perceiver_resampler_num_latents", None)
    if latents is not None:
        return int(latents) + int(getattr(config, "perceiver_resampler_num_latents_2d", 0) or 0)
    side = int(config.image_size) // 16
    return side * side


def attach(model: Any, weights_dir: Path | None = None) -> str:
    """Move the memory side to ONNX Runtime; returns how memory attention runs now.

    SAM 2.1's and EdgeTAM's memory attention keep their layers in PyTorch with the attention
    products in ONNX Runtime (engines/rope_attention.py, engines/edgetam_attention.py: no
    export). A memory attention neither knows runs as one exported graph."""
    from annotator.engines import edgetam_attention, rope_attention

    fast = (OnnxMemoryAttention, rope_attention.FastSam2MemoryAttention,
            edgetam_attention.FastEdgeTamMemoryAttention)
    if isinstance(model.memory_attention, fast):
        return "onnxruntime"
    versions = runtime_versions()
    if versions is None:
        return "pytorch (onnxruntime, onnx or onnxscript is not installed)"
    edgetam = hasattr(model, "spatial_perceiver")
    attached = False
    products = edgetam_attention if edgetam else rope_attention
    if products.supported(model.memory_attention):
        try:
            attached = products.attach(model)
        except Exception as exc:  # the runtime refused the small graph: try the export below
            log.warning("memory attention: ONNX Runtime attention products failed: %s", exc)
    if not attached:
        reason = _attach_exported(model, weights_dir, versions, edgetam)
        if reason is not None:
            return reason
    _attach_fixed_shapes(model, weights_dir, versions, edgetam)
    return "onnxruntime"


def _attach_exported(model: Any, weights_dir: Path | None, versions: str, edgetam: bool) -> str | None:
    """The whole memory attention as one exported graph; None when attached, else why not."""
    config = model.config
    per_frame = tokens_per_memory_frame(config)
    module = _Split(model.memory_attention, edgetam).eval()
    sha = weights_sha256(model.memory_attention, weights_dir, "memory-attention")
    name = f"memory-attention-{sha[:16]}-{int(config.image_size)}px-{versions}"
    try:
        path = _cached_export_with(lambda out: _export(module, config, per_frame, edgetam, out), name,
                                   weights_dir, (model_label(model), "memory attention"))
        session = _load_ort_session(path, torch.get_num_threads(), outputs=1)
    except Exception as exc:  # export and runtime failures of any kind: stay in PyTorch, say why
        log.warning("memory attention: ONNX export or load failed, using PyTorch: %s", exc)
        return f"pytorch (the ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    model.memory_attention = OnnxMemoryAttention(model.memory_attention, session, per_frame, edgetam)
    return None


def _attach_fixed_shapes(model: Any, weights_dir: Path | None, versions: str, edgetam: bool) -> None:
    config = model.config
    # The memory encoder (and EdgeTAM's perceiver after it) always sees the same shapes.
    size = int(config.image_size)
    side, hidden = size // 16, int(config.memory_encoder_hidden_size)
    mem_dim = int(config.memory_encoder_output_channels)
    fixed = {"memory_encoder": [(1, hidden, side, side), (1, 1, size, size)]}
    if edgetam:
        fixed["spatial_perceiver"] = [(1, mem_dim, side, side), (1, mem_dim, side, side)]
    for attr, shapes in fixed.items():
        original = getattr(model, attr)
        part = attr.replace('_', '-')
        label = f"{part}-{weights_sha256(original, weights_dir, part)[:16]}-{size}px-{versions}"
        try:
            path = _cached_export_with(lambda out, m=original, sh=shapes: _export_fixed(m, sh, out), label,
                                       weights_dir, (model_label(model), attr.replace("_", " ")))
            session = _load_ort_session(path, torch.get_num_threads(), outputs=2)
        except Exception as exc:  # this part stays in PyTorch; the others still help
            log.warning("%s: ONNX export or load failed, using PyTorch: %s", attr, exc)
            continue
        setattr(model, attr, OnnxFixedShape(original, session, shapes))


def _export_fixed(module: torch.nn.Module, shapes: list[tuple[int, ...]], out: Path) -> None:
    sample = tuple(torch.rand(*shape) for shape in shapes)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(module.eval(), sample, dynamo=True, optimize=True, verbose=False)
    program.save(str(out / "model.onnx"))


def _export(module: torch.nn.Module, config: Any, per_frame: int, edgetam: bool, out: Path) -> None:
    from torch.export import Dim

    side = int(config.image_size) // 16
    hidden = int(config.memory_attention_hidden_size)
    mem_dim = int(config.memory_encoder_output_channels)
    frames, pointers = 2, 8  # example sizes above 1: torch.export specialises sizes 0 and 1
    sample = [torch.zeros(side * side, 1, hidden), torch.zeros(per_frame * frames, 1, mem_dim),
              torch.zeros(pointers, 1, mem_dim), torch.zeros(side * side, 1, hidden),
              torch.zeros(per_frame * frames, 1, mem_dim), torch.zeros(pointers, 1, mem_dim)]
    f, p = Dim("frames", min=1, max=64), Dim("pointers", min=1, max=1024)
    dynamic: list[dict[int, Any]] = [{}, {0: per_frame * f}, {0: p}, {}, {0: per_frame * f}, {0: p}]
    if edgetam:
        sample.append(torch.zeros(frames))
        dynamic.append({0: f})
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about axis names it merged
        program = torch.onnx.export(module, tuple(sample), dynamo=True, optimize=True,
                                    dynamic_shapes=tuple(dynamic), verbose=False)
    program.save(str(out / "model.onnx"))
