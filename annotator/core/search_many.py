"""Search over many projects' indexes at once, with faiss-cpu.

One video's index is ranked by a plain block matrix product (core/search_index.py): 7,200
embeddings for an hour at 2 frames a second are a few milliseconds. Across many projects
(a whole archive) the frame embeddings of every index go into one faiss ``IndexFlatIP``
(exact inner product = cosine on unit vectors), which does the same product with its own
multithreaded BLAS kernels and top-K heap, and could be swapped for an approximate faiss
index (IVF, HNSW) at archive scale without changing callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from annotator.core.search_index import SearchIndex, normalise


@dataclass
class ManyIndex:
    index: object  # faiss.IndexFlatIP
    owners: list[str]  # per row: which project (index name) it came from
    frames: np.ndarray  # per row: the frame

    @classmethod
    def build(cls, indexes: Mapping[str, SearchIndex]) -> ManyIndex:
        """One faiss index over the frame embeddings of ``indexes`` (name -> SearchIndex)."""
        import faiss

        dims = {idx.dim for idx in indexes.values()}
        if len(dims) > 1:
            raise ValueError(f"indexes of different models cannot be searched together (dims {sorted(dims)})")
        dim = dims.pop() if dims else 1
        flat = faiss.IndexFlatIP(dim)
        owners: list[str] = []
        frames = []
        for name, idx in indexes.items():
            ids, vectors = idx.frames()
            if len(ids):
                flat.add(np.ascontiguousarray(vectors, np.float32))
                owners += [name] * len(ids)
                frames.append(ids)
        return cls(flat, owners, np.concatenate(frames) if frames else np.zeros(0, np.int64))

    def query(self, vector: np.ndarray, top: int = 10) -> list[tuple[str, int, float]]:
        """(index name, frame, score) best first."""
        k = min(int(top), len(self.owners))
        if k <= 0:
            return []
        found_scores, rows = self.index.search(normalise(vector), k)  # type: ignore[attr-defined]
        return [(self.owners[r], int(self.frames[r]), float(s))
                for s, r in zip(found_scores[0], rows[0], strict=True) if r >= 0]
