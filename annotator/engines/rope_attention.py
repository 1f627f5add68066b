"""SAM 2.1's memory attention on a CPU: transformers' own layers and weights, with the two
attention products of each layer in ONNX Runtime.

Why (measured on the 2-core AMD EPYC here, /work/notes/issue15-s12.md): for SAM 2.1-T with a
full memory bank, memory attention is the largest cost of a tracked frame, and nearly all of it
is the attention product: 4096 queries against 7 x 4096 memory tokens + 64 pointer tokens, at
256 dimensions, in each of the four layers. Exporting the whole module to ONNX gained only
1.07x (ONNX Runtime materialises the 4096 x 28 736 score matrix, 470 MB, several times). Here
three things change, none of the arithmetic:

- **Value side first.** The cross-attention values are ``v_proj(memory)`` with 64-dim memory
  tokens. Since each row of the softmax sums to one, ``softmax(q kᵀ) (m Wᵀ + b)`` equals
  ``(softmax(q kᵀ) m) Wᵀ + b``: the large product runs at 64 dimensions instead of 256 (a
  quarter of the cost of its second half), and ``v_proj`` runs on 4096 rows instead of 28 736.
- **The products in ONNX Runtime's GEMM**, a chunk of 512 queries at a time, so the score block
  (59 MB) stays near the cache. On this CPU (AVX-512) PyTorch's MKL GEMM reaches ~28 GMAC/s
  per core, ONNX Runtime's MLAS ~47: the cross-attention product takes 0.87 s of CPU time
  against 1.56 s for PyTorch's fused SDPA (same inputs, same run).
- **RoPE tables once.** Stock recomputes the cos/sin tables every frame; they depend only on
  the config.

Everything else (projections, layer norms, MLPs) runs the model's own modules in PyTorch.
Parity with the stock module is ~1e-6 relative (tests/test_image_encoder.py, bench/cpu_models.py).
Only the configuration SAM 2.1 ships is handled (one head, no downsampling); anything else
(or an input this was not built for) goes to the original module.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

CHUNK = 512  # queries per ONNX Runtime call: 512 x 28 736 scores = 59 MB


def supported(module: Any) -> bool:
    """True for transformers' SAM 2.1 memory attention with one head and no downsampling."""
    return one_head_layout(module, "Sam2VideoMemoryAttention")


def one_head_layout(module: Any, class_name: str) -> bool:
    """True when ``module`` is transformers' ``class_name`` with the layout the fast memory
    attentions are written for: one head, no downsampling, a cross-attention in every layer."""
    if type(module).__name__ != class_name:
        return False
    config = module.config
    return (int(config.memory_attention_num_attention_heads) == 1
            and int(config.memory_attention_downsample_rate) == 1
            and all(hasattr(layer, "cross_attn_image") for layer in module.layers))


class AttentionCore:
    """``softmax(q kᵀ) v`` for one head (``q`` already scaled), in ONNX Runtime, by query chunks.

    With ``split=True`` the keys come in two sets with their own queries,
    ``softmax([q kᵀ, q2 k2ᵀ]) v``: EdgeTAM scores its keys without RoPE at 65 dimensions
    (engines/edgetam_attention.py), and ``v`` holds the values of both sets in that order."""

    def __init__(self, threads: int, chunk: int = CHUNK, split: bool = False) -> None:
        from onnx import TensorProto, helper

        def tensor(name: str, *dims: str) -> Any:
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))

        inputs = [tensor("q", "queries", "dim"), tensor("k_t", "dim", "keys")]
        nodes = [helper.make_node("MatMul", ["q", "k_t"], ["scores"])]
        if split:
            inputs += [tensor("q2", "queries", "dim2"), tensor("k2_t", "dim2", "keys2")]
            nodes += [helper.make_node("MatMul", ["q2", "k2_t"], ["scores2"]),
                      helper.make_node("Concat", ["scores", "scores2"], ["all_scores"], axis=1)]
        nodes += [helper.make_node("Softmax", ["all_scores" if split else "scores"], ["weights"], axis=-1),
                  helper.make_node("MatMul", ["weights", "v"], ["out"])]
        inputs.append(tensor("v", "all_keys", "value_dim"))
        graph = helper.make_graph(nodes, "attention_core", inputs, [tensor("out", "queries", "value_dim")])
        self._session = small_session(graph, threads)
        self.chunk = chunk

    def __call__(self, q: torch.Tensor, k_t: torch.Tensor, v: torch.Tensor,
                 q2: torch.Tensor | None = None, k2_t: torch.Tensor | None = None) -> torch.Tensor:
        """q (n, d), k_t (d, m), v (m [+ m2], e) -> (n, e); q2 (n, d2) and k2_t (d2, m2) for ``split``."""
        feed = {"k_t": _array(k_t), "v": _array(v)}
        queries = [("q", _array(q))]
        if q2 is not None and k2_t is not None:
            feed["k2_t"] = _array(k2_t)
            queries.append(("q2", _array(q2)))
        parts = []
        for i in range(0, queries[0][1].shape[0], self.chunk):
            feed.update((name, rows[i:i + self.chunk]) for name, rows in queries)
            parts.append(self._session.run(None, feed)[0])
        return torch.from_numpy(parts[0] if len(parts) == 1 else _concat(parts))


