"""SAM engine: parity with segment_anything.SamPredictor, caching, loading, OOM fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from annotator.engines.embedding_cache import DiskEmbeddingCache, frame_key
from annotator.engines.sam import SamSegmenter, build_sam_from_checkpoint, load_sam
from annotator.engines.segmenter import Prompt, Segmenter
from annotator.errors import FormatError, WeightsMissingError
from tests.session_helpers import iou
from tests.tiny_models import (
    PARITY_IMAGE,
    assert_same,
    parity_prompts,
    random_sam,
    save_sam_checkpoint,
    textured_image,
    tiny_sam,
)

SEED = 2  # a seed whose masks are neither empty nor the whole frame for every prompt below
IMAGE = PARITY_IMAGE
PROMPTS = parity_prompts()


def upstream(predictor: SamPredictor, prompt: Prompt, multimask: bool):
    """What SamPredictor returns for the mask our engine keeps: (low-res logits, mask, score)."""
    masks, scores, low = predictor.predict(
        point_coords=prompt.points if len(prompt.points) else None,
        point_labels=prompt.labels if len(prompt.points) else None,
        box=prompt.box,
        mask_input=prompt.prior,
        multimask_output=multimask,
    )
    best = int(np.argmax(scores))
    return low[best : best + 1], masks[best], float(scores[best])


@pytest.fixture(scope="module")
def tiny():
    model = tiny_sam(seed=SEED)
    predictor = SamPredictor(model)
    predictor.set_image(IMAGE)
    engine = SamSegmenter(model, "sam-tiny", "cpu")
    engine.prepare(IMAGE, "frame")
    return engine, predictor


def test_engine_implements_protocol(tiny) -> None:
    engine, _ = tiny
    assert isinstance(engine, Segmenter)


@pytest.mark.parametrize("case", list(PROMPTS))
def test_parity_with_sam_predictor(tiny, case: str) -> None:
    engine, predictor = tiny
    prompt = PROMPTS[case]
    ours = engine.predict(prompt, "frame")
    multimask = case == "one point"  # the first lone click is ambiguous: three candidates
    assert_same(ours, upstream(predictor, prompt, multimask))
    assert ours.timings["encode_ms"] == 0.0 and ours.timings["decode_ms"] > 0


def test_refinement_with_prior_matches_upstream(tiny) -> None:
    engine, predictor = tiny
    first = engine.predict(PROMPTS["one point"], "frame")
    refine = Prompt([[40, 30], [70, 60]], [1, 0], prior=first.logits)
    ours = engine.predict(refine, "frame")
    theirs = upstream(predictor, refine, multimask=False)
    assert_same(ours, theirs)
    assert iou(ours.mask, first.mask) < 0.999, "the second click must change the mask"


def test_empty_prompt_gives_empty_mask(tiny) -> None:
    engine, _ = tiny
    result = engine.predict(Prompt(), "frame")
    assert result.mask.shape == IMAGE.shape[:2] and not result.mask.any()
    assert result.score == 0.0 and result.logits is None


def test_prepare_is_cached_and_predict_needs_it() -> None:
    model = tiny_sam(seed=SEED)
    calls = []
    model.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    engine = SamSegmenter(model, "sam-tiny", "cpu")
    assert not engine.is_prepared("a")
    with pytest.raises(LookupError, match="not prepared"):
        engine.predict(PROMPTS["one point"], "a")
    assert engine.prepare(IMAGE, "a") > 0
    assert engine.prepare(IMAGE, "a") == 0.0
    assert engine.is_prepared("a") and len(calls) == 1
    engine.prepare(IMAGE[:, ::-1].copy(), "b")  # a second frame does not evict the first
    assert engine.is_prepared("a") and len(calls) == 2


def test_bad_inputs_are_rejected(tiny) -> None:
    engine, _ = tiny
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        engine.prepare(IMAGE.astype(np.float32), "x")
    with pytest.raises(ValueError, match="prior must be"):
        engine.predict(Prompt([[40, 30]], [1], prior=np.zeros((1, 8, 8), np.float32)), "frame")


def test_prior_from_mask_follows_the_resize_and_padding(tiny) -> None:
    engine, _ = tiny
    mask = np.zeros(IMAGE.shape[:2], bool)
    mask[:, :80] = True  # the left half of a 160x90 frame
    prior = engine.prior_from_mask(mask, "frame")
    # The tiny model works at 128 px: the frame becomes 128x72, the 32 px grid 32x18 (padded).
    assert prior.shape == (1, 32, 32) and prior.dtype == np.float32
    assert (prior[0, :18, :16] > 9).all() and (prior[0, :18, 16:] < -9).all()
    assert (prior[0, 18:] == -10).all()
    result = engine.predict(Prompt([[40, 30]], [1], prior=prior), "frame")
    assert result.mask.shape == mask.shape
    with pytest.raises(ValueError, match="frame is 160x90"):
        engine.prior_from_mask(mask[:10], "frame")


def test_disk_cache_reopens_without_encoding(tmp_path) -> None:
    disk = DiskEmbeddingCache(tmp_path / "emb")
    key = frame_key("video-fingerprint", 3)
    first = SamSegmenter(tiny_sam(seed=SEED), "sam-tiny", "cpu", disk_cache=disk)
    first.prepare(IMAGE, key)
    expected = first.predict(PROMPTS["one point"], key)

    model = tiny_sam(seed=SEED)
    calls = []
    model.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    reopened = SamSegmenter(model, "sam-tiny", "cpu", disk_cache=DiskEmbeddingCache(tmp_path / "emb"))
    assert reopened.is_prepared(key)
    assert reopened.prepare(IMAGE, key) == 0.0 and calls == []
    again = reopened.predict(PROMPTS["one point"], key)
    # fp16 on disk: the logits move a little, the mask hardly at all.
    np.testing.assert_allclose(again.logits, expected.logits, atol=0.05)
    assert iou(again.mask, expected.mask) > 0.98


def test_out_of_memory_falls_back_to_cpu_and_keeps_the_prompt(tiny, monkeypatch) -> None:
    _, predictor = tiny
    notices: list[str] = []
    engine = SamSegmenter(tiny_sam(seed=SEED), "sam-tiny", "cpu", on_fallback=notices.append)
    engine.prepare(IMAGE, "frame")
    engine.device = "cuda"  # pretend the model lives on a GPU that is now full
    real_decode = engine._decode
    failures = []

    def decode_once_oom(prompt, embedding):
        if not failures:
            failures.append(1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_decode(prompt, embedding)

    monkeypatch.setattr(engine, "_decode", decode_once_oom)
    result = engine.predict(PROMPTS["one point"], "frame")
    assert engine.device == "cpu" and failures == [1]
    assert len(notices) == 1 and "CPU" in notices[0]
    assert_same(result, upstream(predictor, PROMPTS["one point"], multimask=True))


# --- loading -------------------------------------------------------------------------------------
def test_checkpoint_of_another_variant_is_refused(tmp_path) -> None:
    path = save_sam_checkpoint(tiny_sam(), tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(FormatError, match="expected SAM vit_b weights") as info:
        load_sam("sam-vit-b", weights=path, persist=False)
    assert str(path) in str(info.value)


def test_unreadable_checkpoint_is_refused(tmp_path) -> None:
    path = tmp_path / "sam.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(FormatError, match="not a readable SAM checkpoint"):
        build_sam_from_checkpoint("vit_b", path)


def test_missing_weights_name_the_download_command() -> None:
    with pytest.raises(WeightsMissingError, match="annotator models download sam-vit-h"):
        load_sam("sam-vit-h")


@pytest.mark.slow
def test_vit_b_loaded_from_state_dict_matches_upstream(tmp_path) -> None:
    """The real loading path (a .pth state dict -> load_sam) on a full random ViT-B, against
    SamPredictor on the model that was saved."""
    reference = random_sam("vit_b", seed=0)
    path = save_sam_checkpoint(reference, tmp_path / "sam_vit_b_01ec64.pth")
    engine = load_sam("sam-vit-b", weights=path, device="cpu", persist=False)
    assert engine.name == "sam-vit-b" and engine.device == "cpu"
    for (name, ours), theirs in zip(engine.model.state_dict().items(), reference.state_dict().values(),
                                    strict=True):
        assert torch.equal(ours, theirs), name

    image = textured_image(480, 854, seed=1)
    predictor = SamPredictor(reference)
    predictor.set_image(image)
    engine.prepare(image, "frame")
    np.testing.assert_allclose(engine.store.get("frame", "cpu")["features"].numpy(),
                               predictor.features.numpy(), atol=1e-4, rtol=0)
    click = Prompt([[300, 200]], [1])
    first = engine.predict(click, "frame")
    theirs = upstream(predictor, click, multimask=True)
    np.testing.assert_allclose(first.logits, theirs[0], atol=1e-4, rtol=0)
    assert theirs[1].any() and iou(first.mask, theirs[1]) >= 0.999
    refine = Prompt([[300, 200], [500, 300]], [1, 0], prior=first.logits)
    second = engine.predict(refine, "frame")
    theirs = upstream(predictor, refine, multimask=False)
    np.testing.assert_allclose(second.logits, theirs[0], atol=1e-4, rtol=0)
    assert theirs[1].any() and iou(second.mask, theirs[1]) >= 0.999
