"""`annotator describe` end to end: the real command in-process (and once as a subprocess, to show
that a missing model ends it at once), tiny random-weight CLIP and BLIP, a real project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.cli.main import main
from annotator.core.project import Project
from tests.session_helpers import SAMPLE_GT
from tests.tiny_describe import install_both, sample_project, snapshots

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return sample_project(tmp_path)


@pytest.fixture
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return install_both(tmp_path_factory.getbasetemp() / "tiny-describe")


def stored(path: Path) -> list[str]:
    with Project.open(path, readonly=True) as project:
        return sorted(i.kind for i in project.insights())


def test_describe_json(project_path: Path, models: object, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["describe", str(project_path), "--classify", "--labels", "star, dog", "--caption", "--json",
               "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["project"] == str(project_path)
    assert doc["classify_model"] == "clip-vit-b-32" and doc["caption_model"] == "blip-base"
    assert doc["device"] == "cpu" and doc["cancelled"] is False
    assert sorted(doc["objects"]) == ["1", "2", "3"]
    for entry in doc["objects"].values():
        assert len(entry["labels"]) == 4 and entry["caption"]
        assert {e["label"] for e in entry["labels"]} == {"ellipse", "rectangle", "star", "dog"}
    assert len(doc["clip_labels"]) == 4
    (segment,) = doc["segments"]  # one shot of 4 s
    span = (segment["frame_start"], segment["frame_end"], segment["start_s"], segment["end_s"])
    assert span == (0, 100, 0, 4)
    assert "classify: clip-vit-b-32 on cpu" in err
    expected = ["labels"] * 3 + ["caption"] * 3 + ["scene_labels", "segment_caption", "shots"]
    assert stored(project_path) == sorted(expected)


def test_describe_text_report_and_one_object(project_path: Path, models: object,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", str(project_path), "--caption", "--objects", "2", "--no-clip"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("object 2: | ")
    assert stored(project_path) == ["caption"]
    assert main(["describe", str(project_path), "--labels", "star"]) == 0  # --labels alone: classify
    out, _ = capsys.readouterr()
    assert out.startswith("object 1: ") and "clip: " in out
    assert "caption" not in out


def test_missing_models_say_which_and_how(project_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", str(project_path)]) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("annotator: error: ")
    assert "annotator models download clip-vit-b-32" in err and "annotator models download blip-base" in err
    assert main(["describe", str(project_path), "--caption", "--model-caption", "blip-large"]) == 1
    _, err = capsys.readouterr()
    assert "annotator models download blip-large" in err and "clip" not in err
    assert stored(project_path) == []  # nothing was written


def test_weights_folders_stand_in_for_installed_models(project_path: Path,
                                                      tmp_path_factory: pytest.TempPathFactory,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    clip, blip = snapshots(tmp_path_factory.getbasetemp() / "tiny-describe")
    rc = main(["describe", str(project_path), "--labels", "dog", "--weights-classify", str(clip), "--caption",
               "--weights-caption", str(blip), "--no-clip", "--json", "--frames", "2", "--top-k", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert all(len(o["labels"]) == 1 for o in doc["objects"].values())
    with Project.open(project_path, readonly=True) as project:
        assert all(len(i.payload["frames"]) == 2 for i in project.insights(kind="labels"))


def test_bad_usage_exits_2(project_path: Path, tmp_path: Path, models: object,
                           capsys: pytest.CaptureFixture[str]) -> None:
    bare = sample_project(tmp_path / "bare", categories=())
    with pytest.raises(SystemExit) as info:
        main(["describe", str(bare), "--classify"])
    assert info.value.code == 2 and "--labels" in capsys.readouterr().err
    bad = (["--objects", "7"], ["--objects", "x"], ["--frames", "0"], ["--model-classify", "blip-base"])
    for args in bad:
        with pytest.raises(SystemExit) as info:
            main(["describe", str(project_path), "--classify", *args])
        assert info.value.code == 2, args


def test_a_video_path_opens_or_makes_its_project(tmp_path: Path, models: object,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from tests.session_helpers import copy_sample

    video = copy_sample(tmp_path)
    assert main(["describe", str(video), "--caption", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["project"] == str(video) + ".annot" and len(doc["segments"]) == 1
    assert stored(Path(doc["project"])) == ["segment_caption", "shots"]


def test_subprocess_without_weights_ends_at_once(project_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ANNOTATOR_MODELS_DIR": str(tmp_path / "no-models")}
    done = subprocess.run([sys.executable, "-m", "annotator", "describe", str(project_path), "--json"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert done.returncode == 1 and done.stdout == ""
    assert "annotator models download clip-vit-b-32" in done.stderr