def small_session(graph: Any, threads: int) -> Any:
    """An ONNX Runtime CPU session for a graph built in code (opset 17)."""
    import onnxruntime as ort
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every ONNX Runtime we support
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Busy-waiting worker threads would steal the cores PyTorch needs between calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _array(t: torch.Tensor) -> Any:
    return t.detach().float().contiguous().numpy()


def _concat(parts: list[Any]) -> Any:
    import numpy as np

    return np.concatenate(parts, axis=0)


class _RopeProjection:
    """``rope(linear(h)) * scale`` with RoPE folded into the weights. RoPE is
    ``y * cos + rotate_pairwise(y) * sin`` and ``rotate_pairwise`` is a signed permutation, so
    ``rotate_pairwise(W h + b) = (P W) h + P b``: one GEMM against ``[W; P W]`` gives both
    terms, with no per-frame copies for the rotation. ``scale`` (1/16 for SAM 2.1: a power of
    two, so exact) is folded in as well."""

    def __init__(self, linear: torch.nn.Linear, scale: float = 1.0) -> None:
        weight, bias = linear.weight.detach().float() * scale, linear.bias.detach().float() * scale
        self.dim = int(weight.shape[0])
        self.weight = torch.cat([weight, _rotate_pairwise_rows(weight)]).contiguous()
        self.bias = torch.cat([bias, _rotate_pairwise_rows(bias)]).contiguous()

    def rows(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """(tokens, in) -> (tokens, dim), RoPE on every token."""
        both = torch.nn.functional.linear(h, self.weight, self.bias)
        plain, rotated = both[:, :self.dim], both[:, self.dim:]
        return torch.addcmul(plain * cos, rotated, sin)

    def columns(self, h: torch.Tensor, cos_t: torch.Tensor, sin_t: torch.Tensor,
                rope_tokens: int) -> torch.Tensor:
        """(tokens, in) -> (dim, tokens), the layout the score GEMM reads; RoPE on the first
        ``rope_tokens`` tokens only (the object pointers have none)."""
        both = torch.addmm(self.bias[:, None], self.weight, h.t())
        plain, rotated = both[:self.dim], both[self.dim:]  # plain: contiguous rows of ``both``
        plain[:, :rope_tokens].mul_(cos_t[:, :rope_tokens]).addcmul_(rotated[:, :rope_tokens],
                                                                     sin_t[:, :rope_tokens])
        return plain


def _rotate_pairwise_rows(x: torch.Tensor) -> torch.Tensor:
    """transformers' ``rotate_pairwise`` on the first axis: rows (r0, r1, ...) -> (-r1, r0, ...)."""
    pairs = x.reshape(-1, 2, *x.shape[1:])
    return torch.stack((-pairs[:, 1], pairs[:, 0]), dim=1).reshape(x.shape)


class QueryTables:
    """RoPE cos/sin of the query grid (tokens, 256) and transposed (256, tokens), computed once:
    stock recomputes them every frame, but they depend only on the config."""

    def __init__(self, original: torch.nn.Module) -> None:
        with torch.inference_mode():
            cos, sin = original.rotary_emb(torch.zeros(1), original.position_ids)
            self.cos, self.sin = cos[0].clone(), sin[0].clone()
            self.cos_t, self.sin_t = self.cos.t().contiguous(), self.sin.t().contiguous()
        self.tokens = int(self.cos.shape[0])


class LayerProjections(NamedTuple):
    """One layer's RoPE projections, the 1/16 scale folded into the queries."""

    self_q: _RopeProjection
    self_k: _RopeProjection
    cross_q: _RopeProjection
    cross_k: _RopeProjection

    @classmethod
    def of(cls, layer: Any) -> LayerProjections:
        with torch.inference_mode():
            return cls(_RopeProjection(layer.self_attn.q_proj, layer.self_attn.scaling),
                       _RopeProjection(layer.self_attn.k_proj),
                       _RopeProjection(layer.cross_attn_image.q_proj, layer.cross_attn_image.scaling),
                       _RopeProjection(layer.cross_attn_image.k_proj))


def self_attention(layer: Any, h: torch.Tensor, projections: LayerProjections, core: AttentionCore,
                   tables: QueryTables) -> torch.Tensor:
    """One layer's self-attention output for the normed features ``h`` (before the residual)."""
    keys_t = projections.self_k.columns(h, tables.cos_t, tables.sin_t, tables.tokens)
    queries = projections.self_q.rows(h, tables.cos, tables.sin)
    return layer.self_attn.o_proj(core(queries, keys_t, layer.self_attn.v_proj(h)))


def handles(current_vision_features: torch.Tensor, memory: torch.Tensor, vision_positions: Any,
            memory_positions: Any, tokens: int) -> bool:
    """True for the inputs the fast paths are built for: one float32 CPU batch with position
    embeddings, the query grid they were made for, and gradients off (ONNX Runtime has none)."""
    return (vision_positions is not None and memory_positions is not None
            and current_vision_features.shape[0] == tokens and current_vision_features.shape[1] == 1
            and memory.shape[1] == 1
            and current_vision_features.dtype == torch.float32 and memory.dtype == torch.float32
            and current_vision_features.device.type == "cpu" and not torch.is_grad_enabled())


class FastSam2MemoryAttention(torch.nn.Module):
    """Drop-in for ``model.memory_attention`` (``Sam2VideoMemoryAttention``), same weights."""

    def __init__(self, original: torch.nn.Module, core: AttentionCore) -> None:
        super().__init__()
        self.original = original
        self._core = core
        self._tables = QueryTables(original)
        self._projections = [LayerProjections.of(layer) for layer in original.layers]
        self._memory_tables: tuple[torch.Tensor, torch.Tensor] | None = None

    def _key_tables(self, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin (256, frames * tokens): every memory frame sits at the queries' positions
        (stock: ``rope_k_repeat``). Kept for the largest count seen; fewer frames read a prefix."""
        tables = self._memory_tables
        if tables is None or tables[0].shape[1] < frames * self._tables.tokens:
            tables = (self._tables.cos_t.repeat(1, frames), self._tables.sin_t.repeat(1, frames))
            self._memory_tables = tables
        return tables

    def forward(
        self,
        current_vision_features: torch.Tensor,
        memory: torch.Tensor,
        current_vision_position_embeddings: torch.Tensor | None = None,
        memory_posision_embeddings: torch.Tensor | None = None,
        num_object_pointer_tokens: int = 0,
    ) -> torch.Tensor:
        tables = self._tables
        tokens = tables.tokens
        spatial = int(memory.shape[0]) - int(num_object_pointer_tokens)
        if not (handles(current_vision_features, memory, current_vision_position_embeddings,
                        memory_posision_embeddings, tokens) and spatial > 0 and spatial % tokens == 0):
            return self.original(current_vision_features, memory, current_vision_position_embeddings,
                                 memory_posision_embeddings, num_object_pointer_tokens)
        x = current_vision_features[:, 0] + 0.1 * current_vision_position_embeddings[:, 0]  # (tokens, C)
        mem = memory[:, 0].contiguous()  # (keys, 64): the cross-attention values before v_proj
        mem_keys = mem + memory_posision_embeddings[:, 0]
        cos_k, sin_k = self._key_tables(spatial // tokens)
        for layer, projections in zip(self.original.layers, self._projections):
            x = x + self_attention(layer, layer.layer_norm1(x), projections, self._core, tables)

            h = layer.layer_norm2(x)
            attn = layer.cross_attn_image
            # softmax(q kᵀ) m first: its rows sum to 1, so v_proj after mixing gives the same value.
            keys_t = projections.cross_k.columns(mem_keys, cos_k, sin_k, spatial)
            queries = projections.cross_q.rows(h, tables.cos, tables.sin)
            x = x + attn.o_proj(attn.v_proj(self._core(queries, keys_t, mem)))

            h = layer.layer_norm3(x)
            x = x + layer.linear2(layer.activation(layer.linear1(h)))
        # Stock returns (batch, point batch, tokens, C) "transposed" from batch-first: (1, 1, tokens, C).
        return self.original.layer_norm(x)[None, None]


def attach(model: Any, threads: int | None = None) -> bool:
    """Swap a supported ``model.memory_attention`` for ``FastSam2MemoryAttention``; False if not."""
    module = model.memory_attention
    if isinstance(module, FastSam2MemoryAttention):
        return True
    if not supported(module):
        return False
    core = AttentionCore(threads or torch.get_num_threads())
    model.memory_attention = FastSam2MemoryAttention(module, core)
    return True
