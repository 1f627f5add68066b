"""The model registry: every model the app can use, where its weights come from, where they
live on this machine, and which one ``--model auto`` picks.

Install layout: ``paths.models_dir() / <name> /`` holds the single checkpoint file or the
Hugging Face snapshot, plus a ``manifest.json`` written at the first verified download.
``ANNOTATOR_MODELS_DIR`` moves the whole folder; ``--weights PATH`` (a file or a folder)
overrides one call. Files placed there by hand are found too: a checkpoint directly in the
models folder (``<models>/sam_vit_b_01ec64.pth``) or a snapshot folder named after the model or
after its Hub repo (``<models>/sam2.1-hiera-tiny/``).

Nothing ever downloads unless the user asks: :func:`choose` only looks at what is installed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator import paths
from annotator.engines import download as _dl
from annotator.errors import DownloadError, WeightsMissingError

TASKS = ("segment", "track", "classify", "caption", "detect", "search")
MANIFEST = "manifest.json"
CLASSICAL = "classical"
CLASSICAL_FAST = "classical-fast"  # the optical-flow tracker without appearance refinement

# huggingface_hub would also fetch the original PyTorch checkpoints (sam2.1_hiera_*.pt) and
# TF/Flax copies that some of these repos hold; only the transformers files are needed.
_TRANSFORMERS_FILES = ("*.json", "*.safetensors")
_WITH_TOKENIZER = ("*.json", "*.txt", "*.safetensors")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    tasks: tuple[str, ...]
    family: str  # "sam", "sam2", "edgetam", "sam3", "clip", "siglip", "blip"
    description: str
    license: str
    size_bytes: int  # exact for single files, approximate (download size) for Hub snapshots
    url: str | None = None
    filename: str | None = None
    sha256: str = ""  # only a hash that was confirmed; else empty, and the manifest records it
    hf_repo: str | None = None
    revision: str | None = None
    allow_patterns: tuple[str, ...] = ()
    # A gated Hub repo: the user must accept its licence on the Hub and log in before downloading.
    gated: bool = False
    # Never picked by --model auto on a CPU (too slow there to be a sensible default).
    gpu_only_auto: bool = False

    @property
    def single_file(self) -> bool:
        return self.url is not None

    @property
    def source(self) -> str:
        return self.url if self.url else f"https://huggingface.co/{self.hf_repo} ({self.revision or 'main'})"


_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"  # as linked in the segment-anything README
_SAM_LICENSE = "Apache-2.0"
_SAM2_LICENSE = "Apache-2.0"

_SPECS = [
    # --- SAM (segment-anything package), official checkpoints; sizes and hashes confirmed -----
    ModelSpec("sam-vit-b", ("segment",), "sam", "Segment Anything ViT-B: the smallest SAM (91M params)",
              _SAM_LICENSE, 375_042_383, url=_SAM_URL + "sam_vit_b_01ec64.pth",
              filename="sam_vit_b_01ec64.pth",
              sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"),
    ModelSpec("sam-vit-l", ("segment",), "sam", "Segment Anything ViT-L (308M params)",
              _SAM_LICENSE, 1_249_524_607, url=_SAM_URL + "sam_vit_l_0b3195.pth",
              filename="sam_vit_l_0b3195.pth",
              sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
    ModelSpec("sam-vit-h", ("segment",), "sam", "Segment Anything ViT-H: the largest SAM (636M params)",
              _SAM_LICENSE, 2_564_550_879, url=_SAM_URL + "sam_vit_h_4b8939.pth",
              filename="sam_vit_h_4b8939.pth",
              sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"),
    # --- SAM 2.1 through transformers: click-to-segment and tracking --------------------------
    # Revisions: "main" because no commit could be confirmed; the manifest records the commit
    # actually downloaded. transformers' own integration tests load these repos.
    ModelSpec("sam2.1-tiny", ("segment", "track"), "sam2",
              "SAM 2.1 Hiera-T: fast clicks on a CPU (about 2 s per frame) and video tracking",
              _SAM2_LICENSE, 156_000_000, hf_repo="facebook/sam2.1-hiera-tiny", revision="main",
              allow_patterns=_TRANSFORMERS_FILES),
    ModelSpec("sam2.1-small", ("segment", "track"), "sam2", "SAM 2.1 Hiera-S: clicks and video tracking",
              _SAM2_LICENSE, 184_000_000, hf_repo="facebook/sam2.1-hiera-small", revision="main",
              allow_patterns=_TRANSFORMERS_FILES),
    ModelSpec("sam2.1-base-plus", ("segment", "track"), "sam2", "SAM 2.1 Hiera-B+: clicks and video tracking",
              _SAM2_LICENSE, 324_000_000, hf_repo="facebook/sam2.1-hiera-base-plus", revision="main",
              allow_patterns=_TRANSFORMERS_FILES),
    ModelSpec("sam2.1-large", ("segment", "track"), "sam2",
              "SAM 2.1 Hiera-L: the most accurate clicks and tracking (best on a GPU)",
              _SAM2_LICENSE, 898_000_000, hf_repo="facebook/sam2.1-hiera-large", revision="main",
              allow_patterns=_TRANSFORMERS_FILES),
    # EdgeTAM in transformers format: transformers' EdgeTAM configs and integration tests load
    # "yonigozlan/EdgeTAM-hf" (uploaded by the Hugging Face engineer who ported the model).
    # facebook/EdgeTAM held the original checkpoint on main and the transformers files only on
    # the pull-request ref refs/pr/1 when we looked; switch to it once that is merged.
    ModelSpec("edgetam", ("segment", "track"), "edgetam",
              "EdgeTAM: SAM 2 distilled for on-device use; the fastest clicks and tracking on a CPU",
              "Apache-2.0", 56_000_000, hf_repo="yonigozlan/EdgeTAM-hf", revision="main",
              allow_patterns=_TRANSFORMERS_FILES),
    # SAM 3 (transformers 5.x Sam3Model / Sam3VideoModel / Sam3Tracker*): text and box concept
    # prompts, clicks and tracking, all from one gated snapshot. About 840 M parameters and a
    # ViT-L-class encoder at 1008 px: a GPU model (``auto`` never picks it on a CPU).
    ModelSpec("sam3", ("segment", "track", "detect"), "sam3",
              "SAM 3: finds and tracks every instance of a phrase; also clicks and tracking (GPU advised)",
              "SAM License (Meta; not Apache)", 3_450_000_000, hf_repo="facebook/sam3", revision="main",
              allow_patterns=_WITH_TOKENIZER, gated=True, gpu_only_auto=True),
    # --- zero-shot classification and captioning ---------------------------------------------
    ModelSpec("clip-vit-b-32", ("classify", "search"), "clip",
              "OpenAI CLIP ViT-B/32: zero-shot labels (default)",
              "MIT", 605_000_000, hf_repo="openai/clip-vit-base-patch32", revision="main",
              allow_patterns=_WITH_TOKENIZER),
    ModelSpec("clip-vit-b-16", ("classify", "search"), "clip",
              "OpenAI CLIP ViT-B/16: better labels, 3x the compute",
              "MIT", 599_000_000, hf_repo="openai/clip-vit-base-patch16", revision="main",
              allow_patterns=_WITH_TOKENIZER),
    ModelSpec("clip-vit-l-14", ("classify", "search"), "clip",
              "OpenAI CLIP ViT-L/14: the best labels (GPU advised)",
              "MIT", 1_710_000_000, hf_repo="openai/clip-vit-large-patch14", revision="main",
              allow_patterns=_WITH_TOKENIZER),
    # SigLIP 2 base: loaded with the model class its config names (AutoModel -> SiglipModel /
    # Siglip2Model); its tokenizer is a Gemma SentencePiece model, hence the extra patterns.
    ModelSpec("siglip2-base", ("search",), "siglip",
              "Google SigLIP 2 base/16 at 224 px: better text-image search than CLIP B/32",
              "Apache-2.0", 1_500_000_000, hf_repo="google/siglip2-base-patch16-224", revision="main",
              allow_patterns=(*_WITH_TOKENIZER, "*.model")),
    ModelSpec("blip-base", ("caption",), "blip", "Salesforce BLIP base: image captions (default)",
              "BSD-3-Clause", 990_000_000, hf_repo="Salesforce/blip-image-captioning-base", revision="main",
              allow_patterns=_WITH_TOKENIZER),
    ModelSpec("blip-large", ("caption",), "blip", "Salesforce BLIP large: better captions (GPU advised)",
              "BSD-3-Clause", 1_880_000_000, hf_repo="Salesforce/blip-image-captioning-large",
              revision="main",
              allow_patterns=_WITH_TOKENIZER),
]

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}

# What ``--model auto`` tries, best first, per task and device. On a CPU EdgeTAM (a RepViT
# encoder, run in ONNX Runtime) is the fastest for clicks and tracking, then the SAM 2.1 image
# encoders (~2 s a frame), which beat SAM ViT-B (~11 s).
_PREFERENCE: dict[str, dict[str, tuple[str, ...]]] = {
    "segment": {
        "cuda": ("sam2.1-large", "sam2.1-base-plus", "sam-vit-h", "sam-vit-l", "sam2.1-small",
                 "sam2.1-tiny", "sam-vit-b", "edgetam"),
        "mps": ("sam2.1-base-plus", "sam2.1-small", "sam2.1-tiny", "sam2.1-large", "sam-vit-b",
                "sam-vit-l", "sam-vit-h", "edgetam"),
        "cpu": ("edgetam", "sam2.1-tiny", "sam2.1-small", "sam-vit-b", "sam2.1-base-plus", "sam-vit-l",
                "sam2.1-large", "sam-vit-h"),
    },
    "track": {
        "cuda": ("sam2.1-large", "sam2.1-base-plus", "sam2.1-small", "sam2.1-tiny", "edgetam"),
        "mps": ("sam2.1-small", "sam2.1-tiny", "edgetam", "sam2.1-base-plus", "sam2.1-large"),
        "cpu": ("edgetam", "sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large"),
    },
    "classify": {
        "cuda": ("clip-vit-l-14", "clip-vit-b-16", "clip-vit-b-32"),
        "mps": ("clip-vit-b-16", "clip-vit-b-32", "clip-vit-l-14"),
        "cpu": ("clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14"),
    },
    "caption": {
        "cuda": ("blip-large", "blip-base"),
        "mps": ("blip-base", "blip-large"),
        "cpu": ("blip-base", "blip-large"),
    },
    "detect": {"cuda": ("sam3",), "mps": ("sam3",), "cpu": ()},
    "search": {
        "cuda": ("siglip2-base", "clip-vit-l-14", "clip-vit-b-16", "clip-vit-b-32"),
        "mps": ("siglip2-base", "clip-vit-b-16", "clip-vit-b-32", "clip-vit-l-14"),
        "cpu": ("clip-vit-b-32", "siglip2-base", "clip-vit-b-16", "clip-vit-l-14"),
    },
}
# What to suggest downloading when nothing for a task is installed: one EdgeTAM or SAM 2.1
# download serves both clicks and tracking.
_SUGGEST = {
    # EdgeTAM on a CPU: its RepViT encoder and ONNX Runtime make clicks and tracking several
    # times faster than SAM 2.1-T there (bench/cpu_models.py).
    "segment": {"cpu": "edgetam", "gpu": "sam2.1-base-plus"},
    "track": {"cpu": "edgetam", "gpu": "sam2.1-base-plus"},
    "classify": {"cpu": "clip-vit-b-32", "gpu": "clip-vit-b-32"},
    "caption": {"cpu": "blip-base", "gpu": "blip-base"},
    "detect": {"cpu": "sam3", "gpu": "sam3"},
    "search": {"cpu": "clip-vit-b-32", "gpu": "siglip2-base"},
}
_TASK_WORDS = {"segment": "segmentation (SAM)", "track": "tracking (SAM 2.1 / EdgeTAM)",
               "classify": "classification (CLIP)", "caption": "captioning (BLIP)",
               "detect": "text detection (SAM 3)", "search": "search (CLIP / SigLIP 2)"}

_registry_lock = threading.Lock()


# --- registry --------------------------------------------------------------------------------
def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ValueError(f"unknown model '{name}'; known models: {known}") from None


@contextlib.contextmanager
def registered(*specs: ModelSpec) -> Iterator[None]:
    """Add specs to the registry for the length of a ``with`` block (tests, plugins)."""
    with _registry_lock:
        saved = {s.name: REGISTRY.get(s.name) for s in specs}
        REGISTRY.update({s.name: s for s in specs})
    try:
        yield
    finally:
        with _registry_lock:
            for name, old in saved.items():
                if old is None:
                    REGISTRY.pop(name, None)
                else:
                    REGISTRY[name] = old


def model_dir(name: str) -> Path:
    """Where ``download`` puts a model: ``<models dir>/<name>/``."""
    get_spec(name)
    return paths.models_dir() / name


def target_path(name: str) -> Path:
    """The installed checkpoint file (single-file models) or snapshot folder, once downloaded."""
    spec = get_spec(name)
    folder = paths.models_dir() / name
    return folder / spec.filename if spec.single_file and spec.filename else folder


# --- what is installed -------------------------------------------------------------------------
def installed_path(name: str, weights: str | Path | None = None) -> Path | None:
    """The checkpoint file (single-file models) or snapshot folder, or None when absent.

    With ``weights`` only that location is looked at: a file, or a folder holding the file
    (or, for Hub models, holding config.json).
    """
    spec = get_spec(name)
    if weights is not None:
        return _match_override(spec, Path(weights).expanduser())
    root = paths.models_dir()
    if spec.single_file:
        assert spec.filename
        for candidate in (root / spec.name / spec.filename, root / spec.filename):
            if candidate.is_file():
                return candidate
        return None
    assert spec.hf_repo
    for candidate in (root / spec.name, root / spec.hf_repo.split("/")[-1]):
        if _is_snapshot(candidate):
            return candidate
    return None


def is_installed(name: str) -> bool:
    return installed_path(name) is not None


def require(name: str, weights: str | Path | None = None) -> Path:
    """The installed path, or WeightsMissingError that says how to get it."""
    spec = get_spec(name)
    found = installed_path(name, weights)
    if found is not None:
        return found
    if weights is not None:
        what = f"the file {spec.filename}" if spec.single_file else "a model folder with config.json"
        raise WeightsMissingError(name, f"--weights for {name}: expected {what} here", weights)
    raise WeightsMissingError(name, missing_message(name))


def missing_message(name: str) -> str:
    """How to install a model: the command, or the exact place and source for a manual copy."""
    spec = get_spec(name)
    where = target_path(name)
    if spec.single_file:
        manual = f"or download {spec.url} and save it as {where}"
    else:
        patterns = ", ".join(spec.allow_patterns) or "all files"
        manual = (f"or copy the files ({patterns}) of https://huggingface.co/{spec.hf_repo} "
                  f"into the folder {where}")
    message = f"model '{name}' is not installed; run: annotator models download {name} ({manual})"
    return f"{message}. {licence_step(spec)}" if spec.gated else message


def licence_step(spec: ModelSpec) -> str:
    """What a gated model needs before it downloads: accept the licence, then log in."""
    return (f"{spec.name} is gated under the {spec.license}: accept the licence at "
            f"https://huggingface.co/{spec.hf_repo}, then log in with `hf auth login` (or set HF_TOKEN) "
            f"and run: annotator models download {spec.name}")


def _gated_refusal(exc: BaseException) -> bool:
    """Whether a failed download was the Hub refusing a gated repo (no token, or licence not accepted)."""
    try:
        from huggingface_hub.errors import GatedRepoError
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, GatedRepoError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _match_override(spec: ModelSpec, path: Path) -> Path | None:
    if spec.single_file:
        if path.is_file():
            return path
        if path.is_dir():
            assert spec.filename
            for candidate in (path / spec.filename, path / spec.name / spec.filename):
                if candidate.is_file():
                    return candidate
        return None
    if path.is_file():  # e.g. .../model.safetensors: the snapshot is its folder
        path = path.parent
    return path if _is_snapshot(path) else None


def _is_snapshot(folder: Path) -> bool:
    if not (folder / "config.json").is_file():
        return False
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


# --- download, verify, delete ----------------------------------------------------------------
def download(
    name: str,
    progress: Callable[[int, int | None], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    force: bool = False,
    timeout: float = _dl.DEFAULT_TIMEOUT,
) -> Path:
    """Fetch a model into ``<models dir>/<name>/`` and return its installed path.

    Already installed: returns at once unless ``force``. Raises DownloadError (network, disk,
    checksum; the message says how to place the files by hand) or CancelledError (the partial
    download is kept and the next call resumes it).
    """
    spec = get_spec(name)
    if not force:
        found = installed_path(name)
        if found is not None:
            return found
    folder = paths.models_dir() / name
    try:
        return _download(spec, folder, progress, cancel, timeout)
    except DownloadError as exc:
        if spec.gated and _gated_refusal(exc):
            raise DownloadError(f"the Hugging Face Hub refused {spec.hf_repo}. {licence_step(spec)}",
                                    folder) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when a failed first attempt left it empty


def _download(
    spec: ModelSpec,
    folder: Path,
    progress: Callable[[int, int | None], None] | None,
    cancel: threading.Event | None,
    timeout: float,
) -> Path:
    name = spec.name
    if spec.single_file:
        assert spec.url and spec.filename
        target = folder / spec.filename
        digest = _dl.fetch_url(
            spec.url, target, sha256=spec.sha256, size=spec.size_bytes if spec.sha256 else None,
            progress=progress, cancel=cancel, timeout=timeout,
        )
        _write_manifest(folder, {
            "name": name, "url": spec.url, "files": {spec.filename: {"size": target.stat().st_size,
                                                                     "sha256": digest}},
            "checked_against": "registry sha256" if spec.sha256 else "nothing (no known hash)",
        })
        return target
    assert spec.hf_repo
    _dl.fetch_hf_snapshot(
        spec.hf_repo, spec.revision or "main", spec.allow_patterns, folder,
        progress=progress, cancel=cancel, timeout=timeout,
        manifest_name=MANIFEST, manifest_extra={"name": name, "checked_against": "Hugging Face Hub hashes",
                                                "downloaded_at": _now()},
    )
    return folder


def verify(name: str) -> tuple[bool, str]:
    """Hash the installed files and compare them with the registry or the download manifest."""
    spec = get_spec(name)
    path = installed_path(name)
    if path is None:
        return False, "not installed"
    manifest = read_manifest(name)
    if spec.single_file:
        digest = _dl.sha256_file(path)
        recorded = (manifest.get("files", {}).get(path.name, {}) if manifest else {}).get("sha256", "")
        expected = spec.sha256 or recorded
        if not expected:
            return True, f"no reference hash to compare with (sha256 {digest})"
        if digest != expected:
            return False, f"sha256 mismatch in {path}: expected {expected}, got {digest}"
        return True, f"sha256 {digest} matches"
    if manifest is None or path != paths.models_dir() / name:
        return True, f"no download manifest in {path} (placed by hand?): files not checked"
    for rel, entry in manifest.get("files", {}).items():
        file = path / rel
        if not file.is_file():
            return False, f"{file} is missing"
        digest = _dl.sha256_file(file)
        if digest != entry.get("sha256"):
            return False, f"sha256 mismatch in {file}: expected {entry.get('sha256')}, got {digest}"
    commit = manifest.get("commit", "?")
    return True, f"{len(manifest.get('files', {}))} files match the manifest (commit {commit})"


def delete(name: str) -> None:
    """Remove a model's folder, any partial download, and a checkpoint placed by hand."""
    spec = get_spec(name)
    root = paths.models_dir()
    for folder in (root / name, root / f"{name}.partial"):
        if folder.is_dir():
            shutil.rmtree(folder)
    for stray in (root / f"{name}.partial.lock",):
        stray.unlink(missing_ok=True)
    if spec.single_file and spec.filename:
        (root / spec.filename).unlink(missing_ok=True)
    elif spec.hf_repo:
        by_repo = root / spec.hf_repo.split("/")[-1]
        if _is_snapshot(by_repo):
            shutil.rmtree(by_repo)


