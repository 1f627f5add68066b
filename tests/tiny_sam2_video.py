"""Tiny random-weight SAM 2 / EdgeTAM video models for tests (the real transformers classes, shrunk).

Both use a 5-block Hiera at ``image_size`` 64 (features 16/8/4 px, logits 16 px), a
128-wide FPN and one memory-attention layer: about 1.3 M parameters, ~10 ms per frame on
one CPU thread. Two sizes are not free to choose: the memory-attention cross-attention takes
64-channel memories (``kv_in_dim=64`` is hard-coded in transformers), so
``memory_encoder_output_channels`` is 64; and object pointers are split into
``hidden / mem_dim`` tokens, which only works when the hidden size is a multiple of 64
larger than 64 (equal sizes stack the pointers into a 4-D tensor and fail), hence 128.

The tiny EdgeTAM has the real kind of backbone, timm's RepViT-M1 with one narrow block per
stage (``model_configs.TINY_REPVIT``; transformers' defaults would build a Hiera or a
ResNet-50).

``present_bias`` shifts the object-score head so random weights report the object as
present (with the stock init the presence logit is ~0 and its sign depends on the seed; a
negative one blanks every mask, which would make parity tests vacuous).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import Sam2VideoProcessor

IMAGE_SIZE = 64


def _vision(image_size: int) -> dict[str, Any]:
    s = image_size
    backbone = {
        "model_type": "sam2_hiera_det_model", "image_size": [s, s], "hidden_size": 16,
        "num_attention_heads": 1,
        "blocks_per_stage": [1, 1, 2, 1], "embed_dim_per_stage": [16, 32, 64, 128],
        "num_attention_heads_per_stage": [1, 1, 2, 2], "window_size_per_stage": [4, 4, 4, 4],
        "global_attention_blocks": [3], "window_positional_embedding_background_size": [2, 2],
    }
    return {
        "model_type": "sam2_vision_model", "backbone_config": backbone,
        "backbone_channel_list": [128, 64, 32, 16],
        "backbone_feature_sizes": [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
        "fpn_hidden_size": 128,
    }


def _common(image_size: int) -> dict[str, Any]:
    if image_size % 32:
        raise ValueError(f"image_size must be a multiple of 32, got {image_size}")
    top = image_size // 16
    return {
        "vision_config": _vision(image_size),
        "prompt_encoder_config": {"hidden_size": 128, "image_size": image_size, "patch_size": 16},
        "mask_decoder_config": {"hidden_size": 128, "num_attention_heads": 2, "mlp_dim": 64,
                                "iou_head_hidden_dim": 32},
        "image_size": image_size,
        "memory_attention_hidden_size": 128,
        "memory_attention_num_layers": 1,
        "memory_attention_rope_feat_sizes": [top, top],
        "memory_encoder_hidden_size": 128,
        "memory_encoder_output_channels": 64,
        "mask_downsampler_embed_dim": 128,
        "memory_fuser_embed_dim": 128,
        "memory_fuser_intermediate_dim": 64,
    }


def tiny_sam2_video(seed: int = 0, image_size: int = IMAGE_SIZE, present_bias: float = 2.0) -> Any:
    """A seeded random ``Sam2VideoModel`` (eval mode)."""
    import torch
    from transformers import Sam2VideoConfig, Sam2VideoModel

    config = Sam2VideoConfig(**_common(image_size), memory_attention_feed_forward_hidden_size=64)
    torch.manual_seed(seed)
    return _biased(Sam2VideoModel(config).eval(), present_bias)


def tiny_edgetam_video(seed: int = 0, image_size: int = IMAGE_SIZE, present_bias: float = 2.0) -> Any:
    """A seeded random ``EdgeTamVideoModel`` (eval mode) with a 16+16-latent perceiver."""
    import torch
    from transformers import EdgeTamVideoConfig, EdgeTamVideoModel

    from annotator.engines.model_configs import edgetam_vision_config

    vision = edgetam_vision_config(image_size, fpn_hidden_size=128, tiny=True)
    fields = {**_common(image_size), "vision_config": vision}
    config = EdgeTamVideoConfig(
        **fields, memory_attention_mlp_hidden_size=64,
        memory_attention_rope_k_sizes=[4, 4],  # sqrt(16 2-D latents) a side
        perceiver_resampler_num_latents=16, perceiver_resampler_num_latents_2d=16,
        perceiver_resampler_mlp_intermediate_size=64, perceiver_resampler_num_layers=1,
    )
    torch.manual_seed(seed)
    return _biased(EdgeTamVideoModel(config).eval(), present_bias)


def tiny_video_processor(image_size: int = IMAGE_SIZE) -> Sam2VideoProcessor:
    from annotator.engines.sam2_video import video_processor_for

    return video_processor_for(image_size)


def _biased(model: Any, present_bias: float) -> Any:
    import torch

    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias += present_bias
    return model
