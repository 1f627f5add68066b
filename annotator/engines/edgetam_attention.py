"""EdgeTAM's memory attention on a CPU: transformers' own layers and weights, with the
attention products in ONNX Runtime and less arithmetic, none of it approximate.

EdgeTAM compresses each memory frame to 512 perceiver latents: 256 global ones, which get no
RoPE, and 256 on a 16 x 16 grid, which do; the object pointers (4 tokens each) get none either.
So half the cross-attention keys carry no position, and for those ``q · (W m + b)`` equals
``(q W) · m + q · b``: their scores are one product at 65 dimensions (the 64-dim memory plus
a constant 1 for the bias) instead of 256. The RoPE keys are scored as SAM 2.1's are
(engines/rope_attention.py: RoPE and the 1/16 scale folded into the projection weights), and
both score sets meet in one softmax (``AttentionCore(split=True)``). The values are mixed
before ``v_proj`` (softmax rows sum to 1), so that product also runs at 64 dimensions.

With a full memory bank this removes about a quarter of the module's multiply-adds; the
4096 x 4096 self-attention, which cannot shrink, is most of what is left. Anything this was
not built for (grad enabled, batch > 1, other head layouts) goes to the original module.
"""

from __future__ import annotations

from typing import Any

import torch

from annotator.engines.rope_attention import (
    AttentionCore,
    LayerProjections,
    QueryTables,
    handles,
    one_head_layout,
    self_attention,
)


def supported(module: Any) -> bool:
    """True for transformers' EdgeTAM memory attention with one head and no downsampling."""
    return one_head_layout(module, "EdgeTamVideoMemoryAttention")


class FastEdgeTamMemoryAttention(torch.nn.Module):
    """Drop-in for ``model.memory_attention`` (``EdgeTamVideoMemoryAttention``), same weights."""

    def __init__(self, original: torch.nn.Module, core: AttentionCore, split_core: AttentionCore) -> None:
        super().__init__()
        self.original = original
        self._core, self._split_core = core, split_core
        self._tables = QueryTables(original)
        self._projections = [LayerProjections.of(layer) for layer in original.layers]
        with torch.inference_mode():  # the grid latents' RoPE tables depend only on the config
            cos_k, sin_k = original.rotary_emb(torch.zeros(1), original.position_ids_k)
            self._cos_k_t, self._sin_k_t = cos_k[0].t().contiguous(), sin_k[0].t().contiguous()
            # The keys without RoPE are scored as (q W, q · b) against (m, 1).
            self._plain_weights = [
                torch.cat([layer.cross_attn_image.k_proj.weight.detach().float(),
                           layer.cross_attn_image.k_proj.bias.detach().float()[:, None]], dim=1)
                for layer in original.layers]
        self._latents_2d = int(self._cos_k_t.shape[1])  # latents with a grid position (RoPE)

    def forward(
        self,
        current_vision_features: torch.Tensor,
        memory: torch.Tensor,
        current_vision_position_embeddings: torch.Tensor | None = None,
        memory_posision_embeddings: torch.Tensor | None = None,
        num_object_pointer_tokens: int = 0,
        num_spatial_memory_tokens: int = -1,
    ) -> torch.Tensor:
        tables, frames = self._tables, int(num_spatial_memory_tokens)
        spatial = int(memory.shape[0]) - int(num_object_pointer_tokens)
        if not (handles(current_vision_features, memory, current_vision_position_embeddings,
                        memory_posision_embeddings, tables.tokens)
                and frames > 0 and spatial % frames == 0 and spatial // frames > self._latents_2d):
            return self.original(current_vision_features, memory, current_vision_position_embeddings,
                                 memory_posision_embeddings, num_object_pointer_tokens,
                                 num_spatial_memory_tokens)
        x = current_vision_features[:, 0] + 0.1 * current_vision_position_embeddings[:, 0]  # (tokens, C)
        values = memory[:, 0]
        key_inputs = values + memory_posision_embeddings[:, 0]
        rope_keys, plain_keys = self._split_keys(key_inputs, frames, spatial)
        rope_values, plain_values = self._split_keys(values, frames, spatial)
        mixed_values = torch.cat([rope_values, plain_values])  # the order the scores come in
        plain_t = torch.cat([plain_keys, torch.ones(plain_keys.shape[0], 1)], dim=1).t().contiguous()
        cos_k, sin_k = self._cos_k_t.repeat(1, frames), self._sin_k_t.repeat(1, frames)
        layers = zip(self.original.layers, self._projections, self._plain_weights)
        for layer, projections, plain_weight in layers:
            x = x + self_attention(layer, layer.layer_norm1(x), projections, self._core, tables)

            h = layer.layer_norm2(x)
            attn = layer.cross_attn_image
            q = projections.cross_q.rows(h, tables.cos, tables.sin)
            keys_t = projections.cross_k.columns(rope_keys, cos_k, sin_k, rope_keys.shape[0])
            mixed = self._split_core(q, keys_t, mixed_values, q @ plain_weight, plain_t)
            x = x + attn.o_proj(attn.v_proj(mixed))

            h = layer.layer_norm3(x)
            x = x + layer.mlp(h)
        return self.original.layer_norm(x)[None, None]

    def _split_keys(self, rows: torch.Tensor, frames: int, spatial: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory rows -> (the grid latents of every frame, the global latents and pointers).
        Each frame's rows are its global latents first, then its grid latents (stock RoPE's
        ``rope_k_repeat`` layout)."""
        per_frame = spatial // frames
        grouped = rows[:spatial].reshape(frames, per_frame, rows.shape[1])
        split = per_frame - self._latents_2d
        rope = grouped[:, split:].reshape(-1, rows.shape[1])
        plain = torch.cat([grouped[:, :split].reshape(-1, rows.shape[1]), rows[spatial:]])
        return rope, plain


def attach(model: Any, threads: int | None = None) -> bool:
    """Swap a supported ``model.memory_attention`` for ``FastEdgeTamMemoryAttention``; False if not."""
    module = model.memory_attention
    if isinstance(module, FastEdgeTamMemoryAttention):
        return True
    if not supported(module):
        return False
    threads = threads or torch.get_num_threads()
    model.memory_attention = FastEdgeTamMemoryAttention(module, AttentionCore(threads),
                                                        AttentionCore(threads, split=True))
    return True
