"""Search: index time per frame with a real-size CLIP ViT-B/32 (random weights), phrase encoding
time on its own, and query latency over 10k, 100k and 1M embeddings, against references run in
the same process. ``--models clip,siglip2`` adds SigLIP 2 base (the shapes of
google/siglip2-base-patch16-224: SiglipModel, ViT-B/16 at 224 px, 256k-token Gemma vocabulary)
in the same run, so the two can be compared.

    .venv/bin/python bench/search.py                    # CPU: 16 frames, 10k / 100k / 1M rows
    .venv/bin/python bench/search.py --rows 10000,100000 --frames 8
    .venv/bin/python bench/search.py --models clip,siglip2 --skip-query --frames 8
    .venv/bin/python bench/search.py --device cuda      # indexing on a GPU (bf16 autocast in ours)

- index: ours is HubEmbedder.embed_images (engines/embedder.py, batches of 16) on 640x360
  frames; the reference embeds one frame at a time (CLIPProcessor + get_image_features, the
  model-card recipe). Seconds per frame.
- phrase: HubEmbedder.embed_texts on one phrase (the cost before every query).
- query (512-d, float32, top 10): ours is core/search_index.scores (BLAS products in 65,536-row
  blocks) + top_k (argpartition); the reference is ``np.argsort(-(matrix @ q))[:10]`` (a full
  sort); faiss is IndexFlatIP.search (core/search_many.py) for comparison. Milliseconds per
  query: the best of ``--repeat`` runs after a warm-up (the least disturbed run on a shared box).
Ratios are reference / ours (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DIM = 512
TOP = 10


def best_time(fn: Callable[[], object], repeat: int, device: str = "cpu") -> float:
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


Row = tuple[str, str, float | None, float, str]  # stage, size, reference, ours, unit


def build_model(which: str) -> tuple[object, object, str]:
    """(model, processor, family) at the real size with random weights."""
    import torch

    torch.manual_seed(0)
    if which == "clip":
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

        from tests.tiny_describe import clip_tokenizer

        model = CLIPModel(CLIPConfig()).eval()  # transformers' defaults: the ViT-B/32 shapes, 151 M params
        return model, CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=clip_tokenizer()), "clip"
    if which == "siglip2":
        from transformers import (
            GemmaTokenizer,
            SiglipConfig,
            SiglipImageProcessor,
            SiglipModel,
            SiglipProcessor,
        )

        from tests.tiny_siglip import gemma_vocab

        # google/siglip2-base-patch16-224: SiglipModel base shapes (transformers' defaults: ViT-B/16
        # at 224 px, a 12-layer 768-wide text tower) with Gemma's 256k vocabulary.
        model = SiglipModel(SiglipConfig(text_config={"vocab_size": 256_000})).eval()
        vocab, merges = gemma_vocab()  # a small trained vocabulary: its ids fit the 256k table
        processor = SiglipProcessor(image_processor=SiglipImageProcessor(),
                                    tokenizer=GemmaTokenizer(vocab=vocab, merges=merges))
        return model, processor, "siglip"
    raise SystemExit(f"unknown model {which!r}: clip or siglip2")


def bench_index(device: str, frames_count: int, repeat: int, which: str = "clip") -> list[Row]:
    import resource

    import torch

    from annotator.engines.embedder import HubEmbedder
    from annotator.sim.synthetic import render_scene

    model, processor, family = build_model(which)
    embedder = HubEmbedder(model, processor, f"{which} (random)", family, device)
    frames = [f for f, _ in render_scene(frames_count, 640, 360, seed=3)]

    def reference() -> None:
        with torch.inference_mode():
            for frame in frames:
                inputs = processor(images=frame, return_tensors="pt").to(device)
                model.get_image_features(**inputs)

    ref = best_time(reference, repeat, device) / len(frames)
    ours = best_time(lambda: embedder.embed_images(frames), repeat, device) / len(frames)
    phrase = best_time(lambda: embedder.embed_texts(["a red car"]), max(repeat, 3), device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # cumulative: models run in order
    size = f"{which}: {len(frames)} frames, {params:.0f} M params ({params * 4:.0f} MB fp32)"
    return [(f"index a frame ({which})", size, ref * 1000, ours * 1000, "ms/frame"),
            (f"encode a phrase ({which})", "1 phrase", None, phrase * 1000, "ms"),
            (f"peak RSS so far ({which})", "process", None, rss, "MB")]


def bench_query(rows: int, repeat: int) -> list[Row]:
    import faiss

    from annotator.core.search_index import normalise, scores, top_k
    from annotator.core.search_many import ManyIndex

    rng = np.random.default_rng(0)
    matrix = np.empty((rows, DIM), np.float32)
    for start in range(0, rows, 100_000):  # built in chunks: no float64 temporary of the whole
        chunk = rng.standard_normal((min(100_000, rows - start), DIM), dtype=np.float32)
        matrix[start:start + len(chunk)] = normalise(chunk)
    query = normalise(rng.standard_normal(DIM, dtype=np.float32))[0]
    ours_ix = top_k(scores(matrix, query), TOP)
    ref_ix = np.argsort(-(matrix @ query), kind="stable")[:TOP]
    assert set(ours_ix.tolist()) == set(ref_ix.tolist()), "ours and the reference disagree"
    ours = best_time(lambda: top_k(scores(matrix, query), TOP), repeat)
    ref = best_time(lambda: np.argsort(-(matrix @ query))[:TOP], repeat)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(matrix)
    many = ManyIndex(flat, ["bench"] * rows, np.arange(rows))
    fai = best_time(lambda: many.query(query, TOP), repeat)
    label = f"{rows:,} x {DIM}"
    return [("query (ours vs full sort)", label, ref * 1000, ours * 1000, "ms"),
            ("query (faiss IndexFlatIP)", label, None, fai * 1000, "ms")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=16, help="frames to index (default 16)")
    parser.add_argument("--rows", default="10000,100000,1000000", help="index sizes to query")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-index", action="store_true", help="only the query latencies")
    parser.add_argument("--skip-query", action="store_true", help="only the indexing")
    parser.add_argument("--models", default="clip", help="clip, siglip2 or both, comma separated")
    args = parser.parse_args(argv)
    import torch

    results = []
    if not args.skip_index:
        for which in (m.strip() for m in args.models.split(",") if m.strip()):
            results += bench_index(args.device, args.frames, args.repeat, which)
    for rows in (int(r) for r in args.rows.split(",") if r and not args.skip_query):
        results += bench_query(rows, max(args.repeat, 5))
    print(f"device: {args.device}, torch threads: {torch.get_num_threads()}")
    print("| stage | size | reference | ours | unit | ratio (ref / ours) |")
    print("|---|---|---|---|---|---|")
    for stage, size, ref, ours, unit in results:
        ratio = f"{ref / ours:.2f}" if ref is not None else "-"
        ref_text = f"{ref:.2f}" if ref is not None else "-"
        print(f"| {stage} | {size} | {ref_text} | {ours:.2f} | {unit} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
