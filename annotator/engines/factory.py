"""Which click engine to run, built from a model name, and the reason in words.

``create_segmenter("auto")`` takes the best installed model for the device (the registry's
preference order), or the classical engine when no weights are installed. The reason comes
back with the engine so the CLI (stderr) and the GUI (status bar) can say what runs and why:
the choice is never silent. Nothing here downloads weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotator.engines.segmenter import Segmenter
from annotator.engines.tracker import FrameSource, Tracker
from annotator.engines.weights import CLASSICAL, CLASSICAL_FAST, REGISTRY
from annotator.errors import FormatError

AUTO = "auto"
# The model names come from the one registry (weights.py): a model added there is a choice here.
SAM_MODELS = tuple(s.name for s in REGISTRY.values() if s.family == "sam")
SAM2_IMAGE_MODELS = tuple(s.name for s in REGISTRY.values() if s.family == "sam2" and "segment" in s.tasks)
# EdgeTamModel: the click half of an EdgeTAM snapshot.
EDGETAM_IMAGE_MODELS = tuple(s.name for s in REGISTRY.values()
                             if s.family == "edgetam" and "segment" in s.tasks)
SAM3 = "sam3"  # clicks and tracking through Sam3Tracker* (engines/sam3_tracker.py)
SEGMENT_MODELS = (*SAM_MODELS, *SAM2_IMAGE_MODELS, *EDGETAM_IMAGE_MODELS, SAM3)
SEGMENT_CHOICES = (AUTO, CLASSICAL, *SEGMENT_MODELS)  # what --model accepts

# Hiera stage depths of the four SAM 2.1 sizes: how a snapshot folder says which one it is.
_HIERA_BLOCKS = {
    (1, 2, 7, 2): "sam2.1-tiny",
    (1, 2, 11, 2): "sam2.1-small",
    (2, 3, 16, 3): "sam2.1-base-plus",
    (2, 6, 36, 4): "sam2.1-large",
}
_SAM_WIDTHS = {768: "sam-vit-b", 1024: "sam-vit-l", 1280: "sam-vit-h"}


def create_segmenter(
    name: str = AUTO,
    device: str | None = None,
    weights: str | Path | None = None,
    **engine_options: Any,
) -> tuple[Segmenter, str]:
    """(engine, why). ``name``: a model name, "classical" or "auto".

    With ``weights`` and "auto", the model is recognised from the file or folder. A named
    model that is not installed raises WeightsMissingError ("annotator models download
    NAME"). ``engine_options`` go to the loader (cache_mb, disk_cache, persist).
    """
    if name not in SEGMENT_CHOICES:
        raise ValueError(f"unknown segmentation model {name!r}; choose from {', '.join(SEGMENT_CHOICES)}")
    dev = resolve_device("segment", name, device, weights)
    if name == AUTO and weights is not None:
        name = infer_model(Path(weights))
        why = f"recognised from --weights {weights}"
    elif name == AUTO:
        from annotator.engines.weights import choose

        name, why = choose("segment", AUTO, dev)
    elif name == CLASSICAL:
        why = "chosen by you (no weights needed)"
    else:
        why = "asked for by name" if weights is None else f"asked for by name, weights from {weights}"

    if name == CLASSICAL:
        from annotator.engines.classical import ClassicalSegmenter

        return ClassicalSegmenter(), f"classical engine (no weights): {why}"
    if name in SAM_MODELS:
        from annotator.engines.sam import load_sam

        return load_sam(name, weights, dev, **engine_options), f"{name} on {dev}: {why}"
    if name == SAM3:
        from annotator.engines.sam3_tracker import load_sam3_segmenter

        return load_sam3_segmenter(weights, dev, **engine_options), f"{name} on {dev}: {why}"
    from annotator.engines.sam2_image import load_sam2_image

    return load_sam2_image(name, weights, dev, **engine_options), f"{name} on {dev}: {why}"


def needs_torch(task: str, name: str, weights: str | Path | None = None) -> bool:
    """Whether this choice can end on a model: the classical engines never import torch
    (torch costs seconds and hundreds of MB at start-up)."""
    if name in (CLASSICAL, CLASSICAL_FAST):
        return False
    if name == AUTO and weights is None:
        from annotator.engines.weights import is_installed

        return any(task in spec.tasks and is_installed(spec.name) for spec in REGISTRY.values())
    return True


def resolve_device(task: str, name: str, device: str | None, weights: str | Path | None = None) -> str:
    """The device to run on; "cpu" without touching torch when only classical engines can run."""
    if not needs_torch(task, name, weights):
        return "cpu"
    from annotator.engines.device import pick_device

    return pick_device(device)


def infer_model(path: Path) -> str:
    """The model name a weights file or snapshot folder holds (for ``--model auto --weights``)."""
    path = path.expanduser()
    if path.is_file() and path.suffix in (".json", ".safetensors"):
        path = path.parent  # a file inside a snapshot folder
    if path.is_dir():
        return _infer_sam2(path)
    if path.is_file():
        return _infer_sam(path)
    raise FormatError("weights not found", path)


def _infer_sam2(folder: Path) -> str:
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FormatError("no config.json: not a SAM 2.1 snapshot folder", folder) from exc
    except (OSError, ValueError) as exc:
        raise FormatError(f"config.json is not readable JSON ({exc})", config_file) from exc
    if config.get("model_type") in ("edgetam", "edgetam_video"):
        return "edgetam"
    if config.get("model_type") not in ("sam2", "sam2_video"):
        what = config.get("model_type")
        raise FormatError(f"config.json describes a {what!r} model, not SAM 2", config_file)
    backbone = (config.get("vision_config") or {}).get("backbone_config") or {}
    blocks = tuple(backbone.get("blocks_per_stage") or (1, 2, 7, 2))  # transformers' default: tiny
    name = _HIERA_BLOCKS.get(blocks)
    if name is None:
        raise FormatError(f"a SAM 2 model with Hiera stages {list(blocks)} is none of the 2.1 sizes; "
                          f"name it with --model ({', '.join(SAM2_IMAGE_MODELS)})", folder)
    return name


def _infer_sam(path: Path) -> str:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # not a torch file, truncated, pickled code
        raise FormatError(f"not a readable SAM checkpoint ({type(exc).__name__})", path) from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    patch = state.get("image_encoder.patch_embed.proj.weight") if isinstance(state, dict) else None
    if patch is None or int(patch.shape[0]) not in _SAM_WIDTHS:
        raise FormatError("not a SAM ViT-B/L/H checkpoint; name the model with --model", path)
    return _SAM_WIDTHS[int(patch.shape[0])]


# --- trackers ------------------------------------------------------------------------------------
SAM2_VIDEO_MODELS = tuple(s.name for s in REGISTRY.values()
                          if s.family in ("sam2", "edgetam") and "track" in s.tasks)
TRACK_CHOICES = (AUTO, CLASSICAL, CLASSICAL_FAST, *SAM2_VIDEO_MODELS, SAM3)  # what --tracker accepts


def create_tracker(
    name: str = AUTO,
    source: FrameSource | None = None,
    device: str | None = None,
    weights: str | Path | None = None,
) -> tuple[Tracker, str]:
    """(tracker over ``source``, why). ``name``: a model name, "classical", "classical-fast" or "auto".

    "auto" takes the best installed video model for the device, else the classical tracker.
    A named model that is not installed raises WeightsMissingError.
    """
    if name not in TRACK_CHOICES:
        raise ValueError(f"unknown tracker {name!r}; choose from {', '.join(TRACK_CHOICES)}")
    if source is None:
        raise ValueError("a tracker needs the video it runs over")
    dev = resolve_device("track", name, device, weights)
    if name == AUTO:
        from annotator.engines.weights import choose

        name, why = choose("track", AUTO, dev)
    else:
        why = "asked for by name" if weights is None else f"asked for by name, weights from {weights}"
    if name in (CLASSICAL, CLASSICAL_FAST):
        from annotator.engines.classical_track import ClassicalTracker

        mode = "fast" if name == CLASSICAL_FAST else "quality"
        return ClassicalTracker(source, mode=mode), f"{name} tracker (optical flow, no weights): {why}"
    if name == SAM3:
        from annotator.engines.sam3_tracker import load_sam3_tracker

        return load_sam3_tracker(source, weights=weights, device=dev), f"{name} on {dev}: {why}"
    from annotator.engines.sam2_video import load_sam2_video

    return load_sam2_video(name, source, weights=weights, device=dev), f"{name} on {dev}: {why}"
