"""Tiny random-weight CLIP and BLIP snapshot folders, built offline, for the describer tests.

Each folder looks like a Hugging Face snapshot (config.json, model.safetensors, the tokenizer
files, preprocessor_config.json), written with ``save_pretrained``, so the app's real loader
(engines/describe.py) reads it exactly as it reads a downloaded model. Nothing is downloaded:

- the CLIP tokenizer is a real byte-level BPE (``CLIPTokenizer`` with its normaliser and
  pre-tokeniser) whose vocabulary and merges are trained here with the ``tokenizers`` library
  on a small corpus of prompts and labels;
- the BLIP tokenizer is a real WordPiece ``BertTokenizer`` over a small word list plus single
  letters and ``##`` letters, so any lower-case word tokenises. As in the real BLIP, the decoder
  BOS ([DEC]) sits just past the tokenizer's vocabulary;
- image processors are the models' own (``CLIPImageProcessor``, ``BlipImageProcessor``) at 32 px.

Model shapes follow the transformers test-suite idiom (hidden 32, 2 layers, 2 heads).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_WORDS_TEXT = (
    "a an the of on in with and photo picture close up cropped blurry small large object thing shape "
    "ellipse rectangle star square circle red blue yellow green dog cat car person bird horse tree road "
    "street field sky water grass scene video background man woman ball people standing sitting"
)
WORDS = tuple(_WORDS_TEXT.split())
CLIP_SPECIALS = ("<|startoftext|>", "<|endoftext|>")
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
IMAGE_SIZE = 32


def clip_tokenizer() -> object:
    """A real CLIP BPE tokenizer trained on a few prompts (vocabulary of about 350 tokens)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    bpe = Tokenizer(models.BPE(unk_token=CLIP_SPECIALS[1], end_of_word_suffix="</w>",
                               continuing_subword_prefix=""))
    # The same normaliser and pre-tokeniser CLIPTokenizer builds, so the merges fit it.
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
                                   r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=list(CLIP_SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  end_of_word_suffix="</w>")
    corpus = [" ".join(WORDS)] * 3 + [f"a photo of a {w}." for w in WORDS]
    bpe.train_from_iterator(corpus, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return CLIPTokenizer(vocab=model["vocab"], merges=merges)


def bert_tokenizer() -> object:
    """A real WordPiece tokenizer: the word list, letters and ``##`` letters."""
    from transformers import BertTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = [*BERT_SPECIALS, *WORDS, *letters, *(f"##{c}" for c in letters), ".", ","]
    return BertTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(tokens))})


def _text(vocab_size: int, **extra: int) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=37, max_position_embeddings=40, **extra)


def _vision(image_size: int) -> dict:
    return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                image_size=image_size, patch_size=8)


def build_clip(folder: str | Path, image_size: int = IMAGE_SIZE, seed: int = 0) -> Path:
    """A tiny CLIPModel snapshot with a real tokenizer and image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = Path(folder)
    tokenizer = clip_tokenizer()
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=_text(len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=_vision(image_size), projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size},
                       crop_size={"height": image_size, "width": image_size}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_blip(folder: str | Path, image_size: int = IMAGE_SIZE, seed: int = 0) -> Path:
    """A tiny BlipForConditionalGeneration snapshot with a real tokenizer and image processor."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    folder = Path(folder)
    tokenizer = bert_tokenizer()
    n = len(tokenizer)
    torch.manual_seed(seed)
    config = BlipConfig(
        text_config=_text(n + 2, bos_token_id=n, eos_token_id=tokenizer.sep_token_id,
                          sep_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=_vision(image_size), projection_dim=16)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    BlipImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def install(name: str, snapshot: Path) -> Path:
    """Copy a built snapshot where the registry finds model ``name`` (ANNOTATOR_MODELS_DIR/name)."""
    from annotator import paths

    target = paths.models_dir() / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(snapshot, target)
    return target


_built: dict[str, Path] = {}


def snapshots(base: str | Path) -> tuple[Path, Path]:
    """(clip folder, blip folder) under ``base``, built once per test process."""
    base = Path(base)
    if "clip" not in _built or not _built["clip"].exists():
        _built["clip"] = build_clip(base / "tiny-clip")
    if "blip" not in _built or not _built["blip"].exists():
        _built["blip"] = build_blip(base / "tiny-blip")
    return _built["clip"], _built["blip"]


def install_both(base: str | Path) -> tuple[Path, Path]:
    """Build (once) and install the tiny models as clip-vit-b-32 and blip-base."""
    clip, blip = snapshots(base)
    return install("clip-vit-b-32", clip), install("blip-base", blip)


def sample_project(folder: str | Path, categories: tuple[str, ...] = ("ellipse", "rectangle")) -> Path:
    """A project over a copy of resources/sample.mp4 with its three objects masked (ground truth)
    on every other frame; returns the .annot path (closed, so a command can open it)."""
    from annotator.app.project_files import default_project_path, video_ref
    from annotator.core.project import Project
    from annotator.core.video import open_video
    from tests.session_helpers import SAMPLE_GT, copy_sample

    gt = json.loads(SAMPLE_GT.read_text())
    Path(folder).mkdir(parents=True, exist_ok=True)
    video = copy_sample(Path(folder))
    path = default_project_path(video)
    with open_video(video) as source, Project.create(path, video_ref(source)) as project:
        for name in categories:
            project.ensure_category(name)
        for oid in (1, 2, 3):
            project.add_object(name=gt["objects"][str(oid)]["kind"], object_id=oid)
        project.set_masks(((oid, frame, gt["objects"][str(oid)]["masks"][frame], "imported", 0.9, False)
                           for oid in (1, 2, 3) for frame in range(0, 100, 2)), record_history=False)
    return path
