"""Tiny random-weight SigLIP snapshot folders laid out like the real SigLIP 2 checkpoints, built
offline for the search tests.

- ``build_siglip2_fixed``: what ``google/siglip2-base-patch16-224`` (the registry's
  ``siglip2-base``) is: its config names ``SiglipModel`` (model_type "siglip"), with a
  ``SiglipImageProcessor`` at a fixed size and the Gemma tokenizer (``GemmaTokenizer``);
- ``build_siglip2_naflex``: the NaFlex variant, ``Siglip2Model`` with ``Siglip2ImageProcessor``
  (variable patches: its inputs add ``pixel_attention_mask`` and ``spatial_shapes``) and
  ``Siglip2Tokenizer`` (Gemma plus lower-casing).

The Gemma tokenizer is a SentencePiece-style byte-fallback BPE; its real 256k vocabulary cannot be
had offline, so the vocabulary and merges are trained here with the ``tokenizers`` library on a
few prompts, with the same normaliser (spaces to "▁", lower-case) and the 256 byte-fallback tokens,
and handed to the transformers tokenizer classes, which build the same pipeline the real files do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.tiny_describe import WORDS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")  # Gemma's ids 0..4
BYTES = tuple(f"<0x{b:02X}>" for b in range(256))  # byte fallback: any character tokenises
IMAGE_SIZE = 32
PATCH = 8


def gemma_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-fallback BPE trained on a few prompts (about 700 tokens)."""
    from tokenizers import Tokenizer, models, normalizers, trainers

    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    bpe.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(" ", "▁")])
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=[*SPECIALS, *BYTES], show_progress=False,
                                  initial_alphabet=["▁", *letters, ".", ","])
    corpus = [" ".join(WORDS)] * 3 + [f"a photo of a {w}." for w in WORDS]
    bpe.train_from_iterator(corpus, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


def _configs(vocab_size: int) -> tuple[dict, dict]:
    text = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=37, max_position_embeddings=64,  # SigLIP pads text to 64 tokens
                pad_token_id=0, bos_token_id=2, eos_token_id=1)
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                  patch_size=PATCH)
    return text, vision


def build_siglip2_fixed(folder: str | Path, seed: int = 0) -> Path:
    """A tiny snapshot shaped like google/siglip2-base-patch16-224 (SiglipModel + Gemma tokenizer)."""
    import torch
    from transformers import GemmaTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    folder = Path(folder)
    vocab, merges = gemma_vocab()
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges)
    text, vision = _configs(len(tokenizer))
    torch.manual_seed(seed)
    SiglipModel(SiglipConfig(text_config=text, vision_config={**vision, "image_size": IMAGE_SIZE})
                ).save_pretrained(folder)
    image = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    SiglipProcessor(image_processor=image, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_siglip2_naflex(folder: str | Path, seed: int = 0, max_patches: int = 16) -> Path:
    """A tiny Siglip2Model (NaFlex) snapshot with Siglip2Tokenizer and Siglip2ImageProcessor."""
    import torch
    from transformers import (
        Siglip2Config,
        Siglip2ImageProcessor,
        Siglip2Model,
        Siglip2Processor,
        Siglip2Tokenizer,
    )

    folder = Path(folder)
    vocab, merges = gemma_vocab()
    tokenizer = Siglip2Tokenizer(vocab=vocab, merges=merges)
    text, vision = _configs(len(tokenizer))
    torch.manual_seed(seed)
    Siglip2Model(Siglip2Config(text_config=text, vision_config={**vision, "num_patches": max_patches})
                 ).save_pretrained(folder)
    image = Siglip2ImageProcessor(patch_size=PATCH, max_num_patches=max_patches)
    Siglip2Processor(image_processor=image, tokenizer=tokenizer).save_pretrained(folder)
    return folder
