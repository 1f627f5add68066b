"""Tiny random-weight models for tests: the real model classes, shrunk, seeded.

Every factory builds the genuine upstream module (segment-anything's ``Sam``, transformers'
``Sam2Model``) with small dimensions, so tests drive the real code paths in well under a
second. Weight values do not matter for wiring and parity; sizes do not matter for speed
claims (those live in bench/). Reuse these instead of building models in each test file.

Recipes follow notes/models-and-style.md §A3.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from segment_anything.modeling import Sam
    from transformers import Sam2Config, Sam2Model, Sam2Processor

    from annotator.engines.segmenter import MaskResult, Prompt

# --- images ------------------------------------------------------------------------------------


def textured_image(height: int = 90, width: int = 160, seed: int = 0) -> np.ndarray:
    """An HxWx3 uint8 RGB frame with structure (two textured shapes on a textured background)."""
    from annotator.sim.synthetic import render_scene

    frame, _ = next(render_scene(num_frames=1, width=width, height=height, seed=seed))
    return np.ascontiguousarray(frame)


# --- click-engine parity (SAM and SAM 2.1 against their reference pipelines) ------------------
PARITY_IMAGE = textured_image(90, 160, seed=0)


def parity_prompts() -> dict[str, Prompt]:
    """The prompts each click engine is compared on, by name."""
    from annotator.engines.segmenter import Prompt

    return {
        "one point": Prompt([[40, 30]], [1]),
        "box": Prompt(box=[20, 10, 110, 70]),
        "points and box": Prompt([[60, 40], [100, 20]], [1, 0], box=[20, 10, 110, 70]),
        "two points": Prompt([[60, 40], [120, 70]], [1, 1]),
    }


def assert_same(ours: MaskResult, theirs: tuple, atol: float = 1e-4) -> None:
    """Our engine's result equals the reference's (low-res logits, mask, score) on PARITY_IMAGE."""
    import pytest

    from tests.session_helpers import iou

    logits, mask, score = theirs
    assert mask.any() and not mask.all(), "choose a seed and prompt with a real mask"
    assert ours.mask.shape == mask.shape == PARITY_IMAGE.shape[:2]
    assert ours.logits.shape == logits.shape
    np.testing.assert_allclose(ours.logits, logits, atol=atol, rtol=0)
    assert iou(ours.mask, mask) >= 0.999
    assert ours.score == pytest.approx(score, abs=atol)


# --- segment-anything --------------------------------------------------------------------------


def tiny_sam(seed: int = 0, img_size: int = 128, patch_size: int = 16, dim: int = 32) -> Sam:
    """segment-anything ``Sam`` with a 2-block ViT encoder (about 80 k parameters).

    The low-resolution logits are ``4 * img_size // patch_size`` pixels square (32 here,
    256 for the real models).
    """
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    grid = img_size // patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size, patch_size=patch_size, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2,
            out_chans=dim, qkv_bias=True, use_rel_pos=True, window_size=4, global_attn_indexes=(1,),
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(grid, grid), input_image_size=(img_size, img_size),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=dim, num_multimask_outputs=3, iou_head_depth=2, iou_head_hidden_dim=16,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
        ),
    ).eval()


def random_sam(arch: str = "vit_b", seed: int = 0) -> Sam:
    """A full-size SAM (``vit_b``/``vit_l``/``vit_h``) with seeded random weights."""
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(seed)
    return sam_model_registry[arch](checkpoint=None).eval()


def save_sam_checkpoint(model: Sam, path: str | Path) -> Path:
    """Write ``model`` the way the official .pth files are: a plain state dict."""
    import torch

    path = Path(path)
    torch.save(model.state_dict(), path)
    return path


# --- SAM 2.1 image path through transformers ---------------------------------------------------


def tiny_sam2_config(image_size: int = 128, init_std: float = 0.1) -> Sam2Config:
    """A Sam2Config with a 5-block Hiera, a 32-wide FPN and a 1-layer decoder (about 0.3 M params).

    ``image_size`` must be a multiple of 32 (patch stride 4, then three 2x query pools). The
    feature sizes follow from it: 1/4, 1/8 and 1/16 of the input, and the low-resolution
    logits are ``image_size // 4`` pixels square. ``init_std`` is wider than transformers'
    default (0.02), which leaves the three predicted IoUs within 1e-4 of 0.5; at 0.1 they
    differ by about 1e-2, so "the best of three" is a clear choice in parity tests.
    """
    from transformers import Sam2Config, Sam2HieraDetConfig, Sam2VisionConfig

    if image_size % 32:
        raise ValueError(f"image_size must be a multiple of 32, got {image_size}")
    s = image_size
    backbone = Sam2HieraDetConfig(
        image_size=[s, s], hidden_size=16, num_attention_heads=1, blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 2],
        window_size_per_stage=[4, 4, 4, 4], global_attention_blocks=[3],
        window_positional_embedding_background_size=[2, 2],
    )
    vision = Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]], fpn_hidden_size=32,
        initializer_range=init_std,
    )
    backbone.initializer_range = init_std
    prompt = {"hidden_size": 32, "image_size": s, "patch_size": 16, "mask_input_channels": 8}
    decoder = {"hidden_size": 32, "mlp_dim": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
               "iou_head_hidden_dim": 16}
    return Sam2Config(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder,
                      initializer_range=init_std)


def tiny_sam2(seed: int = 0, image_size: int = 128) -> tuple[Sam2Model, Sam2Processor]:
    """A tiny random ``Sam2Model`` and the matching ``Sam2Processor`` (resizes to ``image_size``)."""
    import torch
    from transformers import Sam2Model

    torch.manual_seed(seed)
    model = Sam2Model(tiny_sam2_config(image_size)).eval()
    return model, sam2_processor(image_size)


def sam2_processor(image_size: int = 1024) -> Sam2Processor:
    from transformers import Sam2ImageProcessor, Sam2Processor

    return Sam2Processor(image_processor=Sam2ImageProcessor(size={"height": image_size, "width": image_size}))


def save_sam2_snapshot(model: Sam2Model, processor: Sam2Processor, folder: str | Path) -> Path:
    """Write a Hugging Face snapshot folder (config.json, model.safetensors, processor config),
    the layout the SAM 2.1 installs have."""
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
