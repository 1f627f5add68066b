"""SAM 3 in the model registry: gated weights, its licence, auto never on a CPU, and loading a
snapshot folder the way the official ``facebook/sam3`` one is laid out (tiny random weights)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from annotator.engines import weights
from annotator.errors import DownloadError, WeightsMissingError
from tests import tiny_sam3 as tiny

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_sam3_is_gated_under_metas_licence():
    spec = weights.get_spec("sam3")
    assert spec.hf_repo == "facebook/sam3" and spec.gated
    assert "SAM License" in spec.license and "Apache" not in spec.license.replace("not Apache", "")
    row = next(r for r in weights.list_models() if r["name"] == "sam3")
    assert row["gated"] and "SAM License" in row["license"]
    message = weights.missing_message("sam3")
    assert "annotator models download sam3" in message
    assert "hf auth login" in message and "HF_TOKEN" in message and "accept the licence" in message


def gated_error(cls):
    """What the Hub raises for a gated repo without an accepted licence (a 403 response)."""
    import httpx2 as httpx

    url = "https://huggingface.co/api/models/facebook/sam3"
    response = httpx.Response(403, request=httpx.Request("GET", url))
    return cls("403 Client Error: access to model facebook/sam3 is restricted", response=response)


def test_a_refused_gated_download_says_what_to_do(monkeypatch):
    """The Hub answers a gated repo without an accepted licence with GatedRepoError."""
    import huggingface_hub
    import huggingface_hub.constants as hub_constants
    from huggingface_hub.errors import GatedRepoError

    from annotator.engines import download

    def refuse(*args, **kwargs):
        raise gated_error(GatedRepoError)

    monkeypatch.setattr(hub_constants, "is_offline_mode", lambda: False)
    monkeypatch.setattr(download, "_resolve_host", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", refuse)
    with pytest.raises(DownloadError) as info:
        weights.download("sam3")
    text = str(info.value)
    assert "annotator models download sam3" in text and "hf auth login" in text
    assert "SAM License" in text and "accept the licence" in text
    assert info.value.__cause__ is None  # one clear message, not a chain of Hub errors


def test_the_cli_reports_a_gated_refusal_in_one_line(tmp_path):
    script = (
        "import sys, huggingface_hub, huggingface_hub.constants as hub_constants\n"
        "from huggingface_hub.errors import GatedRepoError\n"
        "from annotator.engines import download\n"
        "hub_constants.is_offline_mode = lambda: False\n"
        "download._resolve_host = lambda *a, **k: None\n"
        "import httpx2 as httpx\n"
        "response = httpx.Response(403, request=httpx.Request('GET', 'https://huggingface.co/api'))\n"
        "def refuse(*a, **k): raise GatedRepoError('403 restricted', response=response)\n"
        "huggingface_hub.HfApi.model_info = refuse\n"
        "from annotator.cli.main import main\n"
        "sys.exit(main(['models', 'download', 'sam3']))\n")
    env = {**os.environ, "ANNOTATOR_MODELS_DIR": str(tmp_path / "models")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)  # a hang guard, far above the ~5 s it takes
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "hf auth login" in done.stderr and "annotator models download sam3" in done.stderr


def test_auto_never_picks_sam3_on_a_cpu(tmp_path):
    folder = tiny.save_snapshot(tiny.tiny_video(), tiny.video_processor(), weights.model_dir("sam3"))
    assert weights.is_installed("sam3") and folder.exists()
    for task in ("segment", "track"):
        name, _why = weights.choose(task, "auto", "cpu")
        assert name != "sam3"
    with pytest.raises(WeightsMissingError, match="too slow on a CPU"):
        weights.choose("detect", "auto", "cpu")
    assert weights.choose("detect", "auto", "cuda")[0] == "sam3"
    assert weights.choose("detect", "sam3", "cpu")[0] == "sam3"  # named: it runs


def test_every_sam3_engine_loads_from_the_one_snapshot():
    import numpy as np

    from annotator.engines.factory import create_segmenter, create_tracker
    from annotator.engines.sam3 import load_sam3_detector
    from annotator.engines.sam3_video import load_sam3_text_tracker
    from annotator.engines.segmenter import Prompt
    from annotator.engines.tracker import ListFrames
    from annotator.sim.synthetic import render_scene

    tiny.save_snapshot(tiny.tiny_video(), tiny.video_processor(), weights.model_dir("sam3"))
    pairs = list(render_scene(num_frames=3, width=96, height=64, seed=3))
    frames = [f for f, _ in pairs]
    detector = load_sam3_detector(device="cpu", threshold=0.05)
    assert detector.detect(frames[0], "red car").instances
    tracker = load_sam3_text_tracker(ListFrames(frames), device="cpu")
    assert len(list(tracker.track("red car"))) == 3
    segmenter, why = create_segmenter("sam3", device="cpu", persist=False)
    segmenter.prepare(frames[0], "f0")
    assert segmenter.predict(Prompt([[40, 30]], [1]), "f0").mask.shape == (64, 96)
    mask_tracker, _ = create_tracker("sam3", ListFrames(frames), device="cpu")
    mask_tracker.add_conditioning(0, {1: np.asarray(pairs[0][1][1])})
    assert [u.frame for u in mask_tracker.propagate(0, 1, {1: 2})] == [1, 2]
    # The smaller-input option (560 for the real model): config and processor resized together.
    small = load_sam3_detector(device="cpu", image_size=56, threshold=0.05)
    assert small.image_size == 56 and small.model.config.image_size == 56
    assert small.detect(frames[0], "red car").instances
    small_tracker = load_sam3_text_tracker(ListFrames(frames), device="cpu", image_size=56)
    assert len(list(small_tracker.track("red car"))) == 3
    with pytest.raises(ValueError, match="multiple of 14"):
        load_sam3_detector(device="cpu", image_size=500)
