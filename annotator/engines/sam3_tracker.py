"""SAM 3 as a click engine and a mask tracker, beside SAM, SAM 2.1 and EdgeTAM.

transformers' ``Sam3TrackerModel`` and ``Sam3TrackerVideoModel`` are SAM 2-style models (the
same prompt encoder, mask decoder, memory attention and session API) over SAM 3's ViT encoder,
so they run behind the engines we already have: ``Sam2ImageSegmenter`` (engines/sam2_image.py:
encode once per frame, cheap clicks) and ``Sam2VideoTracker`` (engines/sam2_video.py: streamed
frames, one session per object, every user mask a conditioning frame, pruned memory). Both read
their part of the one ``sam3`` snapshot (a ``sam3_video`` checkpoint; transformers maps the keys).

SAM 3's tracker reads at most ``max_cond_frame_num`` (4) conditioning frames for its mask
memories (SAM 2.1 reads all); the pruning keeps every conditioning frame, so the choice among
them stays the model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotator.engines.embedding_cache import DiskEmbeddingCache
from annotator.engines.sam import weights_tag
from annotator.engines.sam2_image import Sam2ImageSegmenter
from annotator.engines.sam2_video import Sam2VideoTracker
from annotator.engines.sam3 import SAM3, load_sam3_parts
from annotator.engines.tracker import FrameSource


def load_sam3_segmenter(weights: str | Path | None = None, device: str | None = None,
                        image_size: int | None = None, cache_mb: float = 256,
                        disk_cache: DiskEmbeddingCache | None = None,
                        persist: bool = True) -> Sam2ImageSegmenter:
    """SAM 3's click engine (``Sam3TrackerModel`` + ``Sam3TrackerProcessor``)."""
    from transformers import Sam3TrackerModel, Sam3TrackerProcessor

    from annotator.engines import weights as registry
    from annotator.engines.device import pick_device

    model, processor = load_sam3_parts(Sam3TrackerModel, Sam3TrackerProcessor, weights, image_size)
    if disk_cache is None and persist:
        disk_cache = DiskEmbeddingCache()
    folder = Path(registry.require(SAM3, weights))
    tag = f"{SAM3}-{image_size or 1008}-{weights_tag(folder)}"
    return Sam2ImageSegmenter(model, processor, SAM3, pick_device(device), cache_mb=cache_mb,
                              disk_cache=disk_cache, model_tag=tag)


def load_sam3_tracker(source: FrameSource, weights: str | Path | None = None, device: str | None = None,
                      image_size: int | None = None, **options: Any) -> Sam2VideoTracker:
    """SAM 3's mask tracker (``Sam3TrackerVideoModel`` + ``Sam3TrackerVideoProcessor``) over ``source``."""
    from transformers import Sam3TrackerVideoModel, Sam3TrackerVideoProcessor

    from annotator.engines.device import pick_device

    model, processor = load_sam3_parts(Sam3TrackerVideoModel, Sam3TrackerVideoProcessor, weights, image_size)
    return Sam2VideoTracker(source, model, processor, SAM3, pick_device(device), **options)
