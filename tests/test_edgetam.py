"""EdgeTAM: the real backbone in random configs, EdgeTAM as a click engine, and frames encoded
once for clicks and tracking together (engines/shared_features.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.engines.factory import create_segmenter, infer_model
from annotator.engines.model_configs import REPVIT, backbone_name, edgetam_image_config, edgetam_video_config
from annotator.engines.sam2_image import Sam2ImageSegmenter, load_edgetam_snapshot
from annotator.engines.sam2_video import Sam2VideoTracker
from annotator.engines.segmenter import Prompt
from annotator.engines.tracker import ListFrames
from annotator.errors import FormatError
from annotator.sim.synthetic import render_scene
from tests.session_helpers import iou
from tests.tiny_sam2_video import IMAGE_SIZE, tiny_edgetam_video, tiny_video_processor

W, H = 96, 72


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], np.ndarray]:
    pairs = list(render_scene(num_frames=6, width=W, height=H, seed=3))
    return [f for f, _ in pairs], pairs[0][1][1]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, object]:
    """A tiny EdgeTAM video snapshot folder (the layout of the real EdgeTAM install)."""
    folder = tmp_path_factory.mktemp("edgetam")
    model = tiny_edgetam_video(seed=5)
    model.save_pretrained(folder)
    tiny_video_processor().save_pretrained(folder)
    return model, folder


# --- the backbone ---------------------------------------------------------------------------------
def test_random_configs_build_the_real_repvit_backbone() -> None:
    """transformers' defaults build a Hiera (EdgeTamVideoConfig) or a ResNet-50 (the misspelt
    "archirecture" key of EdgeTamVisionConfig); ours build RepViT-M1, at full size too."""
    from transformers import EdgeTamVideoConfig, EdgeTamVideoModel

    assert backbone_name(tiny_edgetam_video()) == REPVIT
    real = EdgeTamVideoModel(edgetam_video_config()).eval()
    assert backbone_name(real) == REPVIT
    assert real.config.vision_config.backbone_channel_list == [384, 192, 96, 48]
    assert sum(p.numel() for p in real.vision_encoder.backbone.parameters()) > 4_000_000  # RepViT-M1: ~5 M
    assert backbone_name(EdgeTamVideoModel(EdgeTamVideoConfig())) == "hiera"  # the trap this avoids


def test_a_snapshot_without_the_repvit_backbone_is_refused(tmp_path) -> None:
    from transformers import EdgeTamVideoConfig, EdgeTamVideoModel

    from tests.tiny_sam2_video import _common

    EdgeTamVideoModel(EdgeTamVideoConfig(**_common(IMAGE_SIZE))).save_pretrained(tmp_path)  # Hiera inside
    with pytest.raises(FormatError, match="not repvit_m1"):
        load_edgetam_snapshot(tmp_path)


# --- EdgeTAM as a click engine ---------------------------------------------------------------------
def test_click_engine_loads_from_the_video_snapshot_and_matches_transformers(snapshot, clip) -> None:
    from transformers import EdgeTamModel

    video, folder = snapshot
    assert infer_model(folder) == "edgetam"
    engine, why = create_segmenter("edgetam", device="cpu", weights=folder, persist=False)
    assert isinstance(engine, Sam2ImageSegmenter) and engine.name == "edgetam" and "edgetam" in why
    assert backbone_name(engine.model) == REPVIT and type(engine.model) is EdgeTamModel
    image = clip[0][0]
    engine.prepare(image, "frame")
    prompt = Prompt([[40, 30]], [1])
    ours = engine.predict(prompt, "frame")

    stock = EdgeTamModel(edgetam_image_config(video.config)).eval()
    assert not stock.load_state_dict(video.state_dict(), strict=False).missing_keys
    processor = engine.processor
    inputs = processor(images=image, input_points=[[[[40, 30]]]], input_labels=[[[1]]], return_tensors="pt")
    with torch.inference_mode():
        out = stock(**inputs)
    best = int(torch.argmax(out.iou_scores[0, 0]))
    logits = out.pred_masks[0, 0, best : best + 1].numpy()
    mask = processor.post_process_masks(out.pred_masks, inputs["original_sizes"])[0][0][best].numpy()
    assert mask.any() and not mask.all()
    np.testing.assert_allclose(ours.logits, logits, atol=1e-4 * np.abs(logits).max(), rtol=0)
    assert iou(ours.mask, mask) >= 0.999


def test_a_frame_is_encoded_once_for_clicks_and_tracking(snapshot, clip) -> None:
    """A frame clicked on is not encoded again when tracking reaches it, and a frame the tracker
    went through costs the click engine only its decoder."""
    from annotator.engines.sam2_video import load_sam2_video

    _video, folder = snapshot
    frames, mask = clip
    source = ListFrames(frames, fingerprint="video-a")
    engine, _ = create_segmenter("edgetam", device="cpu", weights=folder, persist=False)
    tracker = load_sam2_video("edgetam", source, weights=folder, device="cpu")
    key = lambda i: (source.fingerprint, i)  # noqa: E731 - the session's key for frame i

    engine.prepare(frames[2], key(2))  # the user clicks on frame 2 first
    features = engine.features
    assert features.encoded == 1
    tracker.add_conditioning(0, {1: mask})
    updates = list(tracker.propagate(0, 1, {1: 4}))
    assert [u.frame for u in updates] == [1, 2, 3, 4]
    assert tracker._features is features  # one encoder and one cache for both models' weights
    assert features.encoded == 5, "frames 0..4 once each: frame 2 came from the click"
    for i in (1, 3, 4):  # clicks on tracked frames: no encoder run
        engine.prepare(frames[i], key(i))
        assert engine.predict(Prompt([[40, 30]], [1]), key(i)).mask.shape == (H, W)
    assert features.encoded == 5


def test_shared_frames_do_not_change_the_tracking(snapshot, clip) -> None:
    """Tracking with frames taken from the shared cache gives the logits of a fresh run."""
    from annotator.engines.sam2_video import load_sam2_video

    _video, folder = snapshot
    frames, mask = clip
    source = ListFrames(frames, fingerprint="video-a")
    fresh = load_sam2_video("edgetam", source, weights=folder, device="cpu")
    fresh.add_conditioning(0, {1: mask})
    first = [r.logits for r in fresh.propagate_logits(0, 1, {1: 4})]
    again = Sam2VideoTracker(fresh.source, fresh.model, fresh.processor, "edgetam", "cpu")
    again.add_conditioning(0, {1: mask})
    second = [r.logits for r in again.propagate_logits(0, 1, {1: 4})]
    assert again._features is fresh._features and fresh._features.encoded == 5  # all from the cache
    for a, b in zip(first, second):
        assert torch.equal(a, b)
