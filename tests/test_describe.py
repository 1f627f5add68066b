"""The describers (engines/describe.py) and object crops (engines/crops.py) on tiny random-weight
CLIP and BLIP snapshots built offline (tests/tiny_describe.py): the real loader, the real
tokenizers and image processors, batching, prompt ensembling and generation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from annotator.engines.crops import GREY, mask_box, masked_crop, spread, touches_border
from annotator.engines.describe import (
    TEMPLATES,
    BlipCaptioner,
    ClipClassifier,
    label_text,
    load_captioner,
    load_classifier,
    load_snapshot,
    mean_embedding,
    resolve_model,
)
from annotator.errors import FormatError, WeightsMissingError
from tests.tiny_describe import install, snapshots


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return snapshots(tmp_path_factory.getbasetemp() / "tiny-describe")


@pytest.fixture
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (40 + 7 * i, 64 - 3 * i, 3), dtype=np.uint8) for i in range(5)]


# --- crops ------------------------------------------------------------------------------------------
def test_masked_crop_is_square_padded_and_dims_the_background() -> None:
    image = np.full((100, 200, 3), 200, np.uint8)
    mask = np.zeros((100, 200), bool)
    mask[40:60, 50:110] = True  # 60 x 20 box
    crop = masked_crop(image, mask, pad=0.25, dim=1.0)
    assert crop is not None and crop.shape[0] == crop.shape[1] == 91  # 60 * 1.5 + 1
    c = crop.shape[0] // 2
    assert (crop[c, c] == 200).all()  # the object keeps its pixels
    assert (crop[2, c] == GREY).all()  # above the object: background, fully dimmed
    half = masked_crop(image, mask, pad=0.25, dim=0.5)
    assert half is not None and 150 < int(half[2, c, 0]) < 200


def test_crop_outside_the_frame_is_grey_and_tiny_masks_are_upscaled() -> None:
    image = np.full((50, 50, 3), 255, np.uint8)
    mask = np.zeros((50, 50), bool)
    mask[0:20, 0:20] = True  # in the corner: part of the padded square lies outside
    crop = masked_crop(image, mask, pad=0.5, dim=0.0)
    assert crop is not None and (crop[0, 0] == GREY).all()
    assert (crop[crop.shape[0] // 2, crop.shape[1] // 2] == 255).all()
    dot = np.zeros((50, 50), bool)
    dot[25, 25] = True
    small = masked_crop(image, dot)
    assert small is not None and small.shape == (32, 32, 3)
    assert masked_crop(image, np.zeros((50, 50), bool)) is None
    with pytest.raises(ValueError, match="does not match"):
        masked_crop(image, np.zeros((10, 10), bool))
    assert mask_box(mask) == (0, 0, 20, 20)


def test_spread_and_border() -> None:
    assert spread(list(range(10)), 3) == [0, 4, 9]  # round half to even
    assert spread([1, 2], 8) == [1, 2]
    assert spread([5, 6, 7], 1) == [6]
    assert spread([], 4) == [] and spread([1], 0) == []
    assert len(spread(list(range(100)), 8)) == 8
    assert touches_border([0, 10, 5, 5], 100, 100) and not touches_border([10, 10, 5, 5], 100, 100)


# --- loading ------------------------------------------------------------------------------------------
def test_nothing_installed_names_the_model_and_the_command() -> None:
    with pytest.raises(WeightsMissingError, match="annotator models download clip-vit-b-32") as info:
        resolve_model("classify", "auto")
    assert info.value.model == "clip-vit-b-32"
    with pytest.raises(WeightsMissingError, match="annotator models download blip-base"):
        load_captioner("auto", device="cpu")
    with pytest.raises(WeightsMissingError, match="annotator models download blip-large"):
        load_captioner("blip-large", device="cpu")
    with pytest.raises(ValueError, match="cannot caption"):
        resolve_model("caption", "clip-vit-b-32")


def test_installed_tiny_models_load_through_the_registry(tiny: tuple[Path, Path]) -> None:
    install("clip-vit-b-32", tiny[0])
    install("blip-base", tiny[1])
    assert resolve_model("classify", "auto", "cpu")[0] == "clip-vit-b-32"
    classifier = load_classifier("auto", device="cpu")
    captioner = load_captioner("auto", device="cpu")
    assert isinstance(classifier, ClipClassifier) and classifier.name == "clip-vit-b-32"
    assert isinstance(captioner, BlipCaptioner) and captioner.name == "blip-base"
    assert classifier.device == captioner.device == "cpu"
    # --weights points at a folder without installing it
    by_path = load_classifier("auto", weights=tiny[0], device="cpu")
    assert by_path.name == "clip-vit-b-32"


def test_loader_errors_name_the_folder_and_the_problem(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not CLIP"):
        load_snapshot(tiny[1], "classify")
    broken = tmp_path / "no-tokenizer"
    shutil.copytree(tiny[0], broken)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).unlink()
    with pytest.raises(FormatError, match="tokenizer files are missing") as info:
        load_snapshot(broken, "classify")
    assert str(broken) in str(info.value)
    bad_json = tmp_path / "bad-json"
    shutil.copytree(tiny[0], bad_json)
    (bad_json / "config.json").write_text("{not json")
    with pytest.raises(FormatError, match="config.json"):
        load_snapshot(bad_json, "classify")
    shrunk = tmp_path / "wrong-shapes"
    shutil.copytree(tiny[0], shrunk)
    config = json.loads((shrunk / "config.json").read_text())
    config["projection_dim"] = 8
    (shrunk / "config.json").write_text(json.dumps(config))
    with pytest.raises(FormatError, match="wrong shape|cannot load"):
        load_snapshot(shrunk, "classify")
    with pytest.raises(WeightsMissingError, match="config.json"):
        load_classifier("clip-vit-b-32", weights=tmp_path / "empty", device="cpu")


# --- CLIP ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classifier(tiny: tuple[Path, Path]) -> ClipClassifier:
    model, processor = load_snapshot(tiny[0], "classify")
    return ClipClassifier(model, processor, "clip-vit-b-32", "cpu", batch_size=2)


def test_the_tiny_tokenizer_is_real(classifier: ClipClassifier) -> None:
    tok = classifier.processor.tokenizer
    ids = tok("a photo of a dog")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id and len(ids) < 10
    assert tok.decode(ids, skip_special_tokens=True).strip() == "a photo of a dog"


def test_image_embeddings_are_normalised_and_batching_does_not_change_them(
        classifier: ClipClassifier, images: list[np.ndarray]) -> None:
    done: list[int] = []
    batched = classifier.embed_images(images, on_batch=done.append)
    assert done == [2, 4, 5]
    assert batched.shape == (5, classifier.dim) and batched.dtype == np.float32
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    classifier.batch_size = 5
    try:
        whole = classifier.embed_images(images)
    finally:
        classifier.batch_size = 2
    assert np.allclose(batched, whole, atol=1e-5)
    assert classifier.embed_images([]).shape == (0, classifier.dim)
    with pytest.raises(ValueError, match="uint8"):
        classifier.embed_images([np.zeros((8, 8, 3), np.float32)])


def test_label_embedding_is_the_mean_over_prompt_templates(classifier: ClipClassifier) -> None:
    import torch

    vec = classifier.embed_labels(["tennis_racket"])[0]
    prompts = [t.format("tennis racket") for t in TEMPLATES]
    tokens = classifier.processor.tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = classifier.model.get_text_features(input_ids=tokens["input_ids"],
                                                 attention_mask=tokens["attention_mask"]).pooler_output
    rows = torch.nn.functional.normalize(out, dim=-1).numpy()
    expected = rows.mean(axis=0)
    expected /= np.linalg.norm(expected)
    assert np.allclose(vec, expected, atol=1e-5)
    assert label_text("tennis_racket") == "tennis racket" and label_text(" red-car ") == "red car"


def test_scores_are_a_softmax_ranked_best_first(classifier: ClipClassifier, images: list[np.ndarray]) -> None:
    labels = ["dog", "cat", "red car", "person", "tree", "sky"]
    embedding = mean_embedding(classifier.embed_images(images))
    probs = classifier.probabilities(embedding, labels)
    assert probs.shape == (6,) and abs(probs.sum() - 1) < 1e-9 and (probs > 0).all()
    # softmax of the model's own logit_scale * cosine
    text = classifier.embed_labels(labels).astype(np.float64)
    logits = classifier.logit_scale * text @ embedding.astype(np.float64)
    assert np.allclose(probs, np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    ranked = classifier.classify(images, labels, top_k=5)
    assert len(ranked) == 5 and [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert ranked[0].label == labels[int(np.argmax(probs))]
    assert ranked[0].to_json()["label"] == ranked[0].label
    with pytest.raises(ValueError, match="no labels"):
        classifier.rank(embedding, [])


# --- BLIP ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def captioner(tiny: tuple[Path, Path]) -> BlipCaptioner:
    model, processor = load_snapshot(tiny[1], "caption")
    return BlipCaptioner(model, processor, "blip-base", "cpu", batch_size=2, max_new_tokens=6)


def test_captions_batched_and_unbatched_agree(captioner: BlipCaptioner, images: list[np.ndarray]) -> None:
    done: list[int] = []
    texts = captioner.caption(images, on_batch=done.append)
    assert done == [2, 4, 5] and len(texts) == 5
    assert all(isinstance(t, str) and t == t.strip() and t for t in texts)
    assert captioner.num_beams == 1  # greedy on a CPU
    one_by_one = [captioner.caption([im])[0] for im in images[:2]]
    assert one_by_one == texts[:2]


def test_a_prompt_starts_the_caption(captioner: BlipCaptioner, images: list[np.ndarray]) -> None:
    captioner.prompt = "a photo of"
    try:
        texts = captioner.caption(images[:3])
    finally:
        captioner.prompt = None
    assert all(t.startswith("a photo of") for t in texts)
