"""The model registry: names and sources, install locations, --weights overrides, the
missing-weights message, `auto` choice, verify and delete. No network: installs are files
written by the test (contents do not matter to the registry, only to verify)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.engines import weights
from annotator.errors import WeightsMissingError

CONTRACT_NAMES = ["sam-vit-b", "sam-vit-l", "sam-vit-h", "sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus",
                  "sam2.1-large", "edgetam", "clip-vit-b-32", "blip-base"]


def models_dir() -> Path:
    return Path(os.environ["ANNOTATOR_MODELS_DIR"])


def install_file(name: str, content: bytes = b"not really a checkpoint") -> Path:
    spec = weights.get_spec(name)
    path = models_dir() / name / spec.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def install_snapshot(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "sam2_video"}')
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


# --- registry -----------------------------------------------------------------------------
def test_registry_covers_the_cli_contract():
    assert set(CONTRACT_NAMES) <= set(weights.REGISTRY)
    for spec in weights.REGISTRY.values():
        assert spec.tasks and set(spec.tasks) <= set(weights.TASKS), spec.name
        assert spec.license and spec.description and spec.size_bytes > 0
        if spec.url:
            assert spec.filename and spec.url.endswith("/" + spec.filename) and spec.hf_repo is None
        else:
            assert spec.hf_repo and spec.revision and spec.allow_patterns, spec.name
            assert not spec.sha256  # nothing unconfirmed is written down; the manifest records it
    assert weights.get_spec("sam2.1-tiny").tasks == ("segment", "track")
    assert "config.json" not in weights.get_spec("sam2.1-tiny").allow_patterns  # globs, not names


def test_sam_checkpoints_are_the_official_files():
    expected = {
        "sam-vit-b": ("sam_vit_b_01ec64.pth", 375_042_383,
                      "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"),
        "sam-vit-l": ("sam_vit_l_0b3195.pth", 1_249_524_607,
                      "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
        "sam-vit-h": ("sam_vit_h_4b8939.pth", 2_564_550_879,
                      "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"),
    }
    for name, (filename, size, sha) in expected.items():
        spec = weights.get_spec(name)
        assert spec.url == f"https://dl.fbaipublicfiles.com/segment_anything/{filename}"
        assert (spec.filename, spec.size_bytes, spec.sha256) == (filename, size, sha)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'sam-vit-x'.*sam-vit-b.*blip-base"):
        weights.get_spec("sam-vit-x")


def test_registered_adds_and_restores():
    extra = weights.ModelSpec("my-sam", ("segment",), "sam", "d", "l", 1, url="http://x/y.pth",
                              filename="y.pth")
    with weights.registered(extra):
        assert weights.get_spec("my-sam") is extra
    assert "my-sam" not in weights.REGISTRY


def test_importing_the_registry_loads_neither_torch_nor_the_hub():
    code = ("import sys, annotator.engines.weights, annotator.engines.device; "
            "print(sorted(m for m in ('torch', 'huggingface_hub', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- install locations ---------------------------------------------------------------------
def test_nothing_installed():
    assert all(not weights.is_installed(name) for name in weights.REGISTRY)
    assert weights.installed_path("sam-vit-b") is None


def test_single_file_found_in_its_folder_or_flat():
    path = install_file("sam-vit-b")
    assert weights.installed_path("sam-vit-b") == path
    path.unlink()
    flat = models_dir() / "sam_vit_b_01ec64.pth"  # dropped straight into the models folder by hand
    flat.write_bytes(b"x")
    assert weights.installed_path("sam-vit-b") == flat


def test_snapshot_found_by_model_name_or_repo_name():
    assert weights.installed_path("sam2.1-tiny") is None
    (models_dir() / "sam2.1-tiny").mkdir(parents=True)
    (models_dir() / "sam2.1-tiny" / "config.json").write_text("{}")
    assert weights.installed_path("sam2.1-tiny") is None  # a config without weights is not a model
    by_repo = install_snapshot(models_dir() / "sam2.1-hiera-tiny")
    assert weights.installed_path("sam2.1-tiny") == by_repo
    by_name = install_snapshot(models_dir() / "sam2.1-tiny")
    assert weights.installed_path("sam2.1-tiny") == by_name


def test_weights_override(tmp_path):
    ckpt = tmp_path / "mine.pth"
    ckpt.write_bytes(b"x")
    assert weights.installed_path("sam-vit-b", ckpt) == ckpt
    assert weights.require("sam-vit-b", str(ckpt)) == ckpt
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    assert weights.installed_path("sam-vit-b", tmp_path) == tmp_path / "sam_vit_b_01ec64.pth"
    snap = install_snapshot(tmp_path / "snap")
    assert weights.installed_path("sam2.1-small", snap) == snap
    assert weights.installed_path("sam2.1-small", snap / "model.safetensors") == snap
    assert not weights.is_installed("sam2.1-small")  # an override installs nothing


def test_require_says_how_to_get_a_missing_model():
    with pytest.raises(WeightsMissingError) as info:
        weights.require("sam-vit-b")
    text = str(info.value)
    assert info.value.model == "sam-vit-b"
    assert "annotator models download sam-vit-b" in text
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in text
    assert str(models_dir() / "sam-vit-b" / "sam_vit_b_01ec64.pth") in text

    with pytest.raises(WeightsMissingError) as info:
        weights.require("clip-vit-b-32")
    assert "https://huggingface.co/openai/clip-vit-base-patch32" in str(info.value)
    assert str(models_dir() / "clip-vit-b-32") in str(info.value)


def test_require_with_a_wrong_weights_path(tmp_path):
    with pytest.raises(WeightsMissingError) as info:
        weights.require("sam2.1-tiny", tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value) and "config.json" in str(info.value)


# --- choice --------------------------------------------------------------------------------
def test_auto_without_weights_is_classical_and_says_why():
    name, why = weights.choose("segment")
    assert name == "classical"
    assert "annotator models download edgetam" in why  # no GPU: EdgeTAM is the CPU model
    assert "annotator models download edgetam" in weights.choose("track", "auto", "cpu")[1]
    assert "annotator models download sam2.1-base-plus" in weights.choose("segment", "auto", "cuda")[1]
    assert weights.choose("track", "auto", "cuda")[0] == "classical"
    with pytest.raises(WeightsMissingError, match="annotator models download clip-vit-b-32"):
        weights.choose("classify")
    with pytest.raises(WeightsMissingError, match="blip-base"):
        weights.choose("caption")


def test_auto_prefers_sam2_tiny_on_cpu_and_bigger_models_on_gpu():
    install_file("sam-vit-b")
    assert weights.choose("segment", "auto", "cpu")[0] == "sam-vit-b"
    install_snapshot(models_dir() / "sam2.1-tiny")
    install_snapshot(models_dir() / "sam2.1-large")
    assert weights.choose("segment", "auto", "cpu")[0] == "sam2.1-tiny"  # ~2 s per frame, vit_b ~11 s
    assert weights.choose("segment", "auto", "cuda")[0] == "sam2.1-large"
    assert weights.choose("segment", "auto", "cuda:1")[0] == "sam2.1-large"
    assert weights.choose("track", "auto", "cpu")[0] == "sam2.1-tiny"
    install_snapshot(models_dir() / "edgetam")
    assert weights.choose("track", "auto", "cpu")[0] == "edgetam"
    assert weights.choose("segment", "auto", "cpu")[0] == "edgetam"  # EdgeTAM clicks too
    assert weights.choose("track", "auto", "cuda")[0] == "sam2.1-large"
    assert weights.choose("segment", "auto", "cuda")[0] == "sam2.1-large"


def test_named_model_must_be_installed_and_fit_the_task():
    with pytest.raises(WeightsMissingError, match="annotator models download sam-vit-h"):
        weights.choose("segment", "sam-vit-h")
    with pytest.raises(ValueError, match="cannot track"):
        weights.choose("track", "sam-vit-b")
    with pytest.raises(ValueError, match="unknown model"):
        weights.choose("segment", "sam-vit-q")
    assert weights.choose("segment", "classical")[0] == "classical"
    install_file("sam-vit-h")
    assert weights.choose("segment", "sam-vit-h") == ("sam-vit-h", "asked for by name")
    assert weights.choose("segment", None)[0] == "sam-vit-h"  # None means auto


def test_named_model_with_weights_override(tmp_path):
    ckpt = tmp_path / "finetuned.pth"
    ckpt.write_bytes(b"x")
    name, why = weights.choose("segment", "sam-vit-b", "cpu", weights=ckpt)
    assert name == "sam-vit-b" and str(ckpt) in why
    with pytest.raises(WeightsMissingError, match="--weights for sam-vit-b"):
        weights.choose("segment", "sam-vit-b", weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="--weights needs --model NAME"):
        weights.choose("segment", "auto", weights=ckpt)


# --- verify, delete, list ----------------------------------------------------------------------
def test_verify_single_file_against_the_registry_hash():
    assert weights.verify("sam-vit-b") == (False, "not installed")
    install_file("sam-vit-b", b"a damaged or wrong checkpoint")
    ok, detail = weights.verify("sam-vit-b")
    assert not ok
    assert "expected ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912" in detail


def test_verify_snapshot_against_its_manifest():
    folder = install_snapshot(models_dir() / "sam2.1-tiny")
    ok, detail = weights.verify("sam2.1-tiny")
    assert ok and "not checked" in detail  # placed by hand: nothing to compare with
    files = {name: {"size": (folder / name).stat().st_size,
                    "sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()}
             for name in ("config.json", "model.safetensors")}
    (folder / weights.MANIFEST).write_text(json.dumps({"commit": "abc123", "files": files}))
    assert weights.verify("sam2.1-tiny") == (True, "2 files match the manifest (commit abc123)")
    (folder / "model.safetensors").write_bytes(b"\1" * 64)
    ok, detail = weights.verify("sam2.1-tiny")
    assert not ok and "sha256 mismatch" in detail and "model.safetensors" in detail


def test_delete_removes_folder_partials_and_flat_files():
    install_file("sam-vit-b")
    (models_dir() / "sam-vit-b" / "sam_vit_b_01ec64.pth.part").write_bytes(b"partial")
    (models_dir() / "sam_vit_b_01ec64.pth").write_bytes(b"flat")
    weights.delete("sam-vit-b")
    assert not weights.is_installed("sam-vit-b")
    assert not (models_dir() / "sam-vit-b").exists()
    install_snapshot(models_dir() / "sam2.1-small.partial")
    install_snapshot(models_dir() / "sam2.1-small")
    weights.delete("sam2.1-small")
    assert list(models_dir().iterdir()) == []
    weights.delete("sam2.1-small")  # nothing left: no error


def test_list_models_rows():
    install_file("sam-vit-b")
    rows = {row["name"]: row for row in weights.list_models()}
    assert set(CONTRACT_NAMES) <= set(rows)
    for row in rows.values():
        assert {"name", "task", "size", "sha256", "revision", "installed", "license"} <= set(row)
    assert rows["sam-vit-b"]["installed"] is True and rows["sam-vit-h"]["installed"] is False
    assert rows["sam-vit-b"]["sha256"].startswith("ec2df627")
    assert rows["sam2.1-tiny"]["task"] == "segment,track" and rows["sam2.1-tiny"]["revision"] == "main"
    json.dumps(list(rows.values()))  # the `models list --json` document
