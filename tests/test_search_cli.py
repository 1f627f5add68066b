"""`annotator search` end to end on the real tiny-CLIP path: a real project over the sample video,
the index built in the user cache folder, incremental on the second run, JSON as DESIGN.md says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli.main import main
from tests.session_helpers import SAMPLE_GT
from tests.tiny_describe import install, sample_project, snapshots


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    return sample_project(tmp_path)


@pytest.fixture
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip_folder, _blip = snapshots(tmp_path_factory.getbasetemp() / "tiny-describe")
    return install("clip-vit-b-32", clip_folder)


def test_search_by_phrase_builds_the_index_once(project_path, clip, capsys):
    rc = main(["search", str(project_path), "a red car", "--top", "5", "--json", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["query"] == "a red car" and doc["model"] == "clip-vit-b-32"
    assert len(doc["hits"]) == 5
    for hit in doc["hits"]:
        assert set(hit) == {"frame", "time_s", "score", "object_id"}
        assert hit["time_s"] == pytest.approx(hit["frame"] / 25.0, abs=1e-3)
        assert hit["object_id"] in (None, 1, 2, 3)
    assert [h["score"] for h in doc["hits"]] == sorted((h["score"] for h in doc["hits"]), reverse=True)
    assert "indexed 9 frames and 27 object crops" in err  # 100 frames at 25 fps: every 12th
    assert "phrase encoded in" in err

    rc = main(["search", str(project_path), "a red car", "--top", "5", "--json", "--device", "cpu"])
    out2, err2 = capsys.readouterr()
    assert rc == 0 and "indexed" not in err2  # nothing left to compute
    assert json.loads(out2)["hits"] == doc["hits"]


def test_search_like_an_object_leaves_its_own_crops_out(project_path, clip, capsys):
    rc = main(["search", str(project_path), "--like", "2", "--top", "8", "--json", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["query"] == "like object 2" and len(doc["hits"]) == 8
    assert all(h["object_id"] != 2 for h in doc["hits"])
    rc = main(["search", str(project_path), "a dog"])
    out, _err = capsys.readouterr()
    assert rc == 0 and out.splitlines()[0].split()[0].isdigit()


@pytest.mark.parametrize("argv, text", [([], "one of the two"), (["a car", "--like", "1"], "one of the two"),
                                        (["--like", "9"], "no object 9")])
def test_search_usage_errors(project_path, clip, capsys, argv, text):
    with pytest.raises(SystemExit) as info:
        main(["search", str(project_path), *argv])
    assert info.value.code == 2
    assert text in capsys.readouterr().err
