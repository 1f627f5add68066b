"""Tiny random-weight SAM 3 models (detector, text-video, tracker) built from their configs.

The shapes follow transformers' own SAM 3 test-suite (hidden 32, one layer per block), shrunk
further: a 2-layer ViT at 112 px with patch 14 (an 8x8 token grid), 8 detector queries. The text
encoder uses the tiny CLIP tokenizer of tests/tiny_describe.py, so real phrases tokenise.

Random weights find nothing at the real thresholds; ``loose_video_config`` lowers them
(``score_threshold_detection``, ``new_det_thresh``) so a random detector reports instances.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

IMAGE_SIZE = 112  # 8 x 14: an 8x8 token grid
PATCH = 14
# The memory attention's key width is hard-coded to 64 (the real memory channels), and the
# tracker only reshapes its object pointers right when they are wider than the memory, so the
# memory is 64 wide and every other hidden size 128 (the real model: 256 and 64).
H = 128
MEM = 64


def _vision(image_size: int) -> Any:
    from transformers import Sam3VisionConfig, Sam3ViTConfig

    grid = image_size // PATCH
    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             image_size=image_size, patch_size=PATCH, window_size=grid // 2,
                             global_attn_indexes=[1], pretrain_image_size=image_size)
    return Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=H,
                            backbone_feature_sizes=[[4 * grid, 4 * grid], [2 * grid, 2 * grid], [grid, grid]])


def detector_config(image_size: int = IMAGE_SIZE) -> Any:
    from transformers import (
        Sam3Config,
        Sam3DETRDecoderConfig,
        Sam3DETREncoderConfig,
        Sam3GeometryEncoderConfig,
        Sam3MaskDecoderConfig,
    )

    small = dict(hidden_size=H, num_layers=1, num_attention_heads=2, intermediate_size=64)
    tok = tokenizer()
    text = dict(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=32, hidden_act="gelu")
    return Sam3Config(vision_config=_vision(image_size), text_config=text,
                      geometry_encoder_config=Sam3GeometryEncoderConfig(**small),
                      detr_encoder_config=Sam3DETREncoderConfig(**small),
                      detr_decoder_config=Sam3DETRDecoderConfig(**small, num_queries=8),
                      mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=H, num_upsampling_stages=3,
                                                               num_attention_heads=2))


def tracker_config(image_size: int = IMAGE_SIZE) -> Any:
    from transformers import Sam3TrackerVideoConfig

    config = Sam3TrackerVideoConfig(
        vision_config=_vision(image_size).to_dict(),
        prompt_encoder_config=dict(hidden_size=H, image_size=image_size, patch_size=PATCH,
                                   mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=H, mlp_dim=64, num_hidden_layers=1, num_attention_heads=2,
                                 iou_head_hidden_dim=16),
        memory_attention_hidden_size=H, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_encoder_hidden_size=H, memory_encoder_output_channels=MEM, mask_downsampler_embed_dim=H,
        memory_fuser_embed_dim=H, memory_fuser_intermediate_dim=64, memory_fuser_num_layers=1,
        image_size=image_size)
    return config


def video_config(image_size: int = IMAGE_SIZE, **overrides: Any) -> Any:
    from transformers import Sam3VideoConfig

    config = Sam3VideoConfig(detector_config=detector_config(image_size).to_dict(),
                             tracker_config=tracker_config(image_size).to_dict(),
                             low_res_mask_size=4 * image_size // PATCH, **overrides)
    return config


def loose_video_config(image_size: int = IMAGE_SIZE, **overrides: Any) -> Any:
    """Thresholds low enough that a random-weight detector reports instances."""
    settings = dict(score_threshold_detection=0.05, new_det_thresh=0.05, hotstart_delay=0)
    settings.update(overrides)
    return video_config(image_size, **settings)


def tokenizer() -> Any:
    from tests.tiny_describe import clip_tokenizer

    return clip_tokenizer()


def processor(image_size: int = IMAGE_SIZE) -> Any:
    from transformers import Sam3ImageProcessor, Sam3Processor

    side = {"height": image_size, "width": image_size}
    low = 4 * image_size // PATCH
    image_processor = Sam3ImageProcessor(size=side, mask_size={"height": low, "width": low})
    return Sam3Processor(image_processor=image_processor,
                         tokenizer=tokenizer(), target_size=image_size)


def video_processor(image_size: int = IMAGE_SIZE) -> Any:
    """``Sam3VideoProcessor`` at ``image_size`` (the real one pairs Sam3ImageProcessor with the
    SAM 2 video processor: the same resize and normalisation)."""
    from transformers import Sam2VideoVideoProcessor, Sam3ImageProcessor, Sam3VideoProcessor

    side = {"height": image_size, "width": image_size}
    return Sam3VideoProcessor(image_processor=Sam3ImageProcessor(size=side),
                              video_processor=Sam2VideoVideoProcessor(size=side), tokenizer=tokenizer(),
                              target_size=image_size)


def tracker_processor(image_size: int = IMAGE_SIZE, video: bool = False) -> Any:
    """``Sam3TrackerProcessor`` (clicks) or ``Sam3TrackerVideoProcessor`` (tracking)."""
    from transformers import (
        Sam2ImageProcessor,
        Sam2VideoVideoProcessor,
        Sam3TrackerProcessor,
        Sam3TrackerVideoProcessor,
    )

    side = {"height": image_size, "width": image_size}
    if video:
        return Sam3TrackerVideoProcessor(image_processor=Sam2ImageProcessor(size=side),
                                         video_processor=Sam2VideoVideoProcessor(size=side),
                                         target_size=image_size)
    return Sam3TrackerProcessor(image_processor=Sam2ImageProcessor(size=side), target_size=image_size)


def tiny_tracker(seed: int = 0, image_size: int = IMAGE_SIZE, video: bool = False) -> Any:
    """A random ``Sam3TrackerModel`` (clicks) or ``Sam3TrackerVideoModel`` (tracking)."""
    import torch
    from transformers import Sam3TrackerConfig, Sam3TrackerModel, Sam3TrackerVideoModel

    torch.manual_seed(seed)
    config = tracker_config(image_size)
    if video:
        return Sam3TrackerVideoModel(config).eval()
    parts = config.to_dict()
    return Sam3TrackerModel(Sam3TrackerConfig(vision_config=parts["vision_config"],
                                              prompt_encoder_config=parts["prompt_encoder_config"],
                                              mask_decoder_config=parts["mask_decoder_config"])).eval()


def tiny_detector(seed: int = 0, image_size: int = IMAGE_SIZE) -> Any:
    import torch
    from transformers import Sam3Model

    torch.manual_seed(seed)
    return Sam3Model(detector_config(image_size)).eval()


def tiny_video(seed: int = 0, image_size: int = IMAGE_SIZE, **overrides: Any) -> Any:
    import torch
    from transformers import Sam3VideoModel

    torch.manual_seed(seed)
    return Sam3VideoModel(loose_video_config(image_size, **overrides)).eval()


def save_snapshot(model: Any, proc: Any, folder: str | Path) -> Path:
    """A snapshot folder like the official one: the ``sam3_video`` model (detector and tracker
    weights) with its processor and tokenizer."""
    folder = Path(folder)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder
