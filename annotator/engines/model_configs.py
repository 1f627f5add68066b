"""Configs for random-weight EdgeTAM and SAM 2.1 models (tests, benches), and which backbone a
loaded model really runs.

transformers' defaults do not build EdgeTAM: ``EdgeTamVideoConfig()`` takes a Hiera vision
config (SAM 2's), and ``EdgeTamVisionConfig()``'s timm backbone key is misspelt
("archirecture": "repvit_m1"), so timm builds its default, a ResNet-50. A real EdgeTAM
snapshot names ``repvit_m1`` in its config.json; random configs must name it too, or every
figure measured on them is a figure for another model. ``backbone_name`` says what a built
model holds, so tests and benches can check it.

transformers and timm are imported lazily.
"""

from __future__ import annotations

from typing import Any

REPVIT = "repvit_m1"
# RepViT-M1's four stage outputs (strides 4, 8, 16, 32), deepest first, as the FPN neck reads them.
REPVIT_CHANNELS = [384, 192, 96, 48]


# A shrunk RepViT-M1 for tests: the same blocks, one per stage, narrower (timm takes these
# as overrides of the repvit_m1 entry point). The real layout is depth (2, 2, 14, 2).
TINY_REPVIT = {"embed_dim": (16, 32, 64, 128), "depth": (1, 1, 1, 1)}


def repvit_backbone_config(tiny: bool = False) -> Any:
    """The timm RepViT-M1 backbone EdgeTAM uses: four feature maps, no classifier."""
    from transformers import TimmWrapperConfig

    model_args: dict[str, Any] = {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]}
    if tiny:
        model_args.update({k: list(v) for k, v in TINY_REPVIT.items()})
    return TimmWrapperConfig(architecture=REPVIT, model_args=model_args)


def edgetam_vision_config(image_size: int = 1024, fpn_hidden_size: int = 256, tiny: bool = False) -> Any:
    """``EdgeTamVisionConfig`` with the RepViT backbone, feature sizes for ``image_size``."""
    from transformers.models.edgetam.configuration_edgetam import EdgeTamVisionConfig

    s = int(image_size)
    channels = list(reversed(TINY_REPVIT["embed_dim"])) if tiny else list(REPVIT_CHANNELS)
    return EdgeTamVisionConfig(
        backbone_config=repvit_backbone_config(tiny),
        backbone_channel_list=channels,
        backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
        fpn_hidden_size=fpn_hidden_size,
    )


def edgetam_video_config(image_size: int = 1024, **overrides: Any) -> Any:
    """The real-size ``EdgeTamVideoConfig`` (RepViT-M1 at 1024) or a resized one."""
    from transformers import EdgeTamVideoConfig

    s = int(image_size)
    fields: dict[str, Any] = {
        "vision_config": edgetam_vision_config(s, overrides.pop("fpn_hidden_size", 256)),
        "prompt_encoder_config": {"image_size": s},
        "image_size": s,
        "memory_attention_rope_feat_sizes": [s // 16, s // 16],
    }
    fields.update(overrides)
    return EdgeTamVideoConfig(**fields)


def edgetam_image_config(video_config: Any) -> Any:
    """The ``EdgeTamConfig`` (click model) holding the same vision, prompt and decoder parts
    as ``video_config``, so both load from one EdgeTAM snapshot."""
    from transformers import EdgeTamConfig

    return EdgeTamConfig(
        vision_config=video_config.vision_config.to_dict(),
        prompt_encoder_config=video_config.prompt_encoder_config.to_dict(),
        mask_decoder_config=video_config.mask_decoder_config.to_dict(),
    )


def sam21_image_config(video_config: Any) -> Any:
    """The ``Sam2Config`` (click model) with the same vision, prompt and decoder parts as a
    ``Sam2VideoConfig``: the two load from one set of weights."""
    from transformers import Sam2Config

    return Sam2Config(
        vision_config=video_config.vision_config.to_dict(),
        prompt_encoder_config=video_config.prompt_encoder_config.to_dict(),
        mask_decoder_config=video_config.mask_decoder_config.to_dict(),
    )


def sam21_tiny_video_config(image_size: int = 1024) -> Any:
    """``Sam2VideoConfig`` in the SAM 2.1 Hiera-T layout (its defaults), resized to ``image_size``."""
    from transformers import Sam2VideoConfig

    s = int(image_size)
    vision = {
        "model_type": "sam2_vision_model",
        "backbone_config": {"model_type": "sam2_hiera_det_model", "image_size": [s, s]},
        "backbone_channel_list": [768, 384, 192, 96],
        "backbone_feature_sizes": [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
    }
    return Sam2VideoConfig(vision_config=vision, prompt_encoder_config={"image_size": s}, image_size=s,
                           memory_attention_rope_feat_sizes=[s // 16, s // 16])


def backbone_name(model: Any) -> str:
    """What the model's image backbone is: the timm architecture ("repvit_m1", "resnet50") or
    "hiera" for SAM 2's own backbone. Works for the video and the image models."""
    backbone = model.vision_encoder.backbone
    timm_model = getattr(backbone, "timm_model", None)
    if timm_model is None:
        return "hiera" if "Hiera" in type(backbone).__name__ else type(backbone).__name__
    cfg = getattr(timm_model, "pretrained_cfg", None) or getattr(timm_model, "default_cfg", None) or {}
    arch = cfg.get("architecture") if isinstance(cfg, dict) else None
    return str(arch or model.config.vision_config.backbone_config.architecture)
