"""`annotator segment`: end to end in a subprocess (classical and a tiny SAM 2.1), errors in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.cli.main import main
from annotator.core import masks as rle_ops
from annotator.core.imageio import write_image
from tests.tiny_models import save_sam2_snapshot, save_sam_checkpoint, textured_image, tiny_sam, tiny_sam2

REPO = Path(__file__).resolve().parents[1]
JSON_KEYS = ["model", "score", "area", "bbox", "encode_ms", "decode_ms"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the user dirs come from the conftest fixture
    return subprocess.run([sys.executable, "-m", "annotator", "segment", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)


def read_mask(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        pixels = np.array(img)
    assert set(np.unique(pixels)) <= {0, 255}
    return pixels == 255


@pytest.fixture
def image_file(tmp_path) -> Path:
    path = tmp_path / "frame.png"
    write_image(path, textured_image(90, 160, seed=0))
    return path


def test_classical_on_the_sample_video(sample_video, tmp_path) -> None:
    truth = json.loads((sample_video.parent / "sample_gt.json").read_text())["objects"]["1"]["masks"][5]
    gt = rle_ops.decode(truth)
    ys, xs = np.nonzero(gt)
    x, y = int(np.median(xs)), int(np.median(ys))
    out = tmp_path / "mask.png"
    proc = run_cli(str(sample_video), "--frame", "5", "--point", f"{x},{y}", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report) == JSON_KEYS
    assert report["model"] == "classical"
    assert "classical" in proc.stderr  # --model auto says what it chose and why
    mask = read_mask(out)
    assert mask.shape == (360, 640) and mask[y, x]
    assert report["area"] == int(mask.sum()) > 0
    x0, y0, w, h = report["bbox"]
    assert mask[y0 : y0 + h, x0 : x0 + w].sum() == mask.sum()
    assert rle_ops.iou(rle_ops.encode(mask), truth) > 0.5  # the clicked object, roughly


def test_tiny_sam2_through_weights_and_the_disk_cache(image_file, tmp_path, capsys) -> None:
    model, processor = tiny_sam2(seed=0)
    folder = save_sam2_snapshot(model, processor, tmp_path / "snapshot")
    out = tmp_path / "mask.png"
    args = [str(image_file), "--point", "40,30", "--point", "100,60,0", "--box", "20,10,110,70",
            "--model", "sam2.1-tiny", "--weights", str(folder), "--out", str(out), "--json"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert list(report) == JSON_KEYS and report["model"] == "sam2.1-tiny"
    assert report["encode_ms"] > 0
    mask = read_mask(out)
    assert mask.shape == (90, 160) and report["area"] == int(mask.sum()) > 0
    # A second run (a new engine, in this process) reads the embedding from the disk cache.
    assert main(["segment", *args]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["encode_ms"] == 0.0
    assert abs(again["area"] - report["area"]) <= 0.01 * report["area"]  # fp16 on disk: a pixel or two


def test_frame_folder_and_table_output(tmp_path, capsys) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        write_image(folder / f"{i:05d}.png", textured_image(90, 160, seed=i))
    out = tmp_path / "mask.png"
    assert main(["segment", str(folder), "--frame", "1", "--point", "80,45", "--model", "classical",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    for key in JSON_KEYS:
        assert key in captured.out
    assert read_mask(out).shape == (90, 160)


def test_missing_named_model_is_one_clear_line(image_file, tmp_path, capsys) -> None:
    code = main(["segment", str(image_file), "--point", "40,30", "--model", "sam-vit-b",
                 "--out", str(tmp_path / "m.png")])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "annotator models download sam-vit-b" in err
    assert not (tmp_path / "m.png").exists()


def test_weights_of_the_wrong_variant_name_the_file(image_file, tmp_path, capsys) -> None:
    path = save_sam_checkpoint(tiny_sam(), tmp_path / "sam_vit_l_0b3195.pth")
    code = main(["segment", str(image_file), "--point", "40,30", "--model", "sam-vit-l",
                 "--weights", str(path), "--out", str(tmp_path / "m.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert str(path) in err and "expected SAM vit_l weights" in err


@pytest.mark.parametrize("extra", [
    [],  # neither a point nor a box
    ["--point", "40"],
    ["--point", "40,30,7"],
    ["--point", "400,30"],  # outside the 160x90 frame
    ["--box", "50,50,10,10"],
    ["--point", "40,30", "--model", "no-such-model"],
])
def test_bad_usage_exits_2(image_file, tmp_path, extra: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["segment", str(image_file), "--out", str(tmp_path / "m.png"), *extra])
    assert info.value.code == 2


def test_missing_output_folder_fails_before_any_work(image_file, tmp_path, capsys) -> None:
    code = main(["segment", str(image_file), "--point", "40,30", "--model", "classical",
                 "--out", str(tmp_path / "nope" / "m.png")])
    assert code == 1 and "does not exist" in capsys.readouterr().err


# --- the engine choice behind --model (engines/factory.py) -------------------------------------
def test_auto_without_weights_is_classical_and_says_why() -> None:
    from annotator.engines.factory import create_segmenter

    engine, why = create_segmenter("auto", device="cpu")
    assert engine.name == "classical"
    assert "no segmentation" in why and "annotator models download" in why


def test_auto_picks_an_installed_sam2(tmp_path, monkeypatch) -> None:
    from annotator.engines.factory import create_segmenter
    from annotator.engines.sam2_image import Sam2ImageSegmenter

    models = tmp_path / "models"
    model, processor = tiny_sam2(seed=0)
    save_sam2_snapshot(model, processor, models / "sam2.1-tiny")
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(models))
    engine, why = create_segmenter("auto", device="cpu", persist=False)
    assert isinstance(engine, Sam2ImageSegmenter) and engine.name == "sam2.1-tiny"
    assert why.startswith("sam2.1-tiny on cpu") and "installed" in why


def test_model_is_recognised_from_weights(tmp_path) -> None:
    import torch
    from transformers import Sam2VideoConfig

    from annotator.engines.factory import infer_model
    from annotator.errors import FormatError

    checkpoint = tmp_path / "my_sam.pth"  # only the tensor that tells the variant apart
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1280, 3, 1, 1)}, checkpoint)
    assert infer_model(checkpoint) == "sam-vit-h"
    official = tmp_path / "sam2.1-hiera-small"
    official.mkdir()
    config = Sam2VideoConfig(vision_config={"model_type": "sam2_vision_model", "backbone_config": {
        "model_type": "sam2_hiera_det_model", "blocks_per_stage": [1, 2, 11, 2],
        "global_attention_blocks": [7, 10, 13]}})
    config.save_pretrained(official)
    assert infer_model(official) == "sam2.1-small"
    assert infer_model(official / "config.json") == "sam2.1-small"
    model, processor = tiny_sam2(seed=0)
    tiny = save_sam2_snapshot(model, processor, tmp_path / "tiny")
    with pytest.raises(FormatError, match="none of the 2.1 sizes"):
        infer_model(tiny)
    with pytest.raises(FormatError, match="not found"):
        infer_model(tmp_path / "missing.pth")
