"""SAM 2.1 image engine: parity with transformers' Sam2Model pipeline, loading, disk cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from annotator.engines import shared_features
from annotator.engines.embedding_cache import DiskEmbeddingCache, frame_key
from annotator.engines.sam2_image import Sam2ImageSegmenter, load_sam2_image, load_sam2_snapshot
from annotator.engines.segmenter import Prompt, Segmenter
from annotator.errors import FormatError
from tests.session_helpers import iou
from tests.tiny_models import (
    PARITY_IMAGE,
    assert_same,
    parity_prompts,
    save_sam2_snapshot,
    tiny_sam2,
    tiny_sam2_config,
)

SEED = 0  # masks neither empty nor the whole frame, IoU predictions 1e-2 apart
IMAGE = PARITY_IMAGE
PROMPTS = parity_prompts()


def reference(model, processor, prompt: Prompt, multimask: bool):
    """transformers' own pipeline: processor -> Sam2Model(...) -> post_process_masks.
    Returns the low-res logits, full mask and score of the best-scoring output."""
    kwargs = {}
    if len(prompt.points):
        kwargs["input_points"] = [[prompt.points.tolist()]]
        kwargs["input_labels"] = [[prompt.labels.tolist()]]
    if prompt.box is not None:
        kwargs["input_boxes"] = [[prompt.box.tolist()]]
    inputs = processor(images=IMAGE, return_tensors="pt", **kwargs)
    if prompt.prior is not None:
        inputs["input_masks"] = torch.from_numpy(prompt.prior)[None]
    with torch.inference_mode():
        out = model(**inputs, multimask_output=multimask)
    masks = processor.post_process_masks(out.pred_masks, inputs["original_sizes"])[0][0]
    scores = out.iou_scores[0, 0]
    best = int(torch.argmax(scores))
    return out.pred_masks[0, 0, best : best + 1].numpy(), masks[best].numpy(), float(scores[best])


@pytest.fixture(scope="module")
def tiny():
    model, processor = tiny_sam2(seed=SEED)
    engine = Sam2ImageSegmenter(model, processor, "sam2.1-tiny", "cpu")
    engine.prepare(IMAGE, "frame")
    return engine, model, processor


def test_engine_implements_protocol(tiny) -> None:
    assert isinstance(tiny[0], Segmenter)


@pytest.mark.parametrize("case", list(PROMPTS))
def test_parity_with_transformers_pipeline(tiny, case: str) -> None:
    engine, model, processor = tiny
    prompt = PROMPTS[case]
    ours = engine.predict(prompt, "frame")
    assert_same(ours, reference(model, processor, prompt, multimask=case == "one point"))


def test_refinement_with_prior_matches_transformers(tiny) -> None:
    engine, model, processor = tiny
    first = engine.predict(PROMPTS["one point"], "frame")
    refine = Prompt([[40, 30], [100, 60]], [1, 0], prior=first.logits)
    ours = engine.predict(refine, "frame")
    assert_same(ours, reference(model, processor, refine, multimask=False))
    assert iou(ours.mask, first.mask) < 0.999, "the second click must change the mask"


def test_prior_from_mask_covers_the_stretched_frame(tiny) -> None:
    engine = tiny[0]
    mask = np.zeros(IMAGE.shape[:2], bool)
    mask[:45] = True  # the top half
    prior = engine.prior_from_mask(mask, "frame")
    assert prior.shape == (1, 32, 32)  # SAM 2 stretches the frame to a square: no padding
    assert (prior[0, :16] > 9).all() and (prior[0, 16:] < -9).all()
    assert engine.predict(Prompt([[40, 30]], [1], prior=prior), "frame").mask.shape == mask.shape


def test_snapshot_round_trip(tmp_path) -> None:
    model, processor = tiny_sam2(seed=SEED)
    folder = save_sam2_snapshot(model, processor, tmp_path / "sam2.1-tiny")
    engine = load_sam2_image("sam2.1-tiny", weights=folder, device="cpu", persist=False)
    assert engine.name == "sam2.1-tiny" and engine.input_size == 128
    engine.prepare(IMAGE, "frame")
    for case in ("one point", "points and box"):
        ours = engine.predict(PROMPTS[case], "frame")
        assert_same(ours, reference(model, processor, PROMPTS[case], multimask=case == "one point"))


def test_official_video_checkpoint_layout_loads(tmp_path) -> None:
    """The facebook/sam2.1-hiera-* snapshots are sam2_video checkpoints: the image model is
    the subset of their weights Sam2Model holds."""
    from transformers import Sam2VideoConfig, Sam2VideoModel

    config = tiny_sam2_config()
    torch.manual_seed(1)
    video = Sam2VideoModel(Sam2VideoConfig(
        vision_config=config.vision_config, prompt_encoder_config=config.prompt_encoder_config.to_dict(),
        mask_decoder_config=config.mask_decoder_config.to_dict(), image_size=128)).eval()
    video.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "sam2_video"
    model, processor = load_sam2_snapshot(tmp_path)  # no processor config: built from the model
    assert processor.target_size == 128
    theirs = video.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, theirs[name]), name


def test_incomplete_weights_are_refused_not_randomly_filled(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    model, processor = tiny_sam2(seed=SEED)
    folder = save_sam2_snapshot(model, processor, tmp_path)
    tensors = load_file(folder / "model.safetensors")
    del tensors["mask_decoder.iou_token.weight"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(FormatError, match="incomplete SAM 2 weights.*iou_token"):
        load_sam2_snapshot(folder)


def test_bad_snapshot_folders_are_refused(tmp_path) -> None:
    with pytest.raises(FormatError, match="config.json is missing"):
        load_sam2_snapshot(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip"}))
    with pytest.raises(FormatError, match="not SAM 2"):
        load_sam2_snapshot(tmp_path)


def test_disk_cache_second_open_does_not_encode(tmp_path) -> None:
    model, processor = tiny_sam2(seed=SEED)
    root = tmp_path / "embeddings"
    keys = [frame_key("fingerprint-of-video", i) for i in range(2)]
    first = Sam2ImageSegmenter(model, processor, "sam2.1-tiny", "cpu", disk_cache=DiskEmbeddingCache(root))
    for key in keys:
        first.prepare(IMAGE, key)
    expected = first.predict(PROMPTS["one point"], keys[0])
    files = sorted(root.rglob("*.safetensors"))
    assert [f.name for f in files] == ["000000.safetensors", "000001.safetensors"]

    # "Reopen the video": a fresh engine (fresh memory cache) over the same disk cache, in a
    # new process (nothing in the in-process cache that click engines share with trackers).
    shared_features.clear()
    model2, processor2 = tiny_sam2(seed=SEED)
    calls = []
    model2.vision_encoder.register_forward_hook(lambda *a: calls.append(1))
    reopened = Sam2ImageSegmenter(model2, processor2, "sam2.1-tiny", "cpu",
                                  disk_cache=DiskEmbeddingCache(root))
    assert all(reopened.is_prepared(k) for k in keys)
    assert [reopened.prepare(IMAGE, k) for k in keys] == [0.0, 0.0]
    assert calls == [], "the encoder ran although the embeddings were on disk"
    again = reopened.predict(PROMPTS["one point"], keys[0])
    np.testing.assert_allclose(again.logits, expected.logits, atol=0.05)  # fp16 on disk
    assert iou(again.mask, expected.mask) > 0.98

    # A corrupt entry is ignored and encoded again.
    files[1].write_bytes(b"\x00garbage")
    shared_features.clear()
    model3, processor3 = tiny_sam2(seed=SEED)
    model3.vision_encoder.register_forward_hook(lambda *a: calls.append(1))
    third = Sam2ImageSegmenter(model3, processor3, "sam2.1-tiny", "cpu", disk_cache=DiskEmbeddingCache(root))
    assert third.prepare(IMAGE, keys[1]) > 0 and calls == [1]
    assert DiskEmbeddingCache(root).load("sam2.1-tiny", keys[1]) is not None  # rewritten, readable


def test_other_weights_do_not_read_these_embeddings(tmp_path) -> None:
    model, processor = tiny_sam2(seed=SEED)
    disk = DiskEmbeddingCache(tmp_path)
    key = frame_key("video", 0)
    first = Sam2ImageSegmenter(model, processor, "sam2.1-tiny", "cpu", disk_cache=disk, model_tag="tiny-aaaa")
    first.prepare(IMAGE, key)
    other = Sam2ImageSegmenter(model, processor, "sam2.1-tiny", "cpu", disk_cache=disk, model_tag="tiny-bbbb")
    assert not other.is_prepared(key)
