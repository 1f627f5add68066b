"""Reading a Hugging Face snapshot folder with transformers, for every engine that loads one
(SAM 2.1 image and video, EdgeTAM, CLIP, BLIP).

Each step raises FormatError naming the folder or file and the problem, so a wrong ``--weights``
or a damaged install reads as one line instead of a transformers traceback; transformers itself
is kept quiet while it loads (the CLI owns stderr).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from annotator.errors import FormatError


def check_config(folder: Path, accepted: Sequence[str], label: str, install: str) -> str:
    """The ``model_type`` of ``folder/config.json`` when it is one of ``accepted``.

    FormatError otherwise: ``folder`` is not a folder ("not a folder (<install>)"), its
    config.json is missing or not readable JSON, or it describes another model ("not <label>").
    """
    config_file = folder / "config.json"
    if not folder.is_dir():
        raise FormatError(f"not a folder ({install})", folder)
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except FileNotFoundError as exc:
        raise FormatError("config.json is missing (not a Hugging Face snapshot)", folder) from exc
    except (OSError, ValueError, AttributeError) as exc:  # AttributeError: JSON that is not an object
        raise FormatError(f"config.json is not readable JSON ({exc})", config_file) from exc
    if model_type not in accepted:
        raise FormatError(f"config.json describes a {model_type!r} model, not {label}", config_file)
    return model_type


def load_complete_weights(model_cls: Any, folder: Path, label: str) -> Any:
    """``model_cls.from_pretrained(folder)``, refusing a snapshot whose weights do not all fit.

    transformers fills missing weights with random ones and only warns: a tensor missing or of
    the wrong shape is a FormatError here ("incomplete <label> weights"), as is a file it cannot
    read ("cannot load <label> weights").
    """
    try:
        model, info = model_cls.from_pretrained(folder, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise FormatError(f"cannot load {label} weights ({str(exc).splitlines()[0]})", folder) from exc
    bad = sorted(str(k) for k in info.get("missing_keys") or ())
    bad += sorted(str(k) for k in info.get("mismatched_keys") or ())
    if bad:
        raise FormatError(f"incomplete {label} weights: {len(bad)} tensors missing or of the wrong "
                          f"shape ({', '.join(bad[:3])})", folder)
    return model


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No "loading weights" bars or model-type warnings on stderr while loading (the CLI owns stderr)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