def read_manifest(name: str) -> dict[str, Any] | None:
    file = paths.models_dir() / name / MANIFEST
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_manifest(folder: Path, data: dict[str, Any]) -> None:
    from annotator.core.atomic import atomic_write

    data = {**data, "downloaded_at": data.get("downloaded_at", _now())}
    with atomic_write(folder / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --- choice -------------------------------------------------------------------------------------
def choose(
    task: str, requested: str | None = "auto", device: str = "cpu", weights: str | Path | None = None
) -> tuple[str, str]:
    """(model name or "classical", why) for ``--model requested`` on ``device``.

    "auto" picks the best installed model for the task on that device, else the classical
    engine (segment, track). Classify and caption have no classical engine: with nothing
    installed they raise WeightsMissingError naming the default model. Naming a model that is
    not installed raises WeightsMissingError; nothing is downloaded. ``weights`` (--weights)
    stands in for the installed files of a named model.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task '{task}'; tasks: {', '.join(TASKS)}")
    requested = requested or "auto"
    kind = device.split(":")[0]
    if weights is not None and requested in ("auto", CLASSICAL, CLASSICAL_FAST):
        raise ValueError("--weights needs --model NAME: which model are these weights for?")
    if requested == CLASSICAL_FAST and task != "track":
        raise ValueError(f"'{CLASSICAL_FAST}' is a tracker; there is no such engine for {task}")
    if requested in (CLASSICAL, CLASSICAL_FAST):
        if task not in ("segment", "track"):
            raise ValueError(f"there is no classical engine for {task}")
        return requested, "chosen by you (no weights needed)"
    if requested != "auto":
        spec = get_spec(requested)
        if task not in spec.tasks:
            usable = [s.name for s in REGISTRY.values() if task in s.tasks]
            raise ValueError(f"model '{requested}' cannot {task}; models that can: {', '.join(usable)}")
        require(requested, weights)
        return requested, "asked for by name" + (f" with --weights {weights}" if weights is not None else "")
    order = _PREFERENCE[task].get(kind, _PREFERENCE[task]["cpu"])
    extra = [s.name for s in REGISTRY.values() if task in s.tasks and s.name not in order
             and not (s.gpu_only_auto and kind == "cpu")]
    for name in (*order, *extra):
        if name in REGISTRY and is_installed(name):
            rank = "best installed" if name == order[0] else "best of the installed models"
            return name, f"{rank} for {task} on {kind}"
    suggestion = _SUGGEST[task]["cpu" if kind == "cpu" else "gpu"]
    why = f"no {_TASK_WORDS[task]} weights installed; annotator models download {suggestion}"
    if task in ("segment", "track"):
        return CLASSICAL, why
    if task == "detect" and kind == "cpu" and is_installed(suggestion):
        why = (f"{suggestion} is too slow on a CPU to be picked automatically (about a minute a frame); "
               f"name it with --model {suggestion} to run it anyway")
    raise WeightsMissingError(suggestion, why)


# --- listing -----------------------------------------------------------------------------------
def list_models() -> list[dict[str, Any]]:
    """The ``models list --json`` objects: name, task, size, sha256 or revision, installed, license."""
    rows = []
    for spec in REGISTRY.values():
        path = installed_path(spec.name)
        manifest = read_manifest(spec.name) if path is not None else None
        rows.append({
            "name": spec.name,
            "task": ",".join(spec.tasks),
            "tasks": list(spec.tasks),
            "family": spec.family,
            "size": spec.size_bytes,
            "sha256": spec.sha256,
            "revision": spec.revision,
            "commit": (manifest or {}).get("commit"),
            "installed": path is not None,
            "path": str(path) if path is not None else None,
            "license": spec.license,
            "gated": spec.gated,
            "source": spec.source,
            "description": spec.description,
        })
    return rows
